"""``head.layer=weighted`` (SUPERB): a softmax-normalised learnable weight per hidden layer, trained with the
probe on every layer's clip vectors (pooling is linear, so the cached ``[N, L, D]`` vectors suffice).
"""

from __future__ import annotations

import numpy as np
import torch

from xares_hydra.encode.cache import WEIGHTED, EmbeddingSet
from xares_hydra.heads import HeadSettings


class LayerWeightedSum(torch.nn.Module):
    """``[B, L, D] -> [B, D]``: sum over layers with weights softmax(logits), the logits starting equal."""

    def __init__(self, n_layers: int) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(n_layers))

    def forward(self, layers: torch.Tensor) -> torch.Tensor:
        return torch.einsum("l,bld->bd", torch.softmax(self.logits, dim=0), layers)

    def weights(self) -> list[float]:
        return [round(float(weight), 6) for weight in torch.softmax(self.logits.detach(), dim=0).cpu()]


def clip_features(embeddings: EmbeddingSet, settings: HeadSettings) -> np.ndarray:
    """What a clip head trains on: every layer's clip vectors ``[N, L, D]`` for ``weighted``, else ``[N, D]``."""
    if settings.layer == WEIGHTED:
        assert embeddings.layers is not None, "head.layer=weighted loads every layer's clip vectors"
        return embeddings.layers
    return embeddings.pooled


def learned_weights(model: torch.nn.Module) -> dict[str, list[float]]:
    """``{"layer_weights": [...]}`` for a weighted model (for the record), else nothing."""
    if isinstance(model, torch.nn.Sequential) and isinstance(model[0], LayerWeightedSum):
        return {"layer_weights": model[0].weights()}
    return {}

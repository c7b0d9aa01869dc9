"""Audio-text retrieval head (Clotho): an audio and a text tower trained with a symmetric InfoNCE loss on
cosine similarity (captions of one clip are all positives), scored by recall@1 both ways. X-ARES trains on
unnormalised dot products plus an embedding regulariser, one positive per pair: ``x_ares_loss: true``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from xares_hydra.encode.cache import EmbeddingSet
from xares_hydra.errors import LabelError
from xares_hydra.heads import HeadContext, RoundData, RoundScore, head
from xares_hydra.heads.linear_probe import build_probe
from xares_hydra.heads.metrics import recall_from_ranks, retrieval_ranks
from xares_hydra.heads.predictions import RETRIEVAL, Predictions
from xares_hydra.heads.text import Tokenizer, load_tokenizer
from xares_hydra.heads.training import fit, head_arguments, seeded, shuffled_batches

MAX_LOGIT_SCALE = math.log(100.0)


@dataclass(frozen=True)
class RetrievalArgs:
    """``task.head_args`` of the retrieval head."""

    # builtin or builtin_unicode (no download) or a Hugging Face tokenizer name / local directory
    tokenizer: str = "bert-base-uncased"
    tokenizer_download: bool = False
    # builtin tokenizers only: hash buckets
    vocab_size: int = 8192
    hidden_dim: int = 1024
    # joint embedding size; null = hidden_dim (X-ARES)
    embed_dim: int | None = None
    temperature: float = 0.07
    # X-ARES's loss: unnormalised dot products, its embedding regulariser, one positive per pair
    x_ares_loss: bool = False


class RetrievalModel(torch.nn.Module):
    def __init__(self, audio_dim: int, vocab_size: int, args: RetrievalArgs) -> None:
        super().__init__()
        hidden, embed = args.hidden_dim, args.embed_dim or args.hidden_dim
        self.audio = build_probe(audio_dim, embed, hidden)  # LayerNorm, Linear, GELU, Linear
        self.token_embedding = torch.nn.Embedding(vocab_size, hidden)
        self.text = torch.nn.Sequential(
            torch.nn.Linear(hidden, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, embed)
        )
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(1.0 / args.temperature)))

    def embed_audio(self, features: torch.Tensor, normalise: bool = True) -> torch.Tensor:
        embedding = self.audio(features)
        return F.normalize(embedding, dim=-1) if normalise else embedding

    def embed_text(self, token_ids: torch.Tensor, mask: torch.Tensor, normalise: bool = True) -> torch.Tensor:
        tokens = self.text(self.token_embedding(token_ids)) * mask[..., None]
        embedding = tokens.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return F.normalize(embedding, dim=-1) if normalise else embedding


@dataclass
class CaptionedClips:
    """One split: a pooled vector per clip (its crops averaged by frame count) and every caption as token ids."""

    audio: torch.Tensor  # [clips, D]
    token_ids: torch.Tensor  # [captions, L], padded
    token_mask: torch.Tensor  # [captions, L]
    caption_clip: np.ndarray  # [captions] clip index of each caption
    clip_keys: list[str]  # [clips]

    @classmethod
    def build(cls, embeddings: EmbeddingSet, tokenizer: Tokenizer, device: torch.device) -> CaptionedClips:
        clip_keys = sorted(set(embeddings.clip_keys))
        position = {key: i for i, key in enumerate(clip_keys)}
        rows = np.array([position[key] for key in embeddings.clip_keys], dtype=np.int64)
        weights = np.maximum(embeddings.n_frames, 1).astype(np.float64)
        audio = np.zeros((len(clip_keys), embeddings.dim))
        np.add.at(audio, rows, embeddings.pooled * weights[:, None])
        audio /= np.bincount(rows, weights=weights, minlength=len(clip_keys))[:, None]
        captions: dict[int, list[str]] = {}
        for row, texts in zip(rows, embeddings.known_targets):
            captions.setdefault(int(row), list(texts))
        caption_clip = np.array([row for row in range(len(clip_keys)) for _ in captions[row]], dtype=np.int64)
        ids = tokenizer([text for row in range(len(clip_keys)) for text in captions[row]])
        token_ids = pad_sequence([torch.tensor(row, dtype=torch.long) for row in ids], True, tokenizer.pad_id)
        token_mask = (torch.arange(token_ids.shape[1]) < torch.tensor([len(row) for row in ids])[:, None]).float()
        audio_vectors = torch.tensor(audio, dtype=torch.float32, device=device)
        return cls(audio_vectors, token_ids.to(device), token_mask.to(device), caption_clip, clip_keys)


def contrastive_loss(
    model: RetrievalModel, clips: CaptionedClips, captions: np.ndarray, x_ares: bool = False
) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of (clip, caption) pairs; pairs of the same clip are all positives
    (``x_ares``: only the pair itself, on unnormalised embeddings, plus X-ARES's embedding regulariser)."""
    pair_clips = torch.from_numpy(clips.caption_clip[captions])
    audio = model.embed_audio(clips.audio[pair_clips.to(clips.audio.device)], normalise=not x_ares)
    length = int(clips.token_mask[captions].sum(1).max().clamp(min=1))
    text = model.embed_text(clips.token_ids[captions, :length], clips.token_mask[captions, :length], not x_ares)
    logits = model.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp() * audio @ text.T
    if x_ares:
        positives = torch.eye(len(captions), device=logits.device)
    else:
        positives = (pair_clips[:, None] == pair_clips[None, :]).float().to(logits.device)
    targets = positives / positives.sum(1, keepdim=True)
    audio_to_text = -(targets * F.log_softmax(logits, dim=1)).sum(1).mean()
    text_to_audio = -(targets * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    loss = (audio_to_text + text_to_audio) / 2
    if x_ares:
        loss = loss + sum(embedding.abs().mean() / embedding.square().sum().sqrt() for embedding in (audio, text))
    return loss


@torch.no_grad()
def similarity(model: RetrievalModel, clips: CaptionedClips, chunk: int = 4096) -> np.ndarray:
    """Cosine similarity [clips, captions]."""
    audio = torch.cat([model.embed_audio(part) for part in clips.audio.split(chunk)])
    parts = zip(clips.token_ids.split(chunk), clips.token_mask.split(chunk), strict=True)
    text = torch.cat([model.embed_text(ids, mask) for ids, mask in parts])
    return (audio @ text.T).float().cpu().numpy()


@head("retrieval")
def retrieval(data: RoundData, context: HeadContext) -> RoundScore:
    args = head_arguments(RetrievalArgs, context.task.head_args)
    settings, device = context.settings, context.settings.torch_device
    tokenizer = load_tokenizer(args.tokenizer, args.vocab_size, args.tokenizer_download)
    splits = {}
    for name, subset in vars(data).items():
        if len(subset) == 0:
            raise LabelError(f"retrieval task {context.task.name}: the {name} split has no captioned clips")
        splits[name] = CaptionedClips.build(subset, tokenizer, device)
    model = seeded(settings.seed, lambda: RetrievalModel(data.train.dim, tokenizer.vocab_size, args), device)
    train = splits["train"]

    x_ares = args.x_ares_loss or bool(context.compat.get("xares_retrieval_loss"))
    history = fit(
        model,
        context,
        lambda generator: shuffled_batches(len(train.caption_clip), settings.batch_size, generator),
        lambda captions: contrastive_loss(model, train, captions, x_ares),
        lambda: context.metric(splits["valid"].caption_clip, similarity(model, splits["valid"])),
    )
    test = splits["test"]
    audio_rank, text_rank = retrieval_ranks(similarity(model, test), test.caption_clip)
    recalls = {f"test_r{k}": recall_from_ranks(audio_rank, text_rank, k) for k in (5, 10)}
    arrays = {"audio_rank": audio_rank, "text_rank": text_rank, "caption_clip": test.caption_clip}
    predictions = Predictions(RETRIEVAL, context.metric.name, np.asarray(test.clip_keys), arrays)
    return history.score(predictions.score(), predictions, **recalls)

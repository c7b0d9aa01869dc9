"""One encoder load per process: the jobs of a sweep in one process that use the same encoder (config with
weight digests, device, autocast; not the fingerprint, which holds task settings) reuse the built model, its
contract check and its padding probe."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import torch

from xares_hydra.digest import canonical_json
from xares_hydra.encode.backoff import MemoryLimits
from xares_hydra.encode.checker import measure_padding, minimum_input_samples, require_passing, run_checks
from xares_hydra.encode.contract import PaddingCheck, rate_of
from xares_hydra.encode.cost import FlopCount, count_flops
from xares_hydra.encode.encoder_spec import EncoderSpec

log = logging.getLogger(__name__)


@dataclass
class LoadedEncoder:
    key: str
    encoder: torch.nn.Module
    device: torch.device
    autocast: str | None
    checked: bool = False
    # the default batching's reason, logged once per encoder and process
    batching_explained: bool = False

    @cached_property
    def memory(self) -> MemoryLimits:
        """The encoder calls known to fit in memory, kept for every job of the process."""
        return MemoryLimits(rate=rate_of(self.encoder))

    @cached_property
    def min_samples(self) -> int:
        """The fewest samples the encoder accepts (shorter clips are zero-padded to it), probed once."""
        return minimum_input_samples(self.encoder, self.device, self.autocast)

    @cached_property
    def padding(self) -> PaddingCheck:
        """Whether a clip keeps its own frames in a padded batch, told or measured once."""
        return measure_padding(self.encoder, self.device)

    @cached_property
    def flops(self) -> FlopCount | None:
        """FLOPs per second of audio on a probe clip, counted once (None where the encoder fails on it)."""
        try:
            return count_flops(self.encoder, self.device)
        except Exception as error:  # the contract check reports an encoder's failures; cost is then unknown
            log.warning("could not count the encoder's FLOPs: %s: %s", type(error).__name__, error)
            return None


_last: list[LoadedEncoder] = []  # at most one


def loaded_encoder(spec: EncoderSpec, device: torch.device, autocast: str | None, check: bool) -> LoadedEncoder:
    """The built (and, with ``check``, contract-checked) encoder, built and probed at most once per process."""
    identity = spec.fingerprint_document["encoder"] if spec.instance is None else id(spec.instance)
    key = canonical_json({"encoder": identity, "device": str(device), "autocast": autocast})
    if _last and _last[0].key == key:
        log.info("Reusing the %s encoder built by an earlier job of this process", spec.name)
        loaded = _last[0]
    else:
        _last.clear()
        loaded = LoadedEncoder(key, spec.build(device), device, autocast)
        _last.append(loaded)
    if check and not loaded.checked:
        require_passing(run_checks(loaded.encoder, device, autocast=autocast, padding=loaded.padding), spec.name)
        loaded.checked = True
    return loaded

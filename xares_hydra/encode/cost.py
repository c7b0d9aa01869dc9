"""What an encoder costs to run: FLOPs per second of audio (``torch.utils.flop_counter`` on a probe clip), the
encode stage's throughput and peak memory, and the device it ran on."""

from __future__ import annotations

import logging
import platform
import re
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from xares_hydra.encode.checker import noise_clips
from xares_hydra.encode.contract import forward

log = logging.getLogger(__name__)

PROBE_SECONDS = 10.0
# ops that do real arithmetic; those of them without a FLOP formula in torch are listed as not counted
# (pointwise ops, reductions and data movement are never counted)
_COMPUTE_OP = re.compile(r"lstm|gru|rnn|fft|stft|norm|softmax|conv|mm|matmul|attention|einsum|cumsum|sort|topk")


@dataclass(frozen=True)
class FlopCount:
    per_second: float
    probe_seconds: float
    uncounted: list[str]


class _OpsSeen(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.names.add(str(func._overloadpacket).removeprefix("aten."))
        return func(*args, **(kwargs or {}))


def count_flops(encoder: torch.nn.Module, device: torch.device, seconds: float = PROBE_SECONDS) -> FlopCount:
    """FLOPs of one forward on ``seconds`` of noise, per second of audio; ``uncounted``: compute ops that ran but
    that torch's counter has no formula for (e.g. LSTM, FFT, norms)."""
    audio = noise_clips(encoder, seconds, 1, device)
    counter = FlopCounterMode(display=False)
    seen = _OpsSeen()
    with seen, counter:  # the counter decomposes composite ops (conv1d, matmul, stft) before they are seen
        forward(encoder, audio, None)
    counted = {str(op).removeprefix("aten.") for op in counter.flop_registry}
    uncounted = sorted(name for name in seen.names if _COMPUTE_OP.search(name) and name not in counted)
    return FlopCount(counter.get_total_flops() / seconds, seconds, uncounted)


@dataclass
class PeakMemory:
    bytes: int | None = None
    kind: str | None = None


@contextmanager
def peak_memory(device: torch.device) -> Iterator[PeakMemory]:
    """The peak memory of the block: the CUDA allocator's on a GPU, else the process's resident set (reset at the
    start where Linux allows it, otherwise the process's peak so far)."""
    peak = PeakMemory()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        yield peak
        peak.bytes, peak.kind = int(torch.cuda.max_memory_allocated(device)), "cuda allocator peak"
        return
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: resets the resident set's high-water mark
        kind = "peak RSS"
    except OSError:
        kind = "process peak RSS"
    yield peak
    high_water = _proc_line("/proc/self/status", "VmHWM:")  # kB, as ru_maxrss on Linux
    kilobytes = high_water.split()[1] if high_water else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak.bytes, peak.kind = int(kilobytes) * 1024, kind


def _proc_line(path: str, prefix: str) -> str | None:
    """The first line of a /proc file that starts with ``prefix`` (None where there is none)."""
    try:
        return next((line for line in Path(path).read_text().splitlines() if line.startswith(prefix)), None)
    except OSError:
        return None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        model = _proc_line("/proc/cpuinfo", "model name")
        return (model and model.split(":", 1)[1].strip()) or platform.processor() or platform.machine()
    return device.type


def encode_cost(
    flops: FlopCount | None, audio_seconds: float, encode_seconds: float, peak: PeakMemory, device: torch.device
) -> dict[str, Any]:
    """The record's ``encoder.cost`` for an encode stage that encoded ``audio_seconds`` in ``encode_seconds``."""
    return {
        "flops_per_second": flops.per_second if flops else None,
        "flops_probe_seconds": flops.probe_seconds if flops else None,
        "flops_uncounted": flops.uncounted if flops else None,
        "throughput": audio_seconds / encode_seconds if encode_seconds > 0 else None,
        "encoded_audio_seconds": audio_seconds,
        "peak_memory_bytes": peak.bytes,
        "peak_memory_kind": peak.kind,
        "device_name": device_name(device),
    }

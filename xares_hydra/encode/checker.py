"""Encoder contract checks, run before encoding (quick) or on their own with ``stage=check``.

Each check returns a named pass/fail with a detail line, so a broken encoder is reported by what
is wrong (missing attribute, wrong rank, wrong D, NaN, hop size off) before any long work starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from xares_hydra.encode.contract import (
    PaddingCheck,
    auto_batching,
    check_output,
    check_shape,
    dim_of,
    forward,
    forward_padded,
    hop_ms_of,
    hop_samples_of,
    padding_input,
    padding_invariant,
    rate_of,
)
from xares_hydra.encoders.xares_exact import BEHAVIOUR_XARES
from xares_hydra.errors import EncoderContractError

QUICK_SECONDS = (1.0, 2.37)
# the padding probe: these crops alone, and inside zero-padded batches with a longer crop of each length below
PROBE_SECONDS = (0.37, 0.8113, 1.53)
PADDED_TO_SECONDS = (1.9, 2.61)
# what X-ARES's own baseline wrappers (``behaviour == "xares"``, compat=xares) do not satisfy, on purpose
XARES_WRAPPER_DEFECTS = {
    "hop size matches frame count": "X-ARES's Whisper wrapper returns 1,500 frames per call and a 10 ms hop",
    "batch consistency": "X-ARES's wav2vec2 and data2vec wrappers normalise the padded batch as a whole",
}


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


def run_checks(
    encoder: torch.nn.Module,
    device: torch.device,
    long_seconds: float | None = None,
    autocast: str | None = None,
    padding: PaddingCheck | None = None,
) -> list[CheckResult]:
    """All contract checks; ``long_seconds`` adds a single clip of that length (memory, chunking). The padding
    row reports ``padding`` (measured here when not given) and never fails: it chooses the default batching."""
    results = [_check_attributes(encoder)]
    if not results[0].passed:
        return results
    checks: list[tuple[str, Callable[[], str]]] = [
        ("output shape [B, T', D]", lambda: _shape(encoder, device, autocast)),
        ("finite values", lambda: _finite(encoder, device, autocast)),
        ("hop size matches frame count", lambda: _hop(encoder, device, autocast)),
        ("variable input lengths", lambda: _variable_lengths(encoder, device, autocast)),
        ("batch consistency", lambda: _batch_consistency(encoder, device, autocast)),
        ("shortest input", lambda: _shortest_input(encoder, device, autocast)),
        ("padding invariance", lambda: _padding(padding or measure_padding(encoder, device))),
    ]
    if long_seconds:
        checks.append((f"{long_seconds:g} s clip", lambda: _long_clip(encoder, device, long_seconds, autocast)))
    for name, check in checks:
        if name in XARES_WRAPPER_DEFECTS and getattr(encoder, "behaviour", None) == BEHAVIOUR_XARES:
            results.append(CheckResult(name, True, f"not checked: {XARES_WRAPPER_DEFECTS[name]}"))
        else:
            results.append(_run(name, check))
    return results


def require_passing(results: list[CheckResult], encoder_name: str) -> None:
    if failed := [result for result in results if not result.passed]:
        lines = "\n".join(f"  - {result.name}: {result.detail}" for result in failed)
        raise EncoderContractError(
            f"encoder {encoder_name} fails the X-ARES encoder contract:\n{lines}\n"
            "See README, 'Bring your own encoder'; run `xares stage=check encoder=...` for the full report."
        )


def _run(name: str, check: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(name, True, check())
    except EncoderContractError as exn:
        return CheckResult(name, False, str(exn))
    except torch.cuda.OutOfMemoryError as exn:
        return CheckResult(name, False, f"out of memory ({exn}); chunk long audio inside the encoder")
    except Exception as exn:  # any error of the encoder's own code is a failed check, not a traceback
        return CheckResult(name, False, f"encoder raised {type(exn).__name__}: {exn}")


def _check_attributes(encoder: torch.nn.Module) -> CheckResult:
    problems = []
    if not isinstance(encoder, torch.nn.Module):
        problems.append(f"is a {type(encoder).__name__}, not a torch.nn.Module")
    for name, kinds in (("sampling_rate", (int,)), ("output_dim", (int,)), ("hop_size_in_ms", (int, float))):
        value = getattr(encoder, name, None)
        if value is None:
            problems.append(f"missing attribute {name}")
        elif not isinstance(value, kinds) or isinstance(value, bool) or value <= 0:
            problems.append(f"{name}={value!r} is not a positive {kinds[-1].__name__}")
    detail = "; ".join(problems) or (
        f"sampling_rate={rate_of(encoder)}, output_dim={dim_of(encoder)}, hop_size_in_ms={hop_ms_of(encoder):g}"
    )
    return CheckResult("attributes", not problems, detail)


def noise_clips(encoder: torch.nn.Module, seconds: float, batch: int, device: torch.device) -> torch.Tensor:
    """``batch`` clips of ``seconds`` of seeded noise: the same probe every time."""
    generator = torch.Generator().manual_seed(0)
    samples = round(seconds * rate_of(encoder))
    return (0.1 * torch.randn(batch, samples, generator=generator)).to(device)


def _encode(encoder: torch.nn.Module, audio: torch.Tensor, autocast: str | None) -> torch.Tensor:
    output = forward(encoder, audio, autocast)
    check_output(output, audio.shape[0], dim_of(encoder), f"input {tuple(audio.shape)}")
    return output.float()


def _shape(encoder: torch.nn.Module, device: torch.device, autocast: str | None) -> str:
    audio = noise_clips(encoder, QUICK_SECONDS[0], 2, device)
    output = forward(encoder, audio, autocast)
    check_shape(output, 2, dim_of(encoder), f"input {tuple(audio.shape)}")
    return f"{list(audio.shape)} -> {list(output.shape)}"


def _finite(encoder: torch.nn.Module, device: torch.device, autocast: str | None) -> str:
    _encode(encoder, torch.zeros(1, rate_of(encoder), device=device), autocast)
    _encode(encoder, noise_clips(encoder, QUICK_SECONDS[1], 1, device).clamp(-1, 1) * 10, autocast)
    return "no NaN/inf for silence and loud noise"


def _frames(encoder: torch.nn.Module, seconds: float, device: torch.device, autocast: str | None) -> tuple[int, float]:
    """The frames of one clip of ``seconds``, and the frames its length and the encoder's hop imply."""
    audio = noise_clips(encoder, seconds, 1, device)
    return _encode(encoder, audio, autocast).shape[1], audio.shape[1] / hop_samples_of(encoder)


def _hop(encoder: torch.nn.Module, device: torch.device, autocast: str | None) -> str:
    details = []
    for seconds in QUICK_SECONDS:
        frames, expected = _frames(encoder, seconds, device, autocast)
        if abs(frames - expected) > 1.0 + 1e-6:
            raise EncoderContractError(
                f"{seconds:g} s gives {frames} frames, but hop_size_in_ms={hop_ms_of(encoder):g} "
                f"implies {expected:.1f}; fix hop_size_in_ms or the output length"
            )
        details.append(f"{seconds:g} s -> {frames} frames (expected {expected:.1f})")
    return "; ".join(details)


def _variable_lengths(encoder: torch.nn.Module, device: torch.device, autocast: str | None) -> str:
    lengths = (0.1, 0.5, 3.3, 10.0)
    for seconds in lengths:
        _encode(encoder, noise_clips(encoder, seconds, 1, device), autocast)
    return "encoded " + ", ".join(f"{s:g} s" for s in lengths)


def _batch_consistency(encoder: torch.nn.Module, device: torch.device, autocast: str | None) -> str:
    batch = noise_clips(encoder, QUICK_SECONDS[0], 3, device)
    together = _encode(encoder, batch, autocast)
    alone = _encode(encoder, batch[1:2], autocast)
    scale = together.abs().max().clamp_min(1e-6)
    difference = float((together[1:2] - alone).abs().max() / scale)
    tolerance = 1e-3 if autocast is None else 5e-2
    if difference > tolerance:
        raise EncoderContractError(
            f"a clip encoded alone differs from the same clip in a batch (relative difference {difference:.2e}); "
            "batch items must not influence each other"
        )
    return f"relative difference {difference:.1e}"


def _long_clip(encoder: torch.nn.Module, device: torch.device, seconds: float, autocast: str | None) -> str:
    frames, expected = _frames(encoder, seconds, device, autocast)
    if abs(frames - expected) > max(2.0, 0.01 * expected):
        raise EncoderContractError(f"{seconds:g} s gives {frames} frames, expected about {expected:.0f}")
    return f"{frames} frames"


def minimum_input_samples(encoder: torch.nn.Module, device: torch.device, autocast: str | None) -> int:
    """The fewest samples the encoder accepts (shorter clips are zero-padded to it); at most one second."""
    rate = rate_of(encoder)

    def accepts(samples: int) -> bool:
        try:
            _encode(encoder, noise_clips(encoder, samples / rate, 1, device), autocast)
        except Exception:
            return False
        return True

    upper = 1
    while upper < rate and not accepts(upper):
        upper *= 2
    lower = upper // 2  # rejected (or 0)
    while upper - lower > 1:
        middle = (lower + upper) // 2
        lower, upper = (lower, middle) if accepts(middle) else (middle, upper)
    return min(upper, rate)


def _shortest_input(encoder: torch.nn.Module, device: torch.device, autocast: str | None) -> str:
    samples = minimum_input_samples(encoder, device, autocast)
    return f"{samples} samples ({1000 * samples / rate_of(encoder):.1f} ms); shorter clips are zero-padded to it"


def measure_padding(encoder: torch.nn.Module, device: torch.device) -> PaddingCheck:
    """Told the padding by the contract, or the largest relative deviation of a probe crop's kept frames (all,
    the last included) in zero-padded batches from its frames alone, in float32 (None: the encoder failed)."""
    if padding_invariant(encoder):
        return PaddingCheck(padding_input(encoder).value)
    try:
        return PaddingCheck(None, _padding_deviation(encoder, device))
    except Exception:  # an encoder that cannot be probed is not proved invariant
        return PaddingCheck(None)


def _padding_deviation(encoder: torch.nn.Module, device: torch.device) -> float:
    rate = rate_of(encoder)
    generator = torch.Generator().manual_seed(1)
    probes = [0.1 * torch.randn(round(seconds * rate), generator=generator) for seconds in PROBE_SECONDS]
    alone = [_encode(encoder, probe[None].to(device), None)[0] for probe in probes]
    deviation = 0.0
    for seconds in PADDED_TO_SECONDS:
        rows = [0.1 * torch.randn(round(seconds * rate), generator=generator), *probes]
        audio = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True).to(device)
        batch = forward_padded(encoder, audio, [len(row) for row in rows], None, "padding probe")
        for row, own in enumerate(alone, start=1):
            deviation = max(deviation, _relative_difference(batch.frames[row, : batch.frame_counts[row]].float(), own))
    return deviation


def _relative_difference(kept: torch.Tensor, alone: torch.Tensor) -> float:
    """Largest difference of two ``[T', D]`` frame sequences relative to ``alone``'s largest value; a frame kept or
    lost (different frame counts) counts as its whole value."""
    frames = max(len(kept), len(alone))
    kept, padded_alone = (torch.nn.functional.pad(x, (0, 0, 0, frames - len(x))) for x in (kept, alone))
    return float((kept - padded_alone).abs().max() / alone.abs().max().clamp_min(1e-6))


def _padding(padding: PaddingCheck) -> str:
    return f"{padding.describe()}; encode.batching=auto encodes {auto_batching(padding, layers=False)} batches"

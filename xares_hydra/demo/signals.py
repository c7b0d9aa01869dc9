"""The demo's audio synthesis: seeded randomness, oscillators, noise, envelopes, mixing, and sound sources
(``(rng, n_samples, sample_rate) -> mono audio``) that ``finish`` turns into clips."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import numpy as np

Source = Callable[[np.random.Generator, int, int], np.ndarray]  # (rng, n_samples, sample_rate) -> mono

SNR_DB = (10.0, 30.0)
PEAK_DB = (-26.0, -6.0)  # 20 dB of gain variation, never near clipping


def seeded_rng(seed: int, *path: str | int) -> np.random.Generator:
    """A generator that depends only on the seed and a path of names/positions (stable across runs)."""
    words = [seed, *(zlib.crc32(part.encode()) if isinstance(part, str) else part for part in path)]
    return np.random.default_rng(words)


def _below_nyquist(frequency: float, sr: int) -> float:
    return min(frequency, 0.45 * sr)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def seconds(n: float, sr: int) -> int:
    return round(n * sr)


def oscillator(frequency: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Sine following an instantaneous frequency track (Hz per sample), random start phase."""
    return np.sin(2 * np.pi * np.cumsum(frequency) / sr + rng.uniform(0, 2 * np.pi))


def _harmonic_tone(amplitudes: np.ndarray, f0: float, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Periodic tone with partial k+1 at amplitudes[k], band-limited below 0.45*sr (wavetable synthesis)."""
    table_size = 4096
    n_partials = min(len(amplitudes), int(0.45 * sr / f0), table_size // 2 - 1)
    spectrum = np.zeros(table_size // 2 + 1, dtype=complex)
    spectrum[1 : n_partials + 1] = -1j * np.asarray(amplitudes[:n_partials]) * table_size / 2
    table = np.fft.irfft(spectrum, table_size)
    position = ((f0 * np.arange(n) / sr + rng.uniform()) % 1.0) * table_size
    return np.interp(position, np.arange(table_size + 1), np.append(table, table[0]))


def _noise(
    rng: np.random.Generator, n: int, sr: int, exponent: float = 0.0, band: tuple[float, float] | None = None
) -> np.ndarray:
    """Gaussian noise, unit RMS, no DC: power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown), or white within
    ``band`` (Hz) and silent outside it."""
    frequencies = np.fft.rfftfreq(n, 1 / sr)
    if band is None:
        gain = np.maximum(frequencies, 20.0) ** (-exponent / 2)
    else:
        gain = (frequencies >= band[0]) & (frequencies <= band[1])
    spectrum = np.fft.rfft(rng.standard_normal(n)) * gain
    spectrum[0] = 0
    return unit_rms(np.fft.irfft(spectrum, n))


def fades(n: int, sr: int, ms: float = 10.0) -> np.ndarray:
    """Raised-cosine on/off ramps so that sounds start and stop without a click."""
    ramp = min(seconds(ms / 1000, sr), n // 2)
    envelope = np.ones(n)
    if ramp:
        rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        envelope[:ramp] = rise
        envelope[n - ramp :] = rise[::-1]
    return envelope


def _adsr(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Attack-decay-sustain-release envelope with random segment lengths."""
    attack, decay, release = (seconds(rng.uniform(*bounds), sr) for bounds in ((0.005, 0.08), (0.05, 0.2), (0.05, 0.3)))
    attack, decay, release = (min(length, n // 4) for length in (attack, decay, release))
    sustain = rng.uniform(0.5, 0.9)
    hold = n - attack - decay - release
    return np.concatenate(
        [
            np.linspace(0, 1, attack, endpoint=False),
            np.linspace(1, sustain, decay, endpoint=False),
            np.full(hold, sustain),
            np.linspace(sustain, 0, release),
        ]
    )


def _exp_decay(n: int, sr: int, tau: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (tau * sr))


def _rms(audio: np.ndarray) -> float:
    """Root mean square; 1.0 for empty or silent input so that dividing by it is always safe."""
    return float(np.sqrt(np.mean(np.square(audio)))) if np.any(audio) else 1.0


def unit_rms(audio: np.ndarray) -> np.ndarray:
    return audio / _rms(audio)


def place(canvas: np.ndarray, sound: np.ndarray, start: int) -> None:
    end = min(len(canvas), start + len(sound))
    canvas[start:end] += sound[: end - start]


def place_randomly(rng: np.random.Generator, canvas: np.ndarray, sound: np.ndarray) -> None:
    place(canvas, sound, int(rng.integers(0, len(canvas) - len(sound) + 1)))


def sequence_starts(rng: np.random.Generator, total: int, lengths: Sequence[int]) -> list[int]:
    """Start positions that lay sounds out in order with random silence before, between and after."""
    silences = np.floor(rng.dirichlet(np.ones(len(lengths) + 1)) * (total - sum(lengths))).astype(int)
    return [int(start) for start in np.cumsum(silences[:-1]) + np.cumsum([0, *lengths[:-1]])]


def finish(
    rng: np.random.Generator,
    foreground: np.ndarray,
    sr: int,
    snr_db: tuple[float, float] = SNR_DB,
    stereo: bool = False,
) -> np.ndarray:
    """Pink background noise at a random SNR (against the foreground where it sounds, so sparse sounds are not
    buried), a random peak level, optionally stereo."""
    noise = _noise(rng, len(foreground), sr, exponent=1.0)
    signal_rms = _rms(foreground[foreground != 0])
    mix = foreground + noise * signal_rms * 10 ** (-rng.uniform(*snr_db) / 20)
    mix *= 10 ** (rng.uniform(*PEAK_DB) / 20) / np.max(np.abs(mix))
    if stereo:  # two channels with different gains and a small delay between them (the peak never grows)
        delay = int(rng.integers(0, 20))
        gains = rng.uniform(0.5, 1.0, size=2)
        channels = [gains[0] * mix, gains[1] * np.concatenate([np.zeros(delay), mix[: len(mix) - delay]])]
        mix = np.stack(channels[::-1] if rng.random() < 0.5 else channels, axis=1)
    return mix.astype(np.float32)


def steady_tone(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    return oscillator(np.full(n, _log_uniform(rng, low, high)), sr, rng) * fades(n, sr)


def sweep(
    rng: np.random.Generator, n: int, sr: int, low: float, high: float, direction: str | None = None
) -> np.ndarray:
    """Exponential sweep over 2-3 octaves inside [low, high], up or down (random when direction is None)."""
    span = 2 ** rng.uniform(2, 3)
    start = _log_uniform(rng, low, _below_nyquist(high, sr) / span)
    track = start * span ** np.linspace(0, 1, n)
    if direction == "down" or (direction is None and rng.random() < 0.5):
        track = track[::-1]
    return oscillator(track, sr, rng) * fades(n, sr)


def noise_burst(rng: np.random.Generator, n: int, sr: int, exponent: float) -> np.ndarray:
    return _noise(rng, n, sr, exponent) * fades(n, sr, ms=20.0)


def click_train(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """Periodic clicks at low-high Hz; each click a few milliseconds of decaying noise."""
    audio = np.zeros(n)
    click_length = seconds(0.004, sr)
    click = rng.standard_normal(click_length) * _exp_decay(click_length, sr, tau=0.0008)
    period = sr / rng.uniform(low, high)
    for start in np.arange(rng.uniform(0, period), n, period):
        place(audio, click, int(start))
    return audio


def tremolo(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """Tone with deep amplitude modulation at 4-10 Hz."""
    rate, depth = rng.uniform(4, 10), rng.uniform(0.8, 1.0)
    modulation = 1 - depth * 0.5 * (1 + np.cos(2 * np.pi * rate * np.arange(n) / sr + rng.uniform(0, 2 * np.pi)))
    return steady_tone(rng, n, sr, low, high) * modulation


def beep_pulses(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """A tone switched on and off, each pulse with short ramps."""
    tone, on, off = steady_tone(rng, n, sr, low, high), rng.uniform(0.08, 0.2), rng.uniform(0.06, 0.15)
    gate = np.zeros(n)
    for start in range(0, n, seconds(on + off, sr)):
        pulse = min(seconds(on, sr), n - start)
        gate[start : start + pulse] = fades(pulse, sr, ms=5.0)
    return tone * gate


def hum(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """Mains-like hum: a low fundamental with a few decaying harmonics."""
    amplitudes = 1 / np.arange(1, 7) ** rng.uniform(0.7, 1.3)
    return _harmonic_tone(amplitudes, rng.uniform(low, high), n, sr, rng) * fades(n, sr, ms=30.0)


def hiss(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """Noise high-passed at a cutoff between low and high Hz."""
    cutoff = _below_nyquist(rng.uniform(low, high), sr)
    return _noise(rng, n, sr, band=(cutoff, 0.5 * sr)) * fades(n, sr, ms=20.0)


def knocks(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """A few decaying low thumps (a damped low sine plus a short low-passed transient)."""
    audio = np.zeros(n)
    length = min(n, seconds(0.25, sr))
    count = int(rng.integers(2, 6))
    for start in np.sort(rng.integers(0, n - length + 1, size=count)):
        decay = _exp_decay(length, sr, tau=rng.uniform(0.03, 0.08))
        body = oscillator(np.full(length, rng.uniform(low, high)), sr, rng)
        transient = _noise(rng, length, sr, band=(20, 600)) * _exp_decay(length, sr, tau=0.005)
        place(audio, (body + 0.5 * transient) * decay, int(start))
    return audio


def whistle(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """Frequency-modulated tone (vibrato of 100-300 Hz at 3-8 Hz) around a centre in [low, high]."""
    centre, deviation, rate = _log_uniform(rng, low, high), rng.uniform(100, 300), rng.uniform(3, 8)
    centre = _below_nyquist(centre + deviation, sr) - deviation
    track = centre + deviation * np.sin(2 * np.pi * rate * np.arange(n) / sr + rng.uniform(0, 2 * np.pi))
    return oscillator(track, sr, rng) * fades(n, sr, ms=20.0)


NOTE_RANGE = (110.0, 880.0)
BELL_PARTIALS = (  # Risset's bell: frequency ratio, amplitude, relative decay time
    (0.56, 1.0, 1.0),
    (0.92, 0.67, 0.9),
    (1.19, 1.0, 0.65),
    (1.71, 1.8, 0.55),
    (2.0, 2.67, 0.325),
    (2.74, 1.67, 0.35),
    (3.0, 1.46, 0.25),
    (3.76, 1.33, 0.2),
    (4.07, 1.33, 0.15),
)


def harmonic_instrument(spectrum: Callable[[np.ndarray, float], np.ndarray]) -> Source:
    """An instrument whose note has partial amplitudes spectrum(partial_numbers, f0) and an ADSR envelope."""

    def play(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
        f0 = _log_uniform(rng, *NOTE_RANGE)
        amplitudes = spectrum(np.arange(1, 2048), f0)
        return _harmonic_tone(amplitudes, f0, n, sr, rng) * _adsr(rng, n, sr)

    return play


def reed_spectrum(k: np.ndarray, f0: float) -> np.ndarray:
    """All harmonics, boosted around two fixed formants (1.1-1.5 kHz and 2.6-3.2 kHz)."""
    frequency = k * f0
    formants = 6 * np.exp(-0.5 * ((frequency - 1300) / 250) ** 2) + 3 * np.exp(-0.5 * ((frequency - 2900) / 350) ** 2)
    return (1 + formants) / k


def bell(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Inharmonic partials, each with its own long exponential decay."""
    f0, decay = _log_uniform(rng, *NOTE_RANGE), rng.uniform(0.6, 1.5)
    audio = np.zeros(n)
    for ratio, amplitude, relative_decay in BELL_PARTIALS:
        if ratio * f0 < 0.45 * sr:
            partial = oscillator(np.full(n, ratio * f0), sr, rng)
            audio += amplitude * partial * _exp_decay(n, sr, tau=decay * relative_decay)
    return audio * fades(n, sr, ms=5.0)

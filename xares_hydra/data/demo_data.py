"""Seeded generators for the offline demo task suite.

Each generator writes small webdataset shards in X-ARES's on-disk format (through
:mod:`xares_hydra.data.shards`) whose classes are audible in the signal: a log-mel encoder scores far
above chance, a content-independent one at chance. Nuisance factors (pitch within a class's
range, gain, background noise at 10-30 dB SNR, onset, duration, channels) are randomised.

Everything is a pure function of ``(name, seed, args)``: the same seed gives byte-identical shards.
Every clip draws from its own generator seeded by (seed, task, shard, position), so shrinking one
split does not change the clips of another.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from xares_hydra.atomic import remove_stale_parts
from xares_hydra.data.shards import encode_audio, write_shard

Source = Callable[[np.random.Generator, int, int], np.ndarray]  # (rng, n_samples, sample_rate) -> mono
DatasetGenerator = Callable[[Path, int, dict], list[Path]]  # (out_dir, seed, args) -> shard paths written
ClipMaker = Callable[[np.random.Generator, Any, int], tuple[np.ndarray, Any]]  # (rng, spec, sr) -> audio, labels

SPLITS = ("train", "valid", "test")
SHORT_DURATIONS = (1.0, 1.5, 2.0)
CAPTION_DURATIONS = (2.0, 3.0, 4.0)
EVENT_CLIP_SECONDS = 5.0
AUDIO_FORMATS = ("flac", "wav", "ogg", "mp3")
SNR_DB = (10.0, 30.0)
PEAK_DB = (-26.0, -6.0)  # 20 dB of gain variation, never near clipping


# ---------------------------------------------------------------- randomness


def _rng(seed: int, *path: str | int) -> np.random.Generator:
    """A generator that depends only on the seed and a path of names/positions (stable across runs)."""
    words = [seed, *(zlib.crc32(part.encode()) if isinstance(part, str) else part for part in path)]
    return np.random.default_rng(words)


def _below_nyquist(frequency: float, sr: int) -> float:
    return min(frequency, 0.45 * sr)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _seconds(n: float, sr: int) -> int:
    return round(n * sr)


# ---------------------------------------------------------------- oscillators and noise


def _oscillator(frequency: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
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


def _coloured_noise(rng: np.random.Generator, n: int, sr: int, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    frequencies = np.maximum(np.fft.rfftfreq(n, 1 / sr), 20.0)
    spectrum *= frequencies ** (-exponent / 2)
    spectrum[0] = 0
    return _unit_rms(np.fft.irfft(spectrum, n))


def _band_noise(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    frequencies = np.fft.rfftfreq(n, 1 / sr)
    spectrum[(frequencies < low) | (frequencies > high)] = 0
    return _unit_rms(np.fft.irfft(spectrum, n))


# ---------------------------------------------------------------- envelopes


def _fades(n: int, sr: int, ms: float = 10.0) -> np.ndarray:
    """Raised-cosine on/off ramps so that sounds start and stop without a click."""
    ramp = min(_seconds(ms / 1000, sr), n // 2)
    envelope = np.ones(n)
    if ramp:
        rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        envelope[:ramp] = rise
        envelope[n - ramp :] = rise[::-1]
    return envelope


def _adsr(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Attack-decay-sustain-release envelope with random segment lengths."""
    attack, decay, release = (
        _seconds(rng.uniform(*bounds), sr) for bounds in ((0.005, 0.08), (0.05, 0.2), (0.05, 0.3))
    )
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


def _gate(n: int, sr: int, on: float, off: float) -> np.ndarray:
    """On/off pulse train starting with a pulse, each pulse with short ramps."""
    gate = np.zeros(n)
    period, width = _seconds(on + off, sr), _seconds(on, sr)
    for start in range(0, n, period):
        pulse = min(width, n - start)
        gate[start : start + pulse] = _fades(pulse, sr, ms=5.0)
    return gate


# ---------------------------------------------------------------- mixing


def _rms(audio: np.ndarray) -> float:
    """Root mean square; 1.0 for empty or silent input so that dividing by it is always safe."""
    return float(np.sqrt(np.mean(np.square(audio)))) if np.any(audio) else 1.0


def _unit_rms(audio: np.ndarray) -> np.ndarray:
    return audio / _rms(audio)


def _place(canvas: np.ndarray, sound: np.ndarray, start: int) -> None:
    end = min(len(canvas), start + len(sound))
    canvas[start:end] += sound[: end - start]


def _place_randomly(rng: np.random.Generator, canvas: np.ndarray, sound: np.ndarray) -> int:
    start = int(rng.integers(0, len(canvas) - len(sound) + 1))
    _place(canvas, sound, start)
    return start


def _sequence_starts(rng: np.random.Generator, total: int, lengths: Sequence[int]) -> list[int]:
    """Start positions that lay sounds out in order with random silence before, between and after."""
    slack = total - sum(lengths)
    silences = np.floor(rng.dirichlet(np.ones(len(lengths) + 1)) * slack).astype(int)
    starts, position = [], 0
    for silence, length in zip(silences[:-1], lengths, strict=True):
        position += int(silence)
        starts.append(position)
        position += length
    return starts


def _finish(
    rng: np.random.Generator,
    foreground: np.ndarray,
    sr: int,
    snr_db: tuple[float, float] = SNR_DB,
    stereo: bool = False,
) -> np.ndarray:
    """Add pink background noise at a random SNR, set a random peak level, optionally spread to stereo.

    The SNR compares the background with the foreground where it sounds (its non-zero samples), so
    sparse sounds (clicks, short events) are not buried by a background scaled to their mean power.
    """
    noise = _coloured_noise(rng, len(foreground), sr, exponent=1.0)
    signal_rms = _rms(foreground[foreground != 0])
    mix = foreground + noise * signal_rms * 10 ** (-rng.uniform(*snr_db) / 20)
    mix *= 10 ** (rng.uniform(*PEAK_DB) / 20) / np.max(np.abs(mix))
    if stereo:
        mix = _spread_to_stereo(rng, mix)
    return mix.astype(np.float32)


def _spread_to_stereo(rng: np.random.Generator, mono: np.ndarray) -> np.ndarray:
    """Two channels with different gains and a small inter-channel delay (peak never grows)."""
    delay = int(rng.integers(0, 20))
    delayed = np.concatenate([np.zeros(delay), mono[: len(mono) - delay]])
    gains = rng.uniform(0.5, 1.0, size=2)
    channels = [gains[0] * mono, gains[1] * delayed]
    if rng.random() < 0.5:
        channels.reverse()
    return np.stack(channels, axis=1)


# ---------------------------------------------------------------- sound sources: (rng, n, sr) -> audio


def steady_tone(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    return _oscillator(np.full(n, _log_uniform(rng, low, high)), sr, rng) * _fades(n, sr)


def sweep(
    rng: np.random.Generator, n: int, sr: int, low: float, high: float, direction: str | None = None
) -> np.ndarray:
    """Exponential sweep over 2-3 octaves inside [low, high], up or down (random when direction is None)."""
    span = 2 ** rng.uniform(2, 3)
    start = _log_uniform(rng, low, _below_nyquist(high, sr) / span)
    track = start * span ** np.linspace(0, 1, n)
    if direction == "down" or (direction is None and rng.random() < 0.5):
        track = track[::-1]
    return _oscillator(track, sr, rng) * _fades(n, sr)


def noise_burst(rng: np.random.Generator, n: int, sr: int, exponent: float) -> np.ndarray:
    return _coloured_noise(rng, n, sr, exponent) * _fades(n, sr, ms=20.0)


def click_train(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """Periodic clicks at low-high Hz; each click a few milliseconds of decaying noise."""
    audio = np.zeros(n)
    click_length = _seconds(0.004, sr)
    click = rng.standard_normal(click_length) * _exp_decay(click_length, sr, tau=0.0008)
    period = sr / rng.uniform(low, high)
    for start in np.arange(rng.uniform(0, period), n, period):
        _place(audio, click, int(start))
    return audio


def tremolo(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """Tone with deep amplitude modulation at 4-10 Hz."""
    rate, depth = rng.uniform(4, 10), rng.uniform(0.8, 1.0)
    modulation = 1 - depth * 0.5 * (1 + np.cos(2 * np.pi * rate * np.arange(n) / sr + rng.uniform(0, 2 * np.pi)))
    return steady_tone(rng, n, sr, low, high) * modulation


def beep_pulses(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    return steady_tone(rng, n, sr, low, high) * _gate(n, sr, on=rng.uniform(0.08, 0.2), off=rng.uniform(0.06, 0.15))


def hum(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """Mains-like hum: a low fundamental with a few decaying harmonics."""
    amplitudes = 1 / np.arange(1, 7) ** rng.uniform(0.7, 1.3)
    return _harmonic_tone(amplitudes, rng.uniform(low, high), n, sr, rng) * _fades(n, sr, ms=30.0)


def hiss(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """Noise high-passed at a cutoff between low and high Hz."""
    cutoff = _below_nyquist(rng.uniform(low, high), sr)
    return _band_noise(rng, n, sr, cutoff, 0.5 * sr) * _fades(n, sr, ms=20.0)


def knocks(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """A few decaying low thumps (a damped low sine plus a short low-passed transient)."""
    audio = np.zeros(n)
    length = min(n, _seconds(0.25, sr))
    count = int(rng.integers(2, 6))
    for start in np.sort(rng.integers(0, n - length + 1, size=count)):
        decay = _exp_decay(length, sr, tau=rng.uniform(0.03, 0.08))
        body = _oscillator(np.full(length, rng.uniform(low, high)), sr, rng)
        transient = _band_noise(rng, length, sr, 20, 600) * _exp_decay(length, sr, tau=0.005)
        _place(audio, (body + 0.5 * transient) * decay, int(start))
    return audio


def whistle(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """Frequency-modulated tone (vibrato of 100-300 Hz at 3-8 Hz) around a centre in [low, high]."""
    centre, deviation, rate = _log_uniform(rng, low, high), rng.uniform(100, 300), rng.uniform(3, 8)
    centre = _below_nyquist(centre + deviation, sr) - deviation
    track = centre + deviation * np.sin(2 * np.pi * rate * np.arange(n) / sr + rng.uniform(0, 2 * np.pi))
    return _oscillator(track, sr, rng) * _fades(n, sr, ms=20.0)


# ---------------------------------------------------------------- instruments: (rng, n, sr) -> one note


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


def _harmonic_instrument(spectrum: Callable[[np.ndarray, float], np.ndarray]) -> Source:
    """An instrument whose note has partial amplitudes spectrum(partial_numbers, f0) and an ADSR envelope."""

    def play(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
        f0 = _log_uniform(rng, *NOTE_RANGE)
        amplitudes = spectrum(np.arange(1, 2048), f0)
        return _harmonic_tone(amplitudes, f0, n, sr, rng) * _adsr(rng, n, sr)

    return play


def _sine_spectrum(k: np.ndarray, f0: float) -> np.ndarray:
    return (k == 1).astype(float)


def _square_spectrum(k: np.ndarray, f0: float) -> np.ndarray:
    return np.where(k % 2 == 1, 1 / k, 0.0)


def _sawtooth_spectrum(k: np.ndarray, f0: float) -> np.ndarray:
    return 1 / k


def _reed_spectrum(k: np.ndarray, f0: float) -> np.ndarray:
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
            partial = _oscillator(np.full(n, ratio * f0), sr, rng)
            audio += amplitude * partial * _exp_decay(n, sr, tau=decay * relative_decay)
    return audio * _fades(n, sr, ms=5.0)


# ---------------------------------------------------------------- class tables

SOUNDS: dict[str, Source] = {
    "tone": partial(steady_tone, low=200, high=2000),
    "chirp": partial(sweep, low=200, high=4000),
    "white_noise": partial(noise_burst, exponent=0.0),
    "brown_noise": partial(noise_burst, exponent=2.0),
    "clicks": partial(click_train, low=4, high=12),
    "tremolo": partial(tremolo, low=200, high=2000),
}
INSTRUMENTS: dict[str, Source] = {
    "sine": _harmonic_instrument(_sine_spectrum),
    "square": _harmonic_instrument(_square_spectrum),
    "sawtooth": _harmonic_instrument(_sawtooth_spectrum),
    "bell": bell,
    "reed": _harmonic_instrument(_reed_spectrum),
}
MIXTURE_SOURCES: dict[str, Source] = {
    "beep": partial(beep_pulses, low=1000, high=3000),
    "hum": partial(hum, low=50, high=120),
    "hiss": partial(hiss, low=3500, high=5000),
    "knock": partial(knocks, low=60, high=200),
    "whistle": partial(whistle, low=2000, high=4000),
}
EVENTS: dict[str, Source] = {
    "beep": partial(steady_tone, low=500, high=2000),
    "noise_burst": partial(noise_burst, exponent=0.5),
    "chirp": partial(sweep, low=300, high=5000),
    "clicks": partial(click_train, low=6, high=15),
}
CAPTION_ELEMENTS: dict[str, Source] = {
    "high_beep": partial(beep_pulses, low=2000, high=3500),
    "low_hum": partial(hum, low=60, high=150),
    "noise_burst": partial(noise_burst, exponent=0.3),
    "rising_chirp": partial(sweep, low=300, high=4000, direction="up"),
    "falling_chirp": partial(sweep, low=300, high=4000, direction="down"),
    "rapid_clicks": partial(click_train, low=15, high=25),
}
CAPTION_PHRASES: dict[str, tuple[str, ...]] = {
    "high_beep": ("a high beep", "a high-pitched beep", "shrill beeping", "a sharp high tone"),
    "low_hum": ("a low hum", "a deep hum", "a low droning hum", "a deep buzzing drone"),
    "noise_burst": ("a burst of noise", "a noise burst", "a short blast of static", "a rush of noise"),
    "rising_chirp": ("a rising chirp", "an upward sweep", "a tone sweeping upward", "a rising whistle"),
    "falling_chirp": ("a falling chirp", "a downward sweep", "a tone sweeping downward", "a falling whistle"),
    "rapid_clicks": ("rapid clicking", "a fast series of clicks", "quick clicking", "a rapid click train"),
}
ONE_ELEMENT_TEMPLATES = ("{a}", "{a} can be heard", "there is {a}", "only {a} is heard")
TWO_ELEMENT_TEMPLATES = (
    "{a} followed by {b}",
    "{a} and then {b}",
    "first {a}, then {b}",
    "{b} after {a}",
    "{a} before {b}",
    "{a}, then {b}",
)
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DTMF_HZ = {  # (row, column) frequencies of the telephone keypad
    "zero": (941, 1336),
    "one": (697, 1209),
    "two": (697, 1336),
    "three": (697, 1477),
    "four": (770, 1209),
    "five": (770, 1336),
    "six": (770, 1477),
    "seven": (852, 1209),
    "eight": (852, 1336),
    "nine": (852, 1477),
}

CLASSES: dict[str, tuple[str, ...]] = {
    "sounds": tuple(SOUNDS),
    "timbre": tuple(INSTRUMENTS),
    "mixtures": tuple(MIXTURE_SOURCES),
    "events": tuple(EVENTS),
    "captions": tuple(CAPTION_ELEMENTS),
    "digits": DIGIT_WORDS,
}


# ---------------------------------------------------- clip makers: (rng, spec, sr) -> audio, labels


def _short_clip_length(rng: np.random.Generator, sr: int) -> int:
    return _seconds(float(rng.choice(SHORT_DURATIONS)), sr)


def _single_source_clip(
    rng: np.random.Generator,
    class_index: int,
    sr: int,
    *,
    sources: Sequence[Source],
    label: Callable[[int], Any],
    stereo_fraction: float,
) -> tuple[np.ndarray, Any]:
    """One sound of the given class, 60-100% of a 1-2 s clip long, at a random onset."""
    clip = np.zeros(_short_clip_length(rng, sr))
    sound = sources[class_index](rng, int(len(clip) * rng.uniform(0.6, 1.0)), sr)
    _place_randomly(rng, clip, sound)
    stereo = rng.random() < stereo_fraction
    return _finish(rng, clip, sr, stereo=stereo), label(class_index)


def _mixture_clip(rng: np.random.Generator, _: Any, sr: int) -> tuple[np.ndarray, Any]:
    """1-3 distinct sources, each over 50-100% of the clip at its own onset and level."""
    names = sorted(rng.choice(list(MIXTURE_SOURCES), size=int(rng.integers(1, 4)), replace=False).tolist())
    clip = np.zeros(_short_clip_length(rng, sr))
    for name in names:
        sound = MIXTURE_SOURCES[name](rng, int(len(clip) * rng.uniform(0.5, 1.0)), sr)
        _place_randomly(rng, clip, _unit_rms(sound) * 10 ** (rng.uniform(-6, 0) / 20))
    return _finish(rng, clip, sr), {"events": ";".join(names)}


def _events_clip(rng: np.random.Generator, _: Any, sr: int) -> tuple[np.ndarray, Any]:
    """1-3 possibly overlapping events of 0.3-2.0 s over quiet background noise; times on a 1 ms grid."""
    clip_ms = round(EVENT_CLIP_SECONDS * 1000)
    clip = np.zeros(_seconds(EVENT_CLIP_SECONDS, sr))
    events = []
    for _event in range(int(rng.integers(1, 4))):
        name = str(rng.choice(list(EVENTS)))
        length_ms = int(rng.integers(300, 2001))
        onset_ms = int(rng.integers(0, clip_ms - length_ms + 1))
        sound = EVENTS[name](rng, _seconds(length_ms / 1000, sr), sr)
        _place(clip, _unit_rms(sound) * 10 ** (rng.uniform(-6, 0) / 20), _seconds(onset_ms / 1000, sr))
        events.append({"onset": onset_ms / 1000, "offset": (onset_ms + length_ms) / 1000, "label": name})
    events.sort(key=lambda event: (event["onset"], event["offset"], event["label"]))
    return _finish(rng, clip, sr, snr_db=(15.0, 30.0)), events


def _captions_clip(rng: np.random.Generator, _: Any, sr: int) -> tuple[np.ndarray, Any]:
    """1-2 distinct elements in sequence in a 2-4 s clip, with five captions naming them in order."""
    names = rng.choice(list(CAPTION_ELEMENTS), size=int(rng.integers(1, 3)), replace=False).tolist()
    clip = np.zeros(_seconds(float(rng.choice(CAPTION_DURATIONS)), sr))
    share = (0.4, 0.8) if len(names) == 1 else (0.25, 0.4)
    lengths = [int(len(clip) * rng.uniform(*share)) for _name in names]
    for name, length, start in zip(names, lengths, _sequence_starts(rng, len(clip), lengths), strict=True):
        _place(clip, _unit_rms(CAPTION_ELEMENTS[name](rng, length, sr)), start)
    return _finish(rng, clip, sr), _captions(rng, names)


def _captions(rng: np.random.Generator, names: Sequence[str]) -> dict[str, str]:
    """Five different captions drawn from all template/phrase combinations describing the sequence."""
    phrases = [CAPTION_PHRASES[name] for name in names]
    if len(names) == 1:
        pool = [template.format(a=a) for template in ONE_ELEMENT_TEMPLATES for a in phrases[0]]
    else:
        pool = [template.format(a=a, b=b) for template in TWO_ELEMENT_TEMPLATES for a in phrases[0] for b in phrases[1]]
    chosen = rng.choice(len(pool), size=5, replace=False)
    return {f"caption_{i + 1}": pool[index] for i, index in enumerate(chosen)}


def _digits_clip(rng: np.random.Generator, _: Any, sr: int) -> tuple[np.ndarray, Any]:
    """2-5 DTMF 'spoken digits' of 0.15-0.25 s with short gaps; clip length rounded up to a half second."""
    words = [str(word) for word in rng.choice(DIGIT_WORDS, size=int(rng.integers(2, 6)))]
    tones = [_dtmf(rng, word, _seconds(rng.uniform(0.15, 0.25), sr), sr) for word in words]
    gaps = [_seconds(rng.uniform(0.05, 0.15), sr) for _tone in tones[1:]]
    content = sum(map(len, tones)) + sum(gaps)
    margin, half_second = _seconds(0.05, sr), _seconds(0.5, sr)
    clip_length = max(2, -(-(content + 2 * margin) // half_second)) * half_second
    clip = np.zeros(clip_length)
    position = int(rng.integers(margin, clip_length - content - margin + 1))
    for tone, gap in zip(tones, [*gaps, 0], strict=True):
        _place(clip, tone, position)
        position += len(tone) + gap
    return _finish(rng, clip, sr, snr_db=(20.0, 35.0)), {"trans": " ".join(words)}


def _dtmf(rng: np.random.Generator, word: str, n: int, sr: int) -> np.ndarray:
    low, high = DTMF_HZ[word]
    twist = 10 ** (rng.uniform(-2, 2) / 20)
    tone = _oscillator(np.full(n, float(low)), sr, rng) + twist * _oscillator(np.full(n, float(high)), sr, rng)
    return tone * _fades(n, sr, ms=5.0) * 10 ** (rng.uniform(-3, 3) / 20)


# ---------------------------------------------------------------- plans and writing


def _balanced_plan(rng: np.random.Generator, n_classes: int, per_class: int) -> list[int]:
    plan = np.repeat(np.arange(n_classes), per_class)
    rng.shuffle(plan)
    return plan.tolist()


def _fold_plans(rng: np.random.Generator, n_classes: int, per_class: int, n_folds: int) -> dict[str, list[int]]:
    """Clip j of every class goes to fold j % n_folds, so folds hold (about) per_class/n_folds of each."""
    folds: dict[str, list[int]] = {f"fold{fold + 1}": [] for fold in range(n_folds)}
    for class_index in range(n_classes):
        for j in range(per_class):
            folds[f"fold{j % n_folds + 1}"].append(class_index)
    for plan in folds.values():
        rng.shuffle(plan)
    return folds


def _encode(audio: np.ndarray, sr: int, fmt: str) -> bytes:
    data = encode_audio(audio, sr, fmt)
    return _fixed_ogg_serial(data) if fmt == "ogg" else data


_BIT_REVERSED = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))


def _ogg_crc(page: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04c11db7, not reflected, init 0) computed via zlib's reflected one."""
    reflected = zlib.crc32(page.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


def _fixed_ogg_serial(data: bytes, serial: int = 0) -> bytes:
    """libsndfile gives each Ogg stream a time-seeded random serial number; fix it (and the page CRCs)."""
    out = bytearray(data)
    position = 0
    while position + 27 <= len(out) and out[position : position + 4] == b"OggS":
        n_segments = out[position + 26]
        end = position + 27 + n_segments + sum(out[position + 27 : position + 27 + n_segments])
        struct.pack_into("<I", out, position + 14, serial)
        struct.pack_into("<I", out, position + 22, 0)
        struct.pack_into("<I", out, position + 22, _ogg_crc(bytes(out[position:end])))
        position = end
    return bytes(out)


def _write_task(
    task: str,
    out_dir: Path,
    seed: int,
    plans: Mapping[str, Sequence[Any]],
    make_clip: ClipMaker,
    sr: int,
    fmt: str,
) -> list[Path]:
    """Write one shard per plan entry (split or fold); clip keys run on across shards: <task>_00042."""
    paths, first_index = [], 0
    for shard, specs in plans.items():
        path = out_dir / f"demo_{task}_{shard}_000000.tar"
        write_shard(path, _samples(task, seed, shard, specs, first_index, make_clip, sr, fmt))
        paths.append(path)
        first_index += len(specs)
    return paths


def _samples(
    task: str,
    seed: int,
    shard: str,
    specs: Sequence[Any],
    first_index: int,
    make_clip: ClipMaker,
    sr: int,
    fmt: str,
) -> Iterator[tuple[str, bytes, str, Any]]:
    for position, spec in enumerate(specs):
        audio, labels = make_clip(_rng(seed, task, shard, position), spec, sr)
        yield f"{task}_{first_index + position:05d}", _encode(audio, sr, fmt), fmt, labels


COUNT_ARGUMENTS = ("per_class", "train_per_class", "valid_per_class", "test_per_class", "train", "valid", "test")


def _settings(args: Mapping[str, Any] | None, defaults: dict[str, Any]) -> dict[str, Any]:
    """Defaults updated by ``args``; the ``scale`` argument multiplies every clip count (at least 1 each)."""
    args = dict(args or {})
    scale = float(args.pop("scale", 1.0))
    unknown = sorted(set(args) - set(defaults))
    if unknown:
        raise ValueError(f"unknown generator argument(s) {unknown}; expected some of {sorted(defaults)} or scale")
    settings = {**defaults, **args}
    for key in COUNT_ARGUMENTS:
        if key in settings:
            settings[key] = max(1, round(int(settings[key]) * scale))
    if settings["format"] not in AUDIO_FORMATS:
        raise ValueError(f"format must be one of {AUDIO_FORMATS}, not {settings['format']!r}")
    return settings


def _balanced_split_plans(
    rng: np.random.Generator, settings: Mapping[str, Any], n_classes: int
) -> dict[str, list[int]]:
    return {split: _balanced_plan(rng, n_classes, int(settings[f"{split}_per_class"])) for split in SPLITS}


def _open_split_plans(settings: Mapping[str, Any]) -> dict[str, list[None]]:
    """One empty spec per clip: each clip draws its own content."""
    return {split: [None] * int(settings[split]) for split in SPLITS}


# ---------------------------------------------------------------- generators: (out_dir, seed, args) -> shards


def generate_sounds(out_dir: Path, seed: int, args: dict) -> list[Path]:
    s = _settings(args, {"per_class": 30, "folds": 5, "sample_rate": 22050, "format": "flac", "stereo_fraction": 0.2})
    s["per_class"] = max(int(s["per_class"]), int(s["folds"]))  # every class in every fold
    plans = _fold_plans(_rng(seed, "sounds", "plan"), len(SOUNDS), int(s["per_class"]), int(s["folds"]))
    make = partial(
        _single_source_clip,
        sources=list(SOUNDS.values()),
        label=lambda index: {"label": index},
        stereo_fraction=float(s["stereo_fraction"]),
    )
    return _write_task("sounds", out_dir, seed, plans, make, int(s["sample_rate"]), s["format"])


def generate_timbre(out_dir: Path, seed: int, args: dict) -> list[Path]:
    defaults = {"train_per_class": 30, "valid_per_class": 10, "test_per_class": 12}
    s = _settings(args, {**defaults, "sample_rate": 44100, "format": "wav", "stereo_fraction": 0.0})
    plans = _balanced_split_plans(_rng(seed, "timbre", "plan"), s, len(INSTRUMENTS))
    names = list(INSTRUMENTS)
    make = partial(
        _single_source_clip,
        sources=list(INSTRUMENTS.values()),
        label=lambda index: {"instrument": names[index]},
        stereo_fraction=float(s["stereo_fraction"]),
    )
    return _write_task("timbre", out_dir, seed, plans, make, int(s["sample_rate"]), s["format"])


def _open_generator(task: str, make_clip: ClipMaker, sizes: dict[str, int], fmt: str = "flac") -> DatasetGenerator:
    """A generator of train/valid/test shards whose clips each draw their own content."""

    def generate_task(out_dir: Path, seed: int, args: dict) -> list[Path]:
        s = _settings(args, {**sizes, "sample_rate": 16000, "format": fmt})
        return _write_task(task, out_dir, seed, _open_split_plans(s), make_clip, int(s["sample_rate"]), s["format"])

    generate_task.__name__ = f"generate_{task}"
    return generate_task


GENERATORS: dict[str, DatasetGenerator] = {
    "sounds": generate_sounds,
    "timbre": generate_timbre,
    "mixtures": _open_generator("mixtures", _mixture_clip, {"train": 200, "valid": 60, "test": 80}, fmt="ogg"),
    "events": _open_generator("events", _events_clip, {"train": 120, "valid": 30, "test": 40}),
    "captions": _open_generator("captions", _captions_clip, {"train": 150, "valid": 40, "test": 50}),
    "digits": _open_generator("digits", _digits_clip, {"train": 200, "valid": 40, "test": 50}),
}


def generate(name: str, out_dir: Path | str, seed: int = 0, args: Mapping[str, Any] | None = None) -> list[Path]:
    """Write the demo dataset `name` into out_dir and return its shard paths (same seed, same bytes)."""
    if name not in GENERATORS:
        raise ValueError(f"unknown demo dataset {name!r}; known: {', '.join(GENERATORS)}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, not {seed}")
    remove_stale_parts(Path(out_dir))  # shards half-written by a killed generation
    return GENERATORS[name](Path(out_dir), int(seed), dict(args or {}))

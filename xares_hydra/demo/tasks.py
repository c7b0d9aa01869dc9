"""The demo tasks: small X-ARES-format shards whose classes are audible (a log-mel encoder scores far above chance),
nuisances randomised. Each clip's generator is seeded by (seed, task, shard, position): the same seed gives the same
bytes, and shrinking one split does not change another's clips."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from xares_hydra.atomic import remove_stale_parts
from xares_hydra.demo import signals
from xares_hydra.demo.formats import STAND_INS
from xares_hydra.demo.shards import write_clips
from xares_hydra.demo.signals import Source, fades, finish, oscillator, place, seconds, seeded_rng, unit_rms

DatasetGenerator = Callable[[Path, int, dict], list[Path]]  # (out_dir, seed, args) -> shard paths written
ClipMaker = Callable[[np.random.Generator, Any, int], tuple[np.ndarray, Any]]  # (rng, spec, sr) -> audio, labels

SPLITS = ("train", "valid", "test")
SHORT_DURATIONS = (1.0, 1.5, 2.0)
CAPTION_DURATIONS = (2.0, 3.0, 4.0)
EVENT_CLIP_SECONDS = 5.0
AUDIO_FORMATS = ("flac", "wav", "ogg", "mp3")


SOUNDS: dict[str, Source] = {
    "tone": partial(signals.steady_tone, low=200, high=2000),
    "chirp": partial(signals.sweep, low=200, high=4000),
    "white_noise": partial(signals.noise_burst, exponent=0.0),
    "brown_noise": partial(signals.noise_burst, exponent=2.0),
    "clicks": partial(signals.click_train, low=4, high=12),
    "tremolo": partial(signals.tremolo, low=200, high=2000),
}
INSTRUMENTS: dict[str, Source] = {
    "sine": signals.harmonic_instrument(lambda k, f0: (k == 1).astype(float)),
    "square": signals.harmonic_instrument(lambda k, f0: np.where(k % 2 == 1, 1 / k, 0.0)),
    "sawtooth": signals.harmonic_instrument(lambda k, f0: 1 / k),
    "bell": signals.bell,
    "reed": signals.harmonic_instrument(signals.reed_spectrum),
}
MIXTURE_SOURCES: dict[str, Source] = {
    "beep": partial(signals.beep_pulses, low=1000, high=3000),
    "hum": partial(signals.hum, low=50, high=120),
    "hiss": partial(signals.hiss, low=3500, high=5000),
    "knock": partial(signals.knocks, low=60, high=200),
    "whistle": partial(signals.whistle, low=2000, high=4000),
}
EVENTS: dict[str, Source] = {
    "beep": partial(signals.steady_tone, low=500, high=2000),
    "noise_burst": partial(signals.noise_burst, exponent=0.5),
    "chirp": partial(signals.sweep, low=300, high=5000),
    "clicks": partial(signals.click_train, low=6, high=15),
}
CAPTION_ELEMENTS: dict[str, Source] = {
    "high_beep": partial(signals.beep_pulses, low=2000, high=3500),
    "low_hum": partial(signals.hum, low=60, high=150),
    "noise_burst": partial(signals.noise_burst, exponent=0.3),
    "rising_chirp": partial(signals.sweep, low=300, high=4000, direction="up"),
    "falling_chirp": partial(signals.sweep, low=300, high=4000, direction="down"),
    "rapid_clicks": partial(signals.click_train, low=15, high=25),
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
DTMF_HZ = {  # (row, column) frequencies of the keypad 1 2 3 / 4 5 6 / 7 8 9 / * 0 #, keys counted from 0 row by row
    word: ((697, 770, 852, 941)[key // 3], (1209, 1336, 1477)[key % 3])
    for word, key in zip(DIGIT_WORDS, (10, 0, 1, 2, 3, 4, 5, 6, 7, 8), strict=True)
}


def _single_source_clip(
    rng: np.random.Generator,
    index: int,
    sr: int,
    *,
    sources: Sequence[Source],
    label: Callable[[int], Any],
    stereo: float,
) -> tuple[np.ndarray, Any]:
    """One sound of class ``index``, 60-100% of a 1-2 s clip long, at a random onset; stereo with chance ``stereo``."""
    clip = np.zeros(seconds(float(rng.choice(SHORT_DURATIONS)), sr))
    signals.place_randomly(rng, clip, sources[index](rng, int(len(clip) * rng.uniform(0.6, 1.0)), sr))
    return finish(rng, clip, sr, stereo=rng.random() < stereo), label(index)


def _mixture_clip(rng: np.random.Generator, _: Any, sr: int) -> tuple[np.ndarray, Any]:
    """1-3 distinct sources, each over 50-100% of the clip at its own onset and level."""
    names = sorted(rng.choice(list(MIXTURE_SOURCES), size=int(rng.integers(1, 4)), replace=False).tolist())
    clip = np.zeros(seconds(float(rng.choice(SHORT_DURATIONS)), sr))
    for name in names:
        sound = MIXTURE_SOURCES[name](rng, int(len(clip) * rng.uniform(0.5, 1.0)), sr)
        signals.place_randomly(rng, clip, unit_rms(sound) * 10 ** (rng.uniform(-6, 0) / 20))
    return finish(rng, clip, sr), {"events": ";".join(names)}


def _events_clip(rng: np.random.Generator, _: Any, sr: int) -> tuple[np.ndarray, Any]:
    """1-3 possibly overlapping events of 0.3-2.0 s over quiet background noise; times on a 1 ms grid."""
    clip_ms = round(EVENT_CLIP_SECONDS * 1000)
    clip = np.zeros(seconds(EVENT_CLIP_SECONDS, sr))
    events = []
    for _event in range(int(rng.integers(1, 4))):
        name = str(rng.choice(list(EVENTS)))
        length_ms = int(rng.integers(300, 2001))
        onset_ms = int(rng.integers(0, clip_ms - length_ms + 1))
        sound = EVENTS[name](rng, seconds(length_ms / 1000, sr), sr)
        place(clip, unit_rms(sound) * 10 ** (rng.uniform(-6, 0) / 20), seconds(onset_ms / 1000, sr))
        events.append({"onset": onset_ms / 1000, "offset": (onset_ms + length_ms) / 1000, "label": name})
    events.sort(key=lambda event: (event["onset"], event["offset"], event["label"]))
    return finish(rng, clip, sr, snr_db=(15.0, 30.0)), events


def _captions_clip(rng: np.random.Generator, _: Any, sr: int) -> tuple[np.ndarray, Any]:
    """1-2 distinct elements in sequence in a 2-4 s clip, with five captions naming them in order."""
    names = rng.choice(list(CAPTION_ELEMENTS), size=int(rng.integers(1, 3)), replace=False).tolist()
    clip = np.zeros(seconds(float(rng.choice(CAPTION_DURATIONS)), sr))
    share = (0.4, 0.8) if len(names) == 1 else (0.25, 0.4)
    lengths = [int(len(clip) * rng.uniform(*share)) for _name in names]
    for name, length, start in zip(names, lengths, signals.sequence_starts(rng, len(clip), lengths), strict=True):
        place(clip, unit_rms(CAPTION_ELEMENTS[name](rng, length, sr)), start)
    return finish(rng, clip, sr), _captions(rng, names)


def _captions(rng: np.random.Generator, names: Sequence[str]) -> dict[str, str]:
    """Five different captions drawn from all template/phrase combinations describing the sequence."""
    templates = ONE_ELEMENT_TEMPLATES if len(names) == 1 else TWO_ELEMENT_TEMPLATES
    combinations = list(itertools.product(*(CAPTION_PHRASES[name] for name in names)))  # (a,) or (a, b)
    pool = [template.format(**dict(zip("ab", phrases))) for template in templates for phrases in combinations]
    chosen = rng.choice(len(pool), size=5, replace=False)
    return {f"caption_{i + 1}": pool[index] for i, index in enumerate(chosen)}


def _digits_clip(rng: np.random.Generator, _: Any, sr: int) -> tuple[np.ndarray, Any]:
    """2-5 DTMF 'spoken digits' of 0.15-0.25 s with short gaps; clip length rounded up to a half second."""
    words = [str(word) for word in rng.choice(DIGIT_WORDS, size=int(rng.integers(2, 6)))]
    tones = [_dtmf(rng, word, seconds(rng.uniform(0.15, 0.25), sr), sr) for word in words]
    gaps = [seconds(rng.uniform(0.05, 0.15), sr) for _tone in tones[1:]]
    content = sum(map(len, tones)) + sum(gaps)
    margin, half_second = seconds(0.05, sr), seconds(0.5, sr)
    clip_length = max(2, -(-(content + 2 * margin) // half_second)) * half_second
    clip = np.zeros(clip_length)
    position = int(rng.integers(margin, clip_length - content - margin + 1))
    for tone, gap in zip(tones, [*gaps, 0], strict=True):
        place(clip, tone, position)
        position += len(tone) + gap
    return finish(rng, clip, sr, snr_db=(20.0, 35.0)), {"trans": " ".join(words)}


def _dtmf(rng: np.random.Generator, word: str, n: int, sr: int) -> np.ndarray:
    low, high = DTMF_HZ[word]
    twist = 10 ** (rng.uniform(-2, 2) / 20)
    tone = oscillator(np.full(n, float(low)), sr, rng) + twist * oscillator(np.full(n, float(high)), sr, rng)
    return tone * fades(n, sr, ms=5.0) * 10 ** (rng.uniform(-3, 3) / 20)


PITCH_RANGE_HZ = (110.0, 880.0)  # A2..A5: 36 semitones
PITCH_SNR_DB = (0.0, 30.0)


def _pitch_clip(rng: np.random.Generator, _: Any, sr: int) -> tuple[np.ndarray, Any]:
    """A harmonic tone (random timbre) over the whole 1-2 s clip in pink noise; two regression targets: its pitch
    in semitones above 110 Hz and its signal-to-noise ratio in dB, each drawn uniformly."""
    semitones = float(rng.uniform(0.0, 12 * np.log2(PITCH_RANGE_HZ[1] / PITCH_RANGE_HZ[0])))
    snr_db = float(rng.uniform(*PITCH_SNR_DB))
    n = seconds(float(rng.choice(SHORT_DURATIONS)), sr)
    frequency = PITCH_RANGE_HZ[0] * 2 ** (semitones / 12)
    partials = [oscillator(np.full(n, frequency * k), sr, rng) * rng.uniform(0.2, 1.0) / k for k in (1, 2, 3, 4)]
    tone = np.sum(partials, axis=0) * fades(n, sr)
    return finish(rng, tone, sr, snr_db=(snr_db, snr_db)), {"pitch": round(semitones, 3), "snr_db": round(snr_db, 3)}


def _write_task(
    task: str, out_dir: Path, seed: int, plans: Mapping[str, Sequence[Any]], make_clip: ClipMaker, sr: int, fmt: str
) -> list[Path]:
    """Write one shard per plan entry (split or fold); clip keys run on across shards: <task>_00042."""
    paths, first_index = [], 0
    for shard, specs in plans.items():
        made = (make_clip(seeded_rng(seed, task, shard, index), spec, sr) for index, spec in enumerate(specs))
        clips = ((f"{task}_{first_index + index:05d}", audio, sr, labels) for index, (audio, labels) in enumerate(made))
        paths.append(write_clips(out_dir / f"demo_{task}_{shard}_000000.tar", clips, fmt))
        first_index += len(specs)
    return paths


COUNT_ARGUMENTS = ("per_class", "train_per_class", "valid_per_class", "test_per_class", "train", "valid", "test")


def _settings(args: Mapping[str, Any] | None, defaults: dict[str, Any]) -> dict[str, Any]:
    """Defaults updated by ``args``; the ``scale`` argument multiplies every clip count (at least 1 each)."""
    args = dict(args or {})
    scale = float(args.pop("scale", 1.0))
    if unknown := sorted(set(args) - set(defaults)):
        raise ValueError(f"unknown generator argument(s) {unknown}; expected some of {sorted(defaults)} or scale")
    settings = {**defaults, **args}
    for key in COUNT_ARGUMENTS:
        if key in settings:
            settings[key] = max(1, round(int(settings[key]) * scale))
    if settings["format"] not in AUDIO_FORMATS:
        raise ValueError(f"format must be one of {AUDIO_FORMATS}, not {settings['format']!r}")
    return settings


def generate_sounds(out_dir: Path, seed: int, args: dict) -> list[Path]:
    s = _settings(args, {"per_class": 30, "folds": 5, "sample_rate": 22050, "format": "flac", "stereo_fraction": 0.2})
    folds = int(s["folds"])
    per_class = max(int(s["per_class"]), folds)  # every class in every fold
    # clip j of every class goes to fold j % folds, so folds hold (about) per_class/folds of each
    plans = {f"fold{f + 1}": [c for c in range(len(SOUNDS)) for _ in range(f, per_class, folds)] for f in range(folds)}
    rng = seeded_rng(seed, "sounds", "plan")
    for plan in plans.values():
        rng.shuffle(plan)
    return _write_classes("sounds", out_dir, seed, plans, s, SOUNDS, lambda index: {"label": index})


def generate_timbre(out_dir: Path, seed: int, args: dict) -> list[Path]:
    defaults = {"train_per_class": 30, "valid_per_class": 10, "test_per_class": 12}
    s = _settings(args, {**defaults, "sample_rate": 44100, "format": "wav", "stereo_fraction": 0.0})
    rng, names = seeded_rng(seed, "timbre", "plan"), list(INSTRUMENTS)
    classes = np.arange(len(names))
    plans = {split: rng.permutation(np.repeat(classes, int(s[f"{split}_per_class"]))).tolist() for split in SPLITS}
    return _write_classes("timbre", out_dir, seed, plans, s, INSTRUMENTS, lambda index: {"instrument": names[index]})


def _write_classes(
    task: str, out_dir: Path, seed: int, plans: dict, s: dict, sources: dict[str, Source], label: Callable[[int], Any]
) -> list[Path]:
    make = partial(_single_source_clip, sources=list(sources.values()), label=label, stereo=float(s["stereo_fraction"]))
    return _write_task(task, out_dir, seed, plans, make, int(s["sample_rate"]), s["format"])


def _open_generator(task: str, make_clip: ClipMaker, sizes: dict[str, int], fmt: str = "flac") -> DatasetGenerator:
    """A generator of train/valid/test shards whose clips each draw their own content (one empty spec per clip)."""

    def generate_task(out_dir: Path, seed: int, args: dict) -> list[Path]:
        s = _settings(args, {**sizes, "sample_rate": 16000, "format": fmt})
        plans = {split: [None] * int(s[split]) for split in SPLITS}
        return _write_task(task, out_dir, seed, plans, make_clip, int(s["sample_rate"]), s["format"])

    return generate_task


GENERATORS: dict[str, DatasetGenerator] = {
    "sounds": generate_sounds,
    "timbre": generate_timbre,
    "mixtures": _open_generator("mixtures", _mixture_clip, {"train": 200, "valid": 60, "test": 80}, fmt="ogg"),
    "events": _open_generator("events", _events_clip, {"train": 120, "valid": 30, "test": 40}),
    "captions": _open_generator("captions", _captions_clip, {"train": 150, "valid": 40, "test": 50}),
    "digits": _open_generator("digits", _digits_clip, {"train": 200, "valid": 40, "test": 50}),
    "pitch": _open_generator("pitch", _pitch_clip, {"train": 160, "valid": 40, "test": 60}),
}


def generate(name: str, out_dir: Path | str, seed: int = 0, args: Mapping[str, Any] | None = None) -> list[Path]:
    """Write the demo dataset `name` into out_dir and return its shard paths (same seed, same bytes)."""
    generators = {**GENERATORS, **STAND_INS}
    if name not in generators:
        raise ValueError(f"unknown demo dataset {name!r}; known: {', '.join(generators)}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, not {seed}")
    remove_stale_parts(Path(out_dir))  # shards half-written by a killed generation
    return generators[name](Path(out_dir), int(seed), dict(args or {}))

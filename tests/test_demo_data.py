"""The demo-suite generators: on-disk format, label formats, determinism and learnability."""

from __future__ import annotations

import functools
import io
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from xares_hydra.data.shards import iter_shard
from xares_hydra.demo.tasks import DIGIT_WORDS, EVENTS, GENERATORS, INSTRUMENTS, MIXTURE_SOURCES, generate

SMALL_ARGS: dict[str, dict[str, Any]] = {
    "sounds": {"per_class": 5, "folds": 5},
    "timbre": {"train_per_class": 2, "valid_per_class": 1, "test_per_class": 2},
    "mixtures": {"train": 12, "valid": 3, "test": 4},
    "events": {"train": 6, "valid": 2, "test": 3},
    "captions": {"train": 8, "valid": 2, "test": 3},
    "digits": {"train": 8, "valid": 2, "test": 3},
    "pitch": {"train": 8, "valid": 2, "test": 3},
}
SPLIT_FILES = [f"{split}_000000.tar" for split in ("train", "valid", "test")]
EXPECTED_FILES = {
    "sounds": [f"demo_sounds_fold{fold}_000000.tar" for fold in range(1, 6)],
    **{name: [f"demo_{name}_{file}" for file in SPLIT_FILES] for name in SMALL_ARGS if name != "sounds"},
}
AUDIO = {  # extension, sampling rate, allowed durations (s)
    "sounds": ("flac", 22050, {1.0, 1.5, 2.0}),
    "timbre": ("wav", 44100, {1.0, 1.5, 2.0}),
    "mixtures": ("ogg", 16000, {1.0, 1.5, 2.0}),
    "events": ("flac", 16000, {5.0}),
    "captions": ("flac", 16000, {2.0, 3.0, 4.0}),
    "digits": ("flac", 16000, {1.0, 1.5, 2.0}),
    "pitch": ("flac", 16000, {1.0, 1.5, 2.0}),
}


def read_samples(paths: list[Path]) -> list[Any]:
    return [sample for path in paths for sample in iter_shard(path)]


def decode(sample: Any) -> tuple[np.ndarray, int]:
    return sf.read(io.BytesIO(sample.audio), dtype="float32", always_2d=True)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("demo")
    return {name: generate(name, root / name, seed=0, args=SMALL_ARGS[name]) for name in GENERATORS}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_writes_the_named_shards(small: dict[str, list[Path]], name: str) -> None:
    assert [path.name for path in small[name]] == EXPECTED_FILES[name]
    assert all(path.is_file() for path in small[name])


@pytest.mark.parametrize("name", list(GENERATORS))
def test_samples_read_back_as_valid_audio(small: dict[str, list[Path]], name: str) -> None:
    ext, rate, durations = AUDIO[name]
    samples = read_samples(small[name])
    assert [sample.problem for sample in samples if sample.problem] == []
    keys = [sample.key for sample in samples]
    assert len(set(keys)) == len(keys)
    assert all(re.fullmatch(rf"{name}_\d{{5}}", key) for key in keys)
    for sample in samples:
        assert sample.audio_ext == ext
        audio, sampling_rate = decode(sample)
        assert sampling_rate == rate
        assert np.isfinite(audio).all()
        assert np.abs(audio).max() <= 1.0
        assert np.abs(audio).max() > 0.02, f"{sample.key} is (nearly) silent"
        assert round(len(audio) / rate, 3) in durations


def test_sounds_labels_folds_and_channels(small: dict[str, list[Path]]) -> None:
    per_fold = [read_samples([path]) for path in small["sounds"]]
    for samples in per_fold:
        assert all(set(sample.labels) == {"label"} and isinstance(sample.labels["label"], int) for sample in samples)
        assert Counter(sample.labels["label"] for sample in samples) == dict.fromkeys(range(6), 1)
    channels = Counter(decode(sample)[0].shape[1] for samples in per_fold for sample in samples)
    assert set(channels) == {1, 2}


def test_timbre_labels_are_balanced_instrument_names(small: dict[str, list[Path]]) -> None:
    for path, per_class in zip(small["timbre"], (2, 1, 2), strict=True):
        labels = [sample.labels for sample in read_samples([path])]
        assert all(set(label) == {"instrument"} for label in labels)
        assert Counter(label["instrument"] for label in labels) == dict.fromkeys(INSTRUMENTS, per_class)


def test_mixture_labels_are_sorted_distinct_class_names(small: dict[str, list[Path]]) -> None:
    for sample in read_samples(small["mixtures"]):
        assert set(sample.labels) == {"events"}
        names = sample.labels["events"].split(";")
        assert 1 <= len(names) <= 3
        assert names == sorted(set(names))
        assert set(names) <= set(MIXTURE_SOURCES)


def test_events_lie_within_the_clip(small: dict[str, list[Path]]) -> None:
    for sample in read_samples(small["events"]):
        duration = len(decode(sample)[0]) / 16000
        assert isinstance(sample.labels, list) and 1 <= len(sample.labels) <= 3
        for event in sample.labels:
            assert set(event) == {"onset", "offset", "label"}
            assert event["label"] in EVENTS
            assert 0 <= event["onset"] < event["offset"] <= duration
            assert 0.3 - 1e-9 <= event["offset"] - event["onset"] <= 2.0 + 1e-9
            assert round(event["onset"], 3) == event["onset"] and round(event["offset"], 3) == event["offset"]


def test_captions_are_five_distinct_strings(small: dict[str, list[Path]]) -> None:
    for sample in read_samples(small["captions"]):
        assert list(sample.labels) == [f"caption_{i}" for i in range(1, 6)]
        captions = list(sample.labels.values())
        assert all(isinstance(caption, str) and caption for caption in captions)
        assert len(set(captions)) == 5


def test_digit_transcripts_use_only_digit_words(small: dict[str, list[Path]]) -> None:
    for sample in read_samples(small["digits"]):
        assert set(sample.labels) == {"trans"}
        words = sample.labels["trans"].split(" ")
        assert 2 <= len(words) <= 5
        assert set(words) <= set(DIGIT_WORDS)
        assert " ".join(words) == sample.labels["trans"]


def test_pitch_targets_lie_in_their_ranges(small: dict[str, list[Path]]) -> None:
    for sample in read_samples(small["pitch"]):
        assert set(sample.labels) == {"pitch", "snr_db"}
        assert 0 <= sample.labels["pitch"] <= 36 and 0 <= sample.labels["snr_db"] <= 30


@pytest.mark.parametrize("name", list(GENERATORS))
def test_same_seed_gives_identical_bytes(small: dict[str, list[Path]], name: str, tmp_path: Path) -> None:
    again = generate(name, tmp_path / "again", seed=0, args=SMALL_ARGS[name])
    other = generate(name, tmp_path / "other", seed=1, args=SMALL_ARGS[name])
    assert [path.read_bytes() for path in again] == [path.read_bytes() for path in small[name]]
    assert all(a.read_bytes() != b.read_bytes() for a, b in zip(other, small[name], strict=True))


def test_audio_settings_can_be_overridden(tmp_path: Path) -> None:
    paths = generate("digits", tmp_path, args={"train": 2, "valid": 1, "test": 1, "sample_rate": 8000, "format": "wav"})
    for sample in read_samples(paths):
        assert sample.audio_ext == "wav"
        assert decode(sample)[1] == 8000


def test_unknown_names_and_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sounds"):
        generate("nope", tmp_path)
    with pytest.raises(ValueError, match="per_clas"):
        generate("sounds", tmp_path, args={"per_clas": 3})


# ------------------------------------------------------------------ learnability

MEL = torchaudio.transforms.MelSpectrogram(16000, n_fft=512, win_length=400, hop_length=160, n_mels=64)


@functools.cache
def resampler_to_16k(rate: int) -> torchaudio.transforms.Resample:
    return torchaudio.transforms.Resample(rate, 16000)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny matrices: extra threads only spin (and crawl on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


def mean_log_mel(samples: list[Any]) -> np.ndarray:
    """The log-mel baseline's clip embedding, layer-normalised as the linear probe does."""
    features = []
    for sample in samples:
        audio, rate = decode(sample)
        mono = resampler_to_16k(rate)(torch.from_numpy(audio.mean(axis=1)))
        features.append(torch.log(MEL(mono) + 1e-6).mean(dim=-1).numpy())
    features = np.stack(features)
    return (features - features.mean(axis=1, keepdims=True)) / features.std(axis=1, keepdims=True)


def random_features(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 64))


def fit_probe(features: np.ndarray, labels: np.ndarray) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(features, labels)


def accuracy(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray) -> float:
    return float(np.mean(fit_probe(train, train_labels).predict(test) == test_labels))


@pytest.mark.usefixtures("one_thread")
def test_sounds_are_learnable_from_log_mel(tmp_path: Path) -> None:
    folds = [read_samples([path]) for path in generate("sounds", tmp_path, seed=3, args={"per_class": 20})]
    features = [mean_log_mel(samples) for samples in folds]
    labels = [np.array([sample.labels["label"] for sample in samples]) for samples in folds]
    noise = [random_features(len(fold), seed) for seed, fold in enumerate(folds)]

    def cross_validated(per_fold: list[np.ndarray]) -> float:
        scores = []
        for held_out in range(len(folds)):
            rest = [fold for fold in range(len(folds)) if fold != held_out]
            train = np.concatenate([per_fold[fold] for fold in rest])
            train_labels = np.concatenate([labels[fold] for fold in rest])
            scores.append(accuracy(train, train_labels, per_fold[held_out], labels[held_out]))
        return float(np.mean(scores))

    assert cross_validated(features) > 0.55  # chance: 1/6; tone and tremolo differ only in time
    assert cross_validated(noise) < 0.35


@pytest.mark.usefixtures("one_thread")
def test_timbre_is_learnable_from_log_mel(tmp_path: Path) -> None:
    args = {"train_per_class": 30, "valid_per_class": 1, "test_per_class": 10}
    train, _, test = (read_samples([path]) for path in generate("timbre", tmp_path, seed=3, args=args))
    classes = list(INSTRUMENTS)
    train_labels = np.array([classes.index(sample.labels["instrument"]) for sample in train])
    test_labels = np.array([classes.index(sample.labels["instrument"]) for sample in test])
    assert accuracy(mean_log_mel(train), train_labels, mean_log_mel(test), test_labels) > 0.55  # chance: 1/5
    noise_accuracy = accuracy(random_features(len(train), 0), train_labels, random_features(len(test), 1), test_labels)
    assert noise_accuracy < 0.45


@pytest.mark.usefixtures("one_thread")
def test_mixtures_are_learnable_from_log_mel(tmp_path: Path) -> None:
    args = {"train": 100, "valid": 1, "test": 50}
    train, _, test = (read_samples([path]) for path in generate("mixtures", tmp_path, seed=3, args=args))

    def multi_hot(samples: list[Any]) -> np.ndarray:
        return np.array([[name in s.labels["events"].split(";") for name in MIXTURE_SOURCES] for s in samples])

    def mean_average_precision(train_features: np.ndarray, test_features: np.ndarray) -> float:
        targets, truth = multi_hot(train), multi_hot(test)
        scores = []
        for column in range(truth.shape[1]):
            score = fit_probe(train_features, targets[:, column]).decision_function(test_features)
            scores.append(average_precision_score(truth[:, column], score))
        return float(np.mean(scores))

    assert mean_average_precision(mean_log_mel(train), mean_log_mel(test)) > 0.8  # chance: ~0.4 (prevalence)
    assert mean_average_precision(random_features(len(train), 0), random_features(len(test), 1)) < 0.6

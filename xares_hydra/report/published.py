"""The published X-ARES baseline numbers, copied from the X-ARES README ("Baseline Results").

LibriSpeech-100h: ``score`` is the comparable X-ARES v0.1.3 number, the README's current one is kept for display.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xares_hydra.config.suites import suite_tasks

PUBLISHED_ENCODERS = ("dasheng", "wav2vec2", "whisper", "data2vec")
PUBLISHED_SOURCE = "X-ARES README, baseline results (https://github.com/jimbozhang/xares)"
COMPARABLE_VERSION = "v0.1.3"

# (task, README name, MLP scores, kNN scores or None) in the order of PUBLISHED_ENCODERS
_README_ROWS = (
    ("asvspoof2015", "ASV2015", "0.964 0.924 0.966 0.937", "0.869 0.858 0.843 0.942"),
    ("clotho", "Clotho", "0.029 0.014 0.038 0.008", None),
    ("cremad", "CREMA-D", "0.767 0.541 0.572 0.523", "0.380 0.221 0.372 0.351"),
    ("desed", "DESED", "0.537 0.313 0.127 0.136", None),
    ("esc50", "ESC-50", "0.857 0.510 0.528 0.229", "0.618 0.081 0.191 0.040"),
    ("fluentspeechcommands", "Fluent Speech Commands", "0.946 0.468 0.776 0.978", "0.260 0.017 0.032 0.630"),
    ("freemusicarchive", "Free Music Archive Small", "0.643 0.469 0.581 0.334", "0.592 0.251 0.406 0.106"),
    ("fsd50k", "FSD50k", "0.409 0.166 0.262 0.085", None),
    ("fsdkaggle2018", "FSD18-Kaggle", "0.534 0.241 0.241 0.153", None),
    ("gtzan_genre", "GTZAN Genre", "0.851 0.630 0.622 0.448", "0.758 0.303 0.350 0.108"),
    ("libricount", "LibriCount", "0.681 0.583 0.549 0.492", "0.311 0.235 0.246 0.176"),
    ("librispeech", "LibriSpeech-100h", "0.724 0.545 0.815 0.866", None),
    ("librispeechmalefemale", "LibriSpeech-MF", "0.986 0.948 0.973 0.752", "0.791 0.606 0.617 0.724"),
    ("maestro", "MAESTRO", "0.524 0.180 0.011 0.116", None),
    ("nsynthinstument", "NSynth-Instruments", "0.688 0.443 0.532 0.336", "0.499 0.251 0.205 0.179"),
    ("ravdess", "RAVDESS", "0.749 0.442 0.459 0.467", "0.408 0.169 0.296 0.313"),
    ("speechcommandsv1", "Speech Commands V1", "0.969 0.714 0.933 0.927", "0.903 0.208 0.096 0.852"),
    ("urbansound8k", "UrbanSound 8k", "0.833 0.659 0.687 0.426", "0.662 0.339 0.215 0.156"),
    ("vocalimitations", "Vocal Imitation", "0.253 0.147 0.180 0.128", "0.107 0.010 0.016 0.018"),
    ("vocalsound", "VocalSound", "0.910 0.768 0.860 0.803", "0.382 0.269 0.405 0.308"),
    ("voxceleb1", "VoxCeleb1", "0.780 0.340 0.388 0.105", "0.262 0.003 0.010 0.033"),
    ("voxlingua33", "VoxLingua33", "0.814 0.553 0.873 0.620", "0.376 0.034 0.360 0.058"),
    ("key_scratching", "Key scratching car", "0.999 0.983 0.985 0.909", "0.955 0.923 0.691 0.550"),
    ("finger_snap", "Finger snap sound", "0.870 0.872 0.861 0.808", "0.848 0.787 0.401 0.461"),
    ("inside_outside_car", "Inside/outside car", "0.972 0.928 0.866 0.869", "0.798 0.575 0.730 0.588"),
    ("liveenv", "Live Env", "0.986 0.955 0.887 0.759", None),
    ("subway_broadcast", "Subway broadcast", "0.972 0.930 0.942 0.869", "0.949 0.533 0.884 0.530"),
)
# LibriSpeech-100h as the README prints it: the current number first, the v0.1.3 one (above) in parentheses
_LIBRISPEECH_CURRENT = "0.608 0.405 0.721 0.893"
_README_AVERAGES = {
    ("mlp", "public"): "0.699 0.490 0.632 0.598",
    ("mlp", "all"): "0.801 0.664 0.740 0.694",
    ("knn", "public"): "0.504 0.262 0.299 0.388",
    ("knn", "all"): "0.683 0.469 0.475 0.455",
}

# published numbers that need a Hugging Face download besides the encoder's weights (offline: local files)
OFFLINE_MARK = "†"
OFFLINE_NEEDS = {
    "clotho": "the bert-base-uncased tokenizer (the offline task.head_args.tokenizer=builtin does not compare)",
    "librispeech": "the Qwen/Qwen2.5-0.5B language model (task.head_args.language_model)",
}

# the README's task groups ("Supported tasks": Speech, Environment, Music) by task name; Vocal Imitation, in its
# results but not in those lists, imitates sounds
DOMAINS = ("speech", "sound", "music")
_README_DOMAINS = {
    "speech": "asvspoof2015 cremad fluentspeechcommands libricount librispeech librispeechmalefemale ravdess "
    "speechcommandsv1 vocalsound voxceleb1 voxlingua33",
    "sound": "clotho desed esc50 fsd50k fsdkaggle2018 urbansound8k finger_snap inside_outside_car key_scratching "
    "liveenv subway_broadcast vocalimitations",
    "music": "freemusicarchive gtzan_genre maestro nsynthinstument",
}
_DOMAIN_OF = {task: domain for domain, tasks in _README_DOMAINS.items() for task in tasks.split()}


def task_domain(task: str, tags: Sequence[str] = ()) -> str | None:
    """speech, sound or music: a task's own domain tag, else its X-ARES README group; None for other tasks."""
    return next((tag for tag in tags if tag in DOMAINS), _DOMAIN_OF.get(task))


# the README's row order; which tasks are X-ARES's, and which are private, the task YAMLs' tags say
PUBLISHED_ORDER = tuple(task for task, *_ in _README_ROWS)


@dataclass(frozen=True)
class PublishedScore:
    score: float
    # what the README prints, with OFFLINE_MARK where OFFLINE_NEEDS names the task; None where that is the plain score
    note: str | None


def _by_encoder(numbers: str) -> dict[str, float]:
    return dict(zip(PUBLISHED_ENCODERS, (float(value) for value in numbers.split()), strict=True))


def _published(task: str, encoder: str, score: float) -> PublishedScore:
    printed = f"{score:.3f}"
    if task == "librispeech":
        printed = f"{_by_encoder(_LIBRISPEECH_CURRENT)[encoder]:.3f} ({printed} {COMPARABLE_VERSION})"
    printed += OFFLINE_MARK if task in OFFLINE_NEEDS else ""
    return PublishedScore(score, None if printed == f"{score:.3f}" else printed)


def published_scores(slot: str) -> dict[str, dict[str, PublishedScore]]:
    """task -> encoder -> published score, for head slot ``mlp`` or ``knn``."""
    rows = ((task, mlp if slot == "mlp" else knn) for task, _, mlp, knn in _README_ROWS)
    return {task: {encoder: _published(task, encoder, score) for encoder, score in _by_encoder(numbers).items()}
            for task, numbers in rows if numbers is not None}  # fmt: skip


def published_averages(slot: str, scope: str) -> dict[str, float]:
    """encoder -> the README's weighted average of ``slot`` over ``public`` or ``all`` tasks."""
    return _by_encoder(_README_AVERAGES[slot, scope])


def published_task_count(slot: str, scope: str) -> int:
    """How many tasks the README's average covers (``public``: those not tagged ``xares_private``)."""
    private = set(suite_tasks("xares_private"))
    return len([task for task in published_scores(slot) if scope == "all" or task not in private])

"""Miniature X-ARES datasets in each task's real published schema, for end-to-end tests.

For every X-ARES task (public and private; clip, frame, contrastive and ASR) ``mini_dataset(name)``
returns a few dozen tiny clips packed the way the real dataset is: the tar file names of the
published Zenodo record (or of the private data), ``.json`` members with the real field names and
label values, and audio in the real container format at one or two realistic sample rates.

Everything here is written from X-ARES 0.1.3 (its task settings and task
definitions): record ids, tar names, json fields, label values *and the class index X-ARES's label
processor gives each value*. Nothing is read from ``conf/task/*.yaml``, so the tests catch a YAML
whose record, patterns, label key, class order or crop length is wrong.

Each class's audio is a tone of its own pitch (plus a little noise), so a log-mel probe can learn
it (made, and packed into shards, with the demo's synthesiser ``xares_hydra.demo``). Durations are
0.3-1.5 s; tasks with a crop length also get one clip of two crops and a bit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import socket
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import helpers.audio
import helpers.cli
from helpers.zenodo_server import FakeZenodo
from xares_hydra import api
from xares_hydra.demo import signals
from xares_hydra.demo.shards import write_clips

READY_MARKER = ".audio_tar_ready"
DURATIONS = (0.3, 0.6, 0.9, 1.2, 1.5)
NOISE_LEVEL = 0.01
README = b"Miniature copy of an X-ARES dataset record, for tests.\n"


# ---------------------------------------------------------------------------------------------
# facts about each task that are not about its data files


@dataclass(frozen=True)
class TaskFacts:
    """X-ARES 0.1.3's settings that a test checks a run against."""

    record: str | None  # Zenodo record id; None: private data, never downloaded
    eval_weight: float
    knn: bool = True
    crop_length: float | None = None
    task_type: str = "clip"

    @property
    def private(self) -> bool:
        return self.record is None


FACTS: dict[str, TaskFacts] = {
    "asvspoof2015": TaskFacts("14718430", 2000),
    "clotho": TaskFacts("14856454", 1045, knn=False, crop_length=30, task_type="contrastive"),
    "cremad": TaskFacts("14646870", 1116),
    "desed": TaskFacts("14808180", 1153, knn=False, task_type="frame"),
    "esc50": TaskFacts("14614287", 400),
    "finger_snap": TaskFacts(None, 5000),
    "fluentspeechcommands": TaskFacts("14722453", 2000),
    "freemusicarchive": TaskFacts("14725056", 800, crop_length=10),
    "fsd50k": TaskFacts("14868441", 2000, knn=False, crop_length=10),
    "fsdkaggle2018": TaskFacts("14725117", 1600, knn=False),
    "gtzan_genre": TaskFacts("14722472", 100),
    "inside_outside_car": TaskFacts(None, 5000),
    "key_scratching": TaskFacts(None, 5000),
    "libricount": TaskFacts("14722478", 1144),
    "librispeech": TaskFacts("14716252", 10000, knn=False, task_type="asr"),
    "librispeechmalefemale": TaskFacts("14716252", 2620, crop_length=5),
    "liveenv": TaskFacts(None, 5000, knn=False),
    "maestro": TaskFacts("14858022", 65, knn=False, task_type="frame"),
    "nsynthinstument": TaskFacts("14725174", 2000),
    "ravdess": TaskFacts("14722524", 360),
    "speechcommandsv1": TaskFacts("14722647", 2000),
    "subway_broadcast": TaskFacts(None, 5000),
    "urbansound8k": TaskFacts("14722683", 873),
    "vocalimitations": TaskFacts("14862060", 1867),
    "vocalsound": TaskFacts("14722710", 2000),
    "voxceleb1": TaskFacts("14811963", 2000, crop_length=6),
    "voxlingua33": TaskFacts("14812245", 1609, crop_length=10),
}


# ---------------------------------------------------------------------------------------------
# the data: samples, clips, shards


@dataclass(frozen=True)
class Sample:
    """One label as the dataset stores it, and what X-ARES's label processor makes of it."""

    labels: Any  # the .json member
    target: Any  # class index; sorted class indices (multi-label); (onset, offset, index) events;
    # captions; lower-cased transcript
    tone: int  # the pitch of its audio: one per class


@dataclass(frozen=True)
class Clip:
    key: str
    seconds: float
    rate: int
    sample: Sample


@dataclass
class MiniDataset:
    """A task's miniature data: partition (split name or ``fold<k>``) -> tar file name -> clips."""

    record: str | None
    partitions: dict[str, dict[str, list[Clip]]]
    audio_format: str = "flac"
    extra_files: dict[str, bytes] = field(default_factory=dict)

    @functools.cached_property
    def shards(self) -> dict[str, bytes]:
        """Tar file name -> the tar's bytes."""
        return {name: _tar_bytes(clips, self.audio_format) for name, clips in self.tars().items()}

    def tars(self) -> dict[str, list[Clip]]:
        return {name: clips for shards in self.partitions.values() for name, clips in shards.items()}

    def files(self) -> dict[str, bytes]:
        """Every file of the (fake) Zenodo record: the shards and any extra files."""
        return {**self.shards, **self.extra_files}

    def clips(self, partition: str, tars: Iterable[str] | None = None) -> int:
        wanted = self.partitions[partition] if tars is None else set(tars)
        return sum(len(clips) for name, clips in self.partitions[partition].items() if name in wanted)

    def crops(self, partition: str, crop_length: float | None) -> int:
        """Encoded crops: X-ARES cuts a clip into whole crops and drops the rest; a short clip is one crop."""
        clips = [clip for clips in self.partitions[partition].values() for clip in clips]
        if crop_length is None:
            return len(clips)
        return sum(max(1, int(clip.seconds // crop_length)) for clip in clips)

    def md5(self, name: str) -> str:
        return "md5:" + hashlib.md5(self.files()[name]).hexdigest()

    def write(self, folder: Path, tars: Iterable[str] | None = None, marker: str | None = None) -> Path:
        """Write the shards (or only ``tars``) into ``folder``; ``marker=""`` adds X-ARES's empty ready marker."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in self.shards if tars is None else tars:
            (folder / name).write_bytes(self.shards[name])
        if marker is not None:
            (folder / READY_MARKER).write_text(marker)
        return folder


def _tar_bytes(clips: Sequence[Clip], audio_format: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return write_clips(Path(folder) / "shard.tar", map(_clip_audio, clips), audio_format).read_bytes()


def _clip_audio(clip: Clip) -> tuple[str, np.ndarray, int, Any]:
    """A tone of the sample's pitch (random phase) plus a little white noise, drawn from the clip's key."""
    rng, n = signals.seeded_rng(0, clip.key), signals.seconds(clip.seconds, clip.rate)
    tone = 0.3 * signals.oscillator(np.full(n, 200.0 * 2 ** (clip.sample.tone / 2.5)), clip.rate, rng)
    return clip.key, tone + NOISE_LEVEL * rng.standard_normal(n), clip.rate, clip.sample.labels


# ---------------------------------------------------------------------------------------------
# building blocks: samples of the common label schemas, partitions filled with clips


def classes(key: str, indexed: Iterable[tuple[Any, int]], **extra: Any) -> list[Sample]:
    """Single-label samples ``{key: value, **extra}`` for (value, X-ARES class index) pairs."""
    return [Sample({key: value, **extra}, index, tone) for tone, (value, index) in enumerate(indexed)]


def class_list(key: str, names: Sequence[Any], **extra: Any) -> list[Sample]:
    """Every class of a short class list, in X-ARES's label order."""
    return classes(key, ((name, index) for index, name in enumerate(names)), **extra)


def integers(key: str, values: Iterable[int]) -> list[Sample]:
    """Labels stored as the class index itself (ESC-50's target, LibriCount's speaker count)."""
    return classes(key, ((value, value) for value in values))


def underscore_shards(split: str, count: int = 1) -> list[str]:
    """``<split>_0000000.tar``: the naming of most X-ARES records."""
    return [f"{split}_{index:07d}.tar" for index in range(count)]


def dash_shards(split: str, count: int = 1) -> list[str]:
    """``<split>-000000.tar``: X-ARES's ``write_audio_tar`` naming (``*`` -> ``0%05d``)."""
    return [f"{split}-{index:06d}.tar" for index in range(count)]


@dataclass(frozen=True)
class Layout:
    """How clips are laid out: partition -> its tar names, and how many times each sample occurs there."""

    tars: dict[str, list[str]]
    copies: dict[str, int]
    rates: tuple[int, ...] = (16000,)
    crop_length: float | None = None


def splits(
    names: Mapping[str, int], shard_names: Callable[[str], list[str]] = underscore_shards, **options: Any
) -> Layout:
    """Split partitions: split name -> copies of every sample in it."""
    return Layout({name: shard_names(name) for name in names}, dict(names), **options)


def folds(pattern: str, fold_ids: Iterable[int], copies: int = 1, **options: Any) -> Layout:
    """k-fold partitions ``fold<k>``, one tar each, named by ``pattern.format(fold=k)``."""
    fold_ids = list(fold_ids)
    return Layout(
        {f"fold{fold}": [pattern.format(fold=fold)] for fold in fold_ids},
        {f"fold{fold}": copies for fold in fold_ids},
        **options,
    )


def fill(
    layout: Layout,
    samples: Sequence[Sample],
    record: str | None,
    audio_format: str = "flac",
    key: Callable[[str, int], str] = lambda partition, index: f"{partition}-{index:03d}",
) -> MiniDataset:
    """Every partition gets ``copies`` of every sample, split into its tars in order (copy by copy)."""
    partitions = {}
    for position, (partition, tar_names) in enumerate(layout.tars.items()):
        clips = [
            Clip(key(partition, index), _duration(index, position, layout), _rate(index, layout), sample)
            for index, sample in enumerate(list(samples) * layout.copies[partition])
        ]
        partitions[partition] = dict(zip(tar_names, _chunks(clips, len(tar_names))))
    extra = {"README.md": README} if record is not None else {}
    return MiniDataset(record, partitions, audio_format, extra)


def _duration(index: int, partition_position: int, layout: Layout) -> float:
    """0.3-1.5 s; the first clip of the first partition spans two crops and a half second."""
    if layout.crop_length is not None and partition_position == 0 and index == 0:
        return 2 * layout.crop_length + 0.5
    return DURATIONS[index % len(DURATIONS)]


def _rate(index: int, layout: Layout) -> int:
    return layout.rates[index % len(layout.rates)]


def _chunks(clips: list[Clip], parts: int) -> list[list[Clip]]:
    size = -(-len(clips) // parts)
    return [clips[start : start + size] for start in range(0, size * parts, size)]


# ---------------------------------------------------------------------------------------------
# the tasks (alphabetical); each returns its dataset in the record's real layout


def _asvspoof2015() -> MiniDataset:
    samples = classes("binary_spoof", [("human", 0), ("spoof", 1)], speaker="T1")
    layout = splits({"asvspoof_train": 2, "asvspoof_valid": 2, "asvspoof_eval": 2}, lambda s: underscore_shards(s, 2))
    return fill(layout, samples, FACTS["asvspoof2015"].record)


def _cremad() -> MiniDataset:
    samples = class_list("label", ["H", "S", "A", "F", "D", "N"])
    layout = splits({"wds-audio-train": 2, "wds-audio-valid": 1, "wds-audio-test": 1}, dash_shards)
    return fill(layout, samples, FACTS["cremad"].record, "wav")


def _esc50() -> MiniDataset:
    layout = folds("wds-audio-fold-{fold}-0000000.tar", range(1, 6), rates=(44100,))
    return fill(layout, integers("label", [0, 12, 25, 38, 49]), FACTS["esc50"].record, "wav")


def _fluentspeechcommands() -> MiniDataset:
    commands = [
        ("Change language", 0),
        ("Turn the lights on", 2),
        ("Lamp off", 24),
        ("OK now switch the main language to German", 247),
    ]
    samples = classes("transcription", commands, speakerId="2BqVo8kVB2Skwgyb")
    layout = splits({"fluentspeechcommands_train": 2, "fluentspeechcommands_valid": 1, "fluentspeechcommands_test": 1})
    return fill(layout, samples, FACTS["fluentspeechcommands"].record)


def _freemusicarchive() -> MiniDataset:
    genres = ["Hip-Hop", "Pop", "Folk", "Experimental", "Rock", "International", "Electronic", "Instrumental"]
    layout = splits(
        {"fma_small_train": 2, "fma_small_valid": 1, "fma_small_test": 1},
        rates=(44100, 22050),
        crop_length=FACTS["freemusicarchive"].crop_length,
    )
    return fill(layout, class_list("genre", genres), FACTS["freemusicarchive"].record, "mp3")


def _fsd50k() -> MiniDataset:
    sets = [
        ("Bark;Dog;Domestic_animals_and_pets;Animal", (5, 7, 59, 60)),
        ("Accelerating_and_revving_and_vroom;Vehicle", (0, 184)),
        ("Bathtub_(filling_or_washing);Water", (10, 187)),
        ("Zipper_(clothing)", (199,)),
        ("Speech;Male_speech_and_man_speaking;Human_voice", (101, 111, 158)),
    ]
    samples = [Sample({"soundevent": names}, indices, tone) for tone, (names, indices) in enumerate(sets)]
    layout = splits(
        {"fsd50k_train": 2, "fsd50k_validation": 1, "fsd50k_eval": 1}, crop_length=FACTS["fsd50k"].crop_length
    )
    return fill(layout, samples, FACTS["fsd50k"].record)


def _fsdkaggle2018() -> MiniDataset:
    sounds = [("Hi-hat", 0), ("Knock", 5), ("Gunshot_or_gunfire", 6), ("Violin_or_fiddle", 39), ("Finger_snapping", 40)]
    layout = splits({"fsd18_train": 5, "fsd18_test": 1}, rates=(44100, 16000))
    return fill(layout, classes("sound", sounds), FACTS["fsdkaggle2018"].record)


def _gtzan_genre() -> MiniDataset:
    genres = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
    layout = folds("gtzan_fold_{fold}_0000000.tar", range(10), rates=(22050,))
    return fill(layout, class_list("genre", genres), FACTS["gtzan_genre"].record)


def _libricount() -> MiniDataset:
    layout = folds("libricount_fold{fold:02d}.tar", range(5))
    return fill(layout, integers("num_speakers", range(11)), FACTS["libricount"].record)


TRANSCRIPTS = (
    "HE HOPED THERE WOULD BE STEW FOR DINNER",
    "STUFF IT INTO YOU HIS BELLY COUNSELLED HIM",
    "AFTER EARLY NIGHTFALL THE YELLOW LAMPS WOULD LIGHT UP",
    "HELLO BERTIE ANY GOOD IN YOUR MIND",
)


def _librispeech() -> MiniDataset:
    """Record 14716252, shared by librispeech (ASR on ``trans``) and librispeechmalefemale (``gender``)."""
    speakers = [(19, "F"), (26, "M"), (27, "M"), (32, "F")]
    samples = [
        Sample(
            {"speaker": speaker, "gender": gender, "trans": text},
            {"gender": int(gender != "M"), "trans": text.lower()},
            tone=int(gender != "M") * 3 + index,
        )
        for index, ((speaker, gender), text) in enumerate(zip(speakers, TRANSCRIPTS))
    ]
    layout = Layout(
        {
            "train-clean-100": dash_shards("train-clean-100", 2),
            "dev-clean": dash_shards("dev-clean"),
            "test-clean": dash_shards("test-clean"),
        },
        {"train-clean-100": 3, "dev-clean": 1, "test-clean": 1},
        crop_length=FACTS["librispeechmalefemale"].crop_length,
    )
    return fill(layout, samples, FACTS["librispeech"].record)


def _nsynthinstument() -> MiniDataset:
    families = [
        "guitar",
        "bass",
        "organ",
        "keyboard",
        "vocal",
        "string",
        "reed",
        "flute",
        "mallet",
        "brass",
        "synth_lead",
    ]
    samples = class_list("instrument_family_str", families, instrument_source_str="acoustic", pitch=60, velocity=100)
    layout = Layout(
        {
            "nsynth_train": underscore_shards("nsynth_train"),
            "nsynth_valid": underscore_shards("nsynth_valid", 2),
            "nsynth_test": underscore_shards("nsynth_test"),
        },
        {"nsynth_train": 2, "nsynth_valid": 1, "nsynth_test": 1},
    )
    return fill(layout, samples, FACTS["nsynthinstument"].record)


def _ravdess() -> MiniDataset:
    emotions = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
    layout = folds("ravdess_fold_{fold}_0000000.tar", range(4), rates=(48000,))
    return fill(layout, class_list("emotion", emotions), FACTS["ravdess"].record)


def _speechcommandsv1() -> MiniDataset:
    words = [("sheila", 0), ("up", 1), ("yes", 6), ("no", 18), ("eight", 29)]
    layout = splits({"wds-audio-train": 2, "wds-audio-valid": 1, "wds-audio-test": 1}, dash_shards)
    return fill(layout, classes("labels", words), FACTS["speechcommandsv1"].record, "wav")


def _urbansound8k() -> MiniDataset:
    events = [
        "air_conditioner",
        "car_horn",
        "children_playing",
        "dog_bark",
        "drilling",
        "engine_idling",
        "gun_shot",
        "jackhammer",
        "siren",
        "street_music",
    ]
    layout = folds("urbansound_fold{fold}_0000000.tar", range(1, 11), rates=(44100, 22050))
    return fill(layout, class_list("soundevent", events), FACTS["urbansound8k"].record)


def _vocalimitations() -> MiniDataset:
    imitations = [
        ("000Animal_Domestic animals_ pets_Cat_Growling_reference", 0),
        ("004Animal_Domestic animals_ pets_Dog_Bark_reference", 4),
        ("150Sounds of things_Alarm_Bicycle bell_reference", 150),
        ("301Source-ambiguous sounds_Surface contact_Scratch_reference", 301),
    ]
    layout = folds("vocal_imitations_fold{fold:02}_0000000.tar", range(3), copies=2)
    return fill(layout, classes("imitation", imitations), FACTS["vocalimitations"].record)


def _vocalsound() -> MiniDataset:
    sounds = ["laughter", "sigh", "throatclearing", "cough", "sneeze", "sniff"]
    layout = splits({"train": 2, "valid": 1, "test": 1})
    return fill(layout, class_list("label", sounds), FACTS["vocalsound"].record)


def _voxceleb1() -> MiniDataset:
    speakers = [("id10003", 0), ("id10001", 15), ("id10270", 269), ("id11251", 1250)]
    layout = splits(
        {"voxceleb1_train": 2, "voxceleb1_valid": 1, "voxceleb1_test": 1},
        lambda s: underscore_shards(s, 2),
        crop_length=FACTS["voxceleb1"].crop_length,
    )
    return fill(layout, classes("speakerid", speakers), FACTS["voxceleb1"].record)


def _voxlingua33() -> MiniDataset:
    languages = [("uk", 0), ("zh", 1), ("en", 16), ("de", 25), ("sr", 32)]
    layout = splits({"train_subset": 5, "dev": 1}, crop_length=FACTS["voxlingua33"].crop_length)
    return fill(layout, classes("labels", languages), FACTS["voxlingua33"].record)


# private tasks: train and test splits (subway_broadcast: one split for all three roles)


def _private(task: str, samples: list[Sample], names: Mapping[str, int]) -> MiniDataset:
    return fill(splits(names), samples, FACTS[task].record)


def _finger_snap() -> MiniDataset:
    return _private("finger_snap", class_list("tag", ["T", "F"]), {"finger_snap_train": 10, "finger_snap_test": 2})


def _inside_outside_car() -> MiniDataset:
    samples = class_list("position", ["Inside", "Outside"])
    return _private("inside_outside_car", samples, {"inside_outside_car_train": 10, "inside_outside_car_test": 2})


def _key_scratching() -> MiniDataset:
    return _private(
        "key_scratching", class_list("tag", ["T", "F"]), {"key_scratching_train": 10, "key_scratching_test": 2}
    )


def _liveenv() -> MiniDataset:
    # "BabySound " keeps the trailing space of X-ARES's class name
    samples = classes("soundevent", [("Airplane", 0), ("BabySound ", 5), ("Dog", 9), ("Water", 27)])
    return _private("liveenv", samples, {"liveenv_train": 5, "liveenv_test": 1})


def _subway_broadcast() -> MiniDataset:
    return _private("subway_broadcast", integers("broadcasting", [0, 1]), {"subway_broadcast": 10})


# frame, contrastive and ASR tasks


DESED_EVENTS = [
    ([{"onset": 0.1, "offset": 0.6, "label": "Speech"}], [(0.1, 0.6, 1)]),
    (
        [{"onset": 0.0, "offset": 0.4, "label": "Dog"}, {"onset": 0.5, "offset": 1.2, "label": "Cat"}],
        [(0.0, 0.4, 8), (0.5, 1.2, 0)],
    ),
    ([{"onset": 0.2, "offset": 1.0, "label": "Running_water,Dishes"}], [(0.2, 1.0, 2), (0.2, 1.0, 3)]),
    (
        [
            {"onset": 0.0, "offset": 1.5, "label": "Frying"},
            {"onset": 0.3, "offset": 0.8, "label": "Alarm_bell_ringing"},
        ],
        [(0.0, 1.5, 9), (0.3, 0.8, 7)],
    ),
    ([], []),
]


def _desed() -> MiniDataset:
    samples = [Sample(events, targets, tone) for tone, (events, targets) in enumerate(DESED_EVENTS)]
    layout = splits({"wds-audio-train": 3, "wds-audio-eval": 1}, dash_shards)
    return fill(layout, samples, FACTS["desed"].record)


def _maestro() -> MiniDataset:
    note_lists = [[(21, 0.0, 0.25)], [(60, 0.1, 0.3), (64, 0.2, 0.3)], [(107, 0.0, 0.2), (72, 0.05, 0.15)]]
    samples = [
        Sample(
            [{"start": start, "end": end, "note": note, "velocity": 64} for note, start, end in notes],
            [(start, end, note - 21) for note, start, end in notes],
            tone,
        )
        for tone, notes in enumerate(note_lists)
    ]
    layout = splits({"maestro_train": 3, "maestro_valid": 1, "maestro_test": 1}, rates=(44100, 16000))
    return fill(layout, samples, FACTS["maestro"].record)


CAPTION_SUBJECTS = ("a low hum", "a bird chirps", "a high whistle", "a kettle boils")


def _clotho() -> MiniDataset:
    samples = []
    for tone, subject in enumerate(CAPTION_SUBJECTS):
        captions = [f"{subject} {place}" for place in ("in a room", "outside", "far away", "nearby", "at night")]
        samples.append(Sample({f"caption_{n}": text for n, text in enumerate(captions, 1)}, captions, tone))
    layout = splits(
        {"clotho_development": 3, "clotho_evaluation": 1, "clotho_validation": 1},
        crop_length=FACTS["clotho"].crop_length,
    )
    # Clotho's keys are its file names: spaces and all
    return fill(layout, samples, FACTS["clotho"].record, key=lambda partition, index: f"{partition} sound {index}")


BUILDERS: dict[str, Callable[[], MiniDataset]] = {
    "asvspoof2015": _asvspoof2015,
    "clotho": _clotho,
    "cremad": _cremad,
    "desed": _desed,
    "esc50": _esc50,
    "finger_snap": _finger_snap,
    "fluentspeechcommands": _fluentspeechcommands,
    "freemusicarchive": _freemusicarchive,
    "fsd50k": _fsd50k,
    "fsdkaggle2018": _fsdkaggle2018,
    "gtzan_genre": _gtzan_genre,
    "inside_outside_car": _inside_outside_car,
    "key_scratching": _key_scratching,
    "libricount": _libricount,
    "librispeech": _librispeech,
    "librispeechmalefemale": _librispeech,
    "liveenv": _liveenv,
    "maestro": _maestro,
    "nsynthinstument": _nsynthinstument,
    "ravdess": _ravdess,
    "speechcommandsv1": _speechcommandsv1,
    "subway_broadcast": _subway_broadcast,
    "urbansound8k": _urbansound8k,
    "vocalimitations": _vocalimitations,
    "vocalsound": _vocalsound,
    "voxceleb1": _voxceleb1,
    "voxlingua33": _voxlingua33,
}


# ---------------------------------------------------------------------------------------------
# public API


@functools.cache
def _built(builder: Callable[[], MiniDataset]) -> MiniDataset:
    return builder()


def mini_dataset(task: str) -> MiniDataset:
    """The task's miniature dataset (built once per test session; tasks sharing a record share it)."""
    return _built(BUILDERS[task])


def expected_target(task: str, sample: Sample) -> Any:
    """What X-ARES's label processor makes of ``sample`` for this task (the shared LibriSpeech record
    holds both the gender of librispeechmalefemale and the transcript of librispeech)."""
    if task == "librispeechmalefemale":
        return sample.target["gender"]
    if task == "librispeech":
        return sample.target["trans"]
    return sample.target


def zenodo_records(tasks: Iterable[str] = BUILDERS) -> dict[str, dict[str, bytes]]:
    """``{record id: {file name: bytes}}`` of the public tasks, for ``FakeZenodo``."""
    return {FACTS[task].record: mini_dataset(task).files() for task in tasks if not FACTS[task].private}


def public_clip_tasks() -> list[str]:
    return sorted(task for task, facts in FACTS.items() if not facts.private and facts.task_type == "clip")


def private_tasks() -> list[str]:
    return sorted(task for task, facts in FACTS.items() if facts.private)


# ---------------------------------------------------------------------------------------------
# running ``xares`` on them


def closed_port_api() -> str:
    """An API base URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


def unwrapped(text: str) -> str:
    """Command output with the log's line wrapping undone (words joined by single spaces)."""
    return " ".join(text.split())


def run_one(root: Path, run_name: str, *overrides: str, check: bool = True) -> tuple[dict[str, Any], Any]:
    """``xares <overrides>`` with all roots under ``root``; returns its result record and the process."""
    run_dir = root / "runs" / run_name
    result = helpers.cli.run_xares(*overrides, f"hydra.run.dir={run_dir}", root=root, check=check)
    return json.loads((run_dir / "result.json").read_text()), result


def run_in_process(root: Path, task: str, *overrides: str) -> dict[str, Any]:
    """``xares task=<task> encoder=mel <overrides>`` in this process (``xares_hydra.api``), roots under ``root``."""
    return api.evaluate("mel", [task], overrides=[f"paths.root={root}", *overrides])[0]


def run_sweep(root: Path, sweep_dir: Path, *overrides: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """``xares -m <overrides>``; returns {task name: result record} and the sweep's summary.json."""
    helpers.cli.run_xares("-m", *overrides, f"hydra.sweep.dir={sweep_dir}", root=root)
    records = [json.loads(path.read_text()) for path in sweep_dir.glob("*/result.json")]
    return {record["task"]["name"]: record for record in records}, json.loads((sweep_dir / "summary.json").read_text())


# ---------------------------------------------------------------------------------------------
# checking the result records of runs on them


def check_zenodo_record(record: dict[str, Any], name: str, tars: list[str] | None = None) -> None:
    """Status ok, counts as in the miniature dataset, provenance naming the record and the shards' md5s."""
    mini, facts = mini_dataset(name), FACTS[name]
    assert record["status"] == "ok", (name, record["reason"])
    assert record["task"]["eval_weight"] == facts.eval_weight
    used = sorted(tars if tars is not None else mini.shards)
    assert (record["data"]["record"], record["data"]["record_id"]) == (facts.record, facts.record)
    assert record["data"]["shards"] == used
    assert {entry["key"]: entry["checksum"] for entry in record["data"]["files"]} == {
        tar: mini.md5(tar) for tar in used
    }
    for partition in mini.partitions:
        counts = record["counts"][partition]
        assert (counts["clips"], counts["skipped"]) == (mini.clips(partition, tars), {}), (name, partition)
        if tars is None:
            assert counts["crops"] == mini.crops(partition, facts.crop_length), (name, partition)


def check_scores(record: dict[str, Any], name: str) -> None:
    """The task's heads scored (kNN where X-ARES runs it); log-mel kNN gets every tone right."""
    expected = {"mlp", "knn"} if FACTS[name].knn else {"mlp"}
    assert set(record["scores"]) == expected, name
    for result in record["scores"].values():
        assert np.isfinite(result["score"]), name
    if "knn" in record["scores"]:  # each class is a tone of its own: audio and labels stayed paired
        assert record["scores"]["knn"]["score"] == 1.0, name


def check_downloaded_once(zenodo: FakeZenodo, records: dict[str, dict[str, bytes]]) -> None:
    """Every file of every record was fetched exactly once."""
    for record_id, files in records.items():
        for key in files:
            assert zenodo.requests[zenodo.content_path(record_id, key)] == 1, (record_id, key)

"""A Hugging Face dataset as a task source (``task.huggingface``): read with the ``datasets`` library from the hub
(a pinned revision) or from a local folder (``save_to_disk`` output, parquet files or an audiofolder), cached or
streamed, its audio column kept undecoded (our audio path decodes it), its rows mapped onto the task's partitions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xares_hydra.data.clips import SourceClip, class_names, source_clip, write_partitions
from xares_hydra.data.labels import LabelSpec
from xares_hydra.data.shards import AUDIO_EXTENSIONS
from xares_hydra.errors import ConfigError, DataUnavailable, XaresError

if TYPE_CHECKING:
    from datasets import DatasetDict, IterableDatasetDict

    from xares_hydra.data.taskspec import TaskSpec

log = logging.getLogger(__name__)
SAVED_MARKERS = ("dataset_dict.json", "state.json")  # what ``save_to_disk`` leaves in its folder
METADATA_FILES = ("metadata.csv", "metadata.jsonl")


@dataclass
class HuggingFaceSchema:
    """``task.huggingface``: where the dataset is and how its splits and columns become the task's clips."""

    # the hub's dataset id (``org/name``) and the commit it is pinned to
    id: str | None = None
    revision: str | None = None
    # the dataset's configuration (``name`` in ``datasets.load_dataset``)
    config: str | None = None
    # read this folder instead of the hub (a relative path is under paths.data_root)
    local_dir: str | None = None
    # task role (train/valid/test) -> the dataset's split
    splits: dict[str, str] = field(default_factory=dict)
    # with no valid split: this share of the train split (drawn with ``seed``) becomes the valid partition
    valid_from_train: float | None = None
    # k-fold tasks: the split dealt into the task's folds, by ``fold_column``'s value or at random with ``seed``
    folds_from: str | None = None
    fold_column: str | None = None
    # folds dealt at random: rows sharing this column's value go to different folds, as long as there are folds
    # enough (the recordings of one transcript, which a retrieval fold could not tell apart)
    spread_column: str | None = None
    seed: int = 0
    audio_column: str = "audio"
    # a column naming each clip (default: <split>-<row>)
    key_column: str | None = None
    # the columns each clip's labels hold (default: all but the audio); the label rule reads them
    columns: list[str] | None = None
    clips_per_shard: int = 1000
    # read the rows as a stream (``datasets``' IterableDataset: nothing is stored whole in its cache first); a hub id
    # or a folder of parquet files. The partitions are the same clips as read cached.
    streaming: bool = False


# settings of how the rows are read, not which: the same clips either way, so neither a reason to rebuild the
# shards nor part of a result's identity
READ_OPTIONS = ("streaming",)
# settings added later, left out at their default so that shards and records made before them keep their identity
ADDED_LATER = {"spread_column": None}


def which_data(source: dict[str, Any]) -> dict[str, Any]:
    """A ``task.huggingface`` block without its :data:`READ_OPTIONS` and its :data:`ADDED_LATER` at their default."""
    left_out = {*READ_OPTIONS, *(key for key, default in ADDED_LATER.items() if source.get(key, default) == default)}
    return {key: value for key, value in source.items() if key not in left_out}


def build_huggingface(task: TaskSpec, directory: Path, data_root: Path, timeout: float) -> dict[str, Any]:
    """Write the dataset's clips as the task's shards in ``directory``; returns what was built (the provenance)."""
    try:
        import datasets  # noqa: F401
    except ImportError as error:
        raise ConfigError(f"task {task.name} reads a Hugging Face dataset, which needs the datasets package: "
                          "pip install 'xares-hydra[huggingface]'") from error  # fmt: skip
    config = HuggingFaceSchema(**(task.huggingface or {}))
    label = task.label
    splits = Splits(load_dataset_dict(task.name, config, data_root, timeout))
    rows = partition_rows(task, config, splits)
    label_values: list[Any] = []
    counts = dict.fromkeys(rows, 0)
    for split in dict.fromkeys(split for split, _ in rows.values()):  # one pass over each split, in order
        routed = _clips(splits, split, _routes(rows, split), config, label, label_values)
        write = partial(write_partitions, directory, routed, config.clips_per_shard)
        counts |= _attempt(task.name, config, data_root, write)
    for partition, (split, _) in rows.items():
        log.info("%s: %d clips of split %s written as partition %s", task.name, counts[partition], split, partition)
    provenance: dict[str, Any] = {"clips": counts}
    if label.n_classes is None and label.key is not None:  # the dataset's own class list, else the values seen
        names = _class_list(next(iter(splits.loaded.values())).features.get(label.key))
        provenance["classes"] = list(names or []) or class_names(label_values, label)
    return provenance


def _routes(rows: dict[str, tuple[str, list[int] | None]], split: str) -> Callable[[int], list[str]]:
    """Row index -> the partitions the split's row goes to (two, where valid and test are one split)."""
    whole = [partition for partition, (name, indices) in rows.items() if name == split and indices is None]
    drawn: dict[int, list[str]] = {}
    for partition, (name, indices) in rows.items():
        for index in indices if name == split and indices is not None else ():
            drawn.setdefault(index, []).append(partition)
    return lambda index: whole + drawn.get(index, [])


def load_dataset_dict(
    task_name: str, config: HuggingFaceSchema, data_root: Path, timeout: float
) -> DatasetDict | IterableDatasetDict:
    """The dataset's splits, their audio column undecoded; an unreachable source is one line saying how to fetch it."""
    import datasets

    cache_dir = str(data_root / ".huggingface")
    if config.local_dir is not None:
        folder = data_root / Path(config.local_dir).expanduser()
        loaded = _attempt(task_name, config, data_root, lambda: _load_local(task_name, folder, config, cache_dir))
    elif config.id is not None:
        loaded = _attempt(task_name, config, data_root, lambda: _load_hub(config, cache_dir, timeout))
    else:
        raise ConfigError(f"task {task_name}: task.huggingface needs an id (hub dataset) or a local_dir")
    if isinstance(loaded, datasets.Dataset | datasets.IterableDataset):
        loaded = (datasets.DatasetDict if isinstance(loaded, datasets.Dataset) else datasets.IterableDatasetDict)(
            {"train": loaded}
        )
    if not isinstance(loaded, datasets.DatasetDict | datasets.IterableDatasetDict):
        raise ConfigError(f"task {task_name}: task.huggingface reads a dataset's splits, not {type(loaded).__name__}")
    for split, dataset in loaded.items():
        if dataset.features is None:  # a stream whose rows' fields are only known once read
            raise ConfigError(
                f"task {task_name}: the streamed split {split} declares no features (columns); "
                "read it cached (task.huggingface.streaming=false)"
            )
        if config.audio_column not in dataset.column_names:
            raise ConfigError(
                f"task {task_name}: split {split} has no column {config.audio_column!r} "
                f"(task.huggingface.audio_column; its columns: {', '.join(dataset.column_names)})"
            )
    undecoded = datasets.Audio(decode=False)
    return type(loaded)({name: part.cast_column(config.audio_column, undecoded) for name, part in loaded.items()})


def _load_local(task_name: str, folder: Path, config: HuggingFaceSchema, cache_dir: str) -> Any:
    import datasets

    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder}")
    saved = any((folder / marker).is_file() for marker in SAVED_MARKERS)
    if saved and not config.streaming:
        return datasets.load_from_disk(str(folder))
    if not saved and next(folder.rglob("*.parquet"), None) is not None:  # the hub's layout; the builder finds splits
        # read afresh: the library's cache knows a local folder by its name and configuration only, and would give
        # another folder of that name, or this one fetched again, the rows it cached first (and their split sizes)
        return datasets.load_dataset(str(folder), name=config.config, cache_dir=cache_dir, streaming=config.streaming,
                                     download_mode="force_redownload", verification_mode="no_checks")  # fmt: skip
    if config.streaming:
        raise ConfigError(
            f"task {task_name}: task.huggingface.streaming reads a hub id or a folder of parquet files; {folder} is "
            f"{'a saved dataset' if saved else 'an audiofolder'}, read from disk as it is: set "
            "task.huggingface.streaming=false"
        )
    return _load_audiofolder(folder, config.audio_column, cache_dir)


def audio_struct() -> dict[str, Any]:
    """An audio column as arrow stores it, ``{bytes, path}``: what the Audio feature casts from and to, undecoded."""
    import datasets

    return {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}


def _load_audiofolder(folder: Path, audio_column: str, cache_dir: str) -> DatasetDict:
    """An audiofolder (a folder per split; each file's fields in the split's ``metadata.csv`` or ``.jsonl``, by
    ``file_name``, or its class as its parent folder's name), read as ``datasets``' audiofolder builder reads it,
    without the builder's audio encoder (torchcodec): the files are only named here."""
    import datasets

    splits = {}
    for split_folder in sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith(".")):
        metadata = next((split_folder / name for name in METADATA_FILES if (split_folder / name).is_file()), None)
        if metadata is not None:
            builder = "csv" if metadata.suffix == ".csv" else "json"
            rows = datasets.load_dataset(builder, data_files=str(metadata), split="train", cache_dir=cache_dir)
            files = [split_folder / name for name in rows["file_name"]]
            rows = rows.remove_columns("file_name")
        else:
            files = sorted(path for path in split_folder.rglob("*") if path.suffix[1:].lower() in AUDIO_EXTENSIONS)
            rows = datasets.Dataset.from_dict({"label": [path.parent.name for path in files]})
        audio = [{"bytes": None, "path": str(path)} for path in files]
        splits[split_folder.name] = rows.add_column(audio_column, audio, feature=audio_struct())
    if not splits:
        raise FileNotFoundError(f"no saved dataset, parquet files or audiofolder split folders in {folder}")
    return datasets.DatasetDict(splits)


def _load_hub(config: HuggingFaceSchema, cache_dir: str, timeout: float) -> Any:
    import datasets
    import huggingface_hub

    if not huggingface_hub.constants.HF_HUB_OFFLINE:  # one quick request, so no network fails now, not after retries
        huggingface_hub.HfApi().dataset_info(str(config.id), revision=config.revision, timeout=timeout)
    elif config.revision is None:
        log.warning("%s is read unpinned (task.huggingface.revision is null)", config.id)
    return datasets.load_dataset(
        str(config.id), name=config.config, revision=config.revision, cache_dir=cache_dir, streaming=config.streaming
    )


def _attempt(task_name: str, config: HuggingFaceSchema, data_root: Path, load: Callable[[], Any]) -> Any:
    """``load()``'s result; any failure of the libraries' reading (their own network, HTTP, file and format errors,
    which share no base class) as one line naming the source and how to fetch it (a hub id only); our own errors
    as they are."""
    try:
        return load()
    except XaresError:
        raise
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        if config.local_dir is not None:
            what, recipe = f"the folder {data_root / Path(config.local_dir).expanduser()}", ""
        else:
            revision = f" --revision {config.revision}" if config.revision else ""
            what = f"Hugging Face dataset {config.id} (revision {config.revision or 'unpinned'})"
            recipe = (
                f" Fetch it where there is network: hf download {config.id} --repo-type dataset{revision} "
                f"--local-dir <folder>, then run with task.huggingface.local_dir=<folder> "
                "(or set HF_HUB_OFFLINE=1 to read the Hugging Face cache)."
            )
        raise DataUnavailable(
            f"task {task_name}: {what} cannot be read ({type(error).__name__}: {reason}).{recipe}"
        ) from error


class Splits:
    """The dataset's splits as the partition mapping reads them: map-style (cached) or streamed. A streamed split's
    size comes from the dataset's metadata, else from one pass over it (the clips drawn from it need it)."""

    def __init__(self, loaded: DatasetDict | IterableDatasetDict) -> None:
        import datasets

        self.loaded, self.names = loaded, list(loaded)
        self.streamed = isinstance(loaded, datasets.IterableDatasetDict)
        self._sizes: dict[str, int] = {}

    def size(self, split: str) -> int:
        if split not in self._sizes:
            self._sizes[split] = self._size(split)
        return self._sizes[split]

    def _size(self, split: str) -> int:
        dataset = self.loaded[split]
        if not self.streamed:
            return len(dataset)
        known = (dataset.info.splits or {}).get(split)
        if known is not None and known.num_examples:
            return int(known.num_examples)
        log.info("Counting the rows of split %s (the dataset's metadata does not give them): one extra pass", split)
        return sum(1 for _ in dataset.select_columns(dataset.column_names[:1]))

    def check_size(self, split: str, read: int) -> None:
        """A pass over the split read ``read`` rows: the size its partitions were drawn from, if they were."""
        if self._sizes.setdefault(split, read) != read:
            raise ValueError(
                f"split {split} streamed {read} rows, but the dataset's metadata gives {self._sizes[split]}, which "
                "its partitions were drawn from: read it cached (task.huggingface.streaming=false)"
            )

    def column(self, split: str, name: str) -> list[Any]:
        dataset = self.loaded[split]
        if not self.streamed:
            return list(dataset[name])
        return [row[name] for row in dataset.select_columns([name])]


def partition_rows(
    task: TaskSpec, config: HuggingFaceSchema, splits: Splits
) -> dict[str, tuple[str, list[int] | None]]:
    """Partition -> (the dataset split it comes from, the row indices it takes; None: all its rows)."""
    if task.is_kfold:
        return _fold_rows(task.name, config, splits, _split(task.name, config.folds_from, splits), task.folds)
    rows: dict[str, tuple[str, list[int] | None]] = {}
    carved: list[int] | None = None
    for role, partition in task.roles.items():
        if partition in rows:  # two roles share it (valid and test, as some X-ARES tasks do)
            continue
        if role in config.splits:
            rows[partition] = (_split(task.name, config.splits[role], splits), None)
        elif role == "valid" and config.valid_from_train is not None and "train" in config.splits:
            split = _split(task.name, config.splits["train"], splits)
            carved = _drawn(splits.size(split), config.valid_from_train, config.seed)
            rows[partition] = (split, carved)
        else:
            raise ConfigError(
                f"task {task.name}: task.huggingface.splits names no split for {role} "
                f"(the dataset has {', '.join(splits.names)}; give one, or valid_from_train for valid)"
            )
    if carved is not None:  # the clips that became the valid partition leave the train partition
        split, _ = rows[task.roles["train"]]
        taken = set(carved)
        rows[task.roles["train"]] = (split, [index for index in range(splits.size(split)) if index not in taken])
    return rows


def _split(task_name: str, split: str | None, splits: Splits) -> str:
    """The split named ``split``; None (no ``folds_from``): the dataset's only split."""
    if not split and len(splits.names) != 1:
        raise ConfigError(f"task {task_name}: task.huggingface.folds_from names none of {', '.join(splits.names)}")
    if not split:
        return splits.names[0]
    if split not in splits.names:
        raise ConfigError(f"task {task_name}: the dataset has no split {split!r} (it has {', '.join(splits.names)})")
    return split


def _drawn(count: int, share: float, seed: int) -> list[int]:
    if not 0 < share < 1:
        raise ConfigError(f"task.huggingface.valid_from_train={share}; give a share between 0 and 1")
    order = np.random.default_rng(seed).permutation(count)
    return sorted(int(index) for index in order[: max(1, round(share * count))])


def _fold_rows(
    task_name: str, config: HuggingFaceSchema, splits: Splits, split: str, names: tuple[str, ...]
) -> dict[str, tuple[str, list[int] | None]]:
    if config.fold_column is None:  # dealt at random, round robin over a seeded permutation
        order = np.random.default_rng(config.seed).permutation(splits.size(split))
        if config.spread_column is not None:  # a value's rows next to each other, so round robin parts them
            values = splits.column(split, config.spread_column)
            first = {values[index]: position for position, index in reversed(list(enumerate(order)))}  # first place
            order = np.array(sorted(order, key=lambda index: first[values[index]]))
        return {name: (split, sorted(int(i) for i in order[start :: len(names)])) for start, name in enumerate(names)}
    fold_of = {name.removeprefix("fold"): name for name in names}  # partition fold<value> (TaskSpec)
    values = [str(value) for value in splits.column(split, config.fold_column)]
    if unknown := sorted(set(values) - set(fold_of)):
        raise ConfigError(
            f"task {task_name}: column {config.fold_column!r} holds folds {', '.join(unknown)} that "
            f"task.folds does not list ({', '.join(fold_of)})"
        )
    return {name: (split, [index for index, value in enumerate(values) if fold_of[value] == name]) for name in names}


def _clips(
    splits: Splits,
    split: str,
    partitions_of: Callable[[int], list[str]],
    config: HuggingFaceSchema,
    label: LabelSpec,
    seen: list[Any],
) -> Iterator[tuple[str, SourceClip]]:
    """One pass over the split, in order: each row's clip and the partitions it goes to."""
    dataset = splits.loaded[split]
    features = dataset.features or {}
    columns = config.columns or [name for name in features if name != config.audio_column]
    read = 0
    for index, row in enumerate(dataset):
        read = index + 1
        partitions = partitions_of(index)
        if not partitions:  # more rows than the size the partitions were drawn from: stopped below
            continue
        audio = row[config.audio_column] or {}
        labels = {name: _readable(row[name], features.get(name)) for name in columns}
        if label.key in labels:
            seen.append(labels[label.key])
        key = str(row[config.key_column]) if config.key_column else f"{split}-{index:07d}"
        clip = source_clip(key, labels, audio.get("bytes"), audio.get("path"))
        yield from ((partition, clip) for partition in partitions)
    splits.check_size(split, read)


def _class_list(feature: Any) -> list[str] | None:
    """The class names of a ClassLabel feature (or of a list of them); None for any other feature."""
    return getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None)


def _readable(value: Any, feature: Any) -> Any:
    """A ClassLabel (or a list of them) as its class names: the dataset's own class list names the classes."""
    if (names := _class_list(feature)) is None:
        return value
    return [names[item] for item in value] if isinstance(value, list) else names[value]

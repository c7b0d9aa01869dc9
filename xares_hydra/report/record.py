"""The result record (one JSON per task, encoder and setting), written and read through ``Record``."""

from __future__ import annotations

import datetime as dt
import errno
import functools
import json
import logging
import platform
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import SkipJsonSchema

from xares_hydra.atomic import BYTES_TO_WRITE, read_json, write_json
from xares_hydra.encode.storage import StoreDtype
from xares_hydra.errors import Interrupted, Status, XaresError
from xares_hydra.heads.predictions import Predictions, load_predictions, predictions_file, save_predictions
from xares_hydra.report.identity import DEFAULT_MODE, record_identity
from xares_hydra.report.redact import redact_record

if TYPE_CHECKING:
    from xares_hydra.data.taskspec import TaskSpec

log = logging.getLogger("xares")

RECORD_SCHEMA = 2
# schema 1 records (before per-sample predictions) still load; they get no intervals or tests
READABLE_SCHEMAS = (1, 2)
RECORD_FILE = "result.json"
_VERSIONED_PACKAGES = ("xares-hydra", "torch", "torchaudio", "numpy", "scikit-learn", "faiss-cpu", "hydra-core",
                       "webdataset", "soundfile", "transformers")  # fmt: skip


Number = int | float  # ints stay ints: a record reads back as it was written


def _written(*required: str, **schema: Any) -> ConfigDict:
    """Extra keys allowed (records carry more than reports read); ``required``: what a written record always
    has, in the schema, while reading also takes older and hand-made records without it."""
    return ConfigDict(extra="allow", json_schema_extra={"required": list(required), **schema})


class TaskInfo(BaseModel):
    model_config = _written("name", "metric", "higher_is_better", "eval_weight", "private")
    name: str
    formal_name: str | None = None
    task_type: str | None = Field(None, description="clip, regression, frame, contrastive or asr.")
    metric: str | None = Field(
        None,
        description="Metric name (accuracy, mAP, EER, mae, mse, pearson, spearman, segmentf1_macro, "
        "segmentf1_micro, recallatk_r1, WER_inv).",
    )
    higher_is_better: bool = True
    eval_weight: Number | None = Field(
        None, description="Weight in the weighted average (X-ARES: about the test set size)."
    )
    private: bool = False
    tags: list[str] | None = None
    version: int | str | None = Field(None, description="Task definition version; changed definitions never mix.")
    license: str | None = Field(None, description="The dataset's licence (task YAML); 'see source' where not recorded.")
    corpus: list[str] | None = Field(None, description="The corpora the task's audio comes from (task YAML).")
    zenodo_id: int | str | None = None
    kfold: bool | None = None


def task_info(task: TaskSpec, higher_is_better: bool) -> TaskInfo:
    """The task as its result record names it; ``higher_is_better`` is its metric's."""
    derived = {"higher_is_better": higher_is_better, "kfold": task.is_kfold}
    fields = {name: derived.get(name, getattr(task, name, None)) for name in TaskInfo.model_fields}
    return TaskInfo.model_validate(fields)


class PaddingInfo(BaseModel):
    model_config = _written("invariant")
    told: str | None = None
    deviation: Number | None = None
    invariant: bool


class MemoryInfo(BaseModel):
    model_config = _written("out_of_memory")
    out_of_memory: int = Field(description="Encoder calls that ran out of memory and were retried smaller.")
    batch_size: int | None = Field(None, description="Most crops per encoder call after the back-off.")
    max_batch_seconds: Number | None = Field(None, description="Most seconds of padded audio per call after it.")
    chunk_seconds: Number | None = Field(None, description="Longer crops were encoded in chunks of this length.")


class CostInfo(BaseModel):
    """What the encoder cost in the encode stage that filled the embedding cache."""

    flops_per_second: Number | None = Field(
        None, description="FLOPs per second of audio (torch.utils.flop_counter on a probe clip of noise)."
    )
    flops_probe_seconds: Number | None = Field(None, description="Length of the probe clip the FLOPs were counted on.")
    flops_uncounted: list[str] | None = Field(
        None, description="Compute ops that ran but have no FLOP formula in torch (pointwise ops are never counted)."
    )
    throughput: Number | None = Field(None, description="Seconds of audio encoded per second of the encode stage.")
    encoded_audio_seconds: Number | None = Field(None, description="Audio the throughput was measured on.")
    peak_memory_bytes: int | None = Field(
        None, description="Peak memory of the encode stage: the CUDA allocator's on a GPU, the resident set on a CPU."
    )
    peak_memory_kind: str | None = None
    device_name: str | None = Field(None, description="The GPU's or CPU's name.")


class EncoderInfo(BaseModel):
    model_config = _written("name")
    name: str
    fingerprint: str | None = Field(
        None, description="Hash of the encoder's config, weights identity and code: the embedding cache key."
    )
    identity: str | None = Field(
        None,
        description="Hash of the encoder's config, weights and code without "
        "task-derived settings: one report column per identity.",
    )
    target: str | None = Field(None, description="The encoder class (_target_).")
    code: dict[str, Any] | None = Field(
        None,
        description="The encoder's code as its fingerprint saw it: a package or folder and the sha256 of its .py "
        "files (the code.sha256 xares stage=check prints), or an installed distribution and its version.",
    )
    config: dict[str, Any] | None = Field(
        None, description="The encoder's resolved config (null for an encoder instance passed to the API)."
    )
    meta: dict[str, Any] | None = Field(None, description="The encoder YAML's meta block: license, paper, source.")
    weight_files: dict[str, Any] | None = Field(
        None, description="sha256 of every file or folder the encoder config names (checkpoints)."
    )
    training_overlap: list[str] | None = Field(
        None,
        description="Corpora both in the encoder's meta.training_data and in the task's corpus: the encoder saw "
        "this task's data in training ([] none; null where either side is not declared).",
    )
    sampling_rate: Number | None = None
    output_dim: int | None = None
    hop_size_in_ms: Number | None = None
    class_: str | None = Field(None, alias="class", description="Module and class of the encoder object that encoded.")
    parameters: int | None = Field(None, description="Parameter count of the encoder as loaded.")
    weights_sha256: str | None = Field(None, description="sha256 of the encoder's weights as loaded.")
    weights_revision: str | None = Field(None, description="Hub commit of Hugging Face weights.")
    min_input_samples: int | None = Field(
        None, description="Shortest input the encoder accepts; shorter clips are zero-padded to it."
    )
    batching: Literal["bucketed", "exact", "xares"] | None = Field(
        None, description="The batches the cache was encoded with (encode.batching=auto resolved for this encoder)."
    )
    store_dtype: StoreDtype | None = Field(
        None, description="The number type of the cached frames and hidden layers' vectors (encode.store_dtype)."
    )
    clip_dtype: StoreDtype | None = Field(
        None, description="The number type of the cached clip vectors (encode.clip_dtype)."
    )
    padding: PaddingInfo | None = Field(
        None,
        description="Whether a clip keeps its own frames in a zero-padded batch: told (lengths or mask), or the "
        "largest relative deviation the contract check measured, and whether it is within 1e-4.",
    )
    memory: MemoryInfo | None = Field(
        None, description="The encoder calls that fit after running out of memory (memory back-off); null if none did."
    )
    cost: CostInfo | None = Field(None, description="FLOPs, throughput, peak memory and device of the encode stage.")


class Round(BaseModel):
    """One evaluation round: 'test' for split tasks, the test fold's name for k-fold tasks."""

    model_config = _written("test")
    test: Number | None = None
    valid: Number | None = Field(None, description="Best validation score (the epoch kept).")
    best_epoch: int | None = None
    train_on: str | None = None
    select_on: str | None = None
    test_on: str | None = None
    n_train: int | None = None
    n_valid: int | None = None
    n_test: int | None = None
    seconds: Number | None = None
    valid_history: list[Number] | None = Field(None, description="Validation metric after each epoch.")
    train_loss_history: list[Number] | None = Field(None, description="Mean training loss of each epoch.")
    metrics: dict[str, Number | None] | None = Field(
        None, description="Regression tasks: mse, mae, pearson and spearman over all targets, in their own units."
    )
    draws: list[dict[str, Any]] | None = Field(
        None,
        description="Few-shot (head.shots): per draw its test and validation score, best epoch, n_train and "
        "train_clips (a digest of the clips it trained on: equal for every encoder).",
    )
    per_target: dict[str, dict[str, Number | None]] | None = Field(
        None, description="Regression tasks: the same metrics per target (task.label.args.keys)."
    )
    layer_weights: list[Number] | None = Field(
        None, description="head.layer=weighted: the learned softmax weight of each hidden layer, layer 0 first."
    )


class PerClass(BaseModel):
    """Per class over all rounds' test clips pooled: accuracy (single-label recall), AP (multi-label) or segment
    F1 (frame tasks); null where a class has no test positives."""

    measure: Literal["accuracy", "AP", "F1"]
    classes: list[str]
    values: list[Number | None]


class HeadScore(BaseModel):
    model_config = _written("head", "score", "std", "rounds")
    head: str | None = Field(None, description="Registered head (linear_probe, knn, frame_probe, retrieval, asr).")
    score: Number = Field(description="Mean over rounds (folds) of the test metric (few-shot: also over draws).")
    std: Number | None = Field(
        None, description="Standard deviation over rounds (0 for one round); few-shot: over the draws."
    )
    draws: list[Number] | None = Field(
        None, description="Few-shot (head.shots): the score of each draw; score is their mean."
    )
    chance: Number | None = Field(
        None,
        description="Score of an uninformed predictor on these test targets "
        "(majority class, mean prevalence, EER 0.5, constant prediction, 1/clips, 0).",
    )
    per_class: PerClass | None = None
    rounds: dict[str, Round] = Field(default_factory=dict, description="Per evaluation round.")
    seconds: Number | None = None
    predictions: str | None = Field(
        None,
        description="File name, next to this record, of the per-sample test "
        "predictions (.npz; ASR texts in the .jsonl beside it). Absent with "
        "record.predictions=false.",
    )


class Record(BaseModel):
    """One run: one task x one encoder x one head setting (seed included). Written as result.json in the Hydra job
    folder and as <results_root>/<encoder>/<task>/<mode>-<hash>.json; each head's per-sample test predictions lie
    next to it (scores.<slot>.predictions). Reports read only these files."""

    model_config = _written("schema", "status", "reason", "task", "encoder", "mode", "head", "scores", "counts",
                            "timings", "overrides", "versions", "created",
                            title="xares-hydra result record")  # fmt: skip
    schema_: Literal[1, 2] = Field(
        alias="schema",
        description="Record format version (1: before per-sample "
        "predictions, chance and per-class values; migrated on read).",
    )
    status: Status = Field(
        Status.OK,
        description="ok: scored; skipped: nothing to do (e.g. no frames); failed: an "
        "error; unavailable: data could not be obtained.",
    )
    reason: str | None = Field(None, description="Why the run is not ok.")
    task: TaskInfo
    encoder: EncoderInfo = EncoderInfo.model_validate({"name": "?"})
    mode: str = Field(
        DEFAULT_MODE, description="default: defects of X-ARES corrected; xares: compat=xares, X-ARES 0.1.3 behaviour."
    )
    device: str | None = Field(
        None, description="Device type the heads ran on (cpu, cuda); part of the record identity."
    )
    head: dict[str, Any] = Field(
        default_factory=dict, description="Resolved head settings (the head config group), seed included."
    )
    scores: dict[str, HeadScore] = Field(description="Per head slot: mlp (the trained head of the task type) and knn.")
    counts: dict[str, Any] = Field(
        default_factory=dict,
        description="Per partition: clips, crops, audio seconds, "
        "skipped and warnings by reason; label_skips per partition.",
    )
    data: dict[str, Any] = Field(
        default_factory=dict, description="Where the data came from (Zenodo record and files, or the demo generator)."
    )
    timings: dict[str, Number] = Field(default_factory=dict, description="Seconds per stage and total.")
    overrides: list[str] = Field(default_factory=list, description="Command-line overrides of the run.")
    versions: dict[str, str] = Field(default_factory=dict)
    created: str = Field("", description="UTC time, ISO 8601.")
    host: str | None = None
    threads: int | None = Field(
        None, description="Torch threads the job ran with (cores / parallel jobs under the joblib launcher)."
    )
    config: dict[str, Any] = Field(default_factory=dict, description="The fully resolved Hydra config.")
    # in memory only, never written: the file a loaded record was read from; a sweep job that died without one;
    # a run's per-sample test predictions (head slot -> round), and once written its document and the places it
    # could not be written to (full or read-only disk, one line each)
    path: SkipJsonSchema[str | None] = Field(None, exclude=True)
    crashed: SkipJsonSchema[bool] = Field(False, exclude=True)
    predictions: SkipJsonSchema[dict[str, dict[str, Any]]] = Field(default_factory=dict, exclude=True)
    document: SkipJsonSchema[dict[str, Any] | None] = Field(None, exclude=True)
    write_problems: SkipJsonSchema[list[str]] = Field(default_factory=list, exclude=True)

    @property
    def seed(self) -> Any:
        return self.head.get("seed")

    def written(self) -> dict[str, Any]:
        """The record as its file holds it, stamped now (schema, versions, time, host): every top-level key, and of
        the parts (task, encoder, scores) the keys the run set."""
        document = self.model_dump(by_alias=True, exclude_unset=True)
        stamp = {
            "schema": RECORD_SCHEMA,
            "status": self.status.value,
            "timings": {name: round(seconds, 3) for name, seconds in self.timings.items()},
            "versions": dict(package_versions()),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(),
        }
        return {key: stamp.get(key, document.get(key, getattr(self, name))) for key, name in _RECORD_KEYS.items()}


_RECORD_KEYS = {info.alias or name: name for name, info in Record.model_fields.items() if not info.exclude}


def typed(document: dict[str, Any]) -> Record:
    """A record as written (``Record.written``: numbers of any kind, enums) read back as ``Record``."""
    return Record.model_validate_json(json.dumps(document, default=str))


def record_schema() -> dict[str, Any]:
    """The JSON Schema of a written record, generated from ``Record`` (``python -m xares_hydra.report.record``)."""
    return Record.model_json_schema(by_alias=True)


@functools.cache  # looked up once per process: each lookup scans every installed distribution
def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _VERSIONED_PACKAGES:
        with suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


def write_record(
    record: dict[str, Any],
    output_dir: Path | None,
    results_root: Path | None,
    predictions: dict[str, dict[str, Predictions]] | None = None,
    problems: list[str] | None = None,
) -> list[Path]:
    """The record in each place, its prediction files (named in ``scores.<slot>.predictions``) first. With
    ``problems``, a place whose disk is full or read-only gets its line there and the others are still written
    (prediction files are extras: a copy whose files could not be written names none); without, it raises."""
    targets = [] if output_dir is None else [output_dir / RECORD_FILE]
    loaded = typed(record)  # as written: a record that reads back
    stem = record_identity(loaded)
    if results_root is not None:
        kept = results_root / record["encoder"]["name"] / record["task"]["name"] / f"{stem}.json"
        old = read_or_none(kept, Record.model_validate) if _incomplete(loaded.counts) else None
        if old is not None and not _incomplete(old.counts):  # a record of complete data is kept
            log.warning("Not replacing %s, a record of complete data, with this one of incomplete data "
                        "(data.allow_incomplete; it is in the run folder)", kept)  # fmt: skip
        else:
            targets.append(kept)
    for slot in predictions or {}:
        record["scores"][slot]["predictions"] = predictions_file(stem, slot)
    written: list[Path] = []
    errors: list[OSError] = []
    for path in targets:
        document = json.loads(json.dumps(record, default=str))
        try:
            for slot, rounds in (predictions or {}).items():
                written += save_predictions(path.parent / record["scores"][slot]["predictions"], rounds)
        except OSError as error:
            errors.append(error)
            for result in document["scores"].values():
                result.pop("predictions", None)
        try:
            write_json(path, document)
            written.append(path)
        except OSError as error:
            errors.append(error)
    lines = [line for error in errors if (line := storage_problem(error)) is not None]
    if errors and (problems is None or len(lines) < len(errors)):
        raise errors[0]
    if problems is not None:
        problems += lines
    return written


def _incomplete(counts: dict[str, Any]) -> bool:
    """Whether a partition has a shard that could not be read to its end (``data.allow_incomplete``)."""
    return any(isinstance(count, dict) and count.get("incomplete") for count in counts.values())


def read_or_none(path: Path, read_as: Callable[[Any], Any] = lambda document: document) -> Any:
    """The JSON file as ``read_as`` reads it; None where none was written, or it is not one (not a record)."""
    try:
        return read_as(read_json(path))
    except (OSError, ValueError):
        return None


def predictions_of(record: Record, slot: str) -> dict[str, Predictions] | None:
    """The per-sample predictions a loaded record names for ``slot``; None where it has none."""
    name = record.scores[slot].predictions if slot in record.scores else None
    if not name or record.path is None:
        return None
    path = Path(record.path).parent / name
    return load_predictions(path) if path.exists() else None


def load_records(folder: Path, unreadable: list[str] | None = None) -> list[Record]:
    """Every result record below ``folder`` (schema 1 and 2), oldest first; files that cannot be read go to
    ``unreadable``."""
    records, problems = [], [] if unreadable is None else unreadable
    for path in sorted(folder.rglob("*.json")):
        try:
            document = read_json(path)
        except (OSError, ValueError) as error:
            problems.append(f"{path}: {error}")
            continue
        if not isinstance(document, dict) or "scores" not in document:
            continue
        if document.get("schema") not in READABLE_SCHEMAS:
            problems.append(
                f"{path}: record schema {document.get('schema')!r}, this xares-report reads schema "
                f"{', '.join(map(str, READABLE_SCHEMAS))} (a newer or hand-edited record; update xares-hydra)"
            )
            continue
        try:
            records.append(Record.model_validate({"path": str(path), **document}))
        except ValidationError as error:
            problems.append(f"{path}: not a result record: {error}")
    return sorted(records, key=lambda record: record.created)


@dataclass
class StageClock:
    """Wall-clock seconds per pipeline stage, for the record."""

    timings: dict[str, float] = field(default_factory=dict)
    stage: str = "setup"
    started: float = field(default_factory=time.perf_counter)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started, self.stage = time.perf_counter(), stage
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - started


@contextmanager
def recorded(
    record: Record, output_dir: Path | None, results_root: Path | None, redact: bool = False
) -> Iterator[StageClock]:
    """Times a run's stages, turns errors into the record's status and writes it (``redact``: shareable, see
    report/redact.py); only a scored record goes to ``results_root``, so a good result there is never replaced by
    a failed or empty one."""
    clock = StageClock()
    try:
        yield clock
    except (KeyboardInterrupt, Interrupted) as interrupt:
        record.status, record.reason = Status.FAILED, f"interrupted during {clock.stage}"
        number = interrupt.exit_code - 128 if isinstance(interrupt, Interrupted) else signal.SIGINT
        raise Interrupted(clock.stage, number) from None
    except XaresError as error:
        record.status, record.reason = error.status, str(error)
        level = logging.WARNING if error.status == Status.SKIPPED else logging.ERROR
        log.log(level, "%s (%s): %s", record.task.name, error.status, error)
    except Exception as error:  # a full or read-only disk is one line; anything else goes on with its traceback
        problem = storage_problem(error) if isinstance(error, OSError) else None
        record.status, record.reason = Status.FAILED, problem or f"{type(error).__name__}: {error}"
        if problem is None:
            raise
        log.error("%s (failed): %s", record.task.name, problem)
    finally:
        record.timings = dict(clock.timings, total=time.perf_counter() - clock.started)
        record.document = redact_record(record.written()) if redact else record.written()
        scored = record.status == Status.OK and bool(record.scores)
        keep, predictions = (results_root, record.predictions) if scored else (None, None)
        for path in write_record(record.document, output_dir, keep, predictions, record.write_problems):
            log.info("Wrote %s", path)
        for problem in record.write_problems:
            log.error("%s (failed): %s", record.task.name, problem)


def storage_problem(error: OSError) -> str | None:
    """One line for a full, read-only or forbidden filesystem, naming the path; None for other OS errors."""
    path = error.filename or "?"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = f"{shutil.disk_usage(Path(path).parent).free / 1e6:.1f} MB free there"
        except OSError:
            free = "free space unknown"
        size = getattr(error, BYTES_TO_WRITE, None)
        writing = f"{size:,} bytes to write, " if isinstance(size, int) else ""
        return f"disk full writing {path} ({writing}{free}); free space or point paths.* at a larger disk"
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"cannot write {path}: {error.strerror}; point paths.* at a writable folder"
    return None


if __name__ == "__main__":
    print(json.dumps(record_schema(), indent=2))

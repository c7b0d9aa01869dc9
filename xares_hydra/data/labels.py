"""Label rules: registered functions turning a sample's JSON into a target; a rule's ``kind`` tells the heads
what the targets are (class index, multi-hot vector, number, events, captions or text)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xares_hydra.errors import ConfigError, LabelError
from xares_hydra.registry import Registry

SINGLE, MULTI, REGRESSION = "single", "multi", "regression"
EVENTS, CAPTIONS, TRANSCRIPT = "events", "captions", "transcript"


@dataclass(frozen=True)
class LabelSpec:
    rule: str
    key: str | None = None
    classes: tuple[Any, ...] | None = None
    num_classes: int | None = None
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int | None:
        return len(self.classes) if self.classes is not None else self.num_classes

    @property
    def class_count(self) -> int:
        """The number of classes, for rules and heads that need it (``validate_spec`` has checked it is set)."""
        if self.n_classes is None:
            raise ConfigError(f"label rule {self.rule!r} needs task.label.classes or num_classes")
        return self.n_classes

    @property
    def kind(self) -> str:
        return rule_of(self.rule).kind

    def class_index(self, value: Any) -> int:
        lookup = {str(name).strip(): index for index, name in enumerate(self.classes or ())}
        name = str(value).strip()
        if name not in lookup:
            raise LabelError(f"label value {value!r} is not one of the task's {len(lookup)} classes")
        return lookup[name]


@dataclass(frozen=True)
class LabelRule:
    name: str
    convert: Callable[[Any, LabelSpec], Any]
    kind: str
    needs_classes: bool = False


LABEL_RULES: Registry[LabelRule] = Registry("label rule", "task.label.rule")
rule_of = LABEL_RULES.get
# ``@label_rule(name, kind, needs_classes=...)`` registers a label rule
label_rule = LABEL_RULES.decorator(LabelRule)


def validate_spec(spec: LabelSpec, task_name: str, classes_from_source: bool = False) -> None:
    rule = rule_of(spec.rule)
    if rule.needs_classes and not spec.n_classes and not classes_from_source:
        raise ConfigError(f"task {task_name}: label rule {spec.rule!r} needs task.label.classes or num_classes")
    if spec.rule == "targets" and "keys" not in spec.args:
        raise ConfigError(f"task {task_name}: label rule 'targets' needs task.label.args.keys (the target fields)")
    if rule.kind == REGRESSION:
        target_keys(spec)


def convert_labels(raws: Sequence[Any], spec: LabelSpec) -> tuple[list[Any], list[tuple[int, str]]]:
    """Targets for every sample, and (index, reason) for the samples whose labels do not fit."""
    rule = rule_of(spec.rule)
    targets: list[Any] = []
    problems: list[tuple[int, str]] = []
    for index, raw in enumerate(raws):
        try:
            targets.append(rule.convert(raw, spec))
        except (LabelError, KeyError, TypeError, ValueError) as exn:
            targets.append(None)
            problems.append((index, f"label field {exn.args[0]!r} missing" if isinstance(exn, KeyError) else str(exn)))
    return targets, problems


def split_names(value: Any, separator: str | None) -> list[str]:
    """Class names given as a list or as one text joined by ``separator``, blanks dropped."""
    names = value if isinstance(value, list) else str(value).split(separator) if separator else [value]
    return [str(name).strip() for name in names if str(name).strip()]


def _field(raw: Any, spec: LabelSpec) -> Any:
    if spec.key is None:
        return raw
    if not isinstance(raw, dict):
        raise LabelError(f"labels are a {type(raw).__name__}, expected an object with field {spec.key!r}")
    return raw[spec.key]


@label_rule("class_map", SINGLE, needs_classes=True)
def class_map(raw: Any, spec: LabelSpec) -> int:
    """The field holds a class name (or value) from ``classes``; target = its position."""
    return spec.class_index(_field(raw, spec))


@label_rule("as_int", SINGLE, needs_classes=True)
def as_int(raw: Any, spec: LabelSpec) -> int:
    """The field holds the class index itself (ESC-50's 0..49, LibriCount's speaker count)."""
    value = int(_field(raw, spec))
    if not 0 <= value < spec.class_count:
        raise LabelError(f"class index {value} outside 0..{spec.class_count - 1}")
    return value


@label_rule("binary_match", SINGLE)
def binary_match(raw: Any, spec: LabelSpec) -> int:
    """``args.match`` -> ``args.index`` (default 0), anything else -> the other class."""
    index = int(spec.args.get("index", 0))
    return index if str(_field(raw, spec)) == str(spec.args["match"]) else 1 - index


@label_rule("multi_hot", MULTI, needs_classes=True)
def multi_hot(raw: Any, spec: LabelSpec) -> np.ndarray:
    """The field holds class names joined by ``args.separator`` (';' by default) or a list."""
    target = np.zeros(spec.class_count, dtype=np.float32)
    for name in split_names(_field(raw, spec), spec.args.get("separator", ";")):
        target[spec.class_index(name)] = 1.0
    return target


@label_rule("as_float", REGRESSION)
def as_float(raw: Any, spec: LabelSpec) -> float:
    value = float(_field(raw, spec))
    if not np.isfinite(value):
        raise LabelError(f"regression target {value} is not finite")
    return value


@label_rule("targets", REGRESSION)
def targets(raw: Any, spec: LabelSpec) -> np.ndarray:
    """One float per name in ``args.keys`` (speechocean762's accuracy, fluency, ...), in that order."""
    if not isinstance(raw, dict):
        raise LabelError(f"labels are a {type(raw).__name__}, expected an object with fields {target_keys(spec)}")
    values = np.array([float(raw[key]) for key in target_keys(spec)], dtype=np.float32)
    if not np.isfinite(values).all():
        raise LabelError(f"regression targets {values.tolist()} are not all finite")
    return values


def target_keys(spec: LabelSpec) -> list[str]:
    """The names of a regression task's targets: ``args.keys`` (rule ``targets``), else the one ``key``."""
    if (keys := spec.args.get("keys")) is None:
        return [spec.key or "target"]
    if isinstance(keys, str) or not keys:
        raise ConfigError(f"task.label.args.keys={keys!r}: give a non-empty list of target field names")
    return [str(key) for key in keys]


@label_rule("events", EVENTS, needs_classes=True)
def events(raw: Any, spec: LabelSpec) -> list[tuple[float, float, int]]:
    """Events ``{onset, offset, label}`` (field names from ``args``; a label may name several classes joined by
    ``args.separator``) as (onset s, offset s, class index) triples."""
    onset_key, offset_key, label_key = (spec.args.get(name, name) for name in ("onset", "offset", "label"))
    triples: list[tuple[float, float, int]] = []
    for event in _field(raw, spec):
        onset, offset = float(event[onset_key]), float(event[offset_key])
        if not (np.isfinite(onset) and np.isfinite(offset)) or offset < onset or onset < 0:
            raise LabelError(f"event with onset {onset} and offset {offset} is not a valid interval")
        names = split_names(str(event[label_key]), spec.args.get("separator", ","))
        triples.extend((onset, offset, spec.class_index(name)) for name in names)
    return triples


@label_rule("captions", CAPTIONS)
def captions(raw: Any, spec: LabelSpec) -> list[str]:
    """Captions: a dict of caption fields, a list, or one text of captions joined by ``args.separator`` (MAEB's
    Clotho joins them with "."); empty captions are dropped."""
    value = _field(raw, spec)
    if isinstance(value, str):
        texts = value.split(spec.args["separator"]) if spec.args.get("separator") else [value]
    else:
        texts = list(value.values()) if isinstance(value, dict) else list(value)
    texts = [str(text).strip() for text in texts if str(text).strip()]
    if not texts:
        raise LabelError("no captions")
    return texts


@label_rule("transcript", TRANSCRIPT)
def transcript(raw: Any, spec: LabelSpec) -> str:
    text = str(_field(raw, spec)).strip()
    return text.lower() if spec.args.get("lowercase", True) else text

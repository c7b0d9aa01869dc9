"""Expected failures: each carries a message the user can act on and is shown without a traceback."""

from __future__ import annotations

from xares_hydra.choice import Choice


class Status(Choice):
    """How a run ended; written into every record (as its plain string value)."""

    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"


class XaresError(Exception):
    """Base class of the failures a user can fix (no data, bad config, broken encoder)."""

    status = Status.FAILED


class DataUnavailable(XaresError):
    """A dataset could not be found or fetched (offline, HTTP error, private data not placed)."""

    status = Status.UNAVAILABLE


class TaskSkipped(XaresError):
    """The task is not run on purpose (disabled upstream, private data not present)."""

    status = Status.SKIPPED


class EncoderContractError(XaresError):
    """The encoder does not follow the X-ARES encoder contract."""


class ConfigError(XaresError):
    """A config value is wrong; the message names the key."""


class LabelError(XaresError):
    """A sample's labels do not fit the task's label rule."""


class OutputNotWritten(XaresError):
    """The run's result could not be written everywhere (a full or read-only disk); each place is logged."""


class Interrupted(BaseException):
    """The run was stopped by SIGINT or SIGTERM; no record claims it finished."""

    def __init__(self, stage: str, signal_number: int) -> None:
        super().__init__(f"interrupted during {stage}; rerun the same command to resume")
        self.exit_code = 128 + signal_number


def require_number(key: str, value: object, inclusive: bool = False) -> None:
    """A setting's range check: ``ConfigError`` naming the key unless ``value`` is a number above 0 (or 0 itself,
    ``inclusive``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (value < 0 if inclusive else value <= 0):
        raise ConfigError(f"{key}={value!r}: must be a number {'>=' if inclusive else '>'} 0")

"""Checks a sweep makes once, before its first job (``on_multirun_start``, any launcher), for what its jobs
share: the network when data must be downloaded (one message listing every record), each encoder with shards
to encode (built and contract-checked once; jobs then skip their own check), and a data root holding no task
asked for. Only the basic sweeper lists its jobs in advance; other sweepers' jobs check for themselves.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from xares_hydra.atomic import read_json, write_json
from xares_hydra.config.compose_memo import ComposedJobs
from xares_hydra.config.settings import data_root, device, encode_settings, encoder_spec, plain
from xares_hydra.data.prepare import data_root_warning, find_shards
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.data.zenodo import read_ready_marker
from xares_hydra.encode.cache import EncoderCache
from xares_hydra.encode.checker import require_passing, run_checks
from xares_hydra.encode.encoder_spec import EncoderSpec, default_name
from xares_hydra.encode.loaded import loaded_encoder
from xares_hydra.errors import XaresError

log = logging.getLogger("xares")

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
CHECKS_FILE = ".sweep_checks.json"


class SweepNotStarted(XaresError):
    """A check every job depends on failed: no job is started."""


@dataclass
class SweepNeeds:
    downloads: dict[str, list[str]] = field(default_factory=dict)  # Zenodo API -> "task (record id)"
    encoders: dict[str, tuple[EncoderSpec, DictConfig]] = field(default_factory=dict)  # by encoder identity
    tasks: dict[str, TaskSpec] = field(default_factory=dict)
    data_roots: set[Path] = field(default_factory=set)


def check_sweep(config: DictConfig) -> None:
    """Raise ``SweepNotStarted`` when the network or an encoder that every job needs is missing."""
    if config.hydra.sweeper.get("_target_") != BASIC_SWEEPER:
        return
    loader = GlobalHydra.instance().config_loader()
    ComposedJobs.install(loader)
    jobs = job_overrides(config)
    log.info("Checking the sweep's %d jobs (data, network, encoders) before the first starts", len(jobs))
    needs = sweep_needs([loader.load_sweep_config(config, overrides) for overrides in jobs])
    for root in needs.data_roots:
        if warning := data_root_warning(root, sorted(needs.tasks)):
            log.warning("%s", warning)
    for api, records in needs.downloads.items():
        if (reason := unreachable(api)) is not None:
            raise SweepNotStarted(offline_message(api, reason, records))
    passed = []
    in_process = config.hydra.launcher.get("_target_") == BASIC_LAUNCHER
    for identity, (spec, job) in needs.encoders.items():
        if not job.encode.check:
            continue
        if in_process:  # the jobs run in this process: they reuse the encoder built and checked here
            loaded_encoder(spec, device(job), job.encode.autocast, check=True)
        else:
            encoder = spec.build(device(job))
            require_passing(run_checks(encoder, device(job), autocast=job.encode.autocast), spec.name)
            del encoder
        log.info("Encoder %s passes the encoder contract (checked once for the sweep)", spec.name)
        passed.append(identity)
    write_json(Path(config.hydra.sweep.dir) / CHECKS_FILE, {"contract_passed": passed})


def contract_checked(job: DictConfig, name: str, sweep_dir: Path) -> bool:
    """Whether this sweep already checked this job's encoder contract before its jobs started."""
    path = sweep_dir / CHECKS_FILE
    if not path.exists():
        return False
    try:
        spec = encoder_spec(job, TaskSpec.from_config(plain(job.task)), name=name)
    except XaresError:
        return False  # the job itself reports it
    return spec.summary()["identity"] in read_json(path).get("contract_passed", [])


def job_overrides(config: DictConfig) -> list[list[str]]:
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    arguments = params + [str(item) for item in config.hydra.overrides.task]
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    return [job for batch in BasicSweeper.split_arguments(parser.parse_overrides(arguments), None) for job in batch]


def sweep_needs(jobs: list[DictConfig]) -> SweepNeeds:
    needs = SweepNeeds()
    for job in jobs:
        if job.stage == "check":
            continue
        task = TaskSpec.from_config(plain(job.task))
        needs.tasks[task.name] = task
        needs.data_roots.add(root := data_root(job))
        directory = root / task.name
        ready = task.source != "zenodo" or read_ready_marker(directory) is not None
        if not ready:
            needs.downloads.setdefault(job.data.zenodo_api, []).append(f"{task.name} (record {task.zenodo_id})")
        if job.stage == "download" or (task.source == "local" and not directory.is_dir()):
            continue
        name = default_name(job.hydra.runtime.choices.get("encoder"), plain(job.encoder))
        try:
            spec = encoder_spec(job, task, name=name)
        except XaresError:
            continue  # a template or a bad config: that job reports it
        identity = spec.summary()["identity"]
        if identity not in needs.encoders and (not ready or _has_work(job, task, spec, directory)):
            needs.encoders[identity] = (spec, job)
    needs.downloads = {api: sorted(set(records)) for api, records in needs.downloads.items()}
    return needs


def _has_work(job: DictConfig, task: TaskSpec, spec: EncoderSpec, directory: Path) -> bool:
    settings = encode_settings(job, task)
    cache = EncoderCache(Path(job.paths.cache_root) / task.name / spec.cache_name)
    try:
        shards = sorted({shard for found in find_shards(task, directory, job.data.mini).values() for shard in found})
    except XaresError:
        return True
    return settings.force or any(not cache.is_complete(shard, settings.frames) for shard in shards)


def unreachable(api: str, timeout: float = 5.0) -> str | None:
    """None when ``api`` answers (any HTTP status), else why not."""
    try:
        urllib.request.urlopen(urllib.request.Request(api, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return None
    except (OSError, ValueError) as error:
        return str(getattr(error, "reason", None) or error)
    return None


def offline_message(api: str, reason: str, records: list[str]) -> str:
    lines = [
        f"{api} cannot be reached ({reason}), and {len(records)} task(s) of this sweep need their data downloaded:",
        *(f"  {record}" for record in records),
        "No job was started. Download them on a machine with internet (xares -m +benchmark=xares_download, or",
        "xares stage=download task=<task> for one) and point paths.data_root at them.",
    ]
    return "\n".join(lines)

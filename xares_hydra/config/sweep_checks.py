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
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig

from xares_hydra.atomic import read_json, write_json
from xares_hydra.config.compose_memo import ComposedJobs
from xares_hydra.config.settings import cache_of, data_options, data_root, device, encode_settings, encoder_spec, plain
from xares_hydra.data.prepare import DataOptions, data_root_warning, find_shards, read_ready_marker
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.demo.prefetch import DataPrefetch
from xares_hydra.encode.checker import require_passing, run_checks
from xares_hydra.encode.embed import shards_to_encode
from xares_hydra.encode.encoder_spec import EncoderSpec, default_name
from xares_hydra.encode.loaded import loaded_encoder
from xares_hydra.encode.plan import EncodePlan, plan_encode
from xares_hydra.errors import XaresError
from xares_hydra.report.summary import human_bytes

log = logging.getLogger("xares")

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
CHECKS_FILE = ".sweep_checks.json"


class SweepNotStarted(XaresError):
    """A check every job depends on failed: no job is started."""


@dataclass
class SweepNeeds:
    downloads: dict[str, set[str]] = field(default_factory=dict)  # Zenodo API -> "task (record id)"
    encoders: dict[str, tuple[EncoderSpec, DictConfig]] = field(default_factory=dict)  # by encoder identity
    task_names: set[str] = field(default_factory=set)
    data_roots: set[Path] = field(default_factory=set)
    # generated tasks whose data are not there yet, by data folder, in job order (``DataPrefetch`` writes them)
    generate: dict[Path, tuple[TaskSpec, Path, DataOptions]] = field(default_factory=dict)
    # the jobs with shards to encode, by encoder identity; jobs that cannot be planned (their data are not there
    # yet, their encoder does not build) are only counted
    work: dict[str, list[tuple[DictConfig, TaskSpec, EncoderSpec, list[Path]]]] = field(default_factory=dict)
    unplanned: int = 0


def check_sweep(config: DictConfig, prefetch: DataPrefetch | None = None) -> None:
    """Raise ``SweepNotStarted`` when the network or an encoder that every job needs is missing. From when the
    network is known to answer, ``prefetch`` prepares the generated tasks' data in the background."""
    if config.hydra.sweeper.get("_target_") != BASIC_SWEEPER:
        return
    loader = GlobalHydra.instance().config_loader()
    ComposedJobs.install(loader)
    jobs = job_overrides(config)
    log.info("Checking the sweep's %d jobs (data, network, encoders) before the first starts", len(jobs))
    needs = sweep_needs([loader.load_sweep_config(config, overrides) for overrides in jobs])
    for root in needs.data_roots:
        if warning := data_root_warning(root, sorted(needs.task_names)):
            log.warning("%s", warning)
    for api, records in needs.downloads.items():
        if (reason := unreachable(api)) is not None:
            raise SweepNotStarted("\n".join([
                f"{api} cannot be reached ({reason}), and {len(records)} task(s) of this sweep need their data "
                "downloaded:",
                *(f"  {record}" for record in sorted(records)),
                "No job was started. Download them on a machine with internet (xares -m +benchmark=xares_download, or",
                "xares stage=download task=<task> for one) and point paths.data_root at them.",
            ]))  # fmt: skip
    if prefetch is not None:
        prefetch.start(list(needs.generate.values()))
    passed: list[str] = []
    plans: dict[str, EncodePlan] = {}
    in_process = config.hydra.launcher.get("_target_") == BASIC_LAUNCHER
    for identity, (spec, job) in needs.encoders.items():
        encoder = None  # built once, for the contract check and the disk estimate
        if job.encode.check:
            encoder = _built(spec, job, in_process, check=True)
            log.info("Encoder %s passes the encoder contract (checked once for the sweep)", spec.name)
            passed.append(identity)
        plans.update(planned_caches(needs, needs.work.get(identity, []), encoder, in_process))
        del encoder
    if plans or needs.unplanned:
        disk_check(list(plans.values()), needs.unplanned)
    estimates = {folder: plan.encode_seconds for folder, plan in plans.items()}
    write_json(Path(config.hydra.sweep.dir) / CHECKS_FILE, {"contract_passed": passed, "encode_seconds": estimates})


def planned_caches(
    needs: SweepNeeds, jobs: list[tuple[DictConfig, TaskSpec, EncoderSpec, list[Path]]], encoder: Any, in_process: bool
) -> dict[str, EncodePlan]:
    """Each cache one encoder's jobs write, planned as ``stage=plan`` does (size and a probe batch's encode time),
    with ``encoder`` where the checks built it. An estimate never stops a sweep: jobs whose encoder or shards
    cannot be planned are counted as not planned (``needs.unplanned``) and report their own errors when they run."""
    if not jobs:
        return {}
    spec, first = jobs[0][2], jobs[0][0]
    try:
        encoder = _built(spec, first, in_process, check=False) if encoder is None else encoder
    except Exception as err:
        log.info("%s: not in the disk estimate (%s: %s)", spec.name, type(err).__name__, err)
        needs.unplanned += len(jobs)
        return {}
    plans: dict[str, EncodePlan] = {}
    for job, task, spec, shards in jobs:
        cache = cache_of(job, task, spec)
        if str(cache.root) in plans:
            continue
        try:
            plans[str(cache.root)] = plan_encode(
                task.name, spec.name, encoder, shards, cache, encode_settings(job, task), device(job)
            )
        except Exception as err:
            log.info("%s on %s: not in the disk estimate (%s: %s)", spec.name, task.name, type(err).__name__, err)
            needs.unplanned += 1
    return plans


def _built(spec: EncoderSpec, job: DictConfig, in_process: bool, check: bool) -> Any:
    """The encoder, contract-checked if ``check``; where the jobs run in this process, the one they will reuse."""
    if in_process:
        return loaded_encoder(spec, device(job), job.encode.autocast, check=check).encoder
    encoder = spec.build(device(job))
    if check:
        require_passing(run_checks(encoder, device(job), autocast=job.encode.autocast), spec.name)
    return encoder


def disk_check(plans: list[EncodePlan], unplanned: int) -> bool:
    """One line before the first job: the disk the jobs' caches need (estimate) against the free space; a
    warning, with what to do, when it will not hold them. Whether it does."""
    need = sum(plan.bytes_to_write for plan in plans)
    free = min((plan.free_bytes for plan in plans), default=0)
    where = ", ".join(sorted({str(Path(plan.cache_dir).parent.parent) for plan in plans}))
    folders = f"{len(plans)} cache folder{'s' * (len(plans) != 1)}"
    line = f"the sweep's caches need about {human_bytes(need)} (estimate, {folders})"
    if unplanned:
        line += f", not counting {unplanned} jobs it could not plan (data not there yet, or an encoder that failed)"
    if plans and need > free:
        log.warning("%s, but only %s is free at %s: free space there, point paths.cache_root at a larger disk, "
                    "or halve the frames with encode.store_dtype=float16", line, human_bytes(free), where)  # fmt: skip
        return False
    log.info("%s; %s free at %s", line, human_bytes(free), where or "-")
    return True


def planned_encode_seconds(cache_dir: Path) -> float | None:
    """The encode time this sweep's checks estimated for a job's cache (None outside a sweep or unplanned)."""
    if not HydraConfig.initialized() or (hydra := HydraConfig.get()).mode != RunMode.MULTIRUN:
        return None
    path = Path(hydra.sweep.dir) / CHECKS_FILE
    return read_json(path).get("encode_seconds", {}).get(str(cache_dir)) if path.exists() else None


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
        needs.task_names.add(task.name)
        needs.data_roots.add(root := data_root(job))
        directory = root / task.name
        if task.generator is not None and job.stage != "plan" and read_ready_marker(directory) is None:
            needs.generate.setdefault(directory, (task, root, data_options(job)))
        ready = task.source != "zenodo" or read_ready_marker(directory) is not None
        if not ready:
            needs.downloads.setdefault(job.data.zenodo_api, set()).add(f"{task.name} (record {task.zenodo_id})")
        if job.stage == "download" or (task.source == "local" and not directory.is_dir()):
            continue
        name = default_name(job.hydra.runtime.choices.get("encoder"), plain(job.encoder))
        try:
            spec = encoder_spec(job, task, name=name)
        except XaresError:
            continue  # a template or a bad config: that job reports it
        identity = spec.summary()["identity"]
        shards = _shards_to_encode(job, task, spec, directory) if ready else None  # None: not known yet
        if shards is None or shards:
            needs.encoders.setdefault(identity, (spec, job))
        if shards is None and job.stage in ("all", "encode"):
            needs.unplanned += 1
        elif shards and job.stage in ("all", "encode"):
            needs.work.setdefault(identity, []).append((job, task, spec, shards))
    return needs


def _shards_to_encode(job: DictConfig, task: TaskSpec, spec: EncoderSpec, directory: Path) -> list[Path] | None:
    """The job's shards its cache lacks (None: its shards cannot be listed yet)."""
    try:
        shards = sorted({shard for found in find_shards(task, directory, job.data.mini).values() for shard in found})
    except XaresError:
        return None
    return shards_to_encode(cache_of(job, task, spec), shards, encode_settings(job, task))


def unreachable(api: str, timeout: float = 5.0) -> str | None:
    """None when ``api`` answers (any HTTP status), else why not."""
    try:
        urllib.request.urlopen(urllib.request.Request(api, method="HEAD"), timeout=timeout).close()
    except (OSError, ValueError) as error:  # an HTTP error is an answer
        return None if isinstance(error, urllib.error.HTTPError) else str(getattr(error, "reason", None) or error)
    return None

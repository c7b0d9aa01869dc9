"""The config tree as users compose it: every option of every group, typed schemas, help, errors."""

import json
from pathlib import Path

import pytest
import torch
from helpers.cli import REPO, composed, composed_options, run_xares
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

import xares_hydra.config.schema  # noqa: F401
from xares_hydra.choice import Choice
from xares_hydra.config.instantiate import build_encoder
from xares_hydra.config.settings import encode_settings, head_settings
from xares_hydra.config.validate import validate_config
from xares_hydra.data.taskspec import TaskSchema, TaskSpec
from xares_hydra.errors import ConfigError
from xares_hydra.report.leaderboard import StatisticsSettings

CONF = REPO / "conf"


def options(group: str) -> list[str]:
    return sorted(path.relative_to(CONF / group).with_suffix("").as_posix() for path in (CONF / group).rglob("*.yaml"))


@pytest.mark.parametrize("name", composed_options(options("task")))
def test_every_task_composes_into_a_valid_task_spec(name):
    cfg = composed(f"task={name}")
    task = TaskSpec.from_config(OmegaConf.to_container(cfg.task, resolve=True))
    planned = name.startswith("xares_planned/")  # X-ARES's planned tasks keep the name X-ARES gives them
    assert task.name == (name.split("/")[1] if planned else name.replace("/", "_")), "demo/x is demo_x"
    assert task.partitions
    assert task.eval_weight > 0 or task.task_type == "regression", "an MSE stays out of the weighted averages"
    # a Hugging Face dataset or a HEAR folder names its classes when its data is read
    classes_from_source = task.source in ("huggingface", "hear")
    assert task.label.n_classes or classes_from_source or task.label.kind in ("captions", "transcript", "regression")
    assert head_settings(cfg).lr == cfg.task.learning_rate
    encode_settings(cfg, task)


@pytest.mark.parametrize("name", ["mel", "noise"])
def test_builtin_encoders_instantiate_with_the_contract(name):
    encoder = build_encoder(composed(f"encoder={name}").encoder)
    assert encoder.sampling_rate == 16000
    assert encoder.output_dim == 64
    assert encoder.hop_size_in_ms == 10


@pytest.mark.parametrize("name", options("head"))
def test_head_options(name):
    cfg = composed(f"head={name}", "task=esc50")
    settings = head_settings(cfg)
    assert settings.mlp == (name != "knn")
    assert settings.knn == (name not in ("mlp", "logreg"))
    assert settings.epochs == 10
    assert settings.batch_size == 32


def test_head_settings_follow_the_task_until_overridden():
    cfg = composed("task=asvspoof2015")
    assert (cfg.head.lr, cfg.head.epochs, cfg.head.batch_size) == (1e-3, 5, 64)
    assert composed("task=asvspoof2015", "head.lr=1e-2").head.lr == 1e-2


def test_typed_schemas_reject_wrong_types_at_compose_time():
    with pytest.raises(ConfigCompositionException) as error:
        composed("head.lr=abc")
    assert isinstance(error.value.__cause__, ValidationError)
    with pytest.raises(ConfigCompositionException):
        composed("task.epochs=many")
    with pytest.raises(ConfigCompositionException):
        composed("task.epoch=3")  # a typo is not silently added


def test_closed_choices_are_enum_members_that_print_their_value():
    cfg = composed("task=demo/timbre", "encode.autocast=bf16", "encode.store_dtype=float16", "head.probe=logreg")
    encode, head = encode_settings(cfg, TaskSpec.from_config(cfg.task)), head_settings(cfg)
    choices = (encode.batching, encode.autocast, encode.store_dtype, encode.clip_dtype, head.probe, cfg.stage)
    assert all(isinstance(choice, Choice) for choice in choices)
    expected = ["auto", "bf16", "float16", "float32", "logreg", "all"]
    assert [str(choice) for choice in choices] == [f"{choice}" for choice in choices] == expected
    logged = ["%s" % choice for choice in choices]  # noqa: UP031  (as logging formats its arguments)
    assert logged == [format(choice, "") for choice in choices] == expected
    assert json.dumps(list(choices)) == json.dumps(expected)


def test_the_report_group_is_the_statistics_settings_of_xares_report():
    report = StatisticsSettings(**composed("report.alpha=0.01", "report.confidence=0.9").report)
    assert report == StatisticsSettings(resamples=1000, seed=0, confidence=0.9, alpha=0.01)
    with pytest.raises(ConfigCompositionException):
        composed("report.alph=0.01")


def test_a_task_without_a_label_rule_names_the_missing_key():
    with pytest.raises(ConfigError, match=r"task t: task\.label\.rule: .*missing mandatory value"):
        TaskSpec.from_config({"name": "t", "label": {"key": "y"}})


def test_task_defaults_come_from_the_schema():
    task = TaskSpec.from_config({"name": "t", "label": {"rule": "as_float", "key": "y"}, "zenodo_id": 123})
    assert task.metric == TaskSchema.metric
    assert task.batch_size_encode == TaskSchema.batch_size_encode
    assert task.zenodo_id == "123", "Zenodo ids written as numbers are record ids as text"
    assert task.partitions == {"train": "train*.tar", "valid": "valid*.tar", "test": "test*.tar"}


def test_paths_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("XARES_ROOT", str(tmp_path))
    monkeypatch.setenv("XARES_CACHE_ROOT", str(tmp_path / "elsewhere"))
    cfg = composed()
    assert cfg.paths.data_root == str(tmp_path / "data")
    assert cfg.paths.cache_root == str(tmp_path / "elsewhere")
    assert composed("paths.results_root=/x/y").paths.results_root == "/x/y"


def test_help_lists_the_config_groups(xares_root):
    result = run_xares("--help", root=xares_root)  # the console script's quick help: no torch, no composing
    for group in ("task:", "encoder:", "head:", "compat:", "paths:"):
        assert group in result.stdout
    assert "esc50" in result.stdout and "demo/sounds" in result.stdout and "schema" not in result.stdout


def test_help_with_overrides_shows_the_composed_config(xares_command, xares_root):
    code, out, _ = xares_command("task=esc50", "--help", root=xares_root)  # Hydra's help, with the composed config
    assert code == 0 and "encoder:" in out and "name: esc50" in out


def test_cfg_job_shows_the_composed_config(xares_command, xares_root):
    code, out, _ = xares_command("--cfg", "job", "task=esc50", "encoder=mel", root=xares_root)
    cfg = OmegaConf.create(out)
    assert code == 0 and cfg.task.name == "esc50"
    assert cfg.encoder._target_ == "xares_hydra.encoders.mel.MelEncoder"


def test_unknown_task_or_encoder_lists_the_available_ones(xares_command):
    code, _, err = xares_command("task=esc5O")
    assert code != 0
    assert "esc50" in err
    assert "Traceback" not in err
    _, _, err = xares_command("encoder=whisperr")
    assert "mel" in err
    assert "noise" in err


def test_config_tree_ships_inside_the_package():
    import xares_hydra.conf

    shipped = Path(xares_hydra.conf.__file__).parent
    assert (shipped / "config.yaml").exists()
    assert (shipped / "task" / "esc50.yaml").exists()


@pytest.mark.slow
def test_a_regular_wheel_install_finds_the_configs_and_claims_no_generic_name(tmp_path):
    """Without the editable install's finder: the wheel alone, on top of the dependencies."""
    import shutil
    import site
    import subprocess
    import sys

    # built from a copy: a build/ folder left in the checkout by an earlier build would leak stale files
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "wheel"), source],
                   check=True)  # fmt: skip
    wheel = next((tmp_path / "wheel").glob("*.whl"))
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True)  # fmt: skip
    # bin/ holds the console scripts; everything else is an importable top-level name
    top_level = sorted(p.name for p in target.iterdir() if p.name != "bin" and not p.name.endswith(".dist-info"))
    assert top_level == ["xares_hydra"], "the wheel installs only the xares_hydra package (no top-level encoders)"

    groups = sorted(path.name for path in CONF.iterdir() if path.is_dir() and path.name != "__pycache__")
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import importlib, json, pathlib, sys\n"
        f"sys.path[:0] = [{str(target)!r}]\n"
        f"sys.path += {site.getsitepackages()!r}\n"
        "import xares_hydra.main, xares_hydra.config.schema\n"
        "from hydra import compose, initialize_config_module\n"
        "initialize_config_module('xares_hydra.conf', version_base='1.3').__enter__()\n"
        "cfg = compose('config', overrides=['task=esc50', 'encoder=whisper'])\n"
        "conf = pathlib.Path(importlib.import_module('xares_hydra.conf').__file__).parent\n"
        "print(json.dumps({'main': xares_hydra.main.__file__, 'task': cfg.task.name,\n"
        "    'target': cfg.encoder._target_, 'mel': importlib.import_module('xares_hydra.encoders.mel').__file__,\n"
        f"    'groups': {{g: len(list((conf / g).rglob('*.yaml'))) for g in {groups!r}}}}}))\n"
    )
    # -S: no site-packages processing, so the editable install's finder is not there
    result = subprocess.run([sys.executable, "-S", str(probe)], capture_output=True, text=True, check=True)
    found = json.loads(result.stdout)
    assert found["main"].startswith(str(target)), found["main"]
    assert found["mel"].startswith(str(target / "xares_hydra" / "encoders")), found["mel"]
    assert found["task"] == "esc50"
    assert found["target"] == "xares_hydra.encoders.huggingface.WhisperEncoder"
    assert found["groups"] == {group: len(list((CONF / group).rglob("*.yaml"))) for group in groups}


def test_deprecated_encoders_prefix_builds_and_shares_the_new_prefix_cache(caplog):
    from xares_hydra.encode.encoder_spec import spec_from_config

    settings = {"crop_length": None}
    old = spec_from_config("mel", {"_target_": "encoders.mel.MelEncoder"}, settings, None, builder=build_encoder)
    new = spec_from_config("mel", {"_target_": "xares_hydra.encoders.mel.MelEncoder"}, settings, None, build_encoder)
    assert "encoders.mel.MelEncoder is deprecated" in caplog.text
    assert old.target == new.target == "xares_hydra.encoders.mel.MelEncoder"
    assert old.fingerprint == new.fingerprint
    assert type(old.build(torch.device("cpu"))).__name__ == "MelEncoder"


@pytest.mark.parametrize(
    ("overrides", "frames", "layers", "batching"),
    [
        (("task=demo/timbre",), False, False, "auto"),
        (("task=demo/events",), True, False, "auto"),  # a frame task keeps its frames
        (("task=demo/timbre", "encode.keep_frames=true", "head.layer=2"), True, True, "auto"),
        (("task=demo/timbre", "encode.layers=all", "compat=xares"), False, True, "xares"),
        (("task=demo/timbre", "encode.layers=last", "head.layer=2"), False, False, "auto"),
    ],
)
def test_the_encode_group_is_the_stages_settings_with_auto_resolved(overrides, frames, layers, batching):
    cfg = composed("encoder=mel", *overrides)
    settings = encode_settings(cfg, TaskSpec.from_config(OmegaConf.to_container(cfg.task, resolve=True)))
    assert (settings.keep_frames, settings.layers, settings.batching) == (frames, layers, batching)
    assert settings.batch_size == cfg.task.batch_size_encode and settings.crop_length == cfg.task.crop_length
    # the stage's own fields (task, compat, data and encoder decide them) are no config keys
    assert {"crop_length", "limits", "min_samples", "pad_short_crops"}.isdisjoint(cfg.encode)
    with pytest.raises(ConfigError, match=r"encode.crop_length is not a setting"):
        validate_config(OmegaConf.to_container(composed("+encode.crop_length=1.0"), resolve=True))

"""CONTRIBUTING.md's worked example: adding a task is one YAML, and that YAML runs as written; its rule that test
modules share helpers through ``tests/helpers`` only."""

from __future__ import annotations

import ast
import json

from helpers.audio import clip_shard, tone
from helpers.cli import REPO

START, END = "<!-- example-task:start -->", "<!-- example-task:end -->"
PITCHES = {"low": 300.0, "high": 1800.0}


def example_yaml() -> str:
    section = (REPO / "CONTRIBUTING.md").read_text().split(START, 1)[1].split(END, 1)[0]
    return section.strip().removeprefix("```yaml").removesuffix("```")


def whistle_shards(folder, split: str, per_pitch: int, seed: int) -> None:
    clips = []
    for index in range(per_pitch):
        for pitch, frequency in PITCHES.items():
            shift = 1 + 0.05 * ((index * 7 + seed) % 5)
            clips.append((f"{split}_{pitch}_{index}", tone(0.5, frequency=frequency * shift), 16000, {"pitch": pitch}))
    clip_shard(folder / f"{split}-0.tar", clips)


def test_the_worked_example_task_is_one_yaml_that_scores(xares_root, xares_command):
    config_dir = xares_root / "my_conf"
    (config_dir / "task").mkdir(parents=True)
    (config_dir / "task" / "whistles.yaml").write_text(example_yaml())
    data = xares_root / "data" / "whistles"
    data.mkdir(parents=True)
    for seed, (split, per_pitch) in enumerate((("train", 12), ("valid", 4), ("test", 4))):
        whistle_shards(data, split, per_pitch, seed)

    assert xares_command("--config-dir", str(config_dir), "task=whistles", "encoder=mel", root=xares_root)[0] == 0

    (path,) = (xares_root / "results" / "mel" / "whistles").glob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "ok", record["reason"]
    assert record["task"]["version"] == 1
    assert record["task"]["formal_name"] == "Whistles"
    assert record["scores"]["mlp"]["score"] >= 0.75, "two pitches far apart are easy for log-mel features"
    assert [record["counts"][split]["clips"] for split in ("train", "valid", "test")] == [24, 8, 8]


def test_no_test_module_imports_another():
    """Shared helpers live in tests/helpers: a test module importing another runs that module's import-time code and
    hides where a helper lives."""
    imports = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            imports += [f"{path.name}: {name}" for name in names if name.split(".")[-1].startswith("test_")]
    assert imports == []

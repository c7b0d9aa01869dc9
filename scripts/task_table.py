#!/usr/bin/env python
"""Print the Markdown table of every task, composed from conf/task/**/*.yaml exactly as ``xares`` composes them.

    python scripts/task_table.py

README.md holds its output between ``<!-- task-table:start -->`` and ``<!-- task-table:end -->``
(tests/test_scripts.py checks that it is current): after adding or changing a task YAML, run this
script and paste its output there.
"""

from __future__ import annotations

from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from xares_hydra.config import schema  # noqa: F401  (registers the config schemas)
from xares_hydra.config.suites import task_tags
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.heads import HeadSettings, heads_for

ZENODO_RECORD_URL = "https://zenodo.org/records/{record}"
HEADER = ("Task", "Formal name", "Type", "Metric", "Eval weight", "kNN", "Source")
# X-ARES public tasks, private ones, offline demos, offline demos of the other sources
SOURCE_ORDER = ("zenodo", "local", "generated", "huggingface", "hear")
DEMO_TAGS = {"demo", "demo_sources"}


def cells(task: TaskSpec) -> tuple[str, ...]:
    knn = "knn" in heads_for(task, HeadSettings(knn=task.do_knn))
    option = task.name.replace("demo_", "demo/", 1) if DEMO_TAGS & set(task.tags) else task.name
    return (f"`{option}`", task.formal_name, task.task_type, task.metric, f"{task.eval_weight:g}",
            "yes" if knn else "no", source(task))  # fmt: skip


def order(task: TaskSpec) -> tuple[int, str]:
    return SOURCE_ORDER.index(task.source), task.name


def source(task: TaskSpec) -> str:
    if task.source == "zenodo":
        return f"Zenodo [{task.zenodo_id}]({ZENODO_RECORD_URL.format(record=task.zenodo_id)})"
    if task.source == "generated":
        return "generated (offline demo)"
    if task.source in ("huggingface", "hear"):  # the packs are listed in their own README section
        return f"generated {'Hugging Face dataset' if task.source == 'huggingface' else 'HEAR folder'} (offline demo)"
    return "private" if task.private else "local"


def composed_tasks() -> list[TaskSpec]:
    """Every option of the ``task`` config group, composed with the default config."""
    with initialize_config_module("xares_hydra.conf", version_base="1.3"):
        # task=glob(*) lists the X-ARES tasks only; this adds demo/* (other benchmarks' packs: their own section)
        names = [name for name, tags in task_tags().items() if {"xares", *DEMO_TAGS} & set(tags)]
        configs = [compose("config", overrides=[f"task={name}"]).task for name in names]
    return [TaskSpec.from_config(OmegaConf.to_container(cfg, resolve=True)) for cfg in configs]


def markdown_table(tasks: list[TaskSpec]) -> str:
    lines = [_line(HEADER), "|" + "|".join("--:" if name == "Eval weight" else ":--" for name in HEADER) + "|"]
    lines += [_line(cells(task)) for task in sorted(tasks, key=order)]
    return "\n".join(lines) + "\n"


def _line(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def main() -> None:
    print(markdown_table(composed_tasks()), end="")


if __name__ == "__main__":
    main()

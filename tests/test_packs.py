"""Other benchmarks' task packs (conf/task/hear, conf/task/maeb, conf/task/xares_planned): every YAML composes as
``xares`` composes it, with its source's facts, its tag, version and licence; the MAEB pack matches mteb's metadata."""

from __future__ import annotations

import pytest
from helpers.cli import composed

from xares_hydra.config.settings import plain
from xares_hydra.config.suites import suite_tasks, task_tags
from xares_hydra.data.taskspec import TaskSpec

PACKS = {"hear": "hear", "maeb": "huggingface", "xares_planned": "huggingface"}  # folder (= tag) -> source
PACK_TASKS = sorted(option for option in task_tags() if option.split("/")[0] in PACKS)


def pack_spec(option: str) -> TaskSpec:
    return TaskSpec.from_config(plain(composed(f"task={option}").task))


@pytest.mark.parametrize("option", PACK_TASKS)
def test_every_pack_task_composes_with_its_source_facts_tag_version_and_licence(option):
    folder = option.split("/")[0]
    task = pack_spec(option)
    assert task.tags == (folder,) and task.version >= 1 and task.license.strip(), option
    assert task.source == PACKS[folder], option
    if task.source == "huggingface":
        assert task.huggingface is not None and task.huggingface["id"], option
        if folder == "maeb":
            assert len(str(task.huggingface["revision"])) == 40, "MAEB pins every dataset to a commit"
    else:
        assert task.hear is not None and task.hear["path"].startswith("hear/"), option


def test_the_pack_suites_are_their_tags_and_not_part_of_the_xares_benchmark():
    for tag in ("hear", "maeb"):
        swept = composed(f"+benchmark={tag}", hydra=True).hydra.sweeper.params.task.split(",")
        assert sorted(swept) == sorted(suite_tasks(tag)) and all(name.startswith(f"{tag}/") for name in swept)
    assert not set(PACK_TASKS) & set(suite_tasks("xares")), "task=glob(*) and +benchmark=xares stay X-ARES's"
    assert len(suite_tasks("maeb")) >= 10 and len(suite_tasks("hear")) >= 3


@pytest.mark.slow
def test_the_maeb_pack_is_mtebs_metadata():
    mteb = pytest.importorskip("mteb", reason="the mteb package is not installed (pip install 'xares-hydra[mteb]')")
    checked = set()
    for option in suite_tasks("maeb"):
        task = pack_spec(option)
        source = task.huggingface
        assert source is not None
        name = task.formal_name.split(" (")[0]
        reference = mteb.get_task(name)
        meta = reference.metadata
        assert (source["id"], source["revision"]) == (meta.dataset["path"], meta.dataset["revision"]), option
        assert task.label.key == reference.label_column_name, option
        assert source["audio_column"] == reference.input_column_name, option
        assert source["config"] in (None, *meta.hf_subsets), option
        assert str(meta.license) == task.license, option
        checked.add(name)
    runnable = {
        t.metadata.name
        for t in mteb.get_benchmark("MAEB(v1)").tasks
        if t.metadata.type in ("AudioClassification", "AudioMultilabelClassification")
        and len(t.metadata.hf_subsets) <= 2
    }
    assert checked == runnable, "every MAEB(v1) task our heads run is in the pack (scripts/maeb_tasks.py)"

"""Other benchmarks' task packs (conf/task/hear, conf/task/maeb, conf/task/xares_planned): every YAML composes as
``xares`` composes it, with its source's facts, its tag, version and licence; the MAEB pack matches mteb's metadata."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from helpers.cli import composed

from xares_hydra.config.settings import plain
from xares_hydra.config.suites import suite_tasks, task_documents, task_tags
from xares_hydra.data.huggingface import audio_struct
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.demo.formats import shard_rows, write_huggingface
from xares_hydra.demo.tasks import generate

PACKS = {"hear": "hear", "maeb": "huggingface", "xares_planned": "huggingface"}  # folder (= tag) -> source
PACK_TASKS = sorted(option for option in task_tags() if option.split("/")[0] in PACKS)
# a task's subsets in a folder of their own (maeb/sibfleurs/<language>): the first composes for them all, the others
# are checked to be it with their own subset (test_the_subsets_of_a_task_differ_only_in_their_subset)
SUBSETS = {option.rsplit("/", 1)[0]: [] for option in PACK_TASKS if option.count("/") == 2}
for _option in PACK_TASKS:
    SUBSETS.get(_option.rsplit("/", 1)[0], []).append(_option)
COMPOSED = [option for option in PACK_TASKS if option.count("/") < 2 or option == SUBSETS[option.rsplit("/", 1)[0]][0]]


def pack_spec(option: str) -> TaskSpec:
    return TaskSpec.from_config(plain(composed(f"task={option}").task))


def written_spec(option: str) -> TaskSpec:
    """The task as its YAML writes it (its values as composed, bar the schema's defaults), without Hydra."""
    return TaskSpec.from_config({key: value for key, value in task_documents()[option].items() if key != "defaults"})


def caption_table(folder: Path, out: Path) -> Path:
    """The demo captions task as MAEB's Clotho table: one ``test`` split of index, audio and the five captions
    joined by "." in one text column, saved as ``save_to_disk`` writes a hub dataset fetched by hand."""
    datasets = pytest.importorskip("datasets")
    rows = shard_rows(generate("captions", folder, 0, {"train": 60, "valid": 20, "test": 20}))
    columns = {
        "index": [row["key"] for row in rows],
        "audio": [{"bytes": row["audio"], "path": f"{row['key']}.{row['ext']}"} for row in rows],
        "text": [". ".join(row[f"caption_{n}"] for n in range(1, 6)) + "." for row in rows],
    }
    features = datasets.Features({"index": datasets.Value("string"), "audio": audio_struct(),
                                  "text": datasets.Value("string")})  # fmt: skip
    table = datasets.Dataset.from_dict(columns, features=features).cast_column("audio", datasets.Audio())
    datasets.DatasetDict({"test": table}).save_to_disk(str(out))
    return out


@pytest.mark.parametrize("option", COMPOSED)
def test_every_pack_task_composes_with_its_source_facts_tag_version_and_licence(option):
    folder = option.split("/")[0]
    task = pack_spec(option)
    assert task.tags == (folder,) and task.version >= 1 and task.license.strip(), option
    assert task.corpus, f"{option} names its source corpus (the training-data overlap check reads it)"
    assert task.source == PACKS[folder], option
    if task.source == "huggingface":
        assert task.huggingface is not None and task.huggingface["id"], option
        if folder == "maeb":
            assert len(str(task.huggingface["revision"])) == 40, "MAEB pins every dataset to a commit"
    else:
        assert task.hear is not None and task.hear["path"].startswith("hear/"), option


def test_the_subsets_of_a_task_differ_only_in_their_subset():
    assert {"maeb/minds14", "maeb/sibfleurs"} <= set(SUBSETS)
    for folder, options in SUBSETS.items():
        first = task_documents()[options[0]]
        for option in options:
            document = task_documents()[option]
            subset = document["huggingface"]["config"]
            assert option.rsplit("/", 1)[1] == document["name"].removeprefix(f"maeb_{folder.split('/')[1]}_"), option
            assert document["formal_name"].endswith(f" ({subset})"), option
            same = {**document, "name": first["name"], "formal_name": first["formal_name"],
                    "huggingface": {**document["huggingface"], "config": first["huggingface"]["config"]}}  # fmt: skip
            assert same == first, option
        assert len({task_documents()[option]["huggingface"]["config"] for option in options}) == len(options)


def test_the_pack_suites_are_their_tags_and_not_part_of_the_xares_benchmark():
    for tag in ("hear", "maeb"):
        swept = composed(f"+benchmark={tag}", hydra=True).hydra.sweeper.params.task.split(",")
        assert sorted(swept) == sorted(suite_tasks(tag)) and all(name.startswith(f"{tag}/") for name in swept)
    assert not set(PACK_TASKS) & set(suite_tasks("xares")), "task=glob(*) and +benchmark=xares stay X-ARES's"
    assert len(suite_tasks("maeb")) >= 10 and len(suite_tasks("hear")) >= 3


@pytest.mark.slow
def test_the_maeb_retrieval_task_runs_from_a_local_caption_table_through_the_retrieval_head(
    tmp_path, xares_root, xares_run
):
    table = caption_table(tmp_path / "shards", tmp_path / "clotho")
    small_probe = (  # the demo captions task's small probe and download-free tokenizer
        "task.head_args.tokenizer=builtin",
        "+task.head_args.vocab_size=1024",
        "+task.head_args.embed_dim=64",
        "task.head_args.hidden_dim=256",
        "task.batch_size_train=64",
        "task.epochs=5",
    )
    scores = {}
    for encoder in ("mel", "noise"):
        record, _ = xares_run("task=maeb/clothot2aretrieval", f"task.huggingface.local_dir={table}", *small_probe,
                              f"encoder={encoder}", root=xares_root)  # fmt: skip
        assert record["status"] == "ok", record
        assert record["task"]["kfold"] and record["task"]["corpus"] == ["Clotho"]
        scores[encoder] = record["scores"]["mlp"]["score"]
    # five folds of 20 clips: recall@1 by chance is about 1/20
    assert scores["mel"] > 0.15 > scores["noise"] + 0.05, scores


@pytest.mark.slow
def test_the_maeb_pack_is_mtebs_metadata():
    mteb = pytest.importorskip("mteb", reason="the mteb package is not installed (pip install 'xares-hydra[mteb]')")
    checked = set()
    subsets: dict[str, set[str | None]] = {}
    weights: dict[str, float] = {}
    for option in suite_tasks("maeb"):
        task = written_spec(option)
        source = task.huggingface
        assert source is not None
        name = task.formal_name.split(" (")[0]
        reference = mteb.get_task(name)
        meta = reference.metadata
        assert (source["id"], source["revision"]) == (meta.dataset["path"], meta.dataset["revision"]), option
        assert source["config"] in (None, meta.dataset.get("name"), *meta.hf_subsets), option
        if len(meta.hf_subsets) > 1:  # one YAML per subset (a language, a configuration)
            subsets.setdefault(name, set()).add(source["config"])
            assert task.formal_name == f"{name} ({source['config']})", option
            weights[name] = weights.get(name, 0) + task.eval_weight
        assert str(meta.license) == task.license, option
        assert task.corpus, f"{option} names the corpus its audio comes from"
        if task.task_type == "contrastive":  # a caption table: the columns mteb's own loader reads
            loader = inspect.getsource(type(reference).load_data)
            assert f'split="{source["folds_from"]}"' in loader and source["folds_from"] in meta.eval_splits, option
            assert f'select_columns(["{source["key_column"]}", "{source["audio_column"]}"])' in loader, option
            assert f'row["{task.label.key}"].split("{task.label.args["separator"]}")' in loader, option
        else:
            assert task.label.key == reference.label_column_name, option
            assert source["audio_column"] == reference.input_column_name, option
        checked.add(name)
    maeb = mteb.get_benchmark("MAEB(v1)").tasks
    runnable = {t.metadata.name for t in maeb if t.metadata.type in ("AudioClassification",
                                                                     "AudioMultilabelClassification")}  # fmt: skip
    several = {t.metadata.name: set(t.metadata.hf_subsets) for t in maeb if t.metadata.name in runnable and
               len(t.metadata.hf_subsets) > 1}  # fmt: skip
    assert subsets == several, "a task with several subsets has a YAML for each"
    assert {"MInDS14", "SIBFLEURS"} <= set(several)
    assert all(weight == pytest.approx(1, abs=1e-4) for weight in weights.values()), weights
    # audio-text retrieval whose loader reads one table of clips and captions (the others join corpus, queries and
    # qrels tables, which task.huggingface does not read)
    captions = {t.metadata.name for t in maeb if t.metadata.type == "Any2AnyRetrieval" and "select_columns" in
                inspect.getsource(type(t).load_data) and "audio" in t.metadata.modalities}  # fmt: skip
    assert captions == {"ClothoT2ARetrieval"}
    assert checked == runnable | captions, "every MAEB(v1) task our heads run is in the pack (scripts/maeb_tasks.py)"


def hub_snapshot(folder: Path, out: Path, configs: dict[str, dict[str, str]]) -> Path:
    """The demo timbre task as a hub dataset with several configurations, as ``hf download`` leaves it: a README whose
    ``configs`` name each one's parquet files, its label column renamed (config -> {split: the timbre split})."""
    datasets = pytest.importorskip("datasets")
    shards = generate("timbre", folder, 0, {"train_per_class": 12, "valid_per_class": 4, "test_per_class": 6})
    cards = []
    for config, splits in configs.items():
        cards.append(f"- config_name: {config}\n  data_files:\n")
        for split, source in splits.items():
            dataset = write_huggingface({source: [path for path in shards if f"_{source}_" in path.name]},
                                        folder / "hf", "saved")  # fmt: skip
            table = datasets.load_from_disk(str(dataset))[source].rename_column("instrument", "intent_class")
            table.to_parquet(str(out / config / f"{split}-00000-of-00001.parquet"))
            cards.append(f"  - split: {split}\n    path: {config}/{split}-*\n")
    (out / "README.md").write_text("---\nconfigs:\n" + "".join(cards) + "---\n")
    return out


@pytest.mark.slow
def test_a_language_subset_of_a_maeb_task_reads_its_own_configuration(tmp_path, xares_root, xares_run):
    """maeb/minds14/en_gb reads the en-GB configuration of a local copy of the hub dataset, not its others."""
    snapshot = hub_snapshot(tmp_path / "shards", tmp_path / "minds14",
                            {"en-GB": {"train": "train"}, "fr-FR": {"train": "test"}})  # fmt: skip
    record, _ = xares_run("task=maeb/minds14/en_gb", f"task.huggingface.local_dir={snapshot}", "task.epochs=2",
                          "encoder=mel", root=xares_root)  # fmt: skip
    assert record["status"] == "ok", record
    assert record["task"]["kfold"] and record["task"]["eval_weight"] == pytest.approx(1 / 12, abs=1e-6)
    marker = json.loads((xares_root / "data" / "maeb_minds14_en_gb" / ".audio_tar_ready").read_text())
    assert marker["clips"] == {f"fold{n}": 12 for n in range(1, 6)}, "en-GB's 60 clips, not fr-FR's 30"
    assert marker["classes"] == ["bell", "reed", "sawtooth", "sine", "square"]
    assert len(record["scores"]["mlp"]["rounds"]) == 5, "scored on each of the five folds"

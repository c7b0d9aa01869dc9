"""Other benchmarks' task packs (conf/task/hear, conf/task/maeb, conf/task/xares_planned): every YAML composes as
``xares`` composes it, with its source's facts, its tag, version and licence; the MAEB pack matches mteb's metadata."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import composed, composed_options, task_subsets

from xares_hydra.config.settings import plain
from xares_hydra.config.suites import suite_tasks, task_documents, task_tags
from xares_hydra.data.clips import source_clip
from xares_hydra.data.huggingface import audio_struct, build_huggingface, which_data
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.demo.formats import shard_rows, write_huggingface
from xares_hydra.demo.tasks import generate

PACKS = {"hear": "hear", "maeb": "huggingface", "xares_planned": "huggingface"}  # folder (= tag) -> source
PACK_TASKS = sorted(option for option in task_tags() if option.split("/")[0] in PACKS)
SUBSETS = task_subsets(PACK_TASKS)
COMPOSED = composed_options(PACK_TASKS)


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
    assert list(task.tags) == [folder] and task.version >= 1 and task.license.strip(), option
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


# the demo captions task's small retrieval probe
SMALL_PROBE = ("+task.head_args.embed_dim=64", "task.head_args.hidden_dim=256", "task.batch_size_train=64",
               "task.epochs=5")  # fmt: skip
# a language of each MAEB transcript task (one table of clips and transcripts per language)
TRANSCRIPT_TASKS = ("maeb/fleurst2aretrieval/en_us", "maeb/commonvoicemini21t2aretrieval/en")


@pytest.mark.slow
def test_the_maeb_retrieval_task_runs_from_a_local_caption_table_through_the_retrieval_head(
    tmp_path, xares_root, xares_run
):
    table = caption_table(tmp_path / "shards", tmp_path / "clotho")
    download_free = ("task.head_args.tokenizer=builtin", "+task.head_args.vocab_size=1024")
    scores = {}
    for encoder in ("mel", "noise"):
        record, _ = xares_run("task=maeb/clothot2aretrieval", f"task.huggingface.local_dir={table}", *download_free,
                              *SMALL_PROBE, f"encoder={encoder}", root=xares_root)  # fmt: skip
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
        if task.task_type == "contrastive":  # a caption table: the split and columns mteb's own loader reads (and
            # test_a_maeb_transcript_task_reads_the_clips_and_transcripts_mtebs_own_loader_reads runs it)
            loader = own_loader(reference)
            assert source["folds_from"] in meta.eval_splits, option
            columns = (source["audio_column"], task.label.key, source["key_column"])
            assert all(column is None or f'"{column}"' in loader for column in columns), option
            if "separator" in task.label.args:  # several captions in one text
                assert f'row["{task.label.key}"].split("{task.label.args["separator"]}")' in loader, option
        else:
            assert task.label.key == reference.label_column_name, option
            assert source["audio_column"] == reference.input_column_name, option
        checked.add(name)
    maeb = mteb.get_benchmark("MAEB(v1)").tasks
    runnable = {t.metadata.name for t in maeb if t.metadata.type in ("AudioClassification",
                                                                     "AudioMultilabelClassification")}  # fmt: skip
    # audio-text retrieval whose loader reads one table of clips and captions (the others join corpus, queries and
    # qrels tables, or JamAlt's rows of several languages, which task.huggingface does not read)
    captions = {t.metadata.name for t in maeb if t.metadata.type == "Any2AnyRetrieval" and "select_columns" in
                own_loader(t) and "audio" in t.metadata.modalities}  # fmt: skip
    assert captions == {"ClothoT2ARetrieval", "CommonVoiceMini21T2ARetrieval", "FleursT2ARetrieval"}
    several = {t.metadata.name: set(t.metadata.hf_subsets) for t in maeb if t.metadata.name in runnable | captions
               and len(t.metadata.hf_subsets) > 1}  # fmt: skip
    assert subsets == several, "a task with several subsets has a YAML for each"
    assert {"MInDS14", "SIBFLEURS", "CommonVoiceMini21T2ARetrieval", "FleursT2ARetrieval"} <= set(several)
    assert weights.keys() == several.keys()
    assert all(weight == pytest.approx(1, abs=1e-4) for weight in weights.values()), weights
    assert checked == runnable | captions, "every MAEB(v1) task our heads run is in the pack (scripts/maeb_tasks.py)"


def test_a_setting_added_to_the_huggingface_source_later_leaves_older_tasks_as_they_were():
    """``spread_column`` at its default (null) is left out of what a task's shards and records are of."""
    minds14, fleurs = (plain(composed(f"task={option}").task)["huggingface"] for option in
                       ("maeb/minds14/en_gb", TRANSCRIPT_TASKS[0]))  # fmt: skip
    assert minds14["spread_column"] is None and "spread_column" not in which_data(minds14)
    assert which_data(fleurs)["spread_column"] == "transcription"


def test_a_local_copy_of_the_same_name_is_read_afresh_not_from_the_datasets_cache(tmp_path):
    """The datasets library's cache knows a local folder of parquet files by its name and configuration: another
    folder of that name (or the same one fetched again) is read for its own rows."""
    option = TRANSCRIPT_TASKS[1]
    read = []
    for clips, place in ((10, "first"), (15, "second")):
        snapshot = transcript_snapshot(tmp_path / place / "shards", tmp_path / place / "hub", option, clips=clips)
        task = TaskSpec.from_config(plain(composed(f"task={option}", f"task.huggingface.local_dir={snapshot}").task))
        read.append(sum(build_huggingface(task, tmp_path / place / "built", tmp_path, timeout=5)["clips"].values()))
    assert read == [10, 15]


def own_loader(task: Any) -> str:
    """The source of the methods by which an mteb task builds its corpus, queries and relevance from its dataset."""
    return "".join(inspect.getsource(method) for name in ("load_data", "dataset_transform")
                   if (method := type(task).__dict__.get(name)) is not None)  # fmt: skip


@pytest.mark.parametrize("option", TRANSCRIPT_TASKS)
def test_a_maeb_transcript_task_reads_the_clips_and_transcripts_mtebs_own_loader_reads(option, tmp_path, monkeypatch):
    """mteb's loader and our data stage read the same local copy: our clips' captions are mteb's queries, one clip
    for each query's one relevant document; a sentence's recordings go to different folds."""
    mteb = pytest.importorskip("mteb", reason="the mteb package is not installed (pip install 'xares-hydra[mteb]')")
    snapshot = transcript_snapshot(tmp_path / "shards", tmp_path / "hub", option, clips=25, repeated=10)
    task = TaskSpec.from_config(plain(composed(f"task={option}", f"task.huggingface.local_dir={snapshot}").task))
    source = task.huggingface
    assert source is not None
    build_huggingface(task, tmp_path / "built", tmp_path, timeout=5)
    folds = {shard.name.split("-")[0]: shard_rows([shard]) for shard in (tmp_path / "built").glob("*.tar")}
    ours = [row for rows in folds.values() for row in rows]
    for fold, rows in folds.items():  # 10 of 15 sentences read twice, each time in another fold
        assert len({row[task.label.key] for row in rows}) == len(rows) == 5, fold

    # mteb's loader reads with the datasets library's own cache: this test's, not the user's
    monkeypatch.setattr(pytest.importorskip("datasets").config, "HF_DATASETS_CACHE", tmp_path / "mteb-cache")
    reference = mteb.get_task(task.formal_name.split(" (")[0], hf_subsets=[source["config"]])
    local = {"path": str(snapshot), "revision": source["revision"]}
    reference.metadata = reference.metadata.model_copy(update={"dataset": local})
    reference.load_data()
    queries, corpus, relevant = (getattr(reference, part)[source["config"]][source["folds_from"]] for part in
                                 ("queries", "corpus", "relevant_docs"))  # fmt: skip
    assert len(ours) == len(corpus) == len(queries) == 25
    assert sorted(row[task.label.key] for row in ours) == sorted(queries["text"])
    assert relevant == {query: {query: 1} for query in queries["id"]}, "a transcript's one relevant clip: its own"
    if source["key_column"] is not None:  # our clips are named as mteb names its documents
        assert sorted(row["key"] for row in ours) == sorted(source_clip(name, {}, b"").key for name in corpus["id"])


@pytest.mark.slow
def test_a_maeb_transcript_task_runs_from_a_local_copy_of_its_language_through_the_retrieval_head(
    tmp_path, xares_root, xares_run
):
    """maeb/fleurst2aretrieval/en_us on a local copy of its configuration, with its own tokenizer (builtin_unicode)."""
    option = TRANSCRIPT_TASKS[0]
    snapshot = transcript_snapshot(tmp_path / "shards", tmp_path / "fleurs", option, clips=150)
    scores = {}
    for encoder in ("mel", "noise"):
        record, _ = xares_run(f"task={option}", f"task.huggingface.local_dir={snapshot}", *SMALL_PROBE,
                              "task.head_args.vocab_size=1024", f"encoder={encoder}", root=xares_root)  # fmt: skip
        assert record["status"] == "ok", record
        assert record["task"]["kfold"] and record["task"]["corpus"] == ["FLEURS"]
        assert record["task"]["eval_weight"] == pytest.approx(1 / 102, abs=1e-6)
        assert record["config"]["task"]["head_args"]["tokenizer"] == "builtin_unicode"
        scores[encoder] = record["scores"]["mlp"]["score"]
    chance = 1 / 30  # recall@1 on a fold of 30 clips, one transcript each
    assert scores["mel"] > 3.5 * chance and scores["noise"] < 2.5 * chance, scores


def hub_card(out: Path, configs: dict[str, Any]) -> Path:
    """The README ``hf download`` leaves in a hub dataset's folder, whose ``configs`` name each configuration's
    parquet files, ``<config>/<split>-*`` for each of its splits."""
    cards = []
    for config, splits in configs.items():
        cards.append(f"- config_name: {config}\n  data_files:\n")
        cards.extend(f"  - split: {split}\n    path: {config}/{split}-*\n" for split in splits)
    (out / "README.md").write_text("---\nconfigs:\n" + "".join(cards) + "---\n")
    return out


def hub_snapshot(folder: Path, out: Path, configs: dict[str, dict[str, str]]) -> Path:
    """The demo timbre task as a hub dataset with several configurations, as ``hf download`` leaves it, its label
    column renamed (config -> {split: the timbre split})."""
    datasets = pytest.importorskip("datasets")
    shards = generate("timbre", folder, 0, {"train_per_class": 12, "valid_per_class": 4, "test_per_class": 6})
    for config, splits in configs.items():
        for split, source in splits.items():
            dataset = write_huggingface({source: [path for path in shards if f"_{source}_" in path.name]},
                                        folder / "hf", "saved")  # fmt: skip
            table = datasets.load_from_disk(str(dataset))[source].rename_column("instrument", "intent_class")
            table.to_parquet(str(out / config / f"{split}-00000-of-00001.parquet"))
    return hub_card(out, configs)


def transcript_snapshot(folder: Path, out: Path, option: str, clips: int = 100, repeated: int = 0) -> Path:
    """The demo captions task as the hub dataset of a MAEB transcript task (``maeb/fleurst2aretrieval/en_us``), as
    ``hf download`` leaves it: the subset's configuration, one ``test`` split of an id, the audio (bytes, not cast to
    an Audio feature) and one caption per clip as its transcript, in the columns the task's YAML names; the last
    ``repeated`` clips read the first ones' transcripts (a sentence recorded twice, as FLEURS has many)."""
    datasets = pytest.importorskip("datasets")
    source = task_documents()[option]["huggingface"]
    text, ids = source["columns"][0], source["key_column"] or "id"
    rows = shard_rows(generate("captions", folder, 0, {"train": clips * 6 // 10, "valid": clips // 5,
                                                       "test": clips // 5}))  # fmt: skip
    columns = {
        ids: [f"{row['key']}.{row['ext']}" for row in rows],
        source["audio_column"]: [{"bytes": row["audio"], "path": f"{row['key']}.{row['ext']}"} for row in rows],
        text: [row["caption_1"] for row in rows[: len(rows) - repeated]]
        + [row["caption_1"] for row in rows[:repeated]],
    }
    features = {ids: datasets.Value("string"), source["audio_column"]: audio_struct(), text: datasets.Value("string")}
    table = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    table.to_parquet(str(out / source["config"] / f"{source['folds_from']}-00000-of-00001.parquet"))
    return hub_card(out, {source["config"]: [source["folds_from"]]})


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

"""The model catalog (conf/encoder/hf/*.yaml): every entry composes into ``encoder=hf`` with a family the entry
knows and facts in the record's shape; ``xares stage=check`` shows an entry's facts."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import REPO, composed
from xares_hydra.encoders.hf import FAMILIES

from xares_hydra.data.taskspec import training_overlap

CATALOG = sorted(path.stem for path in (REPO / "conf" / "encoder" / "hf").glob("*.yaml"))


@pytest.mark.parametrize("entry", CATALOG)
def test_a_catalog_entry_is_an_hf_encoder_with_its_facts(entry: str) -> None:
    encoder = composed(f"encoder=hf/{entry}").encoder
    assert encoder._target_ == "xares_hydra.encoders.hf.hub_encoder"
    assert encoder.model.count("/") == 1 and encoder.revision is None  # a hub name; no invented commit
    assert encoder.meta.family in FAMILIES
    assert encoder.meta.source == f"https://huggingface.co/{encoder.model}"
    assert encoder.meta.training_data is None or all(isinstance(name, str) for name in encoder.meta.training_data)
    assert encoder.meta.parameters is None or encoder.meta.parameters > 1_000_000


@pytest.mark.slow
def test_stage_check_shows_the_catalog_entry(tmp_path: Path, xares_command) -> None:
    from helpers.tiny_hf import tiny_model

    model = tiny_model("wavlm", tmp_path / "wavlm")
    # a 2 s "long clip": the check's facts are the subject here, not the encoder's memory over ten minutes
    code, out, err = xares_command("stage=check", "check.long_seconds=2", "encoder=hf/wavlm_base_plus",
                                   f"encoder.model={model}", root=tmp_path)  # fmt: skip
    assert code == 0, out + err
    assert "encoder facts: hf/wavlm_base_plus" in out
    assert "Libri-Light, GigaSpeech, VoxPopuli" in out
    assert "https://arxiv.org/abs/2110.13900" in out


@pytest.mark.parametrize(
    ("encoder", "task", "overlap"),
    [("resemblyzer", "voxceleb1", ["VoxCeleb1"]), ("crepe", "nsynthinstument", ["NSynth"]),
     ("hf/encodec_24khz", "fsd50k", ["FSD50K"]), ("hf/hubert_base_ls960", "librispeech", ["LibriSpeech"]),
     ("wav2vec2", "librispeech", []), ("hf/whisper_small", "librispeech", None)],
)  # fmt: skip
def test_stated_training_data_meets_the_tasks_corpus_names(encoder: str, task: str, overlap: list[str] | None) -> None:
    """The corpora an encoder states are spelled so that the overlap check finds the task's (None: not stated)."""
    config = composed(f"encoder={encoder}", f"task={task}")
    assert training_overlap(config.encoder.meta.get("training_data"), config.task.corpus) == overlap

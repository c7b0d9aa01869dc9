"""Speech recognition: WER, the tiny demo LM and the ASR head end to end (no download anywhere)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.encode.cache import EmbeddingSet, ShardCounts, ShardWriter
from xares_hydra.encode.settings import EncodeSettings
from xares_hydra.errors import ConfigError, DataUnavailable
from xares_hydra.heads import HEADS, HeadContext, HeadSettings, RoundData, training
from xares_hydra.heads.metrics import get_metric, transcript_counts, wer_from_counts, word_edits

pytest.importorskip("transformers")

from xares_hydra.heads.asr import (
    AsrArgs,
    LanguageModel,
    SpeechRecogniser,
    SpokenClips,
    load_language_model,
    stack_frames,
    tiny_language_model,
)

# ---------------------------------------------------------------- WER


def test_word_edits_count_substitutions_insertions_and_deletions():
    assert word_edits(["a", "b", "c"], ["a", "c", "d"]) == 2
    assert word_edits([], ["x", "y"]) == 2
    assert word_edits(["x"], []) == 1


def test_corpus_wer_pools_edits_over_all_reference_words():
    references = ["the cat sat", "hello world"]
    hypotheses = ["the cat sit down", "hello"]  # sat->sit, +down ; -world  => 3 edits / 5 words
    assert wer_from_counts(transcript_counts(references, hypotheses)) == pytest.approx(3 / 5)
    assert get_metric("WER_inv")(references, hypotheses) == pytest.approx(1 - 3 / 5)


def test_wer_is_case_insensitive_and_wer_inv_never_negative():
    assert wer_from_counts(transcript_counts(["The CAT"], ["the cat"])) == 0.0
    assert get_metric("WER_inv")(["a"], ["b c d"]) == 0.0


# ---------------------------------------------------------------- a learnable toy: words as frame patterns

WORDS = ("red", "green", "blue", "gold")
DIM = 8


def spoken_clips(directory: Path, n: int, seed: int) -> EmbeddingSet:
    """Each word is 3 frames of its own fixed vector (plus noise); a clip says 1-3 words."""
    vectors = np.random.default_rng(0).normal(size=(len(WORDS), DIM)).astype(np.float32) * 2
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True)
    source = directory / "source.tar"
    source.write_bytes(b"")
    writer = ShardWriter(directory, source, DIM, EncodeSettings(keep_frames=True))
    for index in range(n):
        words = rng.integers(0, len(WORDS), size=int(rng.integers(1, 4)))
        frames = np.repeat(vectors[words], 3, axis=0) + 0.1 * rng.normal(size=(3 * len(words), DIM))
        transcript = " ".join(WORDS[word] for word in words)
        meta = {"key": f"utt{index:04d}", "clip_key": f"utt{index:04d}", "crop": 0, "labels": {"trans": transcript}}
        writer.add(meta, len(frames), frames.astype(np.float32), frames.mean(0))
    writer.finish(ShardCounts(samples=n))
    embeddings = EmbeddingSet.from_dir(directory)
    embeddings.targets = [label["trans"] for label in embeddings.labels]
    return embeddings


@pytest.fixture(scope="module")
def speech_round(tmp_path_factory) -> RoundData:
    root = tmp_path_factory.mktemp("speech")
    return RoundData(
        spoken_clips(root / "train", 48, 1), spoken_clips(root / "valid", 12, 2), spoken_clips(root / "test", 12, 3)
    )


def asr_task(**head_args) -> TaskSpec:
    return TaskSpec.from_config(
        {
            "name": "toy_asr",
            "task_type": "asr",
            "label": {"rule": "transcript", "key": "trans"},
            "metric": "WER_inv",
            "head_args": {"language_model": "builtin-tiny", "adapter_dim": 32, "max_new_tokens": 6, **head_args},
        }
    )


def run_asr(data: RoundData, task: TaskSpec | None = None, **settings):
    task = task or asr_task()
    context = HeadContext(task, HeadSettings(device="cpu", **settings), get_metric(task.metric), {"hop_size_in_ms": 40})
    return HEADS["asr"].run(data, context)


@pytest.mark.slow
def test_asr_round_runs_end_to_end_and_the_adapter_lowers_the_loss_of_the_frozen_lm(speech_round):
    result = run_asr(speech_round, lr=1e-2, epochs=4, batch_size=8)
    losses = result.extra["train_loss_history"]
    assert len(losses) == 4 and len(result.extra["valid_history"]) == 4
    assert losses[-1] < losses[0]
    assert 0.0 <= result.test <= 1.0 and 0.0 <= result.valid <= 1.0
    assert result.extra["examples"][0]["reference"] in speech_round.test.targets


def test_a_trainable_demo_lm_learns_the_toy_mapping(speech_round):
    task = asr_task(train_language_model=True, frame_stack=3)
    result = run_asr(speech_round, task, lr=1e-2, epochs=12, batch_size=8)
    losses = result.extra["train_loss_history"]
    assert losses[-1] < 0.5 * losses[0]
    assert result.test > 0.5


def test_a_slow_head_logs_each_epochs_loss_and_validation_score(speech_round, monkeypatch, caplog):
    monkeypatch.setattr(training, "PROGRESS_SECONDS", 0.0)  # every epoch counts as slow
    with caplog.at_level(logging.INFO, logger=training.__name__):
        result = run_asr(speech_round, lr=1e-3, epochs=2, batch_size=8)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2 and lines[1].startswith("toy_asr epoch 2/2: train loss ")
    assert f"valid WER_inv {result.extra['valid_history'][1]:.4f} (best {result.valid:.4f}, epoch " in lines[1]


def test_asr_head_is_deterministic(speech_round):
    first = run_asr(speech_round, lr=1e-3, epochs=1, batch_size=8, seed=4)
    second = run_asr(speech_round, lr=1e-3, epochs=1, batch_size=8, seed=4)
    assert first.test == second.test
    assert first.extra == second.extra


def test_the_frozen_lm_does_not_change_while_the_adapter_trains(speech_round):
    lm = tiny_language_model(speech_round.train.targets, seed=0)
    before = {name: value.clone() for name, value in lm.model.state_dict().items()}
    model = SpeechRecogniser(DIM, lm, AsrArgs(adapter_dim=16))
    clips = SpokenClips(speech_round.train, lm.text_ids(speech_round.train.targets), torch.device("cpu"))
    optimizer = torch.optim.Adam(model.trainable().parameters(), lr=1e-2)
    for batch in clips.batches(8):
        loss, _ = model.teacher_forced(batch, [clips.text_ids[i] for i in batch.indices])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert all(torch.equal(before[name], value) for name, value in lm.model.state_dict().items())
    assert model.trainable() is model.adapter


def test_greedy_decoding_of_a_clip_does_not_depend_on_its_batch(speech_round):
    lm = tiny_language_model(speech_round.train.targets, seed=0)
    torch.manual_seed(0)
    model = SpeechRecogniser(DIM, lm, AsrArgs(adapter_dim=16)).eval()
    clips = SpokenClips(speech_round.test, lm.text_ids(speech_round.test.targets), torch.device("cpu"))
    args = AsrArgs(max_new_tokens=5, repetition_penalty=1.0)
    indices = np.argsort(speech_round.test.n_frames)[[0, -1]]  # shortest and longest: left padding differs
    together = model.generate(clips.batch(indices), args)
    alone = [model.generate(clips.batch(indices[[row]]), args)[0] for row in range(2)]
    assert together == alone


def test_the_separator_falls_back_to_end_of_text_when_the_tokenizer_lacks_it(speech_round):
    lm = tiny_language_model(speech_round.train.targets, seed=0)
    assert lm.separator_id != lm.eos_id
    fallback = LanguageModel.wrap(lm.model, lm.tokenizer, "<|no-such-token|>")
    assert fallback.separator_id == lm.eos_id


def test_stacked_frames_sit_side_by_side_and_the_last_group_is_zero_padded():
    frames = np.arange(10, dtype=np.float32).reshape(5, 2)
    stacked = stack_frames(frames, 2)
    np.testing.assert_array_equal(stacked, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 0]])


def test_missing_language_model_weights_say_how_to_provide_a_local_copy(tmp_path):
    for name in ("xares-hydra-tests/no-such-model", str(tmp_path / "no-model-here")):
        with pytest.raises(DataUnavailable) as error:
            load_language_model(AsrArgs(language_model=name), ["a b"], seed=0)
        message = str(error.value)
        assert f"huggingface-cli download {name} --local-dir DIR" in message
        assert "task.head_args.language_model=DIR" in message


def test_unknown_head_arguments_are_config_errors(speech_round):
    with pytest.raises(ConfigError, match=r"task.head_args has unknown key\(s\) \['langauge_model'\]"):
        run_asr(speech_round, asr_task(langauge_model="x"), epochs=1)
    with pytest.raises(ConfigError, match=r"task.head_args.tiny has unknown key\(s\) \['width'\]"):
        run_asr(speech_round, asr_task(tiny={"width": 8}), epochs=1)

"""Audio-text retrieval: recall@k, the builtin tokenizers and the retrieval head on synthetic pairs."""

from __future__ import annotations

import numpy as np
import pytest

from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.demo.tasks import CAPTION_PHRASES, ONE_ELEMENT_TEMPLATES, TWO_ELEMENT_TEMPLATES
from xares_hydra.encode.cache import EmbeddingSet
from xares_hydra.errors import DataUnavailable
from xares_hydra.heads import HEADS, HeadContext, HeadSettings, RoundData
from xares_hydra.heads.metrics import get_metric, recall_from_ranks, retrieval_ranks
from xares_hydra.heads.text import HashingTokenizer, load_tokenizer, words

# 3 clips, 4 captions: clip 0 has captions 0 and 1, clip 1 has caption 2, clip 2 has caption 3
CAPTION_CLIP = np.array([0, 0, 1, 2])
SIMILARITY = np.array(
    [
        [0.1, 0.9, 0.5, 0.2],  # clip 0: its caption 1 ranks first -> hit
        [0.8, 0.1, 0.3, 0.2],  # clip 1: caption 0 (0.8) beats its caption 2 (0.3) -> rank 2
        [0.3, 0.2, 0.1, 0.6],  # clip 2: its caption 3 ranks first -> hit
    ]
)
# text->audio: caption 0 ranks clip 0 third (0.1 < 0.8, 0.3); caption 1 -> clip 0 first;
# caption 2 ranks clip 1 second (0.3 < 0.5); caption 3 -> clip 2 first


def test_recall_at_1_averages_audio_to_text_and_text_to_audio():
    assert recall_from_ranks(*retrieval_ranks(SIMILARITY, CAPTION_CLIP), k=1) == pytest.approx((2 / 3 + 2 / 4) / 2)
    assert get_metric("recallatk_r1")(CAPTION_CLIP, SIMILARITY) == pytest.approx(7 / 12)


def test_recall_at_2():
    assert recall_from_ranks(*retrieval_ranks(SIMILARITY, CAPTION_CLIP), k=2) == pytest.approx((3 / 3 + 3 / 4) / 2)


def test_ties_count_against_a_hit():
    assert recall_from_ranks(*retrieval_ranks(np.ones((3, 4)), CAPTION_CLIP), k=1) == 0.0


def test_builtin_tokenizer_hashes_lower_cased_words_deterministically():
    tokenizer = HashingTokenizer(vocab_size=64)
    first, again = tokenizer(["A dog barks, twice."]), HashingTokenizer(vocab_size=64)(["a DOG barks , twice ."])
    assert first == again
    assert len(first[0]) == 6  # a, dog, barks, ",", twice, "."
    assert all(1 <= token < 64 for token in first[0])
    assert load_tokenizer("builtin", vocab_size=64)(["it's"]) == tokenizer(["it's"])
    # the ids the builtin tokenizer has always given (records of runs with it stay comparable)
    assert HashingTokenizer(8192)(["A dog barks, twice.", "it's raining"]) == [
        [1084, 768, 8069, 2683, 6369, 6381],
        [4318, 37],
    ]


def test_builtin_unicode_splits_every_script_into_words():
    assert words("हिंदी भाषा में", unicode=True) == ["हिंदी", "भाषा", "में"]  # vowel signs stay in their word
    assert words("Привет, МИР!", unicode=True) == ["привет", ",", "мир", "!"]
    assert words("L'été à Zürich", unicode=True) == ["l'été", "à", "zürich"]
    assert words("עברית ואנגלית", unicode=True) == ["עברית", "ואנגלית"]
    assert words("東京は日本。", unicode=True) == ["東", "京", "は", "日", "本", "。"]  # no spaces: a character each
    assert words("ภาษาไทย", unicode=True) == ["ภ", "า", "ษ", "า", "ไ", "ท", "ย"]
    assert words("ᱥᱟᱱᱛᱟᱲᱤ ⵜⴰⵎⴰⵣⵉⵖⵜ", unicode=True) == ["ᱥᱟᱱᱛᱟᱲᱤ", "ⵜⴰⵎⴰⵣⵉⵖⵜ"]  # Ol Chiki, Tifinagh
    assert len(words("хорошо")) == 6, "the builtin tokenizer keeps its ASCII words: a character each"
    tokenizer = load_tokenizer("builtin_unicode", vocab_size=64)
    assert tokenizer(["Мир мир"]) == tokenizer(["мир МИР"]) and len(tokenizer(["Мир мир"])[0]) == 2


def test_builtin_unicode_gives_ascii_captions_the_builtin_ids():
    """Every caption the demo writes, and punctuation, digits and apostrophes, tokenize as with builtin."""
    phrases = list(CAPTION_PHRASES.values())
    captions = [template.format(a=a) for template in ONE_ELEMENT_TEMPLATES for a in phrases[0]]
    captions += [
        template.format(a=a, b=b) for template in TWO_ELEMENT_TEMPLATES for a in phrases[1] for b in phrases[2]
    ]
    captions += ["It's 3 o'clock -- a dog_barks (twice)! \"Loud\"; 50% #1 @home", "rock'n'roll '90s 'quoted'"]
    assert load_tokenizer("builtin_unicode", 8192)(captions) == load_tokenizer("builtin", 8192)(captions)


def test_a_pretrained_tokenizer_that_is_not_available_offline_says_how_to_provide_it(tmp_path):
    for name in ("xares-hydra-tests/no-such-tokenizer", str(tmp_path / "missing")):
        with pytest.raises(DataUnavailable) as error:
            load_tokenizer(name, vocab_size=8192)
        message = str(error.value)
        assert "huggingface-cli download" in message
        assert "task.head_args.tokenizer=DIR" in message
        assert "task.head_args.tokenizer=builtin" in message


# ---------------------------------------------------------------- the head on synthetic pairs

WORDS = [f"thing{index}" for index in range(16)]
TEMPLATES = ("a {} and a {}", "{} then {}", "the sound of {} with {}", "{} {}", "you hear {} and also {}")


def captioned_clips(n: int, seed: int, dim: int = 32) -> EmbeddingSet:
    """Each clip mixes two of 16 concepts: its pooled vector is the sum of their (fixed) vectors plus
    noise, its five captions name both concepts in varying templates."""
    concept_vectors = np.random.default_rng(0).normal(size=(len(WORDS), dim))
    rng = np.random.default_rng(seed)
    pooled, targets = [], []
    for _ in range(n):
        first, second = rng.choice(len(WORDS), size=2, replace=False)
        pooled.append(concept_vectors[first] + concept_vectors[second] + 0.3 * rng.normal(size=dim))
        pairs = [(WORDS[first], WORDS[second]), (WORDS[second], WORDS[first])]
        targets.append([template.format(*pairs[i % 2]) for i, template in enumerate(TEMPLATES)])
    keys = [f"clip{seed}_{index:04d}" for index in range(n)]
    return EmbeddingSet(
        keys=keys,
        clip_keys=keys,
        crops=np.zeros(n, np.int64),
        pooled=np.array(pooled, dtype=np.float32),
        n_frames=np.ones(n, np.int64),
        labels=[None] * n,
        targets=targets,
    )


@pytest.fixture(scope="module")
def caption_round() -> RoundData:
    return RoundData(captioned_clips(150, 1), captioned_clips(40, 2), captioned_clips(40, 3))


def run_retrieval(data: RoundData, head_args: dict | None = None, **settings):
    task = TaskSpec.from_config(
        {
            "name": "pairs",
            "task_type": "contrastive",
            "label": {"rule": "captions"},
            "metric": "recallatk_r1",
            "head_args": {"tokenizer": "builtin", "vocab_size": 512, "hidden_dim": 128, **(head_args or {})},
        }
    )
    context = HeadContext(task, HeadSettings(device="cpu", **settings), get_metric(task.metric), {})
    return HEADS["retrieval"].run(data, context)


def test_retrieval_head_learns_paired_audio_and_text(caption_round):
    result = run_retrieval(caption_round, lr=1e-2, epochs=4, batch_size=64)
    chance = 5 / 200  # about: 1 of 40 clips, or 5 of 200 captions
    assert result.test > 0.5 > 10 * chance
    assert result.extra["test_r5"] >= result.test
    assert result.extra["train_loss_history"][-1] < result.extra["train_loss_history"][0]


def test_retrieval_head_is_deterministic(caption_round):
    first = run_retrieval(caption_round, lr=1e-3, epochs=2, batch_size=64, seed=5)
    second = run_retrieval(caption_round, lr=1e-3, epochs=2, batch_size=64, seed=5)
    assert first.test == second.test
    assert first.extra == second.extra


def test_x_ares_loss_switch_trains_too(caption_round):
    result = run_retrieval(caption_round, lr=1e-2, epochs=4, batch_size=64, head_args={"x_ares_loss": True})
    assert result.test > 0.3

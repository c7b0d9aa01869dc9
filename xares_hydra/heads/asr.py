"""Speech recognition head (LibriSpeech): encoder frames -> SwiGLU adapter -> a frozen causal LM (X-ARES:
frames, separator, transcript, end-of-text; teacher-forced training, greedy decoding, ``WER_inv``).
``builtin-tiny`` is a random Qwen2-style demo LM over the training transcripts' words (offline demo, tests)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from xares_hydra.encode.cache import EmbeddingSet
from xares_hydra.errors import ConfigError, DataUnavailable
from xares_hydra.heads import HeadContext, RoundData, RoundScore, head
from xares_hydra.heads.metrics import transcript_counts, wer_from_counts
from xares_hydra.heads.predictions import TRANSCRIPTS, Predictions
from xares_hydra.heads.text import SEPARATOR, transformers_module, word_level_tokenizer
from xares_hydra.heads.training import fit, head_arguments, length_batches, require_frames, seeded

TINY_LM = "builtin-tiny"
VALID_DECODINGS = ("teacher_forced", "greedy")


@dataclass(frozen=True)
class AsrArgs:
    """``task.head_args`` of the ASR head."""

    # Hugging Face causal LM name or local directory, or builtin-tiny (demo only)
    language_model: str = "Qwen/Qwen2.5-0.5B"
    language_model_download: bool = False
    separator: str = SEPARATOR
    max_new_tokens: int = 200
    # X-ARES decodes greedily with this repetition penalty
    repetition_penalty: float = 1.1
    # greedy: validate on real decoding; teacher_forced: argmax under teacher forcing (X-ARES's cheaper proxy)
    valid_decoding: str = "greedy"
    # SwiGLU width; null = the LM's intermediate_size (X-ARES)
    adapter_dim: int | None = None
    # concatenate this many consecutive frames into one LM position (1 = every frame, as X-ARES)
    frame_stack: int = 1
    # LayerNorm on the (stacked) frames before the adapter; X-ARES has none
    input_norm: bool = False
    # clips per scoring batch; null = the training batch size
    eval_batch_size: int | None = None
    # builtin-tiny only: its sizes, and whether it trains with the adapter (a random LM knows no language)
    tiny: dict[str, int] = field(default_factory=dict)
    train_language_model: bool = False

    def __post_init__(self) -> None:
        if self.frame_stack < 1:
            raise ConfigError(f"task.head_args.frame_stack={self.frame_stack}; use 1 or more")
        if self.valid_decoding not in VALID_DECODINGS:
            raise ConfigError(f"task.head_args.valid_decoding={self.valid_decoding!r}; use one of {VALID_DECODINGS}")


class SwiGLUAdapter(torch.nn.Module):
    """proj(silu(gate(x)) * up(x)): encoder frames into the LM's input-embedding space (optionally normalised first)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, input_norm: bool = False) -> None:
        super().__init__()
        self.norm = torch.nn.LayerNorm(in_dim) if input_norm else torch.nn.Identity()
        self.gate = torch.nn.Linear(in_dim, hidden_dim)
        self.up = torch.nn.Linear(in_dim, hidden_dim)
        self.proj = torch.nn.Linear(hidden_dim, out_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        frames = self.norm(frames)
        return self.proj(F.silu(self.gate(frames)) * self.up(frames))


@dataclass
class LanguageModel:
    model: Any  # a transformers causal LM
    tokenizer: Any
    separator_id: int
    eos_id: int
    pad_id: int

    @classmethod
    def wrap(cls, model: Any, tokenizer: Any, separator: str) -> LanguageModel:
        eos_id = tokenizer.eos_token_id
        if eos_id is None:
            raise ConfigError("the language model's tokenizer has no end-of-text (eos) token")
        separator_id = tokenizer.convert_tokens_to_ids(separator)
        if separator_id is None or separator_id == tokenizer.unk_token_id:
            separator_id = eos_id
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id
        return cls(model, tokenizer, int(separator_id), int(eos_id), int(pad_id))

    def text_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [list(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def decode(self, ids: Sequence[Sequence[int]]) -> list[str]:
        return [text.strip().lower() for text in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]


def load_language_model(args: AsrArgs, transcripts: Sequence[str], seed: int) -> LanguageModel:
    if args.language_model == TINY_LM:
        sizes = head_arguments(TinyLanguageModelSizes, args.tiny, "task.head_args.tiny")
        return tiny_language_model(transcripts, seed, args.separator, sizes)
    transformers = transformers_module()
    name, local_only = args.language_model, not args.language_model_download
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(name, local_files_only=local_only)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            name, local_files_only=local_only, dtype=torch.float32
        )
    except (OSError, ValueError) as err:
        raise DataUnavailable(
            f"language model {name!r} is not available offline ({type(err).__name__}). On a machine with internet "
            f"run: huggingface-cli download {name} --local-dir DIR ; copy DIR here and set "
            "task.head_args.language_model=DIR (or allow downloading with task.head_args.language_model_download=true)"
        ) from err
    return LanguageModel.wrap(model, tokenizer, args.separator)


@dataclass(frozen=True)
class TinyLanguageModelSizes:
    """``task.head_args.tiny``: the sizes of the builtin-tiny demo LM."""

    hidden_size: int = 64
    intermediate_size: int = 128
    layers: int = 2
    heads: int = 4


def tiny_language_model(
    transcripts: Sequence[str], seed: int, separator: str = SEPARATOR, sizes: TinyLanguageModelSizes | None = None
) -> LanguageModel:
    """A randomly initialised Qwen2 LM over the words of ``transcripts``: for the demo and tests only."""
    sizes = sizes or TinyLanguageModelSizes()
    transformers = transformers_module()
    tokenizer = word_level_tokenizer(transcripts)
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=sizes.hidden_size,
        intermediate_size=sizes.intermediate_size,
        num_hidden_layers=sizes.layers,
        num_attention_heads=sizes.heads,
        num_key_value_heads=sizes.heads,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = transformers.Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return LanguageModel.wrap(model, tokenizer, separator)


def stack_frames(frames: np.ndarray, stack: int) -> np.ndarray:
    """[T, D] -> [ceil(T / stack), stack * D]: consecutive frames side by side, the last group zero-padded."""
    padded = np.pad(np.asarray(frames, dtype=np.float32), ((0, -len(frames) % stack), (0, 0)))
    return padded.reshape(-1, stack * frames.shape[1])


@dataclass
class SpeechBatch:
    frames: torch.Tensor  # [B, T, D], zero-padded
    lengths: list[int]
    indices: np.ndarray


@dataclass
class SpokenClips:
    """One split: frames read from the cache per batch, transcripts as LM token ids."""

    embeddings: EmbeddingSet
    text_ids: list[list[int]]
    device: torch.device
    frame_stack: int = 1

    def batch(self, indices: np.ndarray) -> SpeechBatch:
        stacked = [torch.from_numpy(stack_frames(self.embeddings.frames(int(i)), self.frame_stack)) for i in indices]
        frames = pad_sequence(stacked, batch_first=True)
        return SpeechBatch(frames.to(self.device), [len(clip) for clip in stacked], indices)

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[SpeechBatch]:
        return map(self.batch, length_batches(self.embeddings.n_frames, batch_size, generator))


class SpeechRecogniser(torch.nn.Module):
    def __init__(self, in_dim: int, lm: LanguageModel, args: AsrArgs) -> None:
        super().__init__()
        config = lm.model.config
        width = args.adapter_dim or config.intermediate_size
        self.adapter = SwiGLUAdapter(in_dim, width, config.hidden_size, args.input_norm)
        self.lm = lm
        self.language_model = lm.model
        self.train_lm = args.train_language_model
        self.language_model.requires_grad_(self.train_lm)
        if not self.train_lm:
            self.language_model.eval()

    def trainable(self) -> torch.nn.Module:
        """What the optimiser updates and model selection snapshots: the adapter (and a trainable LM)."""
        return self if self.train_lm else self.adapter

    def _embed_tokens(self, ids: Sequence[int], device: torch.device) -> torch.Tensor:
        return self.language_model.get_input_embeddings()(torch.tensor(ids, dtype=torch.long, device=device))

    def teacher_forced(self, batch: SpeechBatch, text_ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, list]:
        """Cross-entropy over the transcript tokens and end-of-text, and the argmax token ids per clip."""
        audio = self.adapter(batch.frames)
        sequences, predictors, targets = [], [], []
        for row, (length, ids) in enumerate(zip(batch.lengths, text_ids, strict=True)):
            tokens = [self.lm.separator_id, *ids, self.lm.eos_id]
            sequences.append(torch.cat([audio[row, :length], self._embed_tokens(tokens, audio.device)]))
            # hidden state at position p predicts the token at p + 1: separator .. last word predict words + eos
            predictors.append((row, length, length + len(tokens) - 1))
            targets.extend(tokens[1:])
        embeds = pad_sequence(sequences, batch_first=True)
        mask = pad_sequence([torch.ones(len(s), dtype=torch.long, device=embeds.device) for s in sequences], True)
        with _autocast(embeds.device):
            # the LM head runs on the transcript positions only: [tokens, vocab] logits, not [B, T, vocab]
            hidden = self.language_model.base_model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
            picked = torch.cat([hidden[row, start:end] for row, start, end in predictors])
            logits = self.language_model.get_output_embeddings()(picked).float()
        loss = F.cross_entropy(logits, torch.tensor(targets, device=logits.device))
        return loss, [ids.tolist() for ids in logits.argmax(-1).split([end - start for _, start, end in predictors])]

    @torch.no_grad()
    def generate(self, batch: SpeechBatch, args: AsrArgs) -> list[list[int]]:
        """Greedy decoding after each clip's frames and separator (left-padded, so batch-independent)."""
        audio = self.adapter(batch.frames)
        separator = self._embed_tokens([self.lm.separator_id], audio.device)
        flipped = [torch.cat([audio[row, :length], separator]).flip(0) for row, length in enumerate(batch.lengths)]
        embeds = pad_sequence(flipped, batch_first=True).flip(1)
        ones = [torch.ones(len(prompt), dtype=torch.long, device=audio.device) for prompt in flipped]
        mask = pad_sequence(ones, batch_first=True).flip(1)
        with _autocast(embeds.device), warnings.catch_warnings():
            # the prompt is audio, so the repetition penalty only sees generated tokens (as in X-ARES)
            warnings.filterwarnings("ignore", message="Passing `repetition_penalty` with `inputs_embeds`")
            output = self.language_model.generate(
                inputs_embeds=embeds,
                attention_mask=mask,
                max_new_tokens=args.max_new_tokens,
                do_sample=False,
                repetition_penalty=args.repetition_penalty,
                eos_token_id=self.lm.eos_id,
                pad_token_id=self.lm.pad_id,
            )
        return output.tolist()


def _autocast(device: torch.device) -> AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


@torch.no_grad()
def transcribe(
    model: SpeechRecogniser, clips: SpokenClips, args: AsrArgs, batch_size: int, greedy: bool
) -> tuple[list[str], list[str], list[str]]:
    """(clip keys, references, hypotheses) of every clip, in batch order; references are the label text."""
    model.eval()
    keys: list[str] = []
    references: list[str] = []
    hypotheses: list[str] = []
    for batch in clips.batches(batch_size):
        text_ids = [clips.text_ids[i] for i in batch.indices]
        ids = model.generate(batch, args) if greedy else model.teacher_forced(batch, text_ids)[1]
        hypotheses.extend(model.lm.decode(ids))
        references.extend(clips.embeddings.known_targets[i] for i in batch.indices)
        keys.extend(clips.embeddings.clip_keys[int(i)] for i in batch.indices)
    return keys, references, hypotheses


@head("asr")
def asr(data: RoundData, context: HeadContext) -> RoundScore:
    args = head_arguments(AsrArgs, context.task.head_args)
    settings, device = context.settings, context.settings.torch_device
    require_frames(data, context)
    if any((subset.crops > 0).any() for subset in (data.train, data.valid, data.test)):
        raise ConfigError(f"asr task {context.task.name}: transcripts need whole clips; remove task.crop_length")
    lm = load_language_model(args, data.train.known_targets, settings.seed)
    clips = {
        name: SpokenClips(subset, lm.text_ids(subset.known_targets), device, args.frame_stack)
        for name, subset in vars(data).items()
    }
    model = seeded(settings.seed, lambda: SpeechRecogniser(data.train.dim * args.frame_stack, lm, args), device)
    eval_batch, train = args.eval_batch_size or settings.batch_size, clips["train"]
    history = fit(
        model.trainable(),
        context,
        lambda generator: train.batches(settings.batch_size, generator),
        lambda batch: model.teacher_forced(batch, [train.text_ids[i] for i in batch.indices])[0],
        lambda: context.metric(
            *transcribe(model, clips["valid"], args, eval_batch, args.valid_decoding == "greedy")[1:]
        ),
    )
    keys, references, hypotheses = transcribe(model, clips["test"], args, eval_batch, True)
    # word edits and reference words per clip (corpus WER = their sums' ratio), with the texts
    texts = [{"reference": r, "hypothesis": h} for r, h in zip(references, hypotheses, strict=True)]
    counts = transcript_counts(references, hypotheses)
    predictions = Predictions(TRANSCRIPTS, context.metric.name, np.asarray(keys), counts, texts)
    test_wer = wer_from_counts(predictions.arrays)
    return history.score(predictions.score(), predictions, test_wer=test_wer, examples=(predictions.texts or [])[:3])

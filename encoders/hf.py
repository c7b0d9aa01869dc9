"""``encoder=hf encoder.model=<hub name or local directory>``: any Hugging Face audio model, its family wrapper
chosen from the ``model_type`` of its config."""

from __future__ import annotations

import logging

from xares_hydra.errors import ConfigError

from .hf_codec import CodecEncoder
from .hf_spectrogram import ClapAudioEncoder, SpectrogramTransformerEncoder
from .huggingface import (
    AudioTowerEncoder,
    Data2VecEncoder,
    HubEncoder,
    HubSource,
    MaskedAudioTowerEncoder,
    UnpooledAudioTowerEncoder,
    Wav2Vec2Encoder,
    WhisperEncoder,
)

log = logging.getLogger(__name__)

WAVEFORM_TYPES = ("wav2vec2", "wav2vec2-conformer", "hubert", "wavlm", "unispeech", "unispeech-sat", "sew", "sew-d")
FAMILIES: dict[str, type[HubEncoder]] = {
    **dict.fromkeys(WAVEFORM_TYPES, Wav2Vec2Encoder),
    "mert_model": Wav2Vec2Encoder,  # MERT: remote code (encoder.trust_remote_code=true), a HuBERT-like model
    "data2vec-audio": Data2VecEncoder,
    "whisper": WhisperEncoder,
    # audio-LLM towers, saved alone or in the full model (whose tower is taken)
    **dict.fromkeys(("qwen2_audio_encoder", "qwen2_audio"), AudioTowerEncoder),
    **dict.fromkeys(("audioflamingo3_encoder", "audioflamingo3", "musicflamingo"), MaskedAudioTowerEncoder),
    **dict.fromkeys(("voxtral_encoder", "voxtral", "glmasr_encoder", "glmasr"), UnpooledAudioTowerEncoder),
    "audio-spectrogram-transformer": SpectrogramTransformerEncoder,
    "clap": ClapAudioEncoder,
    **dict.fromkeys(("encodec", "dac", "mimi"), CodecEncoder),
}
NOT_IN_TRANSFORMERS = (
    "BEATs, EAT and CED are not part of transformers and their authors publish no package on the package index: "
    "wrap their code as an X-ARES encoder file (encoder=xares_file encoder.path=...; README, 'Bring your own encoder')"
)


def family_of(model_type: str | None, model: str) -> type[HubEncoder]:
    """The wrapper of a config's ``model_type``; an unknown one fails naming the families there are."""
    if model_type in FAMILIES:
        return FAMILIES[model_type]
    raise ConfigError(
        f"encoder.model={model}: its config's model_type {model_type!r} is not a family encoder=hf knows "
        f"({', '.join(sorted(FAMILIES))}). {NOT_IN_TRANSFORMERS}"
    )


def hub_encoder(
    model: str,
    revision: str | None = None,
    chunk_seconds: float | None = None,
    trust_remote_code: bool = False,
    xares_exact: bool = False,
) -> HubEncoder:
    """The family wrapper of ``model``; ``chunk_seconds`` null: the model's native longest input. ``xares_exact``
    (compat=xares) applies to the families X-ARES has a wrapper of; the others have no X-ARES behaviour."""
    if not model:
        raise ConfigError("encoder=hf needs encoder.model=<hub name or local directory>")
    config = HubSource(model, revision, model, trust_remote_code).load("AutoConfig")
    family = family_of(getattr(config, "model_type", None), model)
    exact = xares_exact and family.has_xares_wrapper()
    if xares_exact and not exact:
        log.info("%s: X-ARES has no wrapper of the %s family; it runs as by default", model, config.model_type)
    log.info("%s: a %s model, encoded by %s", model, config.model_type, family.__name__)
    return family(model, revision, chunk_seconds, xares_exact=exact, trust_remote_code=trust_remote_code)

"""Which encoder a run uses: its name, its cache fingerprint, and how to build it (only when a shard
still has to be encoded)."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import MISSING

from xares_hydra.encode.fingerprint import code_identity, encoder_fingerprint, encoder_identity
from xares_hydra.errors import ConfigError, TaskSkipped

log = logging.getLogger("xares")

CONTRACT_ATTRIBUTES = ("sampling_rate", "output_dim", "hop_size_in_ms")
# the encoder YAML's reserved block of facts about the encoder (licence, paper, source): never an argument
META_KEY = "meta"
# before 0.2 the wrappers installed as a top-level package ``encoders``; old targets keep working until 0.3
DEPRECATED_PREFIX, PACKAGE_PREFIX = "encoders.", "xares_hydra.encoders."
ENCODER_FILE_LOADER = "xares_hydra.encode.encoder_file.load_encoder_file"

EncoderBuilder = Callable[[Mapping[str, Any]], torch.nn.Module]


@dataclass
class EncoderSpec:
    name: str
    fingerprint: str
    fingerprint_document: dict[str, Any]
    config: dict[str, Any] | None = None
    instance: torch.nn.Module | None = field(default=None, repr=False)
    builder: EncoderBuilder | None = field(default=None, repr=False)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def cache_name(self) -> str:
        return f"{self.name}-{self.fingerprint}"

    @property
    def target(self) -> str:
        if self.config is not None:
            return str(self.config.get("_target_"))
        return f"{type(self.instance).__module__}.{type(self.instance).__qualname__}"

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "identity": encoder_identity(self.fingerprint_document),
            "target": self.target,
            "code": self.fingerprint_document.get("code"),
            "config": self.config,
            "meta": self.meta,
            "weight_files": {  # argument -> sha256 of every file or folder the encoder config names
                key: value["sha256"]
                for key, value in self.fingerprint_document.get("encoder", {}).items()
                if isinstance(value, Mapping) and set(value) == {"path", "sha256"}
            },
        }

    def build(self, device: torch.device) -> torch.nn.Module:
        if self.instance is None:
            assert self.builder is not None and self.config is not None, "spec_from_config sets both"
            return self.builder(self.config).to(device).eval()
        return self.instance.to(device).eval()


def spec_from_config(
    name: str,
    config: Mapping[str, Any],
    embedding_settings: Mapping[str, Any],
    memo_dir: Path | None,
    builder: EncoderBuilder,
) -> EncoderSpec:
    config = canonical_target(config)
    meta = dict(config.pop(META_KEY, None) or {})
    unset = [key for key, value in config.items() if value == MISSING]
    if unset:
        raise TaskSkipped(
            f"encoder {name} is a template: set {', '.join(f'encoder.{key}=...' for key in unset)} "
            "(README, 'Bring your own encoder')"
        )
    if not config.get("_target_"):
        raise ConfigError(
            "the encoder config has no _target_: use encoder=<name> or encoder=custom encoder._target_=..."
        )
    target = str(config["_target_"])
    source_file = config.get("path") if target == ENCODER_FILE_LOADER else None
    code = code_identity(target, str(source_file) if source_file else None)
    fingerprint, document = encoder_fingerprint(config, embedding_settings, memo_dir, code=code)
    return EncoderSpec(safe_name(name), fingerprint, document, config, builder=builder, meta=meta)


def canonical_target(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config with a deprecated ``encoders.*`` target rewritten, before building and fingerprinting."""
    config = dict(config)
    target = config.get("_target_")
    if isinstance(target, str) and target.startswith(DEPRECATED_PREFIX):
        config["_target_"] = PACKAGE_PREFIX + target.removeprefix(DEPRECATED_PREFIX)
        log.warning(
            "_target_: %s is deprecated and stops working in xares-hydra 0.3: write %s",
            target,
            config["_target_"],
        )
    return config


def spec_from_instance(encoder: torch.nn.Module, embedding_settings: Mapping[str, Any], name: str | None = None):
    """For an encoder object handed over from Python: fingerprinted by class, attributes and weights."""
    identity = {
        "_target_": f"{type(encoder).__module__}.{type(encoder).__qualname__}",
        **{attribute: getattr(encoder, attribute, None) for attribute in CONTRACT_ATTRIBUTES},
        "weights_sha256": _state_digest(encoder),
    }
    fingerprint, document = encoder_fingerprint(
        identity, embedding_settings, code=code_identity(str(identity["_target_"]))
    )
    return EncoderSpec(safe_name(name or type(encoder).__name__), fingerprint, document, instance=encoder)


def default_name(choice: str | None, config: Mapping[str, Any]) -> str:
    """The config group choice, or for ad-hoc encoders the class or file they point at."""
    target = config.get("_target_")
    if choice in (None, "custom") and target and target != MISSING:
        return str(target).rsplit(".", 1)[-1]
    if choice == "xares_file" and config.get("path") not in (None, MISSING):
        return Path(str(config["path"])).stem
    if choice == "hf" and config.get("model") not in (None, MISSING):  # encoder=hf encoder.model=org/name or a dir
        return f"hf-{Path(str(config['model'])).name}"
    return choice or "encoder"


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "encoder"


def weights_identity(encoder: torch.nn.Module) -> dict[str, Any]:
    """Parameter count, a digest of the weights as loaded, and the hub revision where the wrapper knows one."""
    identity = {
        "parameters": sum(parameter.numel() for parameter in encoder.parameters()),
        "weights_sha256": _state_digest(encoder),
    }
    if revision := getattr(encoder, "weights_revision", None):
        identity["weights_revision"] = str(revision)
    return identity


def _state_digest(encoder: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(encoder.state_dict().items()):
        digest.update(key.encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()

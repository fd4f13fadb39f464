"""The contract every VAE in textvae keeps, and saving/loading as data (never code).

A model is an nn.Module with a config dataclass and two methods:

    posterior = model.encode(batch)             # DiagonalGaussian, mean/logvar (B, D)
    log_px_z  = model.log_likelihood(z, batch)  # z (S, B, D) -> log p(x|z) summed over x: (S, B)

The training loss reads `model.likelihood(z, batch)`, a VAEOutput: the same log p(x|z) plus the
model's own training penalty, if it has one (the text decoder's activation regularisation). By
default it wraps log_likelihood with no penalty.

The ELBO, free bits, the importance-weighted bound and the latent metrics are computed outside the
model from these two (textvae.core.objectives, textvae.core.metrics), for text and images alike.
`log_likelihood` must return float32 (cast logits up before the softmax under autocast).

Saved folder: config.json ({"model_type": ..., "config": {...}}) + model.safetensors, plus whatever
`save_extras` writes (a tokenizer's own file). `from_pretrained` rebuilds from JSON and safetensors
only; `textvae.registry.load_model` dispatches on model_type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from ..errors import UserError
from .distributions import DiagonalGaussian
from .priors import build_prior

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class VAEOutput:
    """What a VAE's decoder gives the training loss for codes z (VAE.likelihood).

    log_px_z: (S, B) float32, log p(x|z) summed over each example.
    penalty: a scalar regularisation term for the training loss only (per example, as the loss is), or
        None. Not part of log p(x|z): evaluation and the reported bounds never see it.
    """

    log_px_z: torch.Tensor
    penalty: torch.Tensor | None = None


class VAE(nn.Module):
    model_type: ClassVar[str] = ""
    config_class: ClassVar[type] = object

    def __init__(self, config):
        super().__init__()
        self.config = config
        # N(0, I) unless `textvae fit-prior` has fitted a mixture (config.prior_components > 0)
        components = getattr(config, "prior_components", 0)
        self.prior = build_prior(components, config.latent_size) if components else None
        # regularised dimensions (textvae.core.attributes): name, dim, weight, delta, the training values'
        # range; saved in config.json beside the config, so later commands name a dimension by attribute
        self.attributes: list[dict] = []

    @property
    def latent_size(self) -> int:
        return self.config.latent_size

    def encode(self, batch) -> DiagonalGaussian:
        raise NotImplementedError

    def log_likelihood(self, z: torch.Tensor, batch) -> torch.Tensor:
        raise NotImplementedError

    def likelihood(self, z: torch.Tensor, batch) -> VAEOutput:
        """log p(x|z) for z (S, B, D), and the model's training penalty (None here: override both
        methods to add one)."""
        return VAEOutput(self.log_likelihood(z, batch))

    def augment(self, batch: dict) -> dict:
        """The training batch as the model trains on it (a data augmentation; the batch itself here).
        Called by the training objective in training mode only, never by evaluation."""
        return batch

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes (n, D) drawn from the prior (N(0, I) or the fitted mixture), on the CPU."""
        from .priors import sample_prior

        return sample_prior(self, n, generator)

    # -- saving and loading -------------------------------------------------------------------
    def save_extras(self, directory: Path) -> None:
        """Write anything besides config and weights the model needs (e.g. the tokenizer)."""

    @classmethod
    def build_from_folder(cls, config, directory: Path) -> VAE:
        """Construct (weights not yet loaded) from a config and the saved folder's extras."""
        return cls(config)

    def save_pretrained(self, directory: str | Path) -> None:
        from safetensors.torch import save_file

        from ..config import to_dict

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"model_type": self.model_type, "config": to_dict(self.config)}
        if self.attributes:
            meta["attributes"] = self.attributes
        tmp_config, tmp_weights = directory / (CONFIG_NAME + ".tmp"), directory / (WEIGHTS_NAME + ".tmp")
        state = {k: v.detach().contiguous().cpu() for k, v in unique_state(self).items()}
        try:  # both written in full before either replaces the old files
            tmp_config.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            save_file(state, str(tmp_weights), metadata={"format": "pt"})
        except BaseException:
            tmp_config.unlink(missing_ok=True)
            tmp_weights.unlink(missing_ok=True)
            raise
        tmp_weights.replace(directory / WEIGHTS_NAME)
        tmp_config.replace(directory / CONFIG_NAME)
        self.save_extras(directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str = "cpu") -> VAE:
        from ..config import from_dict

        directory = Path(directory)
        meta = read_model_config(directory)
        if meta["model_type"] != cls.model_type:
            raise UserError(f"{directory} holds a '{meta['model_type']}' model, not '{cls.model_type}'")
        # saved=True: a folder saved before a config was split by kind holds keys of the other kinds
        config = from_dict(cls.config_class, meta["config"], prefix="config.", saved=True)
        model = cls.build_from_folder(config, directory)
        load_weights(model, directory / WEIGHTS_NAME, map_location)
        model.attributes = list(meta.get("attributes") or [])
        model.eval()
        return model


def read_model_config(directory: Path) -> dict:
    if not directory.exists():
        raise UserError(f"model folder {directory} does not exist")
    if not directory.is_dir():
        raise UserError(f"{directory} is a file; give the model folder written by `textvae train`")
    path = directory / CONFIG_NAME
    if not path.exists():
        raise UserError(f"model folder {directory} has no {CONFIG_NAME}; is it a textvae model?")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is corrupt (not valid JSON: {e})") from None
    if not isinstance(meta, dict) or "model_type" not in meta or not isinstance(meta.get("config"), dict):
        raise UserError(f"{path} lacks 'model_type' and 'config'; is it a textvae model?")
    return meta


def unique_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict without aliases: a tensor shared under several names (tied embeddings of a
    pretrained language model) is kept under the first (safetensors refuses shared tensors)."""
    seen, out = set(), {}
    for name, tensor in model.state_dict().items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if tensor.numel() and key in seen:
            continue
        seen.add(key)
        out[name] = tensor
    return out


def read_weights(path: Path, map_location: str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a missing or damaged file is a one-line UserError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.exists():
        raise UserError(f"model weights {path} are missing")
    try:
        return load_file(str(path), device=map_location)
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"model weights {path} are corrupt: {e}") from None


def init_from_folder(model: nn.Module, folder: Path, parts: list[str] = ()) -> list[str]:
    """Copy into `model` the weights of the saved model in `folder` whose names start with one of
    `parts` (a name or a dotted prefix; none: all). Every chosen tensor must exist there with the same
    shape, else a one-line UserError. Returns the names copied."""
    state = read_weights(Path(folder) / WEIGHTS_NAME)
    own = unique_state(model)
    chosen = [k for k in own if not parts or any(k == p or k.startswith(p + ".") for p in parts)]
    if not chosen:
        tops = sorted({k.split(".")[0] for k in own})
        raise UserError(
            f"train.init_parts {list(parts)} names no parameter of this model; its parts are {', '.join(tops)}"
        )
    missing = [k for k in chosen if k not in state]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in chosen
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or mismatched:
        detail = "; ".join(
            s
            for s in (
                f"missing {', '.join(missing[:3])}" if missing else "",
                f"other shapes: {', '.join(mismatched[:3])}" if mismatched else "",
            )
            if s
        )
        raise UserError(f"train.init_from: {folder} does not have this model's {detail}")
    with torch.no_grad():
        for k in chosen:
            own[k].copy_(state[k])
    return chosen


def load_weights(model: nn.Module, path: Path, map_location: str = "cpu") -> None:
    state = read_weights(path, map_location)
    own = unique_state(model)  # a tied tensor is saved once, under its first name
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k, v in own.items() if k in state and state[k].shape != v.shape]
    if not (missing or unexpected or mismatched):
        model.load_state_dict(state, strict=False)  # the names left out are aliases of loaded tensors
    else:
        detail = "; ".join(
            s
            for s in (
                f"missing {', '.join(missing[:3])}" if missing else "",
                f"unexpected {', '.join(unexpected[:3])}" if unexpected else "",
                f"wrong shape {', '.join(mismatched[:3])}" if mismatched else "",
            )
            if s
        )
        raise UserError(f"weights {path} do not match its config.json ({detail})")

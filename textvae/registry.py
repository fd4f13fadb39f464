"""Explicit registries from names to classes: how a saved folder or a config finds its code.

Entries are "module:Class" strings imported on first use, so `textvae --help` stays fast and the
core never imports text or image code.
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path

from .errors import UserError

MODELS = {
    "conv_image_vae": "textvae.image.models:ConvImageVAE",
    "mlp_image_vae": "textvae.image.models:MLPImageVAE",
    "text_vae": "textvae.text.model:TextVAE",
}

TASKS = {
    "image": "textvae.image.task:ImageTask",
    "text": "textvae.text.task:TextTask",
}


def _resolve(table: dict, name: str, what: str):
    if name not in table:
        near = difflib.get_close_matches(str(name), list(table), n=1, cutoff=0.0)
        raise UserError(f"unknown {what} {name!r}; did you mean {near[0]!r}? (known: {', '.join(table)})")
    module, attr = table[name].split(":")
    return getattr(importlib.import_module(module), attr)


def model_class(model_type: str):
    return _resolve(MODELS, model_type, "model_type")


def task_class(name: str):
    return _resolve(TASKS, name, "task")


def load_model(directory: str | Path, map_location: str = "cpu"):
    """Load any saved textvae model folder, dispatching on its config.json's model_type."""
    from .core.model import read_model_config

    meta = read_model_config(Path(directory))
    return model_class(meta["model_type"]).from_pretrained(directory, map_location=map_location)

"""Helpers shared by the command-line verbs of every modality (textvae.text.commands, textvae.image.commands)."""
from __future__ import annotations

from pathlib import Path

from .errors import UserError


def output_path(path: str | Path, what: str) -> Path:
    """A file the verb will write: refused if it is a directory; its parent folder is created."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{what}: {p} is a directory; give a file name")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def recorded_data_config(model_dir: str | Path) -> dict:
    """The `data` section of the run that wrote `model_dir` (its train_config.yaml), or {}."""
    import yaml

    path = Path(model_dir) / "train_config.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")).get("data")
    except (OSError, yaml.YAMLError, AttributeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}

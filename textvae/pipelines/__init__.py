"""textvae's Python API: load a trained model folder, use it, train a new one.

    import textvae
    vae = textvae.load("runs/snli-lstm")          # a TextPipeline (or an ImagePipeline)
    vae.interpolate("a man is playing a guitar .", "two dogs are running through the snow .", steps=5)
    run = textvae.train("configs/text/snli-lstm.yaml", "train.max_steps=100", output_dir="runs/x")

The command-line verbs (textvae.text.commands, textvae.image.commands) are thin wrappers over these
classes. Heavy libraries are imported when a model is loaded, so `import textvae` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .image import ImagePipeline
    from .text import TextPipeline


def load(model_dir: str | Path) -> TextPipeline | ImagePipeline:
    """Load a model folder written by `textvae train` (or `textvae fit-prior`), text or image.

    Args:
        model_dir: the folder holding config.json and model.safetensors.
    Returns:
        A TextPipeline for a text model, an ImagePipeline for an image model, on the CPU in eval mode.
    Raises:
        textvae.errors.UserError: the folder holds no textvae model.
    """
    from ..registry import load_model

    model = load_model(model_dir)
    if model.task_name == "text":
        from .text import TextPipeline

        return TextPipeline(model, model_dir)
    from .image import ImagePipeline

    return ImagePipeline(model, model_dir)


def train(
    config: str | Path | None,
    *overrides: str,
    output_dir: str | Path | None = None,
    resume: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Train a model, as `textvae train` does.

    Args:
        config: a YAML file (configs/ holds examples); None continues a run (with `resume`) from its
            own train_config.yaml.
        *overrides: "key.sub=value" strings, e.g. "train.max_steps=100".
        output_dir: the model folder (overrides train.output_dir).
        resume: "auto" (the latest checkpoint in the output folder) or a checkpoint folder; None starts
            afresh.
        overwrite: empty an output folder that holds an earlier run first (without it such a run is
            refused before anything is written).
    Returns:
        The model folder's path; `textvae.load` it.
    """
    from ..training.run_folder import command_config
    from ..training.trainer import train as run_training

    cfg = command_config(
        None if config is None else str(config),
        list(overrides),
        None if output_dir is None else str(output_dir),
        resume,
    )
    return run_training(cfg, resume=resume, overwrite=overwrite)


__all__ = ["load", "train"]

"""A run's output folder between commands: a fresh run never trains over a model, and a resumed run
keeps the config it was trained with.

A folder that holds a model (config.json, model.safetensors) or a complete checkpoint belongs to a run:
a fresh `textvae train` into it stops (nothing written) unless --overwrite, which empties the folder
first, so that a later `--resume auto` cannot pick a checkpoint of the old run. A resumed run reads its
config from the folder's train_config.yaml (or checks the one given against it): values given on the
command line must agree with it, except the few in RESUMABLE, which change how long a run goes on or
what it saves, not what it has trained so far; how it reports (UNCHECKED) may differ freely.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

from ..config import apply_overrides, load_yaml, parse_override
from ..errors import UserError
from .checkpoints import checkpoint_dirs
from .config import ExperimentConfig, build_config, config_to_dict, flatten, load_config

SAVED_CONFIG = "train_config.yaml"
# What a resumed run may change when given explicitly: its length, its learning rate (the divergence
# message advises a lower one), and when it validates and what it saves.
RESUMABLE = (
    "train.max_steps",
    "train.epochs",
    "train.lr",
    "train.eval_every",
    "train.save_every",
    "train.keep_last",
    "train.select_best",
)
# Never compared: the folder (where the saved config was found, however its path is spelt), and how the
# run reports and the threads it uses, which change no number (and whose defaults may change).
UNCHECKED = ("train.output_dir", "train.log_every", "train.report_to", "train.progress_bar", "train.threads")
# Any of these makes a folder a textvae run's, which --overwrite may empty.
RUN_MARKS = ("config.json", "model.safetensors", SAVED_CONFIG, "checkpoints", "logs", "tokenizer")


def holds_a_run(out: Path) -> bool:
    """Whether `out` holds a trained model or a complete checkpoint."""
    return (
        (out / "config.json").is_file()
        or (out / "model.safetensors").is_file()
        or bool(checkpoint_dirs(out / "checkpoints"))
    )


def check_output_folder(cfg: ExperimentConfig, resume: str | None, overwrite: bool) -> None:
    """Read-only, on every process before anything is written: refuse a fresh run into a used folder."""
    out = Path(cfg.train.output_dir)
    if resume is not None and overwrite:
        raise UserError("--resume continues a run and --overwrite starts afresh: give one of them")
    if resume is not None or not out.exists():
        return
    if not out.is_dir():
        raise UserError(f"train.output_dir {out} is a file; give a folder")
    if not overwrite:
        if holds_a_run(out):
            raise UserError(
                f"{out} already holds a trained model or checkpoints; continue that run with "
                f"`--resume auto --output-dir {out}`, or start afresh with --overwrite (deletes them)"
            )
        return
    if any(out.iterdir()) and not any((out / mark).exists() for mark in RUN_MARKS):
        raise UserError(
            f"--overwrite empties only a textvae run's folder, and {out} holds none "
            f"({', '.join(RUN_MARKS)}); give a new or empty --output-dir"
        )
    inside = _paths_inside(cfg, out)
    if inside:
        key, value = inside[0]
        raise UserError(
            f"--overwrite would delete {key} {value}, which is inside {out}; train into another --output-dir"
        )


def clear_output_folder(out: Path) -> int:
    """--overwrite, on the main process: empty the folder of the old run. Returns the entries removed."""
    if not out.is_dir():
        return 0
    entries = list(out.iterdir())
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return len(entries)


def command_config(
    config: str | None, overrides: list[str], output_dir: str | None, resume: str | None
) -> ExperimentConfig:
    """The config of `textvae train`: from --config, or for a resumed run without it, from the run
    folder's train_config.yaml; with --resume, checked against the run's saved config."""
    overrides = list(overrides)
    if config is None:
        if resume is None:
            raise UserError("textvae train needs --config FILE (to continue a run: --resume auto --output-dir RUN)")
        run = _run_of(output_dir, resume)
        saved = run / SAVED_CONFIG
        if not saved.is_file():
            raise UserError(
                f"--resume without --config reads the run's config from {saved}, which does not "
                f"exist; give --config FILE"
            )
        raw = load_yaml(saved)
        overrides.append(f"train.output_dir={run}")
        cfg = build_config(apply_overrides(copy.deepcopy(raw), overrides), saved=True)
        check_resume_agrees(_saved_config(raw, saved), cfg, overrides, run, None)
        return cfg
    if output_dir:
        overrides.append(f"train.output_dir={output_dir}")
    cfg = load_config(config, overrides)
    saved = Path(cfg.train.output_dir) / SAVED_CONFIG
    if resume is not None and saved.is_file():
        check_resume_agrees(_saved_config(load_yaml(saved), saved), cfg, overrides, saved.parent, config)
    return cfg


def check_resume_agrees(
    saved: ExperimentConfig, cfg: ExperimentConfig, overrides: list[str], run: Path, config: str | None
) -> None:
    """Refuse a resumed run whose config differs from the one it was trained with, in one line naming
    the first differing key and both values. An explicit override of a RESUMABLE key may differ."""
    explicit = [".".join(parse_override(o)[0]) for o in overrides]
    old, new = flatten(config_to_dict(saved)), flatten(config_to_dict(cfg))
    differ = [k for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k) and k not in UNCHECKED]
    given = [k for k in differ if any(k == e or k.startswith(e + ".") for e in explicit)]
    # what the task fills in (a text model's vocabulary size and special ids, from its tokenizer) is saved
    # filled, and a config file leaves it to the task
    filled = {f"model.{name}" for name in getattr(type(cfg.model), "FILLED_BY_TASK", ())}
    differ = [k for k in differ if k not in filled or k in given]
    # an override given on this command line first: it is what the user just typed
    refused = [k for k in given if k not in RESUMABLE] + [k for k in differ if k not in given]
    if not refused:
        return
    key = refused[0]
    more = f" (and {len(refused) - 1} other key(s))" if len(refused) > 1 else ""
    was, now = _show(old.get(key)), _show(new.get(key))
    if key in given:
        may = ", ".join(k.removeprefix("train.") for k in RESUMABLE)
        raise UserError(
            f"{key}={now} disagrees with the run in {run}, trained with {key}={was}{more}; a resumed "
            f"run keeps its config (only train's {may} and logging may change): leave {key} out, or "
            f"start afresh with --overwrite"
        )
    where = f"--config {config}" if config else "this command"
    raise UserError(
        f"{key}: the run in {run} was trained with {was}, {where} gives {now}{more}; continue it with "
        f"`textvae train --resume auto --output-dir {run}` alone (its {SAVED_CONFIG} is the config)"
    )


def _run_of(output_dir: str | None, resume: str) -> Path:
    if output_dir:
        return Path(output_dir)
    ckpt = Path(resume)
    if resume != "auto" and ckpt.parent.name == "checkpoints":
        return ckpt.parent.parent
    raise UserError("--resume without --config needs --output-dir RUN (the run's folder)")


def _saved_config(raw: dict, path: Path) -> ExperimentConfig:
    try:
        return build_config(copy.deepcopy(raw), saved=True)
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def _paths_inside(cfg: ExperimentConfig, out: Path) -> list[tuple[str, str]]:
    """Config values (other than the output folder) naming existing paths inside `out`."""
    root = out.resolve()
    found = []
    for key, value in flatten(config_to_dict(cfg)).items():
        if key == "train.output_dir":
            continue
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and text and Path(text).exists():
                path = Path(text).resolve()
                if path == root or root in path.parents:
                    found.append((key, text))
    return found


def _show(value) -> str:
    return value if isinstance(value, str) and value else json.dumps(value)

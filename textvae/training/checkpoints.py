"""Checkpoints: Accelerate state folders written atomically, the last K kept.

A checkpoint is `checkpoints/step-N/` holding Accelerate's `save_state` files plus
`trainer_state.json` (step, epoch, batches consumed in the epoch, best validation loss). It is written
under a temporary name and renamed only when complete, so a partial folder is never taken for a good
one; `latest_checkpoint` ignores anything without trainer_state.json.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from ..errors import UserError

STATE_NAME = "trainer_state.json"
_STEP = re.compile(r"^step-(\d+)$")


def checkpoint_dirs(root: Path) -> list[Path]:
    """Complete checkpoints under root, oldest first."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP.match(p.name)) and (p / STATE_NAME).is_file()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(root: Path) -> Path | None:
    dirs = checkpoint_dirs(root)
    return dirs[-1] if dirs else None


def save_checkpoint(accelerator, root: Path, state: dict, keep_last: int) -> Path:
    """All processes call this (each saves its RNG state); the main process finalises."""
    from safetensors import SafetensorError

    final = root / f"step-{state['step']}"
    tmp = root / f".tmp-step-{state['step']}"
    try:
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            (tmp / STATE_NAME).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
    except (OSError, SafetensorError) as e:  # a full disk, a file-size limit, a vanished folder
        shutil.rmtree(tmp, ignore_errors=True)
        previous = latest_checkpoint(root)
        kept = f"the previous checkpoint {previous} is intact" if previous else "no earlier checkpoint exists"
        reason = getattr(e, "strerror", None) or str(e)
        raise UserError(f"could not write checkpoint {final} ({reason}); {kept}") from None
    if accelerator.is_main_process:
        for old in checkpoint_dirs(root)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def resolve_resume(resume: str, root: Path) -> Path:
    """`auto` -> the latest complete checkpoint under root; otherwise a checkpoint folder path."""
    if resume == "auto":
        found = latest_checkpoint(root)
        if found is None:
            raise UserError(f"--resume auto: no complete checkpoint under {root}")
        return found
    path = Path(resume)
    if not (path / STATE_NAME).is_file():
        raise UserError(f"--resume {path}: not a complete checkpoint folder (no {STATE_NAME})")
    return path


def read_state(path: Path) -> dict:
    try:
        return json.loads((path / STATE_NAME).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"checkpoint {path} is corrupt: {e}") from None


def load_checkpoint(accelerator, path: Path) -> None:
    """accelerator.load_state, with what can go wrong as one clear line. Accelerate loads pickled
    states (optimizer, RNG) with torch.load(weights_only=True), which refuses to build arbitrary
    objects: a planted or corrupt file stops here without running anything."""
    import pickle

    from accelerate.utils import load as safe_load

    try:
        # Accelerate swallows a failure to load the RNG states (and the run then silently stops being
        # exact): load them first, with its own weights-only loader, so a bad file stops the resume.
        rng = path / f"random_states_{accelerator.process_index}.pkl"
        if not rng.is_file():
            raise UserError(f"checkpoint {path} lacks {rng.name} (was it written by another number of processes?)")
        safe_load(rng)
        accelerator.load_state(str(path))
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"checkpoint {path} cannot be loaded safely ({type(e).__name__}: {first[:200]}); "
            f"resume from an earlier checkpoint or start afresh"
        ) from None

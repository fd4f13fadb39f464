"""What the benchmark scripts share: the project root, a textvae command line, and running it from the
root (printed, timed)."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def textvae(verb: str, *args) -> list[str]:
    """`python -m textvae VERB ARGS...` with this interpreter (arguments as strings)."""
    return [sys.executable, "-m", "textvae", verb, *map(str, args)]


def shown(cmd: list) -> str:
    """A command as a reader types it from the project root: `python`, paths relative to the root."""
    return shlex.join(["python", *map(str, cmd[1:])]).replace(str(ROOT) + "/", "")


def run(cmd: list, **kwargs) -> float:
    """Run `cmd` from the project root (printed first); its wall time in seconds. A failure stops the
    benchmark (CalledProcessError)."""
    print("$ " + shlex.join(map(str, cmd)), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, **kwargs)
    return time.perf_counter() - t0


def train_command(config, output_dir, *args) -> list[str]:
    """`textvae train --config CONFIG --output-dir OUTPUT_DIR ARGS...` (options and key=value overrides)."""
    return textvae("train", "--config", config, "--output-dir", output_dir, *args)

"""The run's Accelerator with its trackers, and the JSON-lines tracker (one line per logged step)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from accelerate.tracking import GeneralTracker, on_main_process


class JSONLTracker(GeneralTracker):
    name = "jsonl"
    requires_logging_directory = True

    def __init__(self, run_name: str, logging_dir: str | Path):
        # No @on_main_process here: that decorator would create Accelerate's PartialState before
        # the Accelerator, freezing a single-process state under `accelerate launch`.
        # The file is opened on first write, which happens on the main process only.
        super().__init__()
        self.run_name = run_name
        self.path = Path(logging_dir) / f"{run_name}.jsonl"
        self._file = None

    @property
    def tracker(self):
        return self._file

    @on_main_process
    def store_init_configuration(self, values: dict):
        self._write({"config": values})

    @on_main_process
    def log(self, values: dict, step: int | None = None, **kwargs):
        self._write({"step": step, "time": round(time.time(), 3), **values})

    def _write(self, record: dict):
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        self._file.write(json.dumps(record, default=str) + "\n")
        self._file.flush()

    @on_main_process
    def finish(self):
        if self._file is not None:
            self._file.close()
            self._file = None


def build_accelerator(tc, out: Path, precision: str):
    """The Accelerator of a run (train config `tc`, output folder `out`): its precision (`precision`: what
    runs, runtime.usable_precision of tc.mixed_precision), gradient accumulation and trackers
    (train.report_to: jsonl into out/logs/train.jsonl, tensorboard)."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    trackers = []
    if "jsonl" in tc.report_to:
        trackers.append(JSONLTracker("train", out / "logs"))
    if "tensorboard" in tc.report_to:
        trackers.append("tensorboard")
    return Accelerator(
        mixed_precision=precision,
        gradient_accumulation_steps=tc.grad_accum,
        log_with=trackers or None,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
    )

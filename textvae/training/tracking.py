"""A JSON-lines tracker for Accelerate's logging: one line per logged step."""
from __future__ import annotations

import json
import time
from pathlib import Path

from accelerate.tracking import GeneralTracker, on_main_process


class JSONLTracker(GeneralTracker):
    name = "jsonl"
    requires_logging_directory = True

    @on_main_process
    def __init__(self, run_name: str, logging_dir: str | Path):
        super().__init__()
        self.run_name = run_name
        self.path = Path(logging_dir) / f"{run_name}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

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
        self._file.write(json.dumps(record, default=str) + "\n")
        self._file.flush()

    @on_main_process
    def finish(self):
        self._file.close()

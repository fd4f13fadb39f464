"""scripts/bench_ptb.py's run tables: every row's config and overrides must build (a typo in a key would
only show hours into a benchmark), and rows made from other rows must point at rows that exist."""
import importlib.util
from pathlib import Path

import pytest

from textvae.training.config import load_config

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("bench_ptb", ROOT / "scripts" / "bench_ptb.py")
bench_ptb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_ptb)
ROWS = {**bench_ptb.RUNS, **bench_ptb.ABLATIONS}


@pytest.mark.parametrize("key", sorted(ROWS))
def test_every_row_config_builds_with_its_overrides(key):
    _, config, overrides = ROWS[key]
    stages = [overrides, *([bench_ptb.PRETRAIN[key]] if key in bench_ptb.PRETRAIN else [])]
    for extra in stages:  # train.init_from is added at run time; a placeholder stands in for it
        extra = [*extra, "train.init_from=runs/x"] if any(o.startswith("train.init_parts") for o in extra) else extra
        load_config(ROOT / config, extra)


def test_derived_rows_point_at_rows():
    for table in (bench_ptb.FIT_PRIOR, bench_ptb.EVAL_VARIANTS):
        for key, (base, _) in table.items():
            assert key in ROWS and base in ROWS and base != key, key
    assert set(bench_ptb.PRETRAIN) <= set(ROWS)

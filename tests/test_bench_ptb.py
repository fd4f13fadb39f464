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


def test_a_row_made_from_another_evaluates_only_itself(tmp_path, monkeypatch):
    """`--only ...-gmm16-wider1.25` trains (here: finds trained) the base run, fits its prior and
    evaluates the wider row alone: the rows it is made from are not evaluated on the way (20 min each).
    The commands are recorded instead of run; the trained base run is the files a run leaves."""
    import argparse
    import json

    key = "vae-ae-pretrained-dropout-0.5-epochs-60-ema-gmm16-wider1.25"
    prior_key, _ = bench_ptb.EVAL_VARIANTS[key]
    base_key, _ = bench_ptb.FIT_PRIOR[prior_key]
    base = tmp_path / base_key
    (base / "logs").mkdir(parents=True)
    (base / "logs" / "train.jsonl").write_text('{"train/tokens_per_s": 7000.0}\n')
    (base / "train_timing.json").write_text(json.dumps({"config": "c.yaml", "overrides": [], "train_seconds": 5.0,
                                                        "train_tokens_per_s": 7000.0}))
    commands = []

    def fake_run(cmd):
        commands.append(cmd)
        if "fit-prior" in cmd:  # writes the new model folder
            Path(cmd[cmd.index("--output") + 1]).mkdir(parents=True)
        if "evaluate" in cmd:
            Path(cmd[cmd.index("--output") + 1]).write_text(json.dumps({"nll": 100.0}))
        return 1.0

    monkeypatch.setattr(bench_ptb, "run", fake_run)
    args = argparse.Namespace(runs=str(tmp_path), reuse=True, overrides=[], iw_samples=500, eval_precision="bf16")
    row = bench_ptb.bench(key, args, {"train": "tr", "valid": "va", "test": "te"})
    verbs = [cmd[cmd.index("textvae") + 1] for cmd in commands]
    assert verbs == ["fit-prior", "evaluate"], commands
    assert commands[1][commands[1].index("evaluate") + 1] == str(tmp_path / prior_key)
    assert "--proposal-scale" in commands[1] and str(tmp_path / key / "test.json") in commands[1]
    assert row["nll"] == 100.0 and row["train_seconds"] == 6.0
    assert row["model"] == bench_ptb.ABLATIONS[key][0]  # the table's name, not the folder evaluated

"""scripts/bench_ptb.py's run tables: every row's config and overrides must build (a typo in a key would
only show hours into a benchmark), and rows made from other rows must point at rows that exist."""
import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from textvae.training.config import load_config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # as when the script runs: it imports its rows from ptb_rows.py
spec = importlib.util.spec_from_file_location("bench_ptb", ROOT / "scripts" / "bench_ptb.py")
bench_ptb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_ptb)
ROWS = {**bench_ptb.RUNS, **bench_ptb.ABLATIONS}


@pytest.mark.parametrize("key", sorted(ROWS))
def test_every_row_config_builds_with_its_overrides(key):
    _, config, overrides = ROWS[key]
    stage = bench_ptb.SHARED_PRETRAIN.get(key, key)
    stages = [overrides, *([bench_ptb.PRETRAIN[stage]] if stage in bench_ptb.PRETRAIN else [])]
    for extra in stages:  # train.init_from is added at run time; a placeholder stands in for it
        from_saved = any(o.startswith(("train.init_parts", "model.prior_components")) for o in extra)
        extra = [*extra, "train.init_from=runs/x"] if from_saved else extra
        load_config(ROOT / config, extra)


def test_derived_rows_point_at_rows():
    for table in (bench_ptb.FIT_PRIOR, bench_ptb.EVAL_VARIANTS):
        for key, (base, _) in table.items():
            assert key in ROWS and base in ROWS and base != key, key
    for key, base in bench_ptb.TUNED.items():
        assert key in ROWS and base in ROWS and base != key, key
    for key, teachers in bench_ptb.DISTILL.items():
        # a language model learns from language models only (a VAE teacher's targets read the whole sentence)
        assert key in ROWS and teachers and all(t in ROWS and t != key for t in teachers), key
        assert key.startswith("vae") or all(t.startswith("lm") for t in teachers), key
    assert set(bench_ptb.PRETRAIN) <= set(ROWS)
    for key, stage in bench_ptb.SHARED_PRETRAIN.items():  # the same config, and a first stage to share
        assert key in ROWS and stage in bench_ptb.PRETRAIN and key not in bench_ptb.PRETRAIN, key
        assert ROWS[key][1] == ROWS[stage][1], key


def record_commands(monkeypatch) -> list:
    """bench_ptb.run replaced: the commands are recorded, not run; each leaves the files its real run
    would (a training log, a fitted model's folder, an evaluation)."""
    commands = []

    def fake_run(cmd):
        commands.append(cmd)
        verb = cmd[cmd.index("textvae") + 1]
        if verb == "train":
            logs = Path(cmd[cmd.index("--output-dir") + 1]) / "logs"
            logs.mkdir(parents=True)
            (logs / "train.jsonl").write_text('{"train/tokens_per_s": 7000.0}\n')
        elif verb == "fit-prior":
            Path(cmd[cmd.index("--output") + 1]).mkdir(parents=True)
        elif verb == "evaluate":
            Path(cmd[cmd.index("--output") + 1]).write_text(json.dumps({"nll": 100.0}))
        return 1.0

    monkeypatch.setattr(bench_ptb, "run", fake_run)
    return commands


def bench_reusing(key: str, runs: Path) -> dict:
    """bench_ptb's row `key` with --reuse, runs under `runs`."""
    args = argparse.Namespace(runs=str(runs), reuse=True, overrides=[], iw_samples=500, eval_precision="bf16")
    return bench_ptb.bench(key, args, {"train": "tr", "valid": "va", "test": "te"})


def test_a_row_made_from_another_evaluates_only_itself(tmp_path, monkeypatch):
    """`--only ...-gmm16-wider1.25` trains (here: finds trained) the base run, fits its prior and
    evaluates the wider row alone: the rows it is made from are not evaluated on the way (20 min each).
    The trained base run is the files a run leaves."""
    key = "vae-ae-pretrained-dropout-0.5-epochs-60-ema-gmm16-wider1.25"
    prior_key, _ = bench_ptb.EVAL_VARIANTS[key]
    base_key, _ = bench_ptb.FIT_PRIOR[prior_key]
    base = tmp_path / base_key
    (base / "logs").mkdir(parents=True)
    (base / "logs" / "train.jsonl").write_text('{"train/tokens_per_s": 7000.0}\n')
    (base / "train_timing.json").write_text(json.dumps({"config": "c.yaml", "overrides": [], "train_seconds": 5.0,
                                                        "train_tokens_per_s": 7000.0}))
    commands = record_commands(monkeypatch)
    row = bench_reusing(key, tmp_path)
    verbs = [cmd[cmd.index("textvae") + 1] for cmd in commands]
    assert verbs == ["fit-prior", "evaluate"], commands
    assert commands[1][commands[1].index("evaluate") + 1] == str(tmp_path / prior_key)
    assert "--proposal-scale" in commands[1] and str(tmp_path / key / "test.json") in commands[1]
    assert row["nll"] == 100.0 and row["train_seconds"] == 6.0
    assert row["model"] == bench_ptb.ABLATIONS[key][0]  # the table's name, not the folder evaluated


def test_a_row_sharing_a_first_stage_starts_from_that_rows_stage(tmp_path, monkeypatch):
    """The z-to-output row's autoencoder stage is the plain row's (same config, same stage overrides): with
    --reuse and that stage on disk, the row trains only its second stage, from there, and counts both."""
    key = "vae-ae-pretrained-dropout-0.5-epochs-60-ema-z-to-output"
    stage = tmp_path / (bench_ptb.SHARED_PRETRAIN[key] + ".pretrain")
    stage.mkdir()
    (stage / "train_timing.json").write_text(json.dumps({"train_seconds": 7.0}))
    commands = record_commands(monkeypatch)
    row = bench_reusing(key, tmp_path)
    assert [cmd[cmd.index("textvae") + 1] for cmd in commands] == ["train", "evaluate"], commands
    assert f"train.init_from={stage}" in commands[0] and "model.decoder.z_to_output=true" in commands[0]
    assert row["train_seconds"] == 8.0
    assert not (tmp_path / (key + ".pretrain")).exists()


def test_a_tuned_row_trains_from_its_base_rows_model_and_counts_its_time(tmp_path, monkeypatch):
    """`--only ...-tuned-10-gmm16-wider1.25`: the base row (a fitted prior, on disk) is not redone; the tuned
    row trains from its folder, its prior is refitted, and only the last row is evaluated; the training
    time adds up every stage."""
    key = "vae-li-recipe-dropout-0.5-epochs-60-ema-gmm16-tuned-10-gmm16-wider1.25"
    refit_key, _ = bench_ptb.EVAL_VARIANTS[key]
    tuned_key, _ = bench_ptb.FIT_PRIOR[refit_key]
    base = tmp_path / bench_ptb.TUNED[tuned_key]
    base.mkdir()
    (base / "train_timing.json").write_text(json.dumps({"config": "c.yaml", "overrides": [], "train_seconds": 5.0,
                                                        "train_tokens_per_s": 7000.0}))
    commands = record_commands(monkeypatch)
    row = bench_reusing(key, tmp_path)
    assert [cmd[cmd.index("textvae") + 1] for cmd in commands] == ["train", "fit-prior", "evaluate"], commands
    assert f"train.init_from={base}" in commands[0] and "model.prior_components=16" in commands[0]
    assert commands[1][commands[1].index("fit-prior") + 1] == str(tmp_path / tuned_key)
    assert row["train_seconds"] == 5.0 + 1.0 + 1.0


def test_a_distilled_row_reads_its_teachers_rows_and_counts_their_time(tmp_path, monkeypatch):
    """The teachers on disk (--reuse) are not retrained; the row trains with loss.distill_from naming their
    folders, and its training time adds theirs."""
    key = "lm-distilled-from-3-lms"
    for teacher in bench_ptb.DISTILL[key]:
        (tmp_path / teacher).mkdir()
        (tmp_path / teacher / "train_timing.json").write_text(json.dumps(
            {"config": "c.yaml", "overrides": [], "train_seconds": 2.0, "train_tokens_per_s": 7000.0}))
    commands = record_commands(monkeypatch)
    row = bench_reusing(key, tmp_path)
    assert [cmd[cmd.index("textvae") + 1] for cmd in commands] == ["train", "evaluate"], commands
    teachers = ",".join(str(tmp_path / t) for t in bench_ptb.DISTILL[key])
    assert f"loss.distill_from=[{teachers}]" in commands[0]
    assert row["train_seconds"] == 3 * 2.0 + 1.0


def test_a_distilled_row_with_a_shared_first_stage_counts_both(tmp_path, monkeypatch):
    """The bug: the first stage's time replaced the teachers' instead of adding to it."""
    key = "vae-li-recipe-dropout-0.5-epochs-60-ema-distilled-from-3-lms"
    for teacher in bench_ptb.DISTILL[key]:
        (tmp_path / teacher).mkdir()
        (tmp_path / teacher / "train_timing.json").write_text(json.dumps(
            {"config": "c.yaml", "overrides": [], "train_seconds": 2.0, "train_tokens_per_s": 7000.0}))
    stage = tmp_path / (bench_ptb.SHARED_PRETRAIN[key] + ".pretrain")
    stage.mkdir()
    (stage / "train_timing.json").write_text(json.dumps({"train_seconds": 7.0}))
    commands = record_commands(monkeypatch)
    row = bench_reusing(key, tmp_path)
    assert f"train.init_from={stage}" in commands[0] and any(o.startswith("loss.distill_from=") for o in commands[0])
    assert row["train_seconds"] == 3 * 2.0 + 7.0 + 1.0


def test_help_names_the_rows_argument_without_listing_every_row(capsys):
    """--help once printed all ~90 row keys twice in its usage line; the keys are in ptb_rows.py."""
    with pytest.raises(SystemExit), pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["bench_ptb.py", "--help"])
        bench_ptb.main()
    usage = capsys.readouterr().out.split("\n\n")[0]
    assert "--only KEY [KEY ...]" in usage and "vae-li-recipe" not in usage

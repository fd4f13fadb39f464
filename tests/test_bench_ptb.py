"""scripts/bench_ptb.py and its rows (scripts/ptb_rows.py): every row's config and overrides build (a typo in a
key would only show hours into a benchmark), rows made from other rows run those first and add up their time,
benchmarks/ptb.md is what ptb.json gives, and the best row's own configs and script run what its row runs."""

import argparse
import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from textvae.training.config import load_config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # as when the script runs: it imports its rows from ptb_rows.py
spec = importlib.util.spec_from_file_location("bench_ptb", ROOT / "scripts" / "bench_ptb.py")
bench_ptb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_ptb)
ROWS, STAGES = bench_ptb.ROWS, bench_ptb.STAGES
Train, FitPrior, Evaluate = bench_ptb.Train, bench_ptb.FitPrior, bench_ptb.Evaluate
TRAINED = sorted(k for k, row in ROWS.items() if isinstance(row, Train))


@pytest.mark.parametrize("key", TRAINED)
def test_every_trained_row_builds_with_its_overrides(key):
    row = ROWS[key]
    # train.init_from is added at run time; a placeholder stands in for it
    from_saved = row.stage or row.init_from
    load_config(ROOT / row.config, [*row.overrides, *(["train.init_from=runs/x"] if from_saved else [])])


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_first_stage_builds(stage):
    config, overrides = STAGES[stage]
    load_config(ROOT / config, overrides)


def test_rows_made_from_other_rows_point_at_rows_that_make_what_they_need():
    for key, row in ROWS.items():
        if isinstance(row, Train):
            assert not row.stage or row.stage in STAGES, key
            assert not row.init_from or isinstance(ROWS[row.init_from], FitPrior), key  # training against its prior
        else:  # a prior is fitted to a trained model; a fitted model is evaluated another way
            assert isinstance(ROWS[row.of], Train if isinstance(row, FitPrior) else FitPrior), key


def fake_commands(monkeypatch) -> list:
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
            Path(cmd[cmd.index("--output") + 1]).mkdir(parents=True, exist_ok=True)
        elif verb == "evaluate":
            Path(cmd[cmd.index("--output") + 1]).write_text(json.dumps({"nll": 100.0}))
        return 1.0

    monkeypatch.setattr(bench_ptb, "run", fake_run)
    return commands


def verbs(commands) -> list[str]:
    return [cmd[cmd.index("textvae") + 1] for cmd in commands]


def bench(key: str, runs: Path, reuse: bool = True) -> dict:
    """bench_ptb's row `key`, runs under `runs`."""
    args = argparse.Namespace(runs=str(runs), reuse=reuse, overrides=[], iw_samples=500, eval_precision="bf16")
    return bench_ptb.bench(key, args, {"train": "tr", "valid": "va", "test": "te"})


def trained_on_disk(folder: Path, seconds: float) -> None:
    folder.mkdir(parents=True)
    (folder / "train_timing.json").write_text(
        json.dumps({"config": "c.yaml", "overrides": [], "train_seconds": seconds, "train_tokens_per_s": 7000.0})
    )


def test_the_headline_row_from_nothing_runs_its_stages_in_order_and_adds_their_time(tmp_path, monkeypatch):
    """Without --reuse: the autoencoder stage, the VAE from it, the fitted prior, and one evaluation (of the
    fitted model, with the wider proposal); the fit-prior row does not train over the model it fitted."""
    commands = fake_commands(monkeypatch)
    row = bench(bench_ptb.HEADLINE, tmp_path, reuse=False)
    assert verbs(commands) == ["train", "train", "fit-prior", "evaluate"], commands
    evaluate_row = ROWS[bench_ptb.HEADLINE]
    fitted = ROWS[evaluate_row.of]
    vae = ROWS[fitted.of]
    stage = tmp_path / f"{vae.stage}.pretrain"
    assert commands[0][commands[0].index("--output-dir") + 1] == str(stage)
    assert all(o in commands[0] for o in STAGES[vae.stage][1])
    assert f"train.init_from={stage}" in commands[1] and all(o in commands[1] for o in vae.overrides)
    assert commands[2][commands[2].index("fit-prior") + 1] == str(tmp_path / fitted.of)
    assert commands[3][commands[3].index("evaluate") + 1] == str(tmp_path / evaluate_row.of)
    assert " ".join(evaluate_row.arguments) in " ".join(commands[3])
    assert row["nll"] == 100.0 and row["train_seconds"] == 3.0 and row["model"] == evaluate_row.label


def test_a_row_sharing_a_first_stage_on_disk_trains_only_its_own_run(tmp_path, monkeypatch):
    """The mixture VAE's autoencoder stage is the Li-recipe row's: with --reuse and that stage on disk, only the
    second stage trains, from there, and the row counts both."""
    key = ROWS[ROWS[bench_ptb.HEADLINE].of].of
    stage = tmp_path / f"{ROWS[key].stage}.pretrain"
    stage.mkdir()
    (stage / "train_timing.json").write_text(json.dumps({"train_seconds": 7.0}))
    commands = fake_commands(monkeypatch)
    row = bench(key, tmp_path)
    assert verbs(commands) == ["train", "evaluate"], commands
    assert f"train.init_from={stage}" in commands[0] and "model.decoder.softmaxes=3" in commands[0]
    assert row["train_seconds"] == 8.0


def test_a_tuned_row_trains_from_its_base_rows_model_and_counts_its_time(tmp_path, monkeypatch):
    """`--only ...-tuned-10-gmm16-wider1.25`: the base row (a fitted prior, on disk) is not redone; the tuned
    row trains from its folder, its prior is refitted, and only the last row is evaluated."""
    key = "vae-li-recipe-dropout-0.5-epochs-60-ema-gmm16-tuned-10-gmm16-wider1.25"
    tuned_key = ROWS[ROWS[key].of].of
    base = tmp_path / ROWS[tuned_key].init_from
    trained_on_disk(base, 5.0)
    commands = fake_commands(monkeypatch)
    row = bench(key, tmp_path)
    assert verbs(commands) == ["train", "fit-prior", "evaluate"], commands
    assert f"train.init_from={base}" in commands[0] and "model.prior_components=16" in commands[0]
    assert commands[1][commands[1].index("fit-prior") + 1] == str(tmp_path / tuned_key)
    assert row["train_seconds"] == 5.0 + 1.0 + 1.0


def test_table_only_rewrites_the_shipped_table_from_ptb_json_alone(tmp_path, monkeypatch):
    """benchmarks/ptb.md is what `--table-only` makes of benchmarks/ptb.json, with no data and no runs."""
    shutil.copy(ROOT / "benchmarks" / "ptb.json", tmp_path / "ptb.json")
    argv = [
        "bench_ptb.py",
        "--table-only",
        "--out",
        str(tmp_path),
        "--ptb",
        str(tmp_path / "none"),
        "--runs",
        str(tmp_path / "none"),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    bench_ptb.main()
    table = (tmp_path / "ptb.md").read_text()
    assert table == (ROOT / "benchmarks" / "ptb.md").read_text()
    assert json.loads((tmp_path / "ptb.json").read_text()) == json.loads((ROOT / "benchmarks" / "ptb.json").read_text())
    headline = next(line for line in table.splitlines() if line.startswith(f"| {ROWS[bench_ptb.HEADLINE].label} |"))
    assert headline.split(" | ")[1] == "93.12"
    for name, *_ in bench_ptb.PUBLISHED:
        assert f"| {name} |" in table


def test_table_only_refuses_rows_the_registry_no_longer_has(tmp_path, monkeypatch):
    saved = json.loads((ROOT / "benchmarks" / "ptb.json").read_text())
    saved["rows"].append({**saved["rows"][0], "key": "vae-weight-drop-0.25"})
    (tmp_path / "ptb.json").write_text(json.dumps(saved))
    monkeypatch.setattr(sys, "argv", ["bench_ptb.py", "--table-only", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="vae-weight-drop-0.25"):
        bench_ptb.main()


def test_the_best_rows_configs_are_what_its_row_trains():
    """configs/text/ptb-best-ae.yaml and ptb-best.yaml, loaded as `textvae train` loads them, equal the base
    config with the registry's overrides of the headline row's first stage and VAE."""
    vae_key = ROWS[ROWS[bench_ptb.HEADLINE].of].of
    vae = ROWS[vae_key]
    config, overrides = STAGES[vae.stage]
    stage = load_config(ROOT / "configs/text/ptb-best-ae.yaml")
    assert stage == load_config(ROOT / config, [*overrides, f"train.output_dir={stage.train.output_dir}"])
    best = load_config(ROOT / "configs/text/ptb-best.yaml")
    assert best.train.init_from == stage.train.output_dir
    assert best == load_config(
        ROOT / vae.config,
        [*vae.overrides, f"train.output_dir={best.train.output_dir}", f"train.init_from={stage.train.output_dir}"],
    )


def test_the_best_rows_script_fits_and_evaluates_as_its_rows_do():
    """scripts/ptb_best.sh: both configs trained in order, then fit-prior with the row's components on the
    VAE's folder, then evaluate on the fitted folder with the row's arguments and k = 500."""
    lines = [
        line
        for line in (ROOT / "scripts" / "ptb_best.sh").read_text().replace("\\\n", " ").splitlines()
        if line.startswith("textvae ")
    ]
    evaluate_row = ROWS[bench_ptb.HEADLINE]
    fitted = ROWS[evaluate_row.of]
    vae_dir = load_config(ROOT / "configs/text/ptb-best.yaml").train.output_dir
    assert [line.split()[1] for line in lines] == ["train", "train", "fit-prior", "evaluate"], lines
    assert "configs/text/ptb-best-ae.yaml" in lines[0] and "configs/text/ptb-best.yaml" in lines[1]
    fit = lines[2].split()
    assert fit[2] == vae_dir and fit[fit.index("--components") + 1] == str(fitted.components)
    fitted_dir = fit[fit.index("--output") + 1]
    evaluate = re.sub(r"\s+", " ", lines[3]).split()
    assert evaluate[2] == fitted_dir and " ".join(evaluate_row.arguments) in " ".join(evaluate)
    assert evaluate[evaluate.index("--iw-samples") + 1] == "500"


def test_help_names_the_rows_argument_without_listing_every_row(capsys):
    """--help once printed every row key twice in its usage line; the keys are in ptb_rows.py."""
    with pytest.raises(SystemExit), pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["bench_ptb.py", "--help"])
        bench_ptb.main()
    usage = capsys.readouterr().out.split("\n\n")[0]
    assert "--only KEY [KEY ...]" in usage and "vae-li-recipe" not in usage

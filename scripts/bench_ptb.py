"""Benchmark: the Penn Treebank protocol of the text-VAE papers, against their published numbers.

    python scripts/bench_ptb.py [--ptb ../shared/data/ptb] [--out benchmarks] [--runs runs/bench-ptb]
                                [--only KEY ...] [--reuse] [--iw-samples 500] [--eval-precision no]
                                [--table-only]

Every model is trained by `textvae train` on ptb.train, selected on ptb.valid (best validation
-ELBO), and evaluated by `textvae evaluate` on ptb.test: NLL per sentence from the importance-weighted
bound (k = --iw-samples; for the language model q(z|x) = p(z) and the decoder ignores z, so one sample
gives log p(x) exactly), perplexity over words plus one end-of-sentence per sentence, KL, mutual
information, active units, and reconstruction BLEU of greedy decodes of the posterior means.
Wall times and training tokens/s are measured on the machine that runs it. Writes ptb.json and
ptb.md (and ptb-curves.png, the training curves of the rows whose runs are on disk) under --out; a run
already evaluated is reused with --reuse, and an unfinished one continues from its
latest checkpoint. --table-only rewrites ptb.md from ptb.json alone (no data, no runs).

Rows (scripts/ptb_rows.py's ROWS; run with --only KEY):
  lm       configs/text/ptb-lm.yaml     the decoder alone (encoder.kind none), the LM baseline
  vae      configs/text/ptb-lstm.yaml   the LSTM VAE (bidirectional LSTM encoder, z at every step)
  and the other rows that benchmarks/ptb.md shows, with the runs they are made from. The best row has
  configs of its own: scripts/ptb_best.sh.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

from benchlib import ROOT, run  # scripts/ is on sys.path when a script here runs

# The rows (scripts/ is on sys.path when a script here runs)
from ptb_rows import HEADLINE, PUBLISHED, ROWS, STAGES, Evaluate, FitPrior, Train  # noqa: E402

from textvae.runtime import processor_name
from textvae.training.checkpoints import latest_checkpoint, read_state
from textvae.training.curves import plot_curves

TEXTVAE = [sys.executable, "-m", "textvae"]


def ptb_files(ptb: Path) -> dict[str, str]:
    """{train, valid, test} -> the path of ptb.<split>.txt (or .txt.gz) in folder `ptb`; exits with a
    one-line error when one is missing."""
    data = {}
    for split in ("train", "valid", "test"):
        found = [f for f in (ptb / f"ptb.{split}.txt", ptb / f"ptb.{split}.txt.gz") if f.is_file()]
        if not found:
            sys.exit(f"error: no ptb.{split}.txt(.gz) in {ptb}; give the folder with --ptb")
        data[split] = str(found[0].resolve())
    return data


def training_speed(folder: Path) -> float | None:
    """Median training tokens/s over the logged windows (the first one, with start-up, left out)."""
    log = folder / "logs" / "train.jsonl"
    speeds = [
        r["train/tokens_per_s"] for r in map(json.loads, log.read_text().splitlines()) if "train/tokens_per_s" in r
    ]
    return statistics.median(speeds[1:] or speeds) if speeds else None


def resume_point(folder: Path, reuse: bool) -> tuple[list[str], float]:
    """With --reuse, an unfinished run continues from its latest checkpoint (train.save_every makes them;
    SIGTERM writes one): the `--resume` arguments and the time its earlier parts took up to there.
    Otherwise the run starts afresh: --overwrite empties a folder an earlier run left."""
    if reuse and (last := latest_checkpoint(folder / "checkpoints")) is not None:
        return ["--resume", str(last)], read_state(last).get("train_seconds", 0.0)
    return ["--overwrite"], 0.0


def bench(key: str, args, data: dict, evaluate: bool = True) -> dict:
    """Train, fit or evaluate row `key` (ptb_rows.ROWS), after the rows it is made from (trained, not
    evaluated); its row. --reuse keeps what is on disk: a finished run or fit, an evaluation with the
    same number of samples, and an unfinished run continues from its latest checkpoint. evaluate=False
    stops before the evaluation (a row made from another row needs that row's model, not its numbers)."""
    row = ROWS[key]
    folder = Path(args.runs) / key
    trained, result_file = folder / "train_timing.json", folder / "test.json"
    model_dir, eval_extra = folder, []
    if isinstance(row, Evaluate):
        base = bench(row.of, args, data, evaluate=False)
        model_dir, eval_extra = Path(args.runs) / row.of, list(row.arguments)
        folder.mkdir(parents=True, exist_ok=True)
        trained.write_text(
            json.dumps(
                {
                    **{k: base[k] for k in ("config", "overrides", "train_seconds", "train_tokens_per_s")},
                    "evaluated_model": str(model_dir),
                    "evaluate_arguments": eval_extra,
                },
                indent=2,
            )
            + "\n"
        )
    elif not (args.reuse and trained.is_file()):
        trained.parent.mkdir(parents=True, exist_ok=True)
        timing = fit_prior(row, folder, args, data) if isinstance(row, FitPrior) else train(row, folder, args, data)
        trained.write_text(json.dumps(timing, indent=2) + "\n")
    if not evaluate:
        return {"key": key, **json.loads(trained.read_text()), "model": row.label}
    k = 1 if key.startswith("lm") else args.iw_samples  # exact for the language models
    timing = folder / "eval_timing.json"
    done = json.loads(timing.read_text()) if timing.is_file() else {}
    if not (args.reuse and result_file.is_file() and done.get("iw_samples_used") == k):
        eval_s = run(
            [
                *TEXTVAE,
                "evaluate",
                str(model_dir),
                *eval_extra,
                "--data",
                data["test"],
                "--iw-samples",
                str(k),
                "--mixed-precision",
                args.eval_precision,
                "--output",
                str(result_file),
            ]
        )
        done = {
            "eval_seconds": round(eval_s, 1),
            "iw_samples_used": k,
            "eval_precision": args.eval_precision,
            "measured": f"{time.strftime('%Y-%m-%d')}, {processor_name()}",
        }
        timing.write_text(json.dumps(done, indent=2) + "\n")
    return {
        "key": key,
        **json.loads(trained.read_text()),
        **done,
        **json.loads(result_file.read_text()),
        "model": row.label,
    }


def fit_prior(row: FitPrior, folder: Path, args, data: dict) -> dict:
    """`textvae fit-prior` on row `row.of`'s model (trained first) into `folder`; the timing record."""
    base = bench(row.of, args, data, evaluate=False)
    fit_s = run(
        [
            *TEXTVAE,
            "fit-prior",
            str(Path(args.runs) / row.of),
            "--data",
            data["train"],
            "--components",
            str(row.components),
            "--output",
            str(folder),
        ]
    )
    return {
        "config": base["config"],
        "overrides": base["overrides"],
        "prior": f"fit-prior --components {row.components} (from {row.of})",
        "fit_prior_seconds": round(fit_s, 1),
        "train_seconds": round(base["train_seconds"] + fit_s, 1),
        "train_tokens_per_s": base["train_tokens_per_s"],
    }


def train(row: Train, folder: Path, args, data: dict) -> dict:
    """`textvae train` of `row` into `folder`, after its first stage or the row it starts from; the timing
    record (its training time adds theirs)."""
    common = [f"data.train_file={data['train']}", f"data.valid_file={data['valid']}", "train.progress_bar=false"]
    extra, before_s = list(row.overrides), 0.0
    if row.init_from:  # trained first (kept with --reuse); this run starts from its model
        before_s = bench(row.init_from, args, data, evaluate=False)["train_seconds"]
        extra.append(f"train.init_from={Path(args.runs) / row.init_from}")
    if row.stage:
        pre = Path(args.runs) / f"{row.stage}.pretrain"
        pre_timing = pre / "train_timing.json"
        if not (args.reuse and pre_timing.is_file()):  # --reuse keeps a finished first stage
            pre_timing.parent.mkdir(parents=True, exist_ok=True)
            config, overrides = STAGES[row.stage]
            resume, resumed_s = resume_point(pre, args.reuse)
            pre_timing.write_text(
                json.dumps(
                    {
                        "train_seconds": resumed_s
                        + run(
                            [
                                *TEXTVAE,
                                "train",
                                "--config",
                                config,
                                "--output-dir",
                                str(pre),
                                *resume,
                                *common,
                                *overrides,
                                *args.overrides,
                            ]
                        )
                    }
                )
                + "\n"
            )
        before_s += json.loads(pre_timing.read_text())["train_seconds"]
        extra.append(f"train.init_from={pre}")
    resume, resumed_s = resume_point(folder, args.reuse)
    train_s = (
        before_s
        + resumed_s
        + run(
            [
                *TEXTVAE,
                "train",
                "--config",
                row.config,
                "--output-dir",
                str(folder),
                *resume,
                *common,
                *extra,
                *args.overrides,
            ]
        )
    )
    return {
        "config": row.config,
        "overrides": extra + list(args.overrides),
        "train_seconds": round(train_s, 1),
        "train_tokens_per_s": training_speed(folder),
    }


def fmt(x, digits=2):
    return "-" if x is None else (f"{x:,.{digits}f}" if isinstance(x, float) else f"{x}")


def markdown(rows: list[dict], header: str) -> str:
    out = [
        header,
        "",
        "| model (latent 32, LSTM 256) | PPL | NLL | KL | MI | active units | BLEU | train (min) | eval (min) "
        "| train tokens/s | measured |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        au = f"{r['active_units']}/{r['latent_size']}" if not r["key"].startswith("lm") else "-"
        mi = fmt(r["mi"]) if not r["key"].startswith("lm") else "-"
        out.append(
            f"| {r['model']} | {fmt(r['perplexity'])} | {fmt(r['nll'])} | {fmt(r['kl'])} | {mi} | {au} "
            f"| {fmt(r['bleu'], 1)} | {fmt(r['train_seconds'] / 60, 1)} | {fmt(r['eval_seconds'] / 60, 1)} "
            f"| {fmt(r['train_tokens_per_s'], 0)} | {r.get('measured', '-')} |"
        )
    for name, ppl, nll, mi, au in PUBLISHED:
        out.append(f"| {name} | {fmt(ppl)} | {fmt(nll)} | - | {fmt(mi)} | {fmt(au)} | - | - | - | - | paper |")
    return "\n".join(out) + "\n"


def header(machine: str, ptb: str) -> str:
    return (
        "# Penn Treebank: test-split numbers of textvae's models beside the published ones\n\n"
        f"Machine: {machine}, CPU only. Data: {ptb} (Mikolov's PTB text: 42,068 / 3,370 / 3,761 "
        "sentences, 10,000 words). Each model is trained on ptb.train, the weights with the best "
        "validation -ELBO kept, and evaluated on ptb.test.\n\n"
        "- NLL: nats per sentence, the importance-weighted bound with k = 500 samples (the language model: "
        "k = 1, exact, since its q(z|x) is the prior and its decoder ignores z).\n"
        "- PPL = exp(total NLL / (words + sentences)), one end-of-sentence per sentence.\n"
        "- KL: nats per sentence; MI: He et al. 2019, aggregate posterior over the whole test set; "
        "active units: Cov_x(E[z]) > 0.01; BLEU: greedy decodes of the posterior means (sacrebleu).\n"
        "- train/eval minutes: wall time of `textvae train` / `textvae evaluate`; tokens/s: median of the "
        "logged training windows (real tokens, eos included); measured: the date and processor of the row "
        "(times are comparable only between rows of the same processor and day).\n\n"
        "Commands: `python scripts/bench_ptb.py` (the LM and VAE rows); another row: `python "
        "scripts/bench_ptb.py --only KEY --eval-precision bf16` (KEY, config, overrides and evaluation precision "
        f"are in each row's ptb.json entry). The best row (`{HEADLINE}`) from its own configs: "
        "`bash scripts/ptb_best.sh`. The rows of earlier studies and what they showed: docs/benchmarks/ptb.md."
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--ptb",
        default=str(ROOT.parent / "shared" / "data" / "ptb"),
        help="folder of ptb.{train,valid,test}.txt (or .txt.gz)",
    )
    p.add_argument("--out", default="benchmarks")
    p.add_argument("--runs", default="runs/bench-ptb")
    p.add_argument(
        "--only",
        nargs="+",
        choices=list(ROWS),
        default=["lm", "vae"],
        metavar="KEY",
        help="the rows to run: lm, vae, or another key of scripts/ptb_rows.py's ROWS (default: lm vae)",
    )
    p.add_argument("--reuse", action="store_true", help="reuse runs that were already evaluated")
    p.add_argument(
        "--table-only", action="store_true", help="only rewrite ptb.md from ptb.json (no data, runs or training needed)"
    )
    p.add_argument("--iw-samples", type=int, default=500)
    p.add_argument("--eval-precision", choices=["no", "bf16"], default="no")
    p.add_argument("overrides", nargs="*", help="key=value overrides for every training run")
    args = p.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    saved = json.loads((out / "ptb.json").read_text()) if (out / "ptb.json").is_file() else {}
    previous = {r["key"]: r for r in saved.get("rows", [])}  # rows of runs not redone this time
    unknown = sorted(set(previous) - set(ROWS))
    if unknown:
        sys.exit(f"error: {out / 'ptb.json'} has rows that scripts/ptb_rows.py does not: {', '.join(unknown)}")
    t0 = time.perf_counter()
    if args.table_only:
        if not saved:
            sys.exit(f"error: --table-only rewrites ptb.md from {out / 'ptb.json'}, which does not exist")
        machine, ptb = saved["machine"], saved["data"]
        previous = {key: {**r, "model": ROWS[key].label} for key, r in previous.items()}  # labels as the rows now say
    else:
        import torch

        ptb = str(Path(args.ptb))
        data = ptb_files(Path(ptb))
        machine = (
            f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
            f"Python {platform.python_version()}"
        )
        for key in args.only:
            previous[key] = bench(key, args, data)
    order = list(ROWS)
    rows = sorted(previous.values(), key=lambda r: order.index(r["key"]))
    text = markdown(rows, header(machine, ptb))
    (out / "ptb.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "data": ptb,
                "rows": rows,
                "published": [dict(zip(("model", "perplexity", "nll", "mi", "active_units"), p)) for p in PUBLISHED],
            },
            indent=2,
        )
        + "\n"
    )
    (out / "ptb.md").write_text(text)
    # The training curves of the rows whose runs are on this disk (not redrawn by --table-only).
    logged = [r["key"] for r in rows if (Path(args.runs) / r["key"] / "logs" / "train.jsonl").is_file()]
    if logged and not args.table_only:
        plot_curves([Path(args.runs) / key for key in logged], out / "ptb-curves.png")
    print(text)
    print(f"done in {(time.perf_counter() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()

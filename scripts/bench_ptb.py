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
latest checkpoint.

Runs:
  lm       configs/text/ptb-lm.yaml     the decoder alone (encoder.kind none), the LM baseline
  vae      configs/text/ptb-lstm.yaml   the LSTM VAE (bidirectional LSTM encoder, z at every step)
  and ablations of the VAE listed in scripts/ptb_rows.py's ABLATIONS (run with --only).
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from textvae.runtime import processor_name
from textvae.training.checkpoints import latest_checkpoint, read_state
from textvae.training.curves import plot_curves

ROOT = Path(__file__).resolve().parent.parent
# The rows (scripts/ is on sys.path when a script here runs)
from ptb_rows import (ABLATIONS, DISTILL, EVAL_VARIANTS, FIT_PRIOR, PRETRAIN, PUBLISHED, RUNS, SHARED_PRETRAIN,
                      TUNED)


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


def run(cmd: list[str]) -> float:
    """Run a command from the project root; its wall time in seconds."""
    print("$ " + shlex.join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    return time.perf_counter() - t0


def training_speed(folder: Path) -> float | None:
    """Median training tokens/s over the logged windows (the first one, with start-up, left out)."""
    log = folder / "logs" / "train.jsonl"
    speeds = [r["train/tokens_per_s"] for r in map(json.loads, log.read_text().splitlines())
              if "train/tokens_per_s" in r]
    return statistics.median(speeds[1:] or speeds) if speeds else None


def resume_point(folder: Path, reuse: bool) -> tuple[list[str], float]:
    """With --reuse, an unfinished run continues from its latest checkpoint (train.save_every makes them;
    SIGTERM writes one): the `--resume` arguments and the time its earlier parts took up to there.
    Otherwise the run starts afresh: --overwrite empties a folder an earlier run left."""
    if reuse and (last := latest_checkpoint(folder / "checkpoints")) is not None:
        return ["--resume", str(last)], read_state(last).get("train_seconds", 0.0)
    return ["--overwrite"], 0.0


def bench(key: str, args, data: dict, evaluate: bool = True) -> dict:
    """Train (unless --reuse finds a trained model) and evaluate (unless --reuse finds an evaluation
    with the same number of samples) one run; its row. evaluate=False stops after training (a row made
    from another row needs that row's model, not its evaluation)."""
    name, config, extra = {**RUNS, **ABLATIONS}[key]
    folder = Path(args.runs) / key
    trained, result_file = folder / "train_timing.json", folder / "test.json"
    py = [sys.executable, "-m", "textvae"]
    model_dir, eval_extra = folder, []
    if key in EVAL_VARIANTS:
        base_key, eval_extra = EVAL_VARIANTS[key]
        base = bench(base_key, args, data, evaluate=False)  # trained first (kept with --reuse)
        model_dir = Path(args.runs) / base_key
        folder.mkdir(parents=True, exist_ok=True)
        trained.write_text(json.dumps({**{k: base[k] for k in ("config", "overrides", "train_seconds",
                                                                  "train_tokens_per_s")},
                                       "evaluated_model": str(model_dir), "evaluate_arguments": eval_extra},
                                      indent=2) + "\n")
    if key in FIT_PRIOR and not (args.reuse and trained.is_file()):
        base_key, components = FIT_PRIOR[key]
        base = bench(base_key, args, data, evaluate=False)  # trained first (kept with --reuse)
        fit_s = run([*py, "fit-prior", str(Path(args.runs) / base_key), "--data", data["train"], "--components",
                     str(components), "--output", str(folder)])
        trained.write_text(json.dumps({"config": base["config"], "overrides": base["overrides"],
                                       "prior": f"fit-prior --components {components} (from {base_key})",
                                       "fit_prior_seconds": round(fit_s, 1),
                                       "train_seconds": round(base["train_seconds"] + fit_s, 1),
                                       "train_tokens_per_s": base["train_tokens_per_s"]}, indent=2) + "\n")
    if key not in EVAL_VARIANTS and not (args.reuse and trained.is_file()):
        common = [f"data.train_file={data['train']}", f"data.valid_file={data['valid']}", "train.progress_bar=false"]
        pre_s = 0.0
        if key in DISTILL:  # the teachers trained first (kept with --reuse)
            pre_s = sum(bench(t, args, data, evaluate=False)["train_seconds"] for t in DISTILL[key])
            extra = [*extra, f"loss.distill_from=[{','.join(str(Path(args.runs) / t) for t in DISTILL[key])}]"]
        if key in TUNED:  # trained first (kept with --reuse); this run starts from its model
            pre_s = bench(TUNED[key], args, data, evaluate=False)["train_seconds"]
            extra = [*extra, f"train.init_from={Path(args.runs) / TUNED[key]}"]
        stage = SHARED_PRETRAIN.get(key, key)
        if stage in PRETRAIN:
            pre = folder.with_name(stage + ".pretrain")
            pre_timing = pre / "train_timing.json"
            if not (args.reuse and pre_timing.is_file()):  # --reuse keeps a finished first stage
                pre_timing.parent.mkdir(parents=True, exist_ok=True)
                resume, before_s = resume_point(pre, args.reuse)
                pre_timing.write_text(json.dumps({"train_seconds": before_s + run(
                    [*py, "train", "--config", config, "--output-dir", str(pre), *resume, *common, *PRETRAIN[stage],
                     *args.overrides])}) + "\n")
            pre_s += json.loads(pre_timing.read_text())["train_seconds"]
            extra = [*extra, f"train.init_from={pre}"]
        resume, before_s = resume_point(folder, args.reuse)
        train_s = pre_s + before_s + run([*py, "train", "--config", config, "--output-dir", str(folder), *resume,
                                          *common, *extra, *args.overrides])
        trained.write_text(json.dumps({"config": config, "overrides": extra + list(args.overrides),
                                       "train_seconds": round(train_s, 1),
                                       "train_tokens_per_s": training_speed(folder)}, indent=2) + "\n")
    if not evaluate:
        return {"key": key, **json.loads(trained.read_text()), "model": name}
    k = 1 if key.startswith("lm") else args.iw_samples  # exact for the language models
    timing = folder / "eval_timing.json"
    done = json.loads(timing.read_text()) if timing.is_file() else {}
    if not (args.reuse and result_file.is_file() and done.get("iw_samples_used") == k):
        eval_s = run([*py, "evaluate", str(model_dir), *eval_extra, "--data", data["test"], "--iw-samples", str(k),
                      "--mixed-precision", args.eval_precision, "--output", str(result_file)])
        done = {"eval_seconds": round(eval_s, 1), "iw_samples_used": k, "eval_precision": args.eval_precision,
                "measured": f"{time.strftime('%Y-%m-%d')}, {processor_name()}"}
        timing.write_text(json.dumps(done, indent=2) + "\n")
    return {"key": key, **json.loads(trained.read_text()), **done, **json.loads(result_file.read_text()),
            "model": name}


def fmt(x, digits=2):
    return "-" if x is None else (f"{x:,.{digits}f}" if isinstance(x, float) else f"{x}")


def markdown(rows: list[dict], header: str) -> str:
    out = [header, "",
           "| model (latent 32, LSTM 256) | PPL | NLL | KL | MI | active units | BLEU | train (min) | eval (min) "
           "| train tokens/s | measured |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        au = f"{r['active_units']}/{r['latent_size']}" if not r["key"].startswith("lm") else "-"
        mi = fmt(r["mi"]) if not r["key"].startswith("lm") else "-"
        out.append(f"| {r['model']} | {fmt(r['perplexity'])} | {fmt(r['nll'])} | {fmt(r['kl'])} | {mi} | {au} "
                   f"| {fmt(r['bleu'], 1)} | {fmt(r['train_seconds'] / 60, 1)} | {fmt(r['eval_seconds'] / 60, 1)} "
                   f"| {fmt(r['train_tokens_per_s'], 0)} | {r.get('measured', '-')} |")
    for name, ppl, nll, mi, au in PUBLISHED:
        out.append(f"| {name} | {fmt(ppl)} | {fmt(nll)} | - | {fmt(mi)} | {fmt(au)} | - | - | - | - | paper |")
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ptb", default=str(ROOT.parent / "shared" / "data" / "ptb"),
                   help="folder of ptb.{train,valid,test}.txt (or .txt.gz)")
    p.add_argument("--out", default="benchmarks")
    p.add_argument("--runs", default="runs/bench-ptb")
    p.add_argument("--only", nargs="+", choices=[*RUNS, *ABLATIONS], default=list(RUNS), metavar="KEY",
                   help="the rows to run: lm, vae, or a key of scripts/ptb_rows.py's ABLATIONS (default: lm vae)")
    p.add_argument("--reuse", action="store_true", help="reuse runs that were already evaluated")
    p.add_argument("--table-only", action="store_true", help="only rewrite ptb.md from ptb.json")
    p.add_argument("--iw-samples", type=int, default=500)
    p.add_argument("--eval-precision", choices=["no", "bf16"], default="no")
    p.add_argument("overrides", nargs="*", help="key=value overrides for every training run")
    args = p.parse_args()

    ptb = Path(args.ptb)
    data = ptb_files(ptb)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    previous = {}
    if (out / "ptb.json").is_file():  # keep rows of runs not redone this time
        previous = {r["key"]: r for r in json.loads((out / "ptb.json").read_text())["rows"]}
    t0 = time.perf_counter()
    for key in [] if args.table_only else args.only:
        previous[key] = bench(key, args, data)
    order = [*RUNS, *ABLATIONS]
    rows = sorted(previous.values(), key=lambda r: order.index(r["key"]))
    import torch

    machine = (f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
               f"Python {platform.python_version()}")
    header = (
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
        "Commands: `python scripts/bench_ptb.py` (the LM and VAE rows); an ablation row: `python "
        "scripts/bench_ptb.py --only KEY --eval-precision bf16` (KEY, config, overrides and evaluation precision "
        "are in each row's ptb.json entry).")
    (out / "ptb.json").write_text(json.dumps({"machine": machine, "rows": rows,
                                              "published": [dict(zip(("model", "perplexity", "nll", "mi",
                                                                      "active_units"), p)) for p in PUBLISHED]},
                                             indent=2) + "\n")
    (out / "ptb.md").write_text(markdown(rows, header))
    # The training curves of the rows whose runs are on this disk.
    logged = [r["key"] for r in rows if (Path(args.runs) / r["key"] / "logs" / "train.jsonl").is_file()]
    if logged:
        plot_curves([Path(args.runs) / key for key in logged], out / "ptb-curves.png")
    print(markdown(rows, header))
    print(f"done in {(time.perf_counter() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()

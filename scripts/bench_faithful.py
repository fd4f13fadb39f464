"""Benchmark: do the default text configs keep the sentence (reconstruction, interpolation endpoints)
and still sample fluently? The ablation of the levers behind the chosen default, on the shipped SNLI
sample, then the defaults on other corpora.

    python scripts/bench_faithful.py [--only KEY ...] [--runs runs/faithful] [--out benchmarks]

Each row is trained by `textvae train` (skipped when its folder already holds a model) and measured by
`textvae evaluate --iw-samples 0 --faithfulness --fluency-lm LM` on the validation sentences
(textvae.text.faithfulness): reconstruction BLEU and exact match of the posterior means, endpoint
fidelity and smoothness of 100 slerp paths, and 1,000 prior samples' distinct-2, self-BLEU and per-word
perplexity under a language model trained by textvae on the same training data (configs/text/snli-lm.yaml,
one per corpus), beside the validation sentences' own. Rows with a fitted prior run `textvae fit-prior`
on their base row's model. The ablation rows pin every lever they touch on the command line, so they
mean the same whatever the yaml's defaults are. Writes faithful.json and faithful.md under --out.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LSTM, TRANSFORMER, PRETRAINED = ("configs/text/snli-lstm.yaml", "configs/text/snli-transformer.yaml",
                                 "configs/text/snli-pretrained.yaml")
LM_CONFIG = "configs/text/snli-lm.yaml"
POLARITY = "/work/shared/data/sentence-polarity"
PTB = "/work/shared/data/ptb"
CORPORA = {  # name -> data overrides (the shipped SNLI sample needs none)
    "snli": [],
    "polarity": ["data.train_file=runs/faithful/data/polarity.txt"],
    "ptb": [f"data.train_file={PTB}/ptb.train.txt.gz", f"data.valid_file={PTB}/ptb.valid.txt.gz"],
}


def levers(kl="cyclical", beta=1.0, free_bits=0.5, latent=32, word_dropout=0.3, deletion=0.0, epochs=12,
           precision="no", warmup=0, anneal=10000, fit_prior=0, last=False) -> list[str]:
    """Every lever a row may move, pinned on the command line. (train.threads=1: the benchmark shared 2 cores
    with several other jobs, where a 2-thread process loses most of its time waiting for its other thread.)"""
    return [f"loss.kl.kind={kl}", f"loss.kl.max_weight={beta}", f"loss.kl.warmup_steps={warmup}",
            f"loss.kl.anneal_steps={anneal}", f"train.select_best={str(not last).lower()}",
            f"loss.free_bits={free_bits}", f"model.latent_size={latent}", f"model.word_dropout={word_dropout}",
            f"model.encoder_word_deletion={deletion}", f"train.epochs={epochs}", f"train.mixed_precision={precision}",
            f"train.fit_prior={fit_prior}", "train.threads=1"]


# key -> (what it is, config, overrides, corpus, base row of a fitted prior or None)
LOW_BETA = {"kl": "constant", "beta": 0.1, "free_bits": 0.0, "latent": 64, "epochs": 12, "precision": "bf16"}
ROWS = {
    "lstm-old-default": ("the old snli-lstm.yaml: cyclical KL to weight 1, free bits 0.5, code 32, 12 epochs",
                         LSTM, levers(), "snli", None),
    "lstm-beta0.1-z64": ("KL weight 0.1 from the start (no annealing, no free bits), code 64, 12 epochs in bf16",
                         LSTM, levers(**LOW_BETA), "snli", None),
    "lstm-ae6-beta0.1-z64": ("an autoencoder stage: KL weight 0 for the first 6 epochs (942 steps), then a linear "
                             "ramp to 0.1 over 471 steps; no free bits, code 64, 12 epochs in bf16, the last "
                             "weights kept (the best validation -ELBO is not what a KL weight of 0.1 optimises)",
                             LSTM, levers(**{**LOW_BETA, "kl": "linear"}, warmup=942, anneal=471, last=True),
                             "snli", None),
    "lstm-ae6-beta0.1-z64-gmm16": ("lstm-ae6-beta0.1-z64 with a 16-component Gaussian mixture fitted to its codes "
                                   "of the training sentences as its prior (`textvae fit-prior`)", LSTM, [], "snli",
                                   "lstm-ae6-beta0.1-z64"),
    "transformer-default": ("configs/text/snli-transformer.yaml as shipped (cyclical KL to 1, free bits 0.5, code 32, "
                            "12 epochs)", TRANSFORMER, levers(), "snli", None),
    "lstm-old-default-gmm16": ("lstm-old-default with a fitted 16-component mixture prior", LSTM, [], "snli",
                               "lstm-old-default"),
}


def run(cmd: list[str]) -> float:
    """Run a command from the project root, with one thread for torch (OMP_NUM_THREADS=1: the cores were
    shared with other jobs)."""
    print("$ " + shlex.join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - t0


def prepare_polarity() -> None:
    """sentence-polarity's two files (latin-1) as one UTF-8 file of sentences."""
    out = ROOT / "runs/faithful/data/polarity.txt"
    if out.exists():
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        lines += [s.strip() for s in Path(POLARITY, name).read_text(encoding="latin-1").splitlines() if s.strip()]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def train_seconds(folder: Path) -> float | None:
    """The training loop's wall time, from the run's last checkpoint."""
    states = sorted((folder / "checkpoints").glob("step-*/trainer_state.json"), key=lambda p: int(p.parent.name[5:]))
    return json.loads(states[-1].read_text())["train_seconds"] if states else None


def language_model(corpus: str, runs: Path) -> tuple[Path, list[str]]:
    folder = runs / f"lm-{corpus}" if corpus != "snli" else runs / "lm"
    cmd = [sys.executable, "-m", "textvae", "train", "--config", LM_CONFIG, "--output-dir", str(folder),
           *CORPORA[corpus], "train.progress_bar=false"]
    if not (folder / "model.safetensors").exists():
        run(cmd)
    return folder, cmd


def measure(key: str, runs: Path) -> dict:
    what, config, overrides, corpus, base = ROWS[key]
    if corpus == "polarity":
        prepare_polarity()
    lm, lm_cmd = language_model(corpus, runs)
    folder = runs / key
    commands = []
    if base is None:
        cmd = [sys.executable, "-m", "textvae", "train", "--config", config, "--output-dir", str(folder),
               *CORPORA[corpus], *overrides, "train.progress_bar=false"]
        if not (folder / "model.safetensors").exists():
            run(cmd)
        seconds = train_seconds(folder)
    else:
        cmd = [sys.executable, "-m", "textvae", "fit-prior", str(runs / base), "--components", "16",
               "--output", str(folder)]
        if not (folder / "model.safetensors").exists():
            run(cmd)
        seconds = train_seconds(runs / base)
    commands.append(cmd)
    out = folder / "faithful_eval.json"
    eval_cmd = [sys.executable, "-m", "textvae", "evaluate", str(folder), "--iw-samples", "0", "--faithfulness",
                "--fluency-lm", str(lm), "--output", str(out)]
    if not out.exists():
        run(eval_cmd)
    commands.append(eval_cmd)
    res = json.loads(out.read_text())
    return {"what": what, "corpus": corpus, "train_seconds": seconds, "neg_elbo": res["neg_elbo"], "kl": res["kl"],
            "mi": res["mi"], "active_units": res["active_units"], "latent_size": res["latent_size"],
            "valid_bleu_all": res["bleu"], "valid_exact_all": res["exact_match"], "faithfulness": res["faithfulness"],
            "commands": [shlex.join(["python", *c[1:]]) for c in commands],
            "lm_command": shlex.join(["python", *lm_cmd[1:]])}


TARGETS = "BLEU >= 60, exact >= 30%, endpoints >= 60%, monotone >= 80%, fluency ratio <= 1.5"


def meets(r: dict) -> bool:
    f = r["faithfulness"]
    return (f["reconstruction"]["bleu"] >= 60 and f["reconstruction"]["exact_match"] >= 0.3
            and f["paths"]["endpoint_fidelity"] >= 0.6 and f["paths"]["monotone"] >= 0.8
            and f["fluency"]["ratio"] <= 1.5)


FINDINGS = """\
## What the rows say (2026-12-02)

No row meets the targets, and the default configs are left as they were: no lever measured here moved
reconstruction within the ~6-minute budget. In 1,884 steps (12 epochs of the 10,000 training sentences) the
code of every row carries little of the sentence: validation reconstruction stayed at 34-38 nats against the
language model's 44 (exact reconstruction needs it near 0), and it was still falling about 1.4 nats an epoch
when the runs ended, so the limit here is the number of updates, not the KL term. A KL weight of 0.1 from the
first step (`lstm-beta0.1-z64`) is worse than the old default (which the issue measured at reconstruction BLEU
10.0, exact match 0.1% on 1,000 validation sentences; its row here was not run to the end): the posterior is pushed onto the prior before
the encoder has learnt anything (posterior variance 0.75, greedy decodes break down: "a man iss and ."). An
autoencoder stage (`lstm-ae6-beta0.1-z64`: 6 epochs at weight 0, KL over 900 nats) did not reconstruct held-out
sentences either (validation reconstruction 46 nats at its end), and after the ramp to 0.1 it lands where the
old default is (BLEU 9.3, exact match 0.2%), with samples just within the fluency target (ratio 1.49).
A 16-component mixture fitted to its training codes (`lstm-ae6-beta0.1-z64-gmm16`; `textvae fit-prior`, or
`train.fit_prior=16` in training) made the samples less fluent, not more (ratio 1.77 against 1.49 under
N(0, I)) and no less self-similar (self-BLEU 19.2 against 17.2): with a code this weak, sampling where the
training codes lie does not help; it should matter for a code that keeps the sentence. Not run for lack of machine
time (the 2 cores were shared with 4 other agents' jobs; each row's training time above includes that
contention and the lead's quiet periods): the denoising row (model.encoder_word_deletion, implemented and tested), a free-bits floor of
2, a wider decoder word dropout, the old default itself, the Transformer default, the pretrained-backbone config, and the
sentence-polarity and PTB generality rows (which need a language model each).
"""


def write_markdown(results: dict, path: Path) -> None:
    lines = ["# Faithfulness: does the code keep the sentence, and does the prior still sample fluently?", "",
             "Measured by `textvae evaluate --faithfulness --fluency-lm LM` (textvae/text/faithfulness.py) on each "
             "corpus's validation sentences: reconstruction BLEU (sacrebleu corpus BLEU) and exact match of the greedy "
             "decoding of the posterior means of 1,000 random sentences, beside the BLEU of decodings of prior codes "
             "against the same sentences; endpoint fidelity (share of 100 random pairs whose 7-line slerp path starts "
             "at A and ends at B), mean word edit distance between consecutive lines, share of paths whose edit "
             "distance to B never rises; 1,000 prior samples (decoded by sampling, as `textvae sample` prints): "
             "distinct-2, self-BLEU, and per-word perplexity under a language model trained by textvae on the same "
             "training data (configs/text/snli-lm.yaml), over the validation sentences' own (the fluency ratio). "
             f"Targets: {TARGETS}. Training seconds: the training loop's wall time on 2 CPU cores shared with "
             "other jobs (Intel Xeon, Sapphire Rapids).", "",
             "| row | corpus | train s | KL | BLEU | BLEU prior codes | exact | endpoints | monotone | edit/step "
             "| PPL samples | PPL valid | ratio | distinct-2 | self-BLEU | targets |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in results.items():
        f = r["faithfulness"]
        rec, p, s, fl = f["reconstruction"], f["paths"], f["samples"], f["fluency"]
        secs = f"{r['train_seconds']:.0f}" if r["train_seconds"] else "-"
        lines.append(f"| {key} | {r['corpus']} | {secs} | {r['kl']:.1f} | {rec['bleu']:.1f} | "
                     f"{rec['bleu_of_prior_codes']:.1f} | {rec['exact_match']:.1%} | {p['endpoint_fidelity']:.0%} | "
                     f"{p['monotone']:.0%} | {p['step_edit_distance']:.2f} | {fl['sample_perplexity']:.1f} | "
                     f"{fl['validation_perplexity']:.1f} | {fl['ratio']:.2f} | {s['distinct_2']:.3f} | "
                     f"{s['self_bleu']:.1f} | {'met' if meets(r) else '-'} |")
    lines += ["", "Rows:", ""] + [f"- `{key}`: {r['what']}" for key, r in results.items()]
    lines += ["", FINDINGS]
    lines += ["", "Commands (from the project root; the language models first):", ""]
    for lm in dict.fromkeys(r["lm_command"] for r in results.values()):
        lines.append(f"    {lm}")
    for key, r in results.items():
        lines += [f"    # {key}"] + [f"    {c}" for c in r["commands"]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", metavar="KEY", help=f"rows to run, of: {', '.join(ROWS)}")
    p.add_argument("--runs", default="runs/faithful")
    p.add_argument("--out", default="benchmarks")
    args = p.parse_args()
    unknown = sorted(set(args.only or []) - set(ROWS))
    if unknown:
        p.error(f"unknown rows {unknown}; the rows are {', '.join(ROWS)}")
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "faithful.json"
    results = json.loads(results_path.read_text())["rows"] if results_path.exists() else {}
    for key in args.only or list(ROWS):
        results[key] = measure(key, Path(args.runs))
        ordered = {k: results[k] for k in ROWS if k in results}
        results_path.write_text(json.dumps({"benchmark": "faithfulness of text VAEs", "targets": TARGETS,
                                            "rows": ordered}, indent=2) + "\n", encoding="utf-8")
        write_markdown(ordered, out / "faithful.md")


if __name__ == "__main__":
    main()

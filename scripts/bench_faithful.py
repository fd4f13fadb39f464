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
import subprocess
from pathlib import Path

from attributes_sentiment import polarity_split  # scripts/ is on sys.path when a script here runs
from benchlib import ROOT, run, shown, textvae, train_command
from faithful_rows import CORPORA, LM_CONFIG, LM_EXTRA, ROWS


def machine() -> str:
    """The processor, as lscpu names it (AMD EPYC, or Intel Xeon with or without AMX)."""
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    name = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "?")
    return name + (" (AMX)" if "amx_bf16" in out else "")


def train_seconds(folder: Path) -> float | None:
    """The training loop's wall time, from the run's last checkpoint."""
    states = sorted((folder / "checkpoints").glob("step-*/trainer_state.json"), key=lambda p: int(p.parent.name[5:]))
    return json.loads(states[-1].read_text())["train_seconds"] if states else None


def language_model(corpus: str, runs: Path) -> tuple[Path, list[str]]:
    folder = runs / f"lm-{corpus}" if corpus != "snli" else runs / "lm"
    cmd = train_command(
        LM_CONFIG,
        str(folder),
        *CORPORA[corpus],
        *LM_EXTRA.get(corpus, []),
        "train.progress_bar=false",
    )
    if not (folder / "model.safetensors").exists():
        # a run cut short (its checkpoints and no model) is continued where it stopped
        run([*cmd, "--resume", "auto"] if (folder / "checkpoints").is_dir() else cmd)
    return folder, cmd


def measure(key: str, runs: Path) -> dict:
    what, config, overrides, corpus, base = ROWS[key]
    if corpus == "polarity":
        polarity_split()
    lm, lm_cmd = language_model(corpus, runs)
    folder = runs / key
    commands = []
    if config is None:  # the base row's model, evaluated with other options (`overrides`)
        folder, seconds = runs / base, train_seconds(runs / base)
    elif base is None:
        cmd = train_command(
            config,
            str(folder),
            *CORPORA[corpus],
            *overrides,
            "train.progress_bar=false",
        )
        if not (folder / "model.safetensors").exists():
            run(cmd)
        seconds = train_seconds(folder)
    else:
        cmd = textvae(
            "fit-prior",
            str(runs / base),
            "--components",
            "16",
            "--output",
            str(folder),
        )
        if not (folder / "model.safetensors").exists():
            run(cmd)
        seconds = train_seconds(runs / base)
    if config is not None:
        commands.append(cmd)
    options = overrides if config is None else []
    out = folder / ("faithful_eval.json" if config is not None else f"faithful_eval_{key}.json")
    eval_cmd = textvae(
        "evaluate",
        str(folder),
        "--iw-samples",
        "0",
        "--faithfulness",
        "--fluency-lm",
        str(lm),
        *options,
        "--output",
        str(out),
    )
    if not out.exists():
        run(eval_cmd)
    commands.append(eval_cmd)
    res = json.loads(out.read_text())
    return {
        "what": what,
        "corpus": corpus,
        "train_seconds": seconds,
        "machine": machine(),
        "neg_elbo": res["neg_elbo"],
        "kl": res["kl"],
        "mi": res["mi"],
        "active_units": res["active_units"],
        "latent_size": res["latent_size"],
        "valid_bleu_all": res["bleu"],
        "valid_exact_all": res["exact_match"],
        "faithfulness": res["faithfulness"],
        "commands": [shown(c) for c in commands],
        "lm_command": shown(lm_cmd),
    }


TARGETS = "BLEU >= 60, exact >= 30%, endpoints >= 60%, monotone >= 80%, fluency ratio <= 1.5"


def meets(r: dict) -> bool:
    f = r["faithfulness"]
    return (
        f["reconstruction"]["bleu"] >= 60
        and f["reconstruction"]["exact_match"] >= 0.3
        and f["paths"]["endpoint_fidelity"] >= 0.6
        and f["paths"]["monotone"] >= 0.8
        and f["fluency"]["ratio"] <= 1.5
    )


def write_markdown(results: dict, path: Path) -> None:
    lines = [
        "# Faithfulness: does the code keep the sentence, and does the prior still sample fluently?",
        "",
        "Measured by `textvae evaluate --faithfulness --fluency-lm LM` (textvae/text/faithfulness.py) on each "
        "corpus's validation sentences: reconstruction BLEU (sacrebleu corpus BLEU) and exact match of the greedy "
        "decoding of the posterior means of 1,000 random sentences, beside the BLEU of decodings of prior codes "
        "against the same sentences; endpoint fidelity (share of 100 random pairs whose 7-line slerp path starts "
        "at A and ends at B), mean word edit distance between consecutive lines, share of paths whose edit "
        "distance to B never rises; 1,000 prior samples (decoded by sampling, as `textvae sample` prints): "
        "distinct-2, self-BLEU, and per-word perplexity under a language model trained by textvae on the same "
        "training data (configs/text/snli-lm.yaml), over the validation sentences' own (the fluency ratio; "
        "the same for the 5 middle lines of each of the 100 paths: ratio path middles). "
        f"Targets: {TARGETS}. Training seconds: the training loop's wall time on 2 CPU cores, on the "
        "processor the row names (the first three rows shared the cores with other jobs).",
        "",
        "| row | corpus | train s | KL | BLEU | BLEU prior codes | exact | endpoints | monotone | edit/step "
        "| PPL samples | PPL valid | ratio | ratio path middles | distinct-2 | self-BLEU | targets | processor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in results.items():
        f = r["faithfulness"]
        rec, p, s, fl = f["reconstruction"], f["paths"], f["samples"], f["fluency"]
        secs = f"{r['train_seconds']:.0f}" if r["train_seconds"] else "-"
        middles = f"{fl['path_middle_ratio']:.2f}" if "path_middle_ratio" in fl else "-"  # measured since 2026-12-07
        lines.append(
            f"| {key} | {r['corpus']} | {secs} | {r['kl']:.1f} | {rec['bleu']:.1f} | "
            f"{rec['bleu_of_prior_codes']:.1f} | {rec['exact_match']:.1%} | {p['endpoint_fidelity']:.0%} | "
            f"{p['monotone']:.0%} | {p['step_edit_distance']:.2f} | {fl['sample_perplexity']:.1f} | "
            f"{fl['validation_perplexity']:.1f} | {fl['ratio']:.2f} | {middles} | {s['distinct_2']:.3f} | "
            f"{s['self_bleu']:.1f} | {'met' if meets(r) else '-'} | "
            f"{r.get('machine', 'Intel Xeon (Sapphire Rapids, AMX), shared')} |"
        )
    lines += ["", "Rows:", ""] + [f"- `{key}`: {r['what']}" for key, r in results.items()]
    lines += ["", "What the rows say, session by session: `docs/benchmarks/faithful.md`."]
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
    p.add_argument("--table-only", action="store_true", help="rewrite faithful.md from faithful.json; run nothing")
    args = p.parse_args()
    unknown = sorted(set(args.only or []) - set(ROWS))
    if unknown:
        p.error(f"unknown rows {unknown}; the rows are {', '.join(ROWS)}")
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "faithful.json"
    results = json.loads(results_path.read_text())["rows"] if results_path.exists() else {}
    if args.table_only:
        write_markdown({k: results[k] for k in ROWS if k in results}, out / "faithful.md")
        return
    for key in args.only or list(ROWS):
        results[key] = measure(key, Path(args.runs))
        ordered = {k: results[k] for k in ROWS if k in results}
        results_path.write_text(
            json.dumps({"benchmark": "faithfulness of text VAEs", "targets": TARGETS, "rows": ordered}, indent=2)
            + "\n",
            encoding="utf-8",
        )
        write_markdown(ordered, out / "faithful.md")


if __name__ == "__main__":
    main()

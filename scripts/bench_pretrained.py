"""Benchmark: a VAE from pretrained backbones (all-MiniLM-L6-v2 encoder, SmolLM2-135M decoder) beside
textvae's LSTM VAE, on the shipped SNLI sample.

    python scripts/bench_pretrained.py [--out benchmarks] [--runs runs/bench-pretrained] [--sentences 300]
                                       [--iw-samples 50] [--only NAME ...] [--reuse]

Both are trained with `textvae train` on the 10,000 shipped training sentences (configs/text/
snli-pretrained.yaml and snli-lstm.yaml as shipped; the pretrained run validates on the evaluation
subset below instead of all 10,000 validation sentences, which would take it ~10 minutes each time).
Both are then evaluated by `textvae evaluate` in bf16 on the same first --sentences sentences of
textvae/data/snli/valid.txt with --iw-samples importance samples: NLL per sentence, perplexity per
word (+1 end of sentence), -ELBO, KL, mutual information (aggregate posterior over those sentences),
active units, and greedy reconstruction BLEU. The subset and k=50 (not 500) are what 2 CPU cores allow
for a 135M-parameter decoder: k=500 on 10,000 sentences would take days here. Interpolations between
two validation sentences from both models go into the Markdown. Writes pretrained.json and pretrained.md.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import subprocess
from pathlib import Path

from bench_snli import command_lines
from benchlib import ROOT, run, textvae, train_command  # scripts/ is on sys.path when a script here runs

RUNS = {  # name: (folder, config, overrides beyond the evaluation subset)
    "LSTM VAE (snli-lstm.yaml)": ("lstm", "configs/text/snli-lstm.yaml", False),
    "MiniLM encoder + SmolLM2-135M decoder (snli-pretrained.yaml)": (
        "minilm-smollm2",
        "configs/text/snli-pretrained.yaml",
        True,
    ),
}
PAIR = ("a man is playing a guitar on stage .", "two dogs are running through the snow .")


def training_summary(folder: Path) -> dict:
    """Wall time and median throughput of a finished run, from its logs/train.jsonl."""
    rows = [json.loads(line) for line in (folder / "logs" / "train.jsonl").read_text().splitlines()]
    timed = [r for r in rows if "time" in r and "step" in r]
    start = next(r for r in rows if "train/seconds_to_first_step" in r)
    speeds = [r["train/tokens_per_s"] for r in rows if "train/tokens_per_s" in r]
    return {
        "steps": max(r["step"] for r in timed),
        "tokens_per_s": statistics.median(speeds),
        "minutes": (timed[-1]["time"] - start["time"] + start["train/seconds_to_first_step"]) / 60,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="benchmarks")
    p.add_argument("--runs", default="runs/bench-pretrained")
    p.add_argument("--sentences", type=int, default=300)
    p.add_argument("--iw-samples", type=int, default=50)
    p.add_argument("--only", nargs="*", choices=list(RUNS))
    p.add_argument("--reuse", action="store_true", help="keep model folders that already hold a model")
    args = p.parse_args()
    out, runs = Path(args.out), Path(args.runs)
    out.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    subset = runs / f"valid{args.sentences}.txt"
    lines = (ROOT / "textvae/data/snli/valid.txt").read_text(encoding="utf-8").splitlines()
    subset.write_text("\n".join(lines[: args.sentences]) + "\n", encoding="utf-8")
    results_path = out / "pretrained.json"
    results = json.loads(results_path.read_text())["runs"] if results_path.exists() else {}
    for name in args.only or list(RUNS):
        folder_name, config, own_valid = RUNS[name]
        folder = runs / folder_name
        overrides = [f"data.valid_file={subset}"] if own_valid else []
        train_cmd = train_command(
            config,
            str(folder),
            "--overwrite",
            *overrides,
            "train.progress_bar=false",
        )
        if not (args.reuse and (folder / "model.safetensors").exists()):
            run(train_cmd)
        eval_json = folder / f"eval-{subset.stem}-k{args.iw_samples}.json"
        eval_cmd = textvae(
            "evaluate",
            str(folder),
            "--data",
            str(subset),
            "--iw-samples",
            str(args.iw_samples),
            "--mixed-precision",
            "bf16",
            "--output",
            str(eval_json),
        )
        run(eval_cmd)
        interpolate_cmd = textvae("interpolate", folder, *PAIR, "--steps", 5)
        path = subprocess.run(interpolate_cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
        results[name] = {
            "config": config,
            "overrides": overrides,
            **training_summary(folder),
            **json.loads(eval_json.read_text()),
            "interpolation": path.strip().splitlines(),
            "commands": [shlex.join(c[1:]) for c in (train_cmd, eval_cmd, interpolate_cmd)],
        }
        results_path.write_text(
            json.dumps({"benchmark": "SNLI sample shipped in textvae/data/snli", "runs": results}, indent=2) + "\n"
        )
        write_markdown(results, out / "pretrained.md")


def write_markdown(results: dict, path: Path) -> None:
    any_run = next(iter(results.values()))
    lines = [
        "# Pretrained backbones on SNLI: MiniLM + SmolLM2-135M beside the LSTM VAE",
        "",
        f"Evaluation: the first {any_run['sentences']} sentences of textvae/data/snli/valid.txt, "
        f"`textvae evaluate --mixed-precision bf16`. NLL: nats per sentence from the importance-weighted "
        f"bound with the k given; perplexity per word, one end of sentence counted per sentence; MI as in "
        f"He et al. 2019 with the aggregate posterior over these sentences (so it cannot much exceed "
        f"log N = {math.log(any_run['sentences']):.2f} nats); active units: posterior-mean variance "
        f"> 0.01; BLEU: greedy decoding of the posterior mean against the input. Training on the 10,000 "
        f"shipped training sentences, on this 2-core CPU.",
        "",
        "| model | k | NLL | PPL | -ELBO | rec | KL | MI | active units | BLEU | exact | steps | "
        "train min | tokens/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['iw_samples']} | {r['nll']:.2f} | {r['perplexity']:.1f} | {r['neg_elbo']:.2f} | "
            f"{r['rec']:.2f} | {r['kl']:.2f} | {r['mi']:.2f} | {r['active_units']}/{r['latent_size']} | "
            f"{r['bleu']:.1f} | {r['exact_match']:.3f} | {r['steps']:,} | {r['minutes']:.1f} | "
            f"{r['tokens_per_s']:,.0f} |"
        )
    lines += command_lines(results)
    for name, r in results.items():
        lines += [
            "",
            f'Slerp from "{PAIR[0]}" to "{PAIR[1]}", greedy, {name}:',
            "",
            *["    " + s for s in r["interpolation"]],
        ]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

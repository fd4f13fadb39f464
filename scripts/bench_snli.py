"""Benchmark: do the default text configs use their latent code on SNLI, and what does each collapse
defence contribute? Real runs on the shipped SNLI sample (10k training / 10k validation sentences).

    python scripts/bench_snli.py [--out benchmarks] [--runs runs/bench-snli] [--only NAME ...] [--reuse]

Runs (all trained by `textvae train`, then `textvae evaluate` on the validation file):
  lstm, transformer          configs/text/snli-{lstm,transformer}.yaml as shipped
  ablation: ...              snli-lstm.yaml for 6 epochs in bf16, with all defences, then each one off:
    -cyclical                KL weight 1 from the first step (no annealing)
    -free-bits               loss.free_bits=0
    -word-dropout            model.word_dropout=0
    -z-every-step            z only initialises the decoder state (Bowman et al. 2016)
    no defences              all four off: the plain VAE that collapses
    free bits 0.25, 1.0      the floor on each dimension's KL lower and higher than the default 0.5

For each: -ELBO, KL, mutual information, active units (validation), and reconstruction of 1,000 short
training sentences (<= 10 words) by greedy decoding of the posterior mean versus of a code drawn from
the prior: corpus BLEU (sacrebleu) and word accuracy (share of reference positions whose word the
decoding reproduces). Writes snli.json and snli.md under --out.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path

from benchlib import run, textvae, train_command  # scripts/ is on sys.path when a script here runs

LSTM, TRANSFORMER = "configs/text/snli-lstm.yaml", "configs/text/snli-transformer.yaml"
NO_ANNEAL = ["loss.kl.kind=constant"]
# The ablation runs are shorter (6 epochs, bf16 autocast) so that all of them fit in half an hour on
# 2 CPU cores; "ablation: all defences" is the reference they are compared with.
SHORT = ["train.epochs=6", "train.mixed_precision=bf16"]
RUNS = {
    "lstm": (LSTM, []),
    "transformer": (TRANSFORMER, []),
    "ablation: all defences": (LSTM, SHORT),
    "ablation: -cyclical": (LSTM, SHORT + NO_ANNEAL),
    "ablation: -free-bits": (LSTM, SHORT + ["loss.free_bits=0"]),
    "ablation: -word-dropout": (LSTM, SHORT + ["model.word_dropout=0"]),
    "ablation: -z-every-step": (LSTM, SHORT + ["model.decoder.z_to_every_input=false"]),
    "ablation: no defences": (
        LSTM,
        SHORT + NO_ANNEAL + ["loss.free_bits=0", "model.word_dropout=0", "model.decoder.z_to_every_input=false"],
    ),
    "ablation: free bits 0.25": (LSTM, SHORT + ["loss.free_bits=0.25"]),
    "ablation: free bits 1.0": (LSTM, SHORT + ["loss.free_bits=1.0"]),
}


def short_training_sentences(n: int = 1000, max_words: int = 10) -> list[str]:
    from textvae.text.data import shipped_corpus

    lines = shipped_corpus("train").read_text(encoding="utf-8").splitlines()
    return [s for s in lines if s.strip() and len(s.split()) <= max_words][:n]


def word_accuracy(hyps: list[str], refs: list[str]) -> float:
    hit = total = 0
    for h, r in zip(hyps, refs):
        hw, rw = h.split(), r.split()
        hit += sum(a == b for a, b in zip(hw, rw))
        total += len(rw)
    return hit / total


def reconstruction(folder: Path, sentences: list[str]) -> dict:
    import sacrebleu
    import torch

    from textvae.registry import load_model

    model = load_model(folder)
    tok = model.tokenizer
    refs = [tok.decode(tok.encode(s)) for s in sentences]  # as the tokenizer sees them (case, <unk>)
    gen = {"strategy": "greedy", "max_length": 40}
    posterior = model.decode(model.encode_sentences(sentences), **gen)
    prior = model.decode(
        torch.randn(len(sentences), model.latent_size, generator=torch.Generator().manual_seed(0)), **gen
    )
    bleu = lambda hyps: float(sacrebleu.BLEU(force=True).corpus_score(hyps, [refs]).score)  # noqa: E731
    return {
        "posterior_mean_bleu": bleu(posterior),
        "posterior_mean_word_acc": word_accuracy(posterior, refs),
        "prior_sample_bleu": bleu(prior),
        "prior_sample_word_acc": word_accuracy(prior, refs),
        "examples": [
            {"input": r, "posterior_mean": p, "prior_sample": q} for r, p, q in list(zip(refs, posterior, prior))[:5]
        ],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="benchmarks")
    p.add_argument("--runs", default="runs/bench-snli")
    p.add_argument("--only", nargs="*", choices=list(RUNS), help="a subset of the runs")
    p.add_argument("--reuse", action="store_true", help="keep model folders that already hold a model")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "snli.json"
    results = json.loads(results_path.read_text())["runs"] if results_path.exists() else {}
    sentences = short_training_sentences()
    for name in args.only or list(RUNS):
        config, overrides = RUNS[name]
        folder = Path(args.runs) / re.sub(r"[^a-z0-9]+", "-", name.replace(": -", " without ")).strip("-")
        train_cmd = train_command(
            config,
            str(folder),
            "--overwrite",
            *overrides,
            "train.progress_bar=false",
        )
        if not (args.reuse and (folder / "model.safetensors").exists()):
            run(train_cmd)
        eval_json = folder / "valid_eval.json"
        eval_cmd = textvae(
            "evaluate",
            str(folder),
            "--iw-samples",
            "0",
            "--output",
            str(eval_json),
        )
        run(eval_cmd)
        res = json.loads(eval_json.read_text())
        results[name] = {
            "config": config,
            "overrides": overrides,
            "neg_elbo": res["neg_elbo"],
            "rec": res["rec"],
            "kl": res["kl"],
            "mi": res["mi"],
            "active_units": res["active_units"],
            "latent_size": res["latent_size"],
            "valid_reconstruction_bleu": res["bleu"],
            **reconstruction(folder, sentences),
            "interpolation": (folder / "interpolation.txt").read_text(encoding="utf-8"),
            "commands": [shlex.join(train_cmd[1:]), shlex.join(eval_cmd[1:])],
        }
        results_path.write_text(
            json.dumps({"benchmark": "SNLI sample shipped in textvae/data/snli", "runs": results}, indent=2) + "\n"
        )
        write_markdown(results, out / "snli.md")


def command_lines(results: dict) -> list[str]:
    """Markdown lines listing each run's commands (`results[name]["commands"]`) as an indented block."""
    lines = ["", "Commands (from the project root):", ""]
    for name, r in results.items():
        lines += [f"    # {name}"] + [f"    python {c}" for c in r["commands"]]
    return lines


def write_markdown(results: dict, path: Path) -> None:
    lines = [
        "# SNLI: latent use of the default configs and the collapse-defence ablation",
        "",
        "Validation: the 10,000 sentences of textvae/data/snli/valid.txt; one-sample -ELBO split into "
        "reconstruction and KL (nats per sentence); MI as in He et al. 2019; active units: posterior-mean "
        "variance > 0.01. Reconstruction: 1,000 training sentences of <= 10 words, greedy decoding of the "
        "posterior mean vs of a prior sample (seed 0); BLEU = sacrebleu corpus BLEU, word acc = share of "
        "reference positions reproduced.",
        "",
        "| run | -ELBO | rec | KL | MI | active units | BLEU (mean) | word acc (mean) | BLEU (prior) "
        "| word acc (prior) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['neg_elbo']:.2f} | {r['rec']:.2f} | {r['kl']:.2f} | {r['mi']:.2f} | "
            f"{r['active_units']}/{r['latent_size']} | {r['posterior_mean_bleu']:.1f} | "
            f"{r['posterior_mean_word_acc']:.3f} | {r['prior_sample_bleu']:.1f} | "
            f"{r['prior_sample_word_acc']:.3f} |"
        )
    lines += command_lines(results)
    for name in ("lstm", "transformer"):
        if name in results:
            lines += [
                "",
                f"Interpolation written by the `{name}` run (interpolation.txt in its folder):",
                "",
                *["    " + s for s in results[name]["interpolation"].strip().splitlines()],
            ]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

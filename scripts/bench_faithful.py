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

LSTM, TRANSFORMER, PRETRAINED = (
    "configs/text/snli-lstm.yaml",
    "configs/text/snli-transformer.yaml",
    "configs/text/snli-pretrained.yaml",
)
LM_CONFIG = "configs/text/snli-lm.yaml"
PTB = "/work/shared/data/ptb"
# the language models of the fluency measure: configs/text/snli-lm.yaml (12 epochs) on each corpus; on PTB
# 3,000 steps (4.6 epochs), to keep the benchmark's time in bounds
LM_EXTRA = {"ptb": ["train.max_steps=3000"]}
CORPORA = {  # name -> data overrides (the shipped SNLI sample needs none)
    "snli": [],
    "polarity": [  # the split of the sentiment benchmark (scripts/attributes_sentiment.py): 80/10/10
        "data.train_file=runs/attributes/polarity/train.csv",
        "data.valid_file=runs/attributes/polarity/valid.csv",
    ],
    "ptb": [f"data.train_file={PTB}/ptb.train.txt.gz", f"data.valid_file={PTB}/ptb.valid.txt.gz"],
}


def levers(
    kl="cyclical",
    beta=1.0,
    free_bits=0.5,
    latent=32,
    word_dropout=0.3,
    deletion=0.0,
    epochs=12,
    precision="no",
    warmup=0,
    anneal=10000,
    fit_prior=0,
    last=False,
    z_to_output=False,
    lr=1e-3,
    schedule="constant",
    dropout=0.1,
    tokenizer="sentencepiece",
    min_count=2,
    threads=2,
    steps=0,
    family="lstm",
) -> list[str]:
    """Every lever a row may move, pinned on the command line, so that a row means the same whatever the
    yaml's defaults are (the defaults are the old snli-lstm.yaml's). The first rows ran with train.threads=1:
    the benchmark then shared 2 cores with several other jobs, where a 2-thread process loses most of its
    time waiting for its other thread. Transformer rows keep their yaml's learning rate, schedule and dropout
    unless the row names them."""
    words = (
        ["data.tokenizer.kind=word", f"data.tokenizer.min_count={min_count}"]
        if tokenizer == "word"
        else ["data.tokenizer.kind=sentencepiece", "data.tokenizer.vocab_size=4000"]
    )
    rnn = [
        f"model.decoder.z_to_output={str(z_to_output).lower()}",
        f"train.lr={lr}",
        f"train.lr_schedule={schedule}",
        f"model.embed_dropout={dropout}",
        f"model.output_dropout={dropout}",
    ]
    return [
        f"loss.kl.kind={kl}",
        f"loss.kl.max_weight={beta}",
        f"loss.kl.warmup_steps={warmup}",
        f"loss.kl.anneal_steps={anneal}",
        f"train.select_best={str(not last).lower()}",
        f"loss.free_bits={free_bits}",
        f"model.latent_size={latent}",
        f"model.word_dropout={word_dropout}",
        f"model.encoder_word_deletion={deletion}",
        f"train.epochs={epochs}",
        f"train.max_steps={steps}",
        f"train.mixed_precision={precision}",
        f"train.fit_prior={fit_prior}",
        f"train.threads={threads}",
        *words,
        *(rnn if family == "lstm" else [f"train.lr={lr}"] if lr != 1e-3 else []),
    ]


# key -> (what it is, config, overrides, corpus, base row of a fitted prior or None)
LOW_BETA = {
    "kl": "constant",
    "beta": 0.1,
    "free_bits": 0.0,
    "latent": 64,
    "epochs": 12,
    "precision": "bf16",
    "threads": 1,
}
# the levers of 2026-12-03: z also added to the decoder's output, a learning rate 3x higher decayed on a cosine
FAST = {"z_to_output": True, "lr": 3e-3, "schedule": "cosine", "precision": "bf16", "latent": 64}
BUDGET = {**FAST, "kl": "constant", "beta": 1.0, "free_bits": 0.75, "epochs": 28, "fit_prior": 16}
# the shipped snli-lstm.yaml since 2026-12-03 (lstm-budget2.5-words); -default rows run it as shipped
DEFAULT = {**BUDGET, "free_bits": 2.5, "tokenizer": "word", "steps": 6000, "last": True}
PRETRAINED_STEPS = 1500  # a step of 16 sentences through both backbones takes ~1 s on 2 cores
ROWS = {
    "lstm-old-default": (
        "the old snli-lstm.yaml: cyclical KL to weight 1, free bits 0.5, code 32, 12 epochs",
        LSTM,
        levers(),
        "snli",
        None,
    ),
    "lstm-beta0.1-z64": (
        "KL weight 0.1 from the start (no annealing, no free bits), code 64, 12 epochs in bf16",
        LSTM,
        levers(**LOW_BETA),
        "snli",
        None,
    ),
    "lstm-ae6-beta0.1-z64": (
        "an autoencoder stage: KL weight 0 for the first 6 epochs (942 steps), then a linear "
        "ramp to 0.1 over 471 steps; no free bits, code 64, 12 epochs in bf16, the last "
        "weights kept (the best validation -ELBO is not what a KL weight of 0.1 optimises)",
        LSTM,
        levers(**{**LOW_BETA, "kl": "linear"}, warmup=942, anneal=471, last=True),
        "snli",
        None,
    ),
    "lstm-ae6-beta0.1-z64-gmm16": (
        "lstm-ae6-beta0.1-z64 with a 16-component Gaussian mixture fitted to its codes "
        "of the training sentences as its prior (`textvae fit-prior`)",
        LSTM,
        [],
        "snli",
        "lstm-ae6-beta0.1-z64",
    ),
    "lstm-ae-zout-cos": (
        "an autoencoder (KL weight 0, no free bits: the ceiling of reconstruction; its prior "
        "N(0, I) is far from its codes), code 64, z also added to the decoder's output, learning "
        "rate 3e-3 on a cosine, 20 epochs in bf16, the last weights",
        LSTM,
        levers(**{**FAST, "kl": "constant", "beta": 0.0, "free_bits": 0.0, "epochs": 20}, last=True),
        "snli",
        None,
    ),
    "lstm-budget0.75": (
        "KL weight 1 with a free-bits floor of 0.75 nats on each of 64 dimensions (a budget of 48 "
        "nats the code keeps for free), z also added to the decoder's output, learning rate 3e-3 on "
        "a cosine, 28 epochs (4,396 steps) in bf16, a 16-component mixture prior fitted after "
        "training, the weights of the best validation -ELBO",
        LSTM,
        levers(**BUDGET),
        "snli",
        None,
    ),
    "lstm-budget0.75-denoise": (
        "lstm-budget0.75 with 10% of the encoder's words deleted and dropout 0.3 (embeddings, output features)",
        LSTM,
        levers(**BUDGET, deletion=0.1, dropout=0.3),
        "snli",
        None,
    ),
    "lstm-budget0.75-words": (
        "lstm-budget0.75 with a word-level vocabulary (words seen twice or more: 3,075)",
        LSTM,
        levers(**BUDGET, tokenizer="word"),
        "snli",
        None,
    ),
    "lstm-budget1.5-words": (
        "lstm-budget0.75-words with a floor of 1.5 nats a dimension (a budget of 96 nats)",
        LSTM,
        levers(**{**BUDGET, "free_bits": 1.5}, tokenizer="word"),
        "snli",
        None,
    ),
    "lstm-budget2.5-words": (
        "the new snli-lstm.yaml: lstm-budget0.75-words with a floor of 2.5 nats a dimension "
        "(a budget of 160 nats), 6,000 steps, the last weights",
        LSTM,
        levers(**DEFAULT),
        "snli",
        None,
    ),
    "lstm-budget2.5-words1": (
        "lstm-budget2.5-words with every training word in the vocabulary (min_count 1: 5,277 words; 80.8% of "
        "the validation sentences have no unknown word, against 68.2% at min_count 2)",
        LSTM,
        levers(**DEFAULT, min_count=1),
        "snli",
        None,
    ),
    "lstm-budget2.5-pieces": (
        "lstm-budget2.5-words with 4,000 sentencepiece pieces instead of words (no sentence out of reach)",
        LSTM,
        levers(**{**DEFAULT, "tokenizer": "sentencepiece"}),
        "snli",
        None,
    ),
    "lstm-budget2.5-replace0.1": (
        "lstm-budget2.5-words with 10% of the tokens replaced by uniformly drawn words in training, in the "
        "encoder's input and the decoder's target alike (model.word_replacement 0.1)",
        LSTM,
        [*levers(**DEFAULT), "model.word_replacement=0.1"],
        "snli",
        None,
    ),
    "lstm-budget2.5-replace0.1-fit25": (
        "lstm-budget2.5-replace0.1's model with each code of a reconstruction or path end fitted to its "
        "sentence by 25 Adam steps on log p(x|z) after the encoder (`--fit-steps 25`, what `textvae "
        "reconstruct` and `interpolate` do by default)",
        None,
        ["--fit-steps", "25"],
        "snli",
        "lstm-budget2.5-replace0.1",
    ),
    "lstm-budget2.5-replace0.2": (
        "lstm-budget2.5-replace0.1 with 20% of the tokens replaced",
        LSTM,
        [*levers(**DEFAULT), "model.word_replacement=0.2"],
        "snli",
        None,
    ),
    "transformer-default": (
        "configs/text/snli-transformer.yaml as shipped (cyclical KL to 1, free bits 0.5, code 32, 12 epochs)",
        TRANSFORMER,
        levers(family="transformer"),
        "snli",
        None,
    ),
    "transformer-budget2.5-words": (
        "the new snli-transformer.yaml: the levers of lstm-budget2.5-words but z to the "
        "output (an RNN's), learning rate 1e-3 on its cosine with 200 warm-up steps, "
        "3,000 steps (a Transformer step costs twice an LSTM's here)",
        TRANSFORMER,
        levers(**{**DEFAULT, "steps": 3000, "lr": 1e-3}, family="transformer"),
        "snli",
        None,
    ),
    "transformer-replace0.1": (
        "transformer-budget2.5-words with 10% of the tokens replaced by uniformly drawn words in training "
        "(model.word_replacement 0.1)",
        TRANSFORMER,
        [*levers(**{**DEFAULT, "steps": 3000, "lr": 1e-3}, family="transformer"), "model.word_replacement=0.1"],
        "snli",
        None,
    ),
    "transformer-replace0.1-fit25": (
        "transformer-replace0.1's model with codes fitted to their sentences (`--fit-steps 25`)",
        None,
        ["--fit-steps", "25"],
        "snli",
        "transformer-replace0.1",
    ),
    "pretrained-default": (
        "configs/text/snli-pretrained.yaml as shipped (MiniLM encoder, SmolLM2-135M decoder; cyclical KL, "
        "free bits 0.5, code 32, 1,500 steps of 16 sentences)",
        PRETRAINED,
        [],
        "snli",
        None,
    ),
    "pretrained-budget2.5": (
        "snli-pretrained.yaml with the LSTM default's code: 64 dimensions, KL weight 1 with a free-bits floor "
        "of 2.5 nats each, the last weights, a fitted 16-component mixture prior; validated once, at the end",
        PRETRAINED,
        [
            "loss.kl.kind=constant",
            "loss.kl.max_weight=1.0",
            "loss.free_bits=2.5",
            "model.latent_size=64",
            "train.select_best=false",
            "train.fit_prior=16",
            f"train.max_steps={PRETRAINED_STEPS}",
            f"train.eval_every={PRETRAINED_STEPS}",
            f"train.save_every={PRETRAINED_STEPS}",
        ],
        "snli",
        None,
    ),
    "polarity-default": (
        "the new snli-lstm.yaml as shipped, on sentence polarity (8,529 training and 1,066 validation sentences "
        "of the sentiment benchmark's 80/10/10 split): its run without the regulariser, trained by `python "
        "scripts/bench_attributes.py --only sentiment`",
        None,
        [],
        "polarity",
        "../attributes/sentiment-base",
    ),
    "polarity-default-fit25": (
        "polarity-default's model with codes fitted to their sentences (`--fit-steps 25`)",
        None,
        ["--fit-steps", "25"],
        "polarity",
        "../attributes/sentiment-base",
    ),
    "ptb-default": (
        "the new snli-lstm.yaml as shipped, on the Penn Treebank (42,068 training sentences, 3,370 validation)",
        LSTM,
        [],
        "ptb",
        None,
    ),
    "lstm-old-default-gmm16": (
        "lstm-old-default with a fitted 16-component mixture prior",
        LSTM,
        [],
        "snli",
        "lstm-old-default",
    ),
}


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
        run(cmd)
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

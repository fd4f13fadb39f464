"""The command-line verbs for text models: evaluate, sample, reconstruct, interpolate, encode, fit-prior.

Each takes the argparse Namespace built by textvae.cli and calls textvae.pipelines.TextPipeline.
Sentences go to stdout one a line; counts and progress go to stderr, so `textvae sample run/ > samples.txt`
holds sentences only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..commands import output_path, recorded_data_config
from ..errors import UserError
from . import attribute_verbs
from .attribute_verbs import attribute_vector, shift, traverse  # noqa: F401  (verbs)
from .data import read_lines, read_sentences, tokenize_sentences
from .verb_args import generation as _generation
from .verb_args import load as _load


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line)


def sample(args: argparse.Namespace) -> None:
    """Print args.n sentences decoded from codes drawn from the prior."""
    vae = _load(args)
    fixed = attribute_verbs.settings(vae.model, args)  # --set NAME=VALUE
    if fixed:
        gen = vae.generation(**_generation(args))
        seed = gen.pop("seed")
        lines = attribute_verbs.sample_set(vae.model, args.n, seed, fixed, gen)
    else:
        lines = vae.sample(args.n, **_generation(args))
    if args.output:
        _write_text(args.output, lines)
        _log(f"wrote {len(lines)} sentences to {args.output}")
    else:
        _print_lines(lines)


def reconstruct(args: argparse.Namespace) -> None:
    """Print the decoding of each sentence's posterior mean, in order."""
    vae = _load(args)
    fixed = attribute_verbs.settings(vae.model, args)  # --set NAME=VALUE
    if fixed:
        _print_lines(
            attribute_verbs.reconstruct_set(vae.model, list(args.sentences), fixed, vae.generation(**_generation(args)))
        )
    else:
        _print_lines(vae.reconstruct(list(args.sentences), fit_steps=args.fit_steps, **_generation(args)))


MISSED_END = "~ "  # starts an end line of `interpolate` that is not its input sentence


def interpolate(args: argparse.Namespace) -> None:
    """Print steps + 2 sentences along the path between the codes of two sentences.

    An end line that is not its input (as the tokenizer reads it) means the model did not reconstruct
    that sentence: a warning on stderr says so, and on stdout the line starts with MISSED_END, or with
    --with-inputs the inputs themselves are printed as the end lines."""
    from .faithfulness import as_read

    vae = _load(args)
    a, b = args.sentence_a, args.sentence_b
    path = vae.interpolate(a, b, steps=args.steps, method=args.method, fit_steps=args.fit_steps, **_generation(args))
    for name, i, given in (("A", 0, a), ("B", len(path) - 1, b)):
        if path[i] == as_read(vae.model.tokenizer, given):
            continue
        shown = "printed as given (--with-inputs)" if args.with_inputs else f"the line marked '{MISSED_END.strip()}'"
        _log(
            f"textvae: warning: the model does not reconstruct sentence {name}: its code decodes to "
            f"{path[i]!r}, not {given!r}; {shown}"
        )
        if not args.with_inputs:
            path[i] = MISSED_END + path[i]
    if args.with_inputs:
        path[0], path[-1] = a, b
    _print_lines(path)


def encode(args: argparse.Namespace) -> None:
    """Write the posterior means of each line of args.input to args.output: (N, D) float32 .npy."""
    import numpy as np

    out = output_path(args.output, "--output")  # before the work, not after
    lines, report = read_lines(args.input, "--input")
    if not lines:
        raise UserError(f"--input: {args.input} is empty; give one sentence a line")
    vae = _load(args)
    tok = vae.model.tokenizer
    for n, line in enumerate(lines, 1):  # one output row per line: a line without a sentence is an error
        if not line.strip():
            raise UserError(
                f"--input: line {n} of {args.input} is empty; every line must hold a sentence "
                f"(the output has one row per line)"
            )
        ids = tok.encode(line)
        if not ids or all(i == tok.unk_id for i in ids):
            raise UserError(f"--input: line {n} of {args.input} has only words unknown to the model's vocabulary")
    if report.bad_utf8:
        _log(report.describe("read"))
    means = vae.encode(lines, batch_size=args.batch_size).numpy().astype(np.float32)  # (N, D)
    with open(out, "wb") as f:  # np.save(path) would add .npy to any other name
        np.save(f, means)
    _log(f"wrote {means.shape[0]} x {means.shape[1]} float32 codes to {out}")


def evaluate(args: argparse.Namespace) -> None:
    """TextPipeline.evaluate's numbers as a table on stdout, the summary as JSON to args.output."""
    from ..commands import evaluation_options, nll_label, report_evaluation

    out = output_path(args.output, "--output") if args.output else None  # before the work
    vae = _load(args)
    summary = vae.evaluate(
        args.data,
        **evaluation_options(args),
        faithfulness=args.faithfulness,
        fluency_lm=args.fluency_lm,
        fit_steps=args.fit_steps,
    )
    if summary is None:  # not the main process
        return
    rows = {"sentences": summary["sentences"], "words": summary["words"]}
    if summary.get("nll") is not None:
        rows[nll_label(summary, "sentence")] = summary["nll"]
        rows["perplexity (per word)"] = summary["perplexity"]
    after = {"reconstruction BLEU": summary["bleu"], "exact match": summary["exact_match"]}
    if "faithfulness" in summary:
        from .faithfulness import summary_rows

        after.update({f"faithfulness: {k}": v for k, v in summary_rows(summary["faithfulness"]).items()})
    report_evaluation(summary, rows, f"{args.model_dir} on {summary['data']}", out, after=after)


def fit_prior(args: argparse.Namespace) -> None:
    """Fit a Gaussian-mixture prior to the codes of the training sentences (or --data); write the model
    with it to a new folder."""
    from ..commands import fit_prior_and_save, fit_prior_output
    from ..training.batching import EpochBatchSampler

    out = fit_prior_output(args)
    model = _load(args).model
    data = args.data or recorded_data_config(args.model_dir).get("train_file")
    if not data:
        raise UserError(
            f"give the sentences to fit the prior to with --data FILE ({args.model_dir}/"
            f"train_config.yaml records no training file)"
        )
    sentences, report = read_sentences(
        data, "auto", recorded_data_config(args.model_dir).get("text_column", "text"), "--data"
    )
    _log(report.describe("sentences"))
    dataset, _ = tokenize_sentences(sentences, model.tokenizer, encoder_tokenizer=model.encoder_tokenizer)
    sampler = EpochBatchSampler(len(dataset), args.batch_size, shuffle=False, lengths=dataset.lengths)
    fit_prior_and_save(args, out, model, dataset, model.collate, sampler, what="sentences")


def _write_text(path: str | Path, lines: list[str]) -> None:
    output_path(path, "--output").write_text("\n".join(lines) + "\n", encoding="utf-8")

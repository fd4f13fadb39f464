"""The command-line verbs for text models: evaluate, sample, reconstruct, interpolate, encode.

Each takes the argparse Namespace built by textvae.cli. Sentences go to stdout one a line; counts and
progress go to stderr, so `textvae sample run/ > samples.txt` holds sentences only.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

from ..commands import output_path, recorded_data_config
from ..errors import UserError
from ..runtime import finish_processes
from . import attribute_verbs
from .attribute_verbs import attribute_vector, shift, traverse  # noqa: F401  (verbs)
from .data import read_lines, read_sentences, tokenize_sentences

DEFAULT_MAX_LENGTH = 64


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def _load(args):
    from ..registry import load_model

    torch.manual_seed(getattr(args, "seed", 0) or 0)
    return load_model(args.model_dir)


def _generation(args, model_dir) -> dict:
    """Generation keyword arguments of TextVAE.decode from the command-line arguments."""
    max_length = getattr(args, "max_length", None)
    if max_length is None:  # the longest sentence seen in training, plus its eos
        max_length = int(recorded_data_config(model_dir).get("max_length", DEFAULT_MAX_LENGTH)) + 1
    return {"strategy": getattr(args, "strategy", "greedy"), "temperature": getattr(args, "temperature", 1.0),
            "top_k": getattr(args, "top_k", 0), "top_p": getattr(args, "top_p", 1.0),
            "beam_size": getattr(args, "beam_size", 5), "max_length": max_length,
            "seed": getattr(args, "seed", 0)}


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line)


def sample(args: argparse.Namespace) -> None:
    """Print args.n sentences decoded from codes drawn from the prior."""
    model = _load(args)
    gen = _generation(args, args.model_dir)
    seed = gen.pop("seed")
    fixed = attribute_verbs.settings(model, args)  # --set NAME=VALUE
    lines = attribute_verbs.sample_set(model, args.n, seed, fixed, gen) if fixed else model.sample(args.n, seed=seed, **gen)
    output = getattr(args, "output", None)
    if output:
        _write_text(output, lines)
        _log(f"wrote {len(lines)} sentences to {output}")
    else:
        _print_lines(lines)


def reconstruct(args: argparse.Namespace) -> None:
    """Print the decoding of each sentence's posterior mean, in order."""
    model = _load(args)
    fixed = attribute_verbs.settings(model, args)  # --set NAME=VALUE
    gen = _generation(args, args.model_dir)
    _print_lines(attribute_verbs.reconstruct_set(model, list(args.sentences), fixed, gen) if fixed else
                 model.reconstruct(list(args.sentences), **gen))


MISSED_END = "~ "  # starts an end line of `interpolate` that is not its input sentence


def interpolate(args: argparse.Namespace) -> None:
    """Print steps + 2 sentences along the path between the codes of two sentences.

    An end line that is not its input (as the tokenizer reads it) means the model did not reconstruct
    that sentence: a warning on stderr says so, and on stdout the line starts with MISSED_END, or with
    --with-inputs the inputs themselves are printed as the end lines."""
    from .faithfulness import as_read

    model = _load(args)
    path = model.interpolate(args.sentence_a, args.sentence_b, steps=args.steps, method=args.method,
                             **_generation(args, args.model_dir))
    with_inputs = getattr(args, "with_inputs", False)
    for name, i, given in (("A", 0, args.sentence_a), ("B", len(path) - 1, args.sentence_b)):
        if path[i] == as_read(model.tokenizer, given):
            continue
        shown = "printed as given (--with-inputs)" if with_inputs else f"the line marked '{MISSED_END.strip()}'"
        _log(f"textvae: warning: the model does not reconstruct sentence {name}: its code decodes to "
             f"{path[i]!r}, not {given!r}; {shown}")
        if not with_inputs:
            path[i] = MISSED_END + path[i]
    if with_inputs:
        path[0], path[-1] = args.sentence_a, args.sentence_b
    _print_lines(path)


def encode(args: argparse.Namespace) -> None:
    """Write the posterior means of each line of args.input to args.output: (N, D) float32 .npy."""
    import numpy as np

    out = output_path(args.output, "--output")  # before the work, not after
    lines, report = read_lines(args.input, "--input")
    if not lines:
        raise UserError(f"--input: {args.input} is empty; give one sentence a line")
    model = _load(args)
    tok = model.tokenizer
    for n, line in enumerate(lines, 1):  # one output row per line: a line without a sentence is an error
        if not line.strip():
            raise UserError(f"--input: line {n} of {args.input} is empty; every line must hold a sentence "
                            f"(the output has one row per line)")
        ids = tok.encode(line)
        if not ids or all(i == tok.unk_id for i in ids):
            raise UserError(f"--input: line {n} of {args.input} has only words unknown to the model's vocabulary")
    if report.bad_utf8:
        _log(report.describe("read"))
    batch_size = getattr(args, "batch_size", None) or 256
    means = model.encode_sentences(lines, batch_size=batch_size).cpu().numpy().astype(np.float32)  # (N, D)
    with open(out, "wb") as f:  # np.save(path) would add .npy to any other name
        np.save(f, means)
    _log(f"wrote {means.shape[0]} x {means.shape[1]} float32 codes to {out}")


def evaluate(args: argparse.Namespace) -> None:
    """Importance-weighted NLL, perplexity per word, -ELBO, KL, MI, active units, and reconstruction
    BLEU and exact match of greedy decodes of the posterior means; a table on stdout, JSON to
    args.output."""
    from accelerate import Accelerator

    from ..commands import evaluation_output, nll_label, proposal_options, report_evaluation
    from ..evaluation import evaluate_vae, scalars
    from ..training.batching import EpochBatchSampler

    out = evaluation_output(args)
    lm_dir = getattr(args, "fluency_lm", None)
    lm = _fluency_lm(lm_dir) if lm_dir else None  # checked before the evaluation's work
    model = _load(args)
    tok = model.tokenizer
    recorded = recorded_data_config(args.model_dir)
    data = args.data or recorded.get("valid_file")
    if not data:
        raise UserError(f"give the sentences to evaluate on with --data FILE ({args.model_dir}/train_config.yaml "
                        f"records no validation file)")
    sentences, report = read_sentences(data, "auto", recorded.get("text_column", "text"), "--data")
    _log(report.describe("evaluation data"))
    # No length limit: every sentence is scored whole.
    dataset, _ = tokenize_sentences(sentences, tok, encoder_tokenizer=model.encoder_tokenizer)
    iw = args.iw_samples
    batch_size = args.batch_size or (16 if iw else 128)  # k samples of a batch are decoded at once
    accelerator = Accelerator(mixed_precision=getattr(args, "mixed_precision", "no") or "no")
    sampler = EpochBatchSampler(len(dataset), batch_size, shuffle=False, lengths=dataset.lengths)
    res = evaluate_vae(model, dataset, model.collate, accelerator,
                       iw_samples=iw, batch_size=batch_size, seed=args.seed, batch_sampler=sampler,
                       **proposal_options(args))
    try:
        if not accelerator.is_main_process:
            return

        words = sum(len(s.split()) for s in dataset.texts)
        n = len(dataset)
        summary = {"model_dir": str(args.model_dir), "data": str(data), "sentences": n, "words": words,
                   "blank_lines_skipped": report.blank, "bad_utf8_lines": report.bad_utf8}
        summary.update(scalars(res))
        if iw:
            # per word, each sentence's end counting as one word (Mikolov et al.; Bowman et al. 2016)
            summary["perplexity"] = math.exp(-float(res["log_px"].double().sum()) / (words + n))
            summary["perplexity_note"] = ("exp(-sum of log p(x) / (words + sentences)); words split on whitespace, "
                                          f"log p(x) the importance-weighted bound with k={iw}")

        summary.update(_reconstruction_scores(model, res["means"], dataset, max(batch_size, 64)))
        rows = {"sentences": n, "words": words}
        if iw:
            rows[nll_label(args, "sentence")] = summary["nll"]
            rows["perplexity (per word)"] = summary["perplexity"]
        after = {"reconstruction BLEU": summary["bleu"], "exact match": summary["exact_match"]}
        if getattr(args, "faithfulness", False) or lm is not None:
            from .faithfulness import measure_faithfulness, summary_rows

            max_length = int(recorded.get("max_length", DEFAULT_MAX_LENGTH)) + 1
            summary["faithfulness"] = measure_faithfulness(model, sentences, lm=lm, max_length=max_length,
                                                           seed=args.seed)
            if lm is not None:
                summary["faithfulness"]["fluency"]["lm"] = str(lm_dir)
            after.update({f"faithfulness: {k}": v for k, v in summary_rows(summary["faithfulness"]).items()})
        report_evaluation(summary, rows, f"{args.model_dir} on {data}", out, after=after)
    finally:  # every process meets here, the main one after writing its results
        finish_processes(accelerator)


def fit_prior(args: argparse.Namespace) -> None:
    """Fit a Gaussian-mixture prior to the codes of the training sentences (or --data); write the model
    with it to a new folder."""
    from ..commands import fit_prior_and_save, fit_prior_output
    from ..training.batching import EpochBatchSampler

    out = fit_prior_output(args)
    model = _load(args)
    data = args.data or recorded_data_config(args.model_dir).get("train_file")
    if not data:
        raise UserError(f"give the sentences to fit the prior to with --data FILE ({args.model_dir}/"
                        f"train_config.yaml records no training file)")
    sentences, report = read_sentences(data, "auto", recorded_data_config(args.model_dir).get("text_column", "text"),
                                       "--data")
    _log(report.describe("sentences"))
    dataset, _ = tokenize_sentences(sentences, model.tokenizer, encoder_tokenizer=model.encoder_tokenizer)
    sampler = EpochBatchSampler(len(dataset), args.batch_size, shuffle=False, lengths=dataset.lengths)
    fit_prior_and_save(args, out, model, dataset, model.collate, sampler, what="sentences")


def _fluency_lm(folder: str):
    """The language model of --fluency-lm, refused unless it is one."""
    from ..registry import load_model
    from .model import TextVAE

    if not Path(folder).is_dir():
        raise UserError(f"--fluency-lm: {folder} is not a folder; give a model folder written by `textvae train`")
    lm = load_model(folder)
    if not isinstance(lm, TextVAE) or lm.encoder is not None:
        raise UserError(f"--fluency-lm: {folder} is not a language model; train one with model.encoder.kind=none "
                        f"on the same data (configs/text/snli-lm.yaml)")
    return lm


def _reconstruction_scores(model, means: torch.Tensor, dataset, batch_size: int) -> dict:
    """Corpus BLEU and exact match of the greedy decoding of each posterior mean (N, D) against the
    input as the tokenizer sees it (lower-cased if it lower-cases, out-of-vocabulary words as <unk>)."""
    import sacrebleu

    max_length = max(len(x) for x in dataset.ids) + 1
    hyps = model.decode(means, strategy="greedy", max_length=max_length, batch_size=batch_size)
    refs = [model.tokenizer.decode(ids) for ids in dataset.ids]
    metric = sacrebleu.BLEU(force=True)  # tokenized corpora (SNLI, PTB) are the norm here: no warning
    return {"bleu": float(metric.corpus_score(hyps, [refs]).score), "bleu_signature": str(metric.get_signature()),
            "exact_match": sum(h == r for h, r in zip(hyps, refs)) / len(refs)}


def _write_text(path: str | Path, lines: list[str]) -> None:
    output_path(path, "--output").write_text("\n".join(lines) + "\n", encoding="utf-8")

"""The command-line verbs for text models that use dimensions with a meaning: traverse, attribute-vector,
shift, and what --set adds to sample and reconstruct (textvae.text.commands imports them)."""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from ..commands import output_path, recorded_data_config
from ..core.attributes import parse_settings, parse_values, resolve_dim, set_dims
from ..errors import UserError
from .attributes import attribute_vector as vector_of
from .attributes import shift as shift_codes
from .attributes import traverse as traverse_codes
from .verb_args import generation as _generation
from .verb_args import load as _load


def _load_and_generation(args):
    vae = _load(args)  # a TextPipeline; attribute-vector has no generation options
    return vae.model, (vae.generation(**_generation(args)) if hasattr(args, "strategy") else None)


def settings(model, args) -> dict[int, float]:
    """--set NAME=VALUE ... as {dim: value} (empty without --set)."""
    return parse_settings(getattr(args, "set", None) or [], model.attributes, model.latent_size)


def sample_set(model, n: int, seed: int, fixed: dict[int, float], gen: dict) -> list[str]:
    """n prior samples decoded with the dimensions in `fixed` set."""
    if n < 1:
        raise UserError(f"the number of samples must be >= 1, not {n}")
    z = model.sample_prior(n, torch.Generator().manual_seed(seed))
    return model.decode(set_dims(z, fixed), seed=seed, **gen)


def reconstruct_set(model, sentences: list[str], fixed: dict[int, float], gen: dict) -> list[str]:
    """Each sentence's posterior mean decoded with the dimensions in `fixed` set."""
    return model.decode(set_dims(model.encode_sentences(sentences).float().cpu(), fixed), **gen)


def traverse(args: argparse.Namespace) -> None:
    """For each sentence, a header line and the decodes of its code with one dimension set to each value."""
    if not args.sentences:
        raise UserError(
            'give the sentences to traverse, e.g. textvae traverse MODEL "a man sleeps ." --attribute length'
        )
    values = parse_values(args.values)
    model, gen = _load_and_generation(args)
    dim = resolve_dim(model.attributes, model.latent_size, args.attribute, args.dim)
    what = f"{args.attribute} (dim {dim})" if args.attribute else f"dim {dim}"
    blocks = traverse_codes(model, args.sentences, dim, values, **gen)
    for sentence, lines in zip(args.sentences, blocks):
        print(f"# {sentence}  ({what})")
        for v, line in zip(values, lines):
            print(f"{v:+.2f}\t{line}")


def attribute_vector(args: argparse.Namespace) -> None:
    """Write mean code(rows with --column == --to) - mean code(rows with --column == --from) to --output."""
    import datasets

    from .data import _BUILDER, check_file, detect_format

    out = output_path(args.output, "--output")
    p = check_file(args.data, "--data")
    kind = detect_format(p)
    if kind == "text":
        raise UserError(f"--data: {p} is plain text, which has no columns; give a CSV, JSONL or parquet file")
    text_column = args.text_column or recorded_data_config(args.model_dir).get("text_column", "text")
    kwargs = {"keep_default_na": False} if kind == "csv" else {}
    try:
        ds = datasets.load_dataset(_BUILDER[kind], data_files=str(p), split="train", **kwargs)
    except Exception as e:  # noqa: BLE001  (the builders raise many types; the cause is the useful part)
        raise UserError(f"--data: could not read {p} as {kind} ({str(e.__cause__ or e).splitlines()[0]})") from None
    for col, what in ((text_column, "--text-column"), (args.column, "--column")):
        if col not in ds.column_names:
            raise UserError(f"--data: {p} has no column {col!r} ({what}; its columns: {', '.join(ds.column_names)})")
    texts, labels = ds[text_column], [str(v).strip() for v in ds[args.column]]
    groups = {}
    for value in (args.from_value, args.to_value):
        groups[value] = [t for t, lab in zip(texts, labels) if lab == value and t and t.strip()]
        if not groups[value]:
            seen = sorted(set(labels))[:10]
            raise UserError(f"--data: no row of {p} has {args.column} = {value!r} (values seen: {', '.join(seen)})")
    model, _ = _load_and_generation(args)
    v = vector_of(model, groups[args.from_value], groups[args.to_value], batch_size=args.batch_size)
    with open(out, "wb") as f:
        np.save(f, v.numpy().astype(np.float32))
    print(
        f"wrote the {args.column} vector {args.from_value} -> {args.to_value} ({len(groups[args.from_value]):,} and "
        f"{len(groups[args.to_value]):,} sentences, norm {float(v.norm()):.3f}) to {out}",
        file=sys.stderr,
    )


def shift(args: argparse.Namespace) -> None:
    """Print each sentence decoded from its posterior mean plus --scale times --vector."""
    from .data import check_file

    path = check_file(args.vector, "--vector")
    try:
        vector = np.load(path)
    except (ValueError, OSError) as e:
        raise UserError(f"--vector: {path} is not a .npy array ({e})") from None
    model, gen = _load_and_generation(args)
    for line in shift_codes(model, args.sentences, vector, args.scale, **gen):
        print(line)

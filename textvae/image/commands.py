"""The command-line verbs for image models: evaluate (on the test split, through
textvae.pipelines.ImagePipeline), fit-prior, sample and traverse (PNG grids)."""

from __future__ import annotations

import argparse
import math
import sys

import torch

from ..commands import output_path, recorded_data_config
from ..core.attributes import parse_settings, parse_values, resolve_dim, set_dims
from ..errors import UserError


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def evaluate(args: argparse.Namespace) -> None:
    """ImagePipeline.evaluate's numbers on the test split as a table on stdout, the summary as JSON to
    args.output."""
    from ..commands import evaluation_options, nll_label, report_evaluation
    from ..pipelines import load

    out = output_path(args.output, "--output") if args.output else None  # before the work
    summary = load(args.model_dir).evaluate(args.data, **evaluation_options(args))
    if summary is None:  # not the main process
        return
    rows = {"images": summary["num_examples"]}
    if summary.get("nll") is not None:
        rows[nll_label(summary, "image")] = summary["nll"]
        rows["bits per dimension"] = summary["bits_per_dim"]
    report_evaluation(summary, rows, f"{args.model_dir} on the test split", out)


def fit_prior(args: argparse.Namespace) -> None:
    """Fit a Gaussian-mixture prior to the codes of the training images (of the recorded data, or of
    --data); write the model with it to a new folder."""
    from ..commands import fit_prior_and_save, fit_prior_output
    from ..config import from_dict
    from ..registry import load_model
    from .data import ImageDataConfig, ImageDataset, load_splits
    from .task import batcher, check_pairing

    out = fit_prior_output(args)
    model = load_model(args.model_dir)
    raw = recorded_data_config(args.model_dir)
    if args.data:
        raw = {**raw, "path": args.data, "format": "auto"}
    data_cfg = from_dict(ImageDataConfig, raw, "data.")
    check_pairing(data_cfg, model.config)
    train = ImageDataset(*load_splits(data_cfg).train)
    _log(f"the {len(train):,} training images of {data_cfg.path or 'the default Fashion-MNIST'}")
    fit_prior_and_save(args, out, model, train, batcher(train, data_cfg, model.config, train=False), what="images")


def sample(args: argparse.Namespace) -> None:
    """A PNG grid of args.n mean images decoded from codes drawn from the prior."""
    from ..registry import load_model
    from .pictures import prior_samples

    if args.n < 1:
        raise UserError(f"-n must be >= 1, not {args.n}")
    out = output_path(args.output or "samples.png", "--output")
    if out.suffix.lower() != ".png":
        raise UserError(f"--output: {out} should end in .png")
    model = load_model(args.model_dir)
    fixed = parse_settings(args.set, model.attributes, model.latent_size)
    ncol = max(1, min(args.n, round(math.sqrt(args.n))))
    with torch.no_grad():
        if fixed:
            from .pictures import save_grid

            z = set_dims(model.sample_prior(args.n, torch.Generator().manual_seed(args.seed)), fixed)
            said = ", ".join(f"z[{d}] = {v:g}" for d, v in fixed.items())
            save_grid(
                out, model.decode_mean(z), ncol, f"Mean images of p(x|z), z ~ N(0, I) with {said} (seed {args.seed})"
            )
        else:
            prior_samples(model, out, n=args.n, seed=args.seed, ncol=ncol)
    _log(f"wrote {args.n} samples to {out}")


def traverse(args: argparse.Namespace) -> None:
    """A PNG grid: a row per test image (one of each class first), its input then its decodes with one
    dimension set to each of --values."""
    from ..config import from_dict
    from ..registry import load_model
    from .attributes import traversal_grid
    from .data import ImageDataConfig, ImageDataset, load_splits
    from .task import batcher

    if args.sentences:
        raise UserError("image models traverse test images, not sentences: drop the sentences (-n sets how many)")
    if args.n < 1:
        raise UserError(f"-n must be >= 1, not {args.n}")
    values = parse_values(args.values)
    out = output_path(args.output or "traverse.png", "--output")
    if out.suffix.lower() != ".png":
        raise UserError(f"--output: {out} should end in .png")
    model = load_model(args.model_dir)
    dim = resolve_dim(model.attributes, model.latent_size, args.attribute, args.dim)
    data_cfg = from_dict(
        ImageDataConfig, {**recorded_data_config(args.model_dir), "val_size": 0, "max_train_examples": 0}, "data."
    )
    images, labels = load_splits(data_cfg).test
    order = pick_rows(labels, args.n)
    test = ImageDataset(images[order], labels[order])
    inputs = batcher(test, data_cfg, model.config, train=False)(list(range(len(test))))["images"]  # as in evaluate
    what = f"{args.attribute} (dim {dim})" if args.attribute else f"dim {dim}"
    traversal_grid(
        model,
        inputs,
        dim,
        values,
        out,
        shown=test.images.float() / 255,
        title=f"{what} set to {', '.join(f'{v:g}' for v in values)} (first column: the input)",
    )
    _log(f"wrote a {len(order)} x {len(values)} traversal of {what} to {out}")


def pick_rows(labels: torch.Tensor, n: int) -> list[int]:
    """n test indices: the first image of each class in turn, then the next of each, ..."""
    by_class = {}
    for i, y in enumerate(labels.tolist()):
        by_class.setdefault(y, []).append(i)
    rows, depth = [], 0
    while len(rows) < min(n, len(labels)):
        for y in sorted(by_class):
            if depth < len(by_class[y]) and len(rows) < n:
                rows.append(by_class[y][depth])
        depth += 1
    return rows

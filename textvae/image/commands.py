"""The command-line verbs for image models: evaluate (on the test split) and sample (a PNG grid)."""
from __future__ import annotations

import argparse
import math
import sys

import torch

from ..commands import output_path, recorded_data_config
from ..core.attributes import parse_settings, parse_values, resolve_dim, set_dims
from ..errors import UserError
from ..runtime import finish_processes


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def evaluate(args: argparse.Namespace) -> None:
    """Importance-weighted NLL (nats per image and bits per dimension), -ELBO, KL, MI and active units on
    the test split of the training data (or of --data); a table on stdout, JSON to args.output."""
    from accelerate import Accelerator

    from ..commands import evaluation_output, nll_label, proposal_options, report_evaluation
    from ..config import from_dict
    from ..evaluation import evaluate_vae, scalars
    from ..registry import load_model
    from .data import ImageDataConfig, ImageDataset, load_splits
    from .task import batcher, check_pairing

    out = evaluation_output(args)
    model = load_model(args.model_dir)
    raw = recorded_data_config(args.model_dir)
    if args.data:
        raw = {**raw, "path": args.data, "format": "auto"}
    data_cfg = from_dict(ImageDataConfig, {**raw, "val_size": 0, "max_train_examples": 0}, "data.")
    check_pairing(data_cfg, model.config)
    splits = load_splits(data_cfg)
    test = ImageDataset(*splits.test)
    c, h = test.images.shape[1:3]
    if (c, h) != (model.config.channels, model.config.image_size):
        raise UserError(f"the test images are {c}x{h}x{h} but the model takes {model.config.channels}x"
                        f"{model.config.image_size}x{model.config.image_size}")
    _log(f"evaluation data: the {len(test):,} test images of {data_cfg.path or 'the default Fashion-MNIST'}")
    accelerator = Accelerator(mixed_precision=args.mixed_precision or "no")
    res = evaluate_vae(model, test, batcher(test, data_cfg, model.config, train=False), accelerator,
                       iw_samples=args.iw_samples, batch_size=args.batch_size or 100, seed=args.seed,
                       **proposal_options(args))
    try:
        if not accelerator.is_main_process:
            return
        summary = {"model_dir": str(args.model_dir), "data": data_cfg.path, "split": "test", **scalars(res)}
        dims = model.config.num_pixels
        if model.config.likelihood == "gaussian":
            # A density on dequantized pixels (x + u) / 256 bounds the probability of the 8-bit image:
            # log P(x) >= E_u log p((x + u) / 256) - D log 256 (Theis et al. 2016).
            shift = dims * math.log(256)
            for key in ("nll", "neg_elbo", "rec"):
                if summary.get(key) is not None:
                    summary[key] += shift
            summary["likelihood_note"] = "nats of 8-bit images: the dequantized density plus D*log(256)"
        else:
            summary["likelihood_note"] = "nats of the binarized test images (one fixed binarization, seed 0)"
        rows = {"images": summary["num_examples"]}
        if summary.get("nll") is not None:
            summary["bits_per_dim"] = summary["nll"] / (dims * math.log(2))
            rows[nll_label(args, "image")] = summary["nll"]
            rows["bits per dimension"] = summary["bits_per_dim"]
        report_evaluation(summary, rows, f"{args.model_dir} on the test split", out)
    finally:  # every process meets here, the main one after writing its results
        finish_processes(accelerator)


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
    fixed = parse_settings(getattr(args, "set", None) or [], model.attributes, model.latent_size)
    ncol = max(1, min(args.n, round(math.sqrt(args.n))))
    with torch.no_grad():
        if fixed:
            from .pictures import save_grid

            z = set_dims(model.sample_prior(args.n, torch.Generator().manual_seed(args.seed)), fixed)
            said = ", ".join(f"z[{d}] = {v:g}" for d, v in fixed.items())
            save_grid(out, model.decode_mean(z), ncol, f"Mean images of p(x|z), z ~ N(0, I) with {said} (seed {args.seed})")
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
    data_cfg = from_dict(ImageDataConfig, {**recorded_data_config(args.model_dir), "val_size": 0,
                                           "max_train_examples": 0}, "data.")
    images, labels = load_splits(data_cfg).test
    order = pick_rows(labels, args.n)
    test = ImageDataset(images[order], labels[order])
    inputs = batcher(test, data_cfg, model.config, train=False)(list(range(len(test))))["images"]  # as in evaluate
    what = f"{args.attribute} (dim {dim})" if args.attribute else f"dim {dim}"
    traversal_grid(model, inputs, dim, values, out, shown=test.images.float() / 255,
                   title=f"{what} set to {', '.join(f'{v:g}' for v in values)} (first column: the input)")
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

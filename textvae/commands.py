"""Helpers shared by the command-line verbs of every modality (textvae.text.commands, textvae.image.commands)."""

from __future__ import annotations

from pathlib import Path

from .errors import UserError


def output_path(path: str | Path, what: str) -> Path:
    """A file the verb will write: refused if it is a directory; its parent folder is created."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{what}: {p} is a directory; give a file name")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def nll_label(summary: dict, unit: str) -> str:
    """The table's name of the bound's row: its k, and the proposal when it is not the encoder's q(z|x)."""
    steps, scale = summary["refine_steps"], summary["proposal_scale"]
    proposal = "".join([f", {steps} refinement steps" if steps else "", f", proposal x{scale:g}" if scale != 1 else ""])
    return f"NLL (nats/{unit}, k={summary['iw_samples']}{proposal})"


def evaluation_options(args) -> dict:
    """The bound's options every `evaluate` verb takes, from its parsed arguments, as keyword arguments
    of the pipelines' evaluate."""
    names = ("iw_samples", "batch_size", "seed", "refine_steps", "refine_lr", "proposal_scale", "mixed_precision")
    return {name: getattr(args, name) for name in names}


def report_evaluation(summary: dict, rows: dict, title: str, out: Path | None, after: dict | None = None) -> None:
    """The evaluation's common rows (-ELBO ... active units) between the modality's own `rows` and
    `after`, printed as a table; the summary written to `out` as JSON."""
    import json
    import sys

    from .evaluation import format_table

    rows.update(
        {
            "-ELBO": summary["neg_elbo"],
            "reconstruction": summary["rec"],
            "KL": summary["kl"],
            "mutual information": summary["mi"],
            "active units": f"{summary['active_units']}/{summary['latent_size']}",
            **(after or {}),
        }
    )
    print(format_table(rows, title=title))
    if out is not None:
        out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)


def recorded_data_config(model_dir: str | Path) -> dict:
    """The `data` section of the run that wrote `model_dir` (its train_config.yaml), or {}."""
    import yaml

    path = Path(model_dir) / "train_config.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")).get("data")
    except (OSError, yaml.YAMLError, AttributeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def fit_prior_output(args) -> Path:
    """Check `textvae fit-prior`'s options before any work; returns the folder to write (default:
    MODEL_DIR-gmmK beside the model)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # several processes would write one folder at once
        raise UserError("fit-prior runs in one process: run `textvae fit-prior` without `accelerate launch`")
    if args.components < 1:
        raise UserError(f"--components must be >= 1, not {args.components}")
    if args.samples_per_example < 1:
        raise UserError(f"--samples-per-example must be >= 1, not {args.samples_per_example}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, not {args.batch_size}")
    source = Path(args.model_dir)
    out = Path(args.output) if args.output else source.with_name(f"{source.name}-gmm{args.components}")
    if out.resolve() == source.resolve():
        raise UserError(f"--output {out} is the model folder itself; give a new folder (the N(0, I) model is kept)")
    if out.is_file():
        raise UserError(f"--output {out} is a file; give a folder")
    return out


def fit_prior_and_save(args, out: Path, model, dataset, collate_fn, batch_sampler=None, what: str = "examples") -> None:
    """`textvae fit-prior`, whatever the modality: codes z ~ q(z|x) of every example of `dataset`
    (args.samples_per_example each), a Gaussian mixture of args.components fitted to them, and the model
    saved with it to `out` (from fit_prior_output), the run's train_config.yaml copied beside it."""
    import shutil
    import sys

    from .training.prior_fit import fit_prior_to_data, save_with_prior

    source = Path(args.model_dir)
    print(
        f"fitting a {args.components}-component Gaussian mixture to {len(dataset):,} {what} x "
        f"{args.samples_per_example} codes",
        file=sys.stderr,
    )
    report = fit_prior_to_data(
        model,
        dataset,
        collate_fn,
        args.components,
        samples_per_example=args.samples_per_example,
        seed=args.seed,
        batch_size=args.batch_size,
        batch_sampler=batch_sampler,
        what=what,
    )
    if not report["converged"]:
        print(
            f"warning: EM did not converge in {report['em_iterations']} iterations; the fit is used as it is",
            file=sys.stderr,
        )
    save_with_prior(model, out, {**report, "model_dir": str(source), "output": str(out)})
    recorded = source / "train_config.yaml"
    if recorded.exists():
        shutil.copyfile(recorded, out / "train_config.yaml")
    print(
        f"average log p(z) of the codes: N(0, I) {report['log_p_standard_normal']:.3f}, fitted mixture "
        f"{report['log_p_fitted']:.3f} nats (+{report['log_p_fitted'] - report['log_p_standard_normal']:.3f})"
    )
    print(f"wrote the model with its fitted prior to {out}")

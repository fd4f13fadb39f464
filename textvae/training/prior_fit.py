"""A fitted prior, whatever the modality and whoever asks (train.fit_prior after a run, `textvae fit-prior`):
codes z ~ q(z|x) of a dataset, a Gaussian mixture fitted to them (textvae.core.priors), and the model saved
with it beside the fit's report (prior_fit.json)."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.priors import fit_mixture_prior
from ..errors import UserError


def fit_prior_to_data(
    model,
    dataset,
    collate_fn,
    components: int,
    *,
    samples_per_example: int,
    seed: int,
    batch_size: int = 64,
    batch_sampler=None,
    what: str = "examples",
    where: str = "",
    progress: bool = True,
) -> dict:
    """Fit the mixture prior of `components` to `samples_per_example` codes of every example of `dataset`
    (set on `model`, not saved). Returns the fit's report with the number of codes. Too few codes for the
    components is a UserError (prefixed by `where`, the setting that asked)."""
    from ..evaluation import posterior_codes

    needed = 2 * components
    if len(dataset) * samples_per_example < needed:
        raise UserError(
            f"{where}{len(dataset):,} {what} x {samples_per_example} sample(s) are too few codes for "
            f"{components} components (at least {needed})"
        )
    codes = posterior_codes(
        model,
        dataset,
        collate_fn,
        batch_size=batch_size,
        batch_sampler=batch_sampler,
        samples_per_example=samples_per_example,
        seed=seed,
        progress=progress,
    )
    report = fit_mixture_prior(model, codes, components, seed=seed, verbose=progress)
    return {**report, "codes": int(codes.shape[0])}


def save_with_prior(model, out: Path, report: dict) -> None:
    """The model (with its fitted prior) to `out`, the fit's report beside it."""
    model.save_pretrained(out)
    (Path(out) / "prior_fit.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

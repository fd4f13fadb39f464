"""Evaluation of any VAE on a dataset, under one or several processes.

Per example: log p(x) from the importance-weighted bound with k samples (Burda et al. 2016), and a
one-sample ELBO split into reconstruction -log p(x|z) and KL(q(z|x) || p(z)). Over the set: mutual
information and active units from all posterior means and log-variances (textvae.core.metrics).
Examples are sharded over processes, gathered with `gather_for_metrics` (no example counted twice)
and put back in dataset order.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader, Dataset

from .core.distributions import DiagonalGaussian
from .core.metrics import active_units, kl_per_dimension, mutual_information
from .core.objectives import iw_log_marginal, refine_posterior
from .core.priors import describe_prior, monte_carlo_kl
from .errors import UserError
from .runtime import bound_onednn_cache, keep_freed_memory

MI_NOTE = (
    "I(x;z) estimated as in He et al. 2019, with the aggregate posterior q(z) taken over ALL "
    "evaluation examples (not per mini-batch); one z ~ q(z|x) per example"
)


class _Indexed(Dataset):
    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return i, self.dataset[i]


def _indexed_collate(collate_fn):
    def collate(items):
        batch = collate_fn([item for _, item in items])
        batch["index"] = torch.tensor([i for i, _ in items], dtype=torch.long)
        return batch

    return collate


def make_eval_loader(dataset, collate_fn, batch_size: int, batch_sampler=None) -> DataLoader:
    """A deterministic loader whose batches carry each example's dataset index."""
    kwargs = {"batch_sampler": batch_sampler} if batch_sampler is not None else {"batch_size": batch_size}
    return DataLoader(_Indexed(dataset), collate_fn=_indexed_collate(collate_fn), **kwargs)


@torch.no_grad()
def evaluate_vae(
    model,
    dataset,
    collate_fn,
    accelerator,
    iw_samples: int = 500,
    batch_size: int = 64,
    seed: int = 0,
    batch_sampler=None,
    chunk_size: int = 50,
    progress: bool = True,
    desc: str = "evaluate",
    refine_steps: int = 0,
    refine_lr: float = 0.02,
    proposal_scale: float = 1.0,
) -> dict:
    """Evaluate `model` (a textvae VAE) on `dataset`.

    Args:
        model: the VAE (unwrapped); moved to the accelerator's device and put in eval mode.
        dataset, collate_fn: items and how to batch them (collate_fn(list_of_items) -> dict).
        accelerator: an accelerate.Accelerator; its processes share the examples.
        iw_samples: k of the importance-weighted bound (0 skips it; nll is then absent).
        chunk_size: samples per forward pass of the bound (bounds memory).
        batch_sampler: optional sampler of index lists (e.g. length-bucketed) instead of batch_size.
        refine_steps, refine_lr: before the bound, that many Adam steps on each example's own q(z|x)
            (textvae.core.objectives.refine_posterior); the ELBO, MI and active units stay the encoder's.
        proposal_scale: the bound's samples come from the (refined) q(z|x) with its standard deviations
            times this: a wider proposal (> 1) covers the tails that an encoder's q, fitted by KL(q || p),
            tends to miss. Any proposal gives a lower bound on log p(x).

    Returns:
        dict with num_examples, nll, neg_elbo, rec, kl (means per example, nats), mi, active_units,
        kl_per_dim (list), and per-example tensors in dataset order: log_px, rec_each, kl_each,
        means, logvars.
    """
    from tqdm.auto import tqdm

    keep_freed_memory()
    bound_onednn_cache()
    model = model.to(accelerator.device).eval()
    loader = accelerator.prepare_data_loader(make_eval_loader(dataset, collate_fn, batch_size, batch_sampler))
    torch.manual_seed(seed + accelerator.process_index)
    # the mixture prior's Monte Carlo KL and the posterior refinement draw from their own streams: the
    # other numbers stay those of a plain evaluation
    kl_generator = torch.Generator(accelerator.device).manual_seed(seed + 1000 + accelerator.process_index)
    refine_generator = torch.Generator(accelerator.device).manual_seed(seed + 2000 + accelerator.process_index)
    keys = ("index", "log_px", "rec_each", "kl_each", "means", "logvars")
    parts = {k: [] for k in keys}
    bar = tqdm(
        loader, desc=desc, disable=not (progress and accelerator.is_main_process), unit="batch", dynamic_ncols=True
    )
    for batch in bar:
        with accelerator.autocast():
            posterior = model.encode(batch)
            z = posterior.rsample()
            rec = -model.log_likelihood(z.unsqueeze(0), batch).squeeze(0).float()
            if iw_samples > 0:
                proposal = refine_posterior(
                    model, batch, posterior, refine_steps, refine_lr, generator=refine_generator
                ).widened(proposal_scale)
                log_px = iw_log_marginal(model, batch, iw_samples, chunk_size, proposal)
            else:
                log_px = torch.full_like(rec, float("nan"))
        full = DiagonalGaussian(posterior.mean.float(), posterior.logvar.float())
        out = {
            "index": batch["index"],
            "log_px": log_px.float(),
            "rec_each": rec,
            "kl_each": monte_carlo_kl(model, full, generator=kl_generator),
            "means": full.mean,
            "logvars": full.logvar,
        }
        gathered = accelerator.gather_for_metrics(out)
        for k in keys:
            parts[k].append(gathered[k].cpu())
    res = {k: torch.cat(v) for k, v in parts.items()}
    order = torch.argsort(res.pop("index"))
    res = {k: v[order] for k, v in res.items()}
    n = res["rec_each"].shape[0]
    au, _ = active_units(res["means"]) if n > 1 else (0, None)
    g = torch.Generator().manual_seed(seed)
    summary = {
        "num_examples": n,
        "nll": float(-res["log_px"].double().mean()) if iw_samples > 0 else None,
        "iw_samples": iw_samples,
        "refine_steps": refine_steps,
        "proposal_scale": proposal_scale,
        "neg_elbo": float((res["rec_each"] + res["kl_each"]).double().mean()),
        "rec": float(res["rec_each"].double().mean()),
        "kl": float(res["kl_each"].double().mean()),
        "mi": mutual_information(res["means"], res["logvars"], generator=g) if n > 1 else 0.0,
        "mi_note": MI_NOTE,
        "active_units": au,
        "latent_size": int(res["means"].shape[1]),
        "kl_per_dim": [round(float(x), 5) for x in kl_per_dimension(res["means"], res["logvars"])],
        "prior": describe_prior(model),
    }
    if model.prior is not None:
        summary["kl_note"] = (
            "kl: -H(q(z|x)) in closed form minus the mean of log p(z) over 64 draws from q(z|x) "
            "per example (the mixture prior has no closed form); kl_per_dim: against N(0, I), "
            "in closed form"
        )
    summary["elbo"] = -summary["neg_elbo"]
    summary.update(res)
    return summary


@torch.no_grad()
def posterior_codes(
    model,
    dataset,
    collate_fn,
    batch_size: int = 256,
    batch_sampler=None,
    samples_per_example: int = 1,
    seed: int = 0,
    progress: bool = True,
) -> torch.Tensor:
    """Codes z ~ q(z|x), samples_per_example for each example of `dataset`, on the CPU in float32:
    (N * samples_per_example, D). One process; the encoder runs in float32."""
    from tqdm.auto import tqdm

    model = model.eval()
    g = torch.Generator().manual_seed(seed)
    codes = []
    for batch in tqdm(
        make_eval_loader(dataset, collate_fn, batch_size, batch_sampler),
        desc="encode",
        disable=not progress,
        unit="batch",
        dynamic_ncols=True,
    ):
        q = model.encode(batch)
        mean, std = q.mean.float().cpu(), q.std.float().cpu()
        eps = torch.randn(samples_per_example, *mean.shape, generator=g)
        codes.append((mean + eps * std).reshape(-1, mean.shape[-1]))
    return torch.cat(codes)


def scalars(result: dict) -> dict:
    """The JSON-serialisable part of an evaluation result (drops the per-example tensors)."""
    return {k: v for k, v in result.items() if not isinstance(v, torch.Tensor)}


def format_table(rows: dict, title: str = "") -> str:
    """A small two-column table for the console."""
    width = max(len(k) for k in rows)
    lines = [title] if title else []
    for k, v in rows.items():
        if isinstance(v, float):
            v = f"{v:.4f}" if abs(v) < 1e5 and not math.isnan(v) else f"{v:.4g}"
        lines.append(f"  {k:<{width}}  {v}")
    return "\n".join(lines)


def check_evaluation_options(
    iw_samples: int, batch_size: int | None, refine_steps: int, refine_lr: float, proposal_scale: float
) -> None:
    """The options `evaluate` has for every modality, checked before any work (UserError naming the one
    that is wrong)."""
    if batch_size is not None and batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, not {batch_size}")
    if iw_samples < 0:
        raise UserError(f"--iw-samples must be >= 0, not {iw_samples}")
    if refine_steps < 0:
        raise UserError(f"--refine-steps must be >= 0, not {refine_steps}")
    if refine_lr <= 0:
        raise UserError(f"--refine-lr must be > 0, not {refine_lr}")
    if not proposal_scale > 0:
        raise UserError(f"--proposal-scale must be > 0, not {proposal_scale}")

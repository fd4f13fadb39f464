"""Latent dimensions with a chosen meaning: attribute regularisation (Pati and Lerch 2020, AR-VAE) and
the measures of how well a dimension holds its attribute.

Training: for an attribute a on latent dimension r, over the pairs (i, j) of a batch,

    L_r,a = mean_{i,j} | tanh(delta * (z_r[i] - z_r[j])) - sign(a[i] - a[j]) |

added, times its weight gamma, to the training loss only (never to a reported bound). The mean runs
over all n * n ordered pairs of the n examples of the batch whose value of a is known, the pairs
i = j included (each contributes 0): the normalisation of AR-VAE's code, torch's L1Loss over the
n x n distance matrices. An example whose value is missing (NaN) enters none of that attribute's
pairs, so partly labelled data trains (semi-supervised). z is the sample of q(z|x) that feeds the
decoder, as in AR-VAE.

Evaluation (numpy, on posterior means): the Spearman rank correlation between z_r and a, and AR-VAE's
interpretability score (after Adel et al. 2018): the dimension with the highest mutual information
with a (scikit-learn's k-nearest-neighbour estimate, mutual_info_regression), then the coefficient of
determination R^2 of a least-squares line predicting a from that one dimension, fitted and scored on
the same (test) codes. With one regressor and an intercept that R^2 equals the squared Pearson
correlation, which is what is computed.

The regulariser orders z_r; it does not take the attribute out of the other dimensions, and a code that
keeps the whole sentence holds it there too (every word of a review carries its sentiment), so the
decoder may ignore z_r. `adversary` does that part (Adversaries): a small network learns to read the
attribute from every other dimension of z, and the encoder is trained to make it read only the
attribute's mean there (domain confusion, Tzeng et al. 2015; the adversarial style loss of John et al.
2019 for text), so the decoder can find the attribute in z_r alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import UserError


@dataclass
class AttributeConfig:
    """One regularised dimension (an item of loss.attributes).

    name: the attribute; computed by the modality's registry (text: length; images: ink, width, height,
        slant) unless `column` is set, in which case it is only a name.
    dim: the latent dimension that holds it.
    weight: gamma, the loss's weight (10, AR-VAE's value for its image models; at 1 the length dimension of a
        tiny SNLI model reached a Spearman correlation of 0.34 in 200 steps, at 10 0.99).
    delta: the tanh's scale on differences of z_r.
    adversary: the weight of a term that trains the encoder to leave the attribute out of every other
        dimension, so that the decoder takes it from this one (Adversaries); 0: none.
    column: read the values from this column of the training file (CSV/JSONL/parquet); an empty cell is
        a missing value.
    values: for a column of labels, their order: values[k] is read as the number k (e.g. [neg, pos]);
        empty: the column must be numeric.
    """

    name: str = ""
    dim: int = 0
    weight: float = 10.0
    delta: float = 1.0
    adversary: float = 0.0
    column: str = ""
    values: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.name:
            raise ValueError("each attribute needs a name")
        if self.dim < 0:
            raise ValueError(f"attribute {self.name!r}: dim must be >= 0, not {self.dim}")
        if self.weight < 0 or self.delta <= 0 or self.adversary < 0:
            raise ValueError(f"attribute {self.name!r}: weight and adversary must be >= 0 and delta > 0")
        if self.values and not self.column:
            raise ValueError(f"attribute {self.name!r}: values maps the labels of a column; set column too")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"attribute {self.name!r}: values {self.values} repeat a label")


def check_attributes(specs: list[AttributeConfig], latent_size: int, computed: list[str]) -> None:
    """One UserError line for a bad loss.attributes: the same name or dim twice, a dim outside the latent,
    a computed attribute the modality does not know."""
    names, dims = [a.name for a in specs], [a.dim for a in specs]
    for what, seen in (("name", names), ("dim", dims)):
        twice = sorted({x for x in seen if seen.count(x) > 1}, key=str)
        if twice:
            raise UserError(
                f"loss.attributes: {what} {twice[0]} is given to two attributes; each attribute needs its own {what}"
            )
    for a in specs:
        if a.dim >= latent_size:
            raise UserError(
                f"loss.attributes: {a.name} is on dim {a.dim}, outside the latent (model.latent_size "
                f"{latent_size}: dims 0-{latent_size - 1})"
            )
        if not a.column and a.name not in computed:
            raise UserError(
                f"loss.attributes: unknown attribute {a.name!r}: this model type computes "
                f"{', '.join(computed)}; or read it from the data with column: NAME"
            )


# -- the training loss -------------------------------------------------------------------------------
def pairwise_sign_loss(z_r: torch.Tensor, a: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """AR-VAE's loss for one attribute: mean over the n^2 ordered pairs of the examples whose a is known
    (not NaN) of |tanh(delta (z_r[i] - z_r[j])) - sign(a[i] - a[j])|. z_r, a: (B,). Fewer than two
    known values: 0 (still connected to z_r's graph)."""
    known = ~torch.isnan(a)
    z, v = z_r[known].float(), a[known].float()
    if z.numel() < 2:
        return z_r.sum() * 0.0
    dz = torch.tanh(delta * (z[:, None] - z[None, :]))  # (n, n)
    da = torch.sign(v[:, None] - v[None, :])  # (n, n)
    return (dz - da).abs().mean()


def attribute_loss(z: torch.Tensor, values: torch.Tensor, specs: list[dict]) -> torch.Tensor:
    """sum over attributes k of weight_k * pairwise_sign_loss(z[:, dim_k], values[:, k], delta_k).
    z: (B, D); values: (B, A) with NaN where missing; specs: A dicts with dim, weight, delta."""
    total = z.new_zeros((), dtype=torch.float32)
    for k, s in enumerate(specs):
        total = total + float(s.get("weight", 1.0)) * pairwise_sign_loss(
            z[:, int(s["dim"])], values[:, k], float(s.get("delta", 1.0))
        )
    return total


class Adversaries(nn.Module):
    """For each attribute with an `adversary` weight: a network (D-1 -> hidden -> 1) that reads the
    attribute, scaled to [0, 1] by the training values' range, from every dimension of z but its own.
    Its loss has two parts, both over the examples whose value is known: the network's squared error
    against the attribute, with z detached (it learns to read the attribute); and, with the network's
    weights detached, the squared distance of its reading from the batch's mean attribute, times the
    weight (the encoder learns to leave nothing there to read). Built only when some attribute has an
    adversary; it trains beside the model and is kept in checkpoints, not in the saved model."""

    def __init__(self, specs: list[dict], latent_size: int, hidden: int = 64):
        super().__init__()
        self.specs = [(k, s) for k, s in enumerate(specs) if float(s.get("adversary", 0.0)) > 0]
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(latent_size - 1, hidden), nn.ReLU(), nn.Linear(hidden, 1)) for _ in self.specs
        )

    def forward(self, z: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        total = z.new_zeros((), dtype=torch.float32)
        for (k, s), head in zip(self.specs, self.heads):
            d = int(s["dim"])
            others = torch.cat([z[:, :d], z[:, d + 1 :]], dim=1).float()
            a = (values[:, k].float() - float(s["min"])) / max(float(s["max"]) - float(s["min"]), 1e-8)
            known = ~torch.isnan(a)
            count = known.sum().clamp(min=1)
            a = torch.where(known, a, 0.0)
            read = head(others.detach()).squeeze(1)  # the adversary's step: read the attribute
            frozen = {n: p.detach() for n, p in head.named_parameters()}
            fooled = torch.func.functional_call(head, frozen, (others,)).squeeze(1)  # the encoder's step
            mean = (a * known).sum() / count
            total = total + (((read - a) ** 2) * known).sum() / count
            total = total + float(s["adversary"]) * (((fooled - mean) ** 2) * known).sum() / count
        return total


# -- evaluation --------------------------------------------------------------------------------------
def _known(x, a) -> tuple[np.ndarray, np.ndarray]:
    x, a = np.asarray(x, dtype=np.float64), np.asarray(a, dtype=np.float64)
    keep = ~np.isnan(a)
    return x[keep], a[keep]


def spearman(x, a) -> float:
    """Spearman's rank correlation of x and a (ties get their average rank; NaN in a left out);
    NaN if either is constant."""
    from scipy.stats import rankdata

    x, a = _known(x, a)
    if len(a) < 2:
        return float("nan")
    rx, ra = rankdata(x), rankdata(a)
    rx, ra = rx - rx.mean(), ra - ra.mean()
    denom = np.sqrt((rx**2).sum() * (ra**2).sum())
    return float((rx * ra).sum() / denom) if denom > 0 else float("nan")


def interpretability(codes, a, seed: int = 0) -> tuple[int, float]:
    """AR-VAE's interpretability of attribute a in codes (N, D): (r, R^2) with r the dimension of highest
    estimated mutual information with a (sklearn mutual_info_regression, random_state seed) and R^2 that
    of the least-squares line a ~ z_r on the same codes (= the squared Pearson correlation)."""
    from sklearn.feature_selection import mutual_info_regression

    codes, a = np.asarray(codes, dtype=np.float64), np.asarray(a, dtype=np.float64)
    keep = ~np.isnan(a)
    codes, a = codes[keep], a[keep]
    mi = mutual_info_regression(codes, a, random_state=seed)
    r = int(np.argmax(mi))
    c = np.corrcoef(codes[:, r], a)[0, 1]
    return r, float(c * c) if np.isfinite(c) else 0.0


def best_spearman(codes, a) -> tuple[int, float]:
    """The dimension of codes (N, D) whose |Spearman correlation| with a is highest, and that correlation."""
    scores = [spearman(codes[:, d], a) for d in range(np.asarray(codes).shape[1])]
    d = int(np.nanargmax(np.abs(scores)))
    return d, scores[d]


# -- using the dimensions ----------------------------------------------------------------------------
def resolve_dim(attributes: list[dict], latent_size: int, name: str | None = None, dim: int | None = None) -> int:
    """The latent dimension named by an attribute `name` (from a model's saved attributes) or given as `dim`."""
    if (name is None) == (dim is None):
        raise UserError("give an attribute name (--attribute NAME) or a dimension (--dim N), one of them")
    if name is not None:
        known = {a["name"]: int(a["dim"]) for a in attributes}
        if name not in known:
            said = f"its attributes are {', '.join(known)}" if known else "it was trained without attributes"
            raise UserError(f"the model has no attribute {name!r}: {said}; or give --dim N")
        return known[name]
    if not 0 <= dim < latent_size:
        raise UserError(f"--dim {dim} is outside the latent (dims 0-{latent_size - 1})")
    return int(dim)


def parse_values(text: str) -> list[float]:
    """'-3:3:7' -> 7 evenly spaced values from -3 to 3; '0,1.5,2' -> those values."""
    try:
        if ":" in text:
            lo, hi, n = text.split(":")
            n = int(n)
            if n < 1:
                raise ValueError
            return np.linspace(float(lo), float(hi), n).tolist()
        values = [float(v) for v in text.split(",") if v.strip()]
        return values or _bad(text)
    except ValueError:
        return _bad(text)


def _bad(text: str):
    raise UserError(f"--values {text!r}: give LOW:HIGH:COUNT (e.g. -3:3:7) or a comma-separated list of numbers")


def parse_settings(items: list[str], attributes: list[dict], latent_size: int) -> dict[int, float]:
    """--set NAME=VALUE or --set DIM=VALUE (repeatable) -> {dim: value}."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not sep or number is None:
            raise UserError(f"--set {item!r}: give NAME=VALUE (an attribute of the model) or DIM=VALUE")
        dim = (
            resolve_dim(attributes, latent_size, dim=int(key))
            if key.strip().isdigit()
            else resolve_dim(attributes, latent_size, name=key.strip())
        )
        out[dim] = number
    return out


def set_dims(z: torch.Tensor, settings: dict[int, float]) -> torch.Tensor:
    """A copy of codes z (N, D) with each dimension in settings set to its value."""
    z = z.clone()
    for d, v in settings.items():
        z[:, d] = v
    return z


def traverse_codes(z: torch.Tensor, dim: int, values: list[float]) -> torch.Tensor:
    """Codes z (N, D) -> (N, V, D): each code with dimension `dim` set to each of the V values."""
    out = z[:, None, :].repeat(1, len(values), 1)
    out[:, :, dim] = torch.as_tensor(values, dtype=z.dtype)
    return out


def mean_difference(codes_from: torch.Tensor, codes_to: torch.Tensor) -> torch.Tensor:
    """The attribute vector: mean code of the `to` group minus that of the `from` group, (D,)."""
    if len(codes_from) == 0 or len(codes_to) == 0:
        raise UserError("an attribute vector needs examples in both groups")
    return codes_to.float().mean(0) - codes_from.float().mean(0)

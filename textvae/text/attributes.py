"""Attributes of sentences for regularised dimensions (textvae.core.attributes), and using them.

Computed attributes are a small registry of functions of the sentence text; add one in a few lines:

    from textvae.text.attributes import text_attribute

    @text_attribute("commas")
    def commas(text: str) -> float:
        return text.count(",")

(registered when its module is imported, before the config is read). Other attributes come from a
column of the training file (CSV/JSONL/parquet): loss.attributes [{name, dim, column, values}].

    lines = traverse(model, ["a man sleeps ."], dim=0, values=[-2, 0, 2])   # one list of decodes a sentence
    v = attribute_vector(model, negative_sentences, positive_sentences)      # (D,)
    shifted = shift(model, ["a sad film ."], v, scale=1.5)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..core.attributes import AttributeConfig, mean_difference, set_dims, traverse_codes
from ..errors import UserError
from ..training.attributes import column_values

TEXT_ATTRIBUTES: dict[str, Callable[[str], float]] = {}


def text_attribute(name: str):
    """Register fn(text) -> float as the computed attribute `name`."""

    def register(fn):
        TEXT_ATTRIBUTES[name] = fn
        return fn

    return register


@text_attribute("length")
def length(text: str) -> float:
    """Words of the sentence (split on whitespace)."""
    return float(len(text.split()))


def computed_values(texts: list[str], name: str) -> np.ndarray:
    fn = TEXT_ATTRIBUTES[name]
    return np.array([fn(t) for t in texts], dtype=np.float64)


def read_columns(path: str | Path, fmt: str, text_column: str, specs: list[AttributeConfig], what: str) -> np.ndarray:
    """The values (N, A) of the column attributes in specs for the rows of `path` that hold a sentence
    (the rows read_sentences keeps, in its order); the columns of computed attributes are NaN."""
    import datasets

    from .files import _BUILDER, _read_column, check_file, detect_format

    p = check_file(path, what)
    kind = detect_format(p, fmt)
    wanted = [s for s in specs if s.column]
    if kind == "text":
        raise UserError(
            f"loss.attributes: {wanted[0].name} reads column {wanted[0].column!r}, but {what} {p} is "
            f"plain text, which has no columns; give a CSV, JSONL or parquet file"
        )
    texts = _read_column(p, kind, text_column, what)  # its checks: the file reads, the text column exists
    kept = [i for i, t in enumerate(texts) if t is not None and t.strip()]
    kwargs = {"keep_default_na": False} if kind == "csv" else {}
    ds = datasets.load_dataset(_BUILDER[kind], data_files=str(p), split="train", **kwargs)
    out = np.full((len(kept), len(specs)), np.nan)
    for k, s in enumerate(specs):
        if not s.column:
            continue
        if s.column not in ds.column_names:
            raise UserError(
                f"loss.attributes: {s.name} reads column {s.column!r}, which {what} {p} does not have "
                f"(its columns: {', '.join(ds.column_names)})"
            )
        cells = ds[s.column]
        out[:, k] = column_values([cells[i] for i in kept], s, f"{what} {p}")
    return out


# -- using the dimensions ----------------------------------------------------------------------------
def traverse(model, sentences: list[str], dim: int, values: list[float], **generation) -> list[list[str]]:
    """For each sentence, the decodes of its posterior mean with dimension `dim` set to each value (the
    other dimensions kept); `generation` as in TextVAE.decode."""
    z = model.encode_sentences(list(sentences)).float()  # (N, D)
    codes = traverse_codes(z, dim, values)  # (N, V, D)
    lines = model.decode(codes.reshape(-1, z.shape[1]), **generation)
    return [lines[i * len(values) : (i + 1) * len(values)] for i in range(len(sentences))]


def decode_with(model, z: torch.Tensor, settings: dict[int, float], **generation) -> list[str]:
    """Decode codes z (N, D) with the dimensions in settings set to their values."""
    return model.decode(set_dims(z.float(), settings), **generation)


def attribute_vector(model, from_sentences: list[str], to_sentences: list[str], batch_size: int = 64) -> torch.Tensor:
    """The mean posterior mean of to_sentences minus that of from_sentences, (D,) on the CPU."""
    if not from_sentences or not to_sentences:
        raise UserError("an attribute vector needs sentences in both groups (--from and --to)")
    a = model.encode_sentences(list(from_sentences), batch_size=batch_size).cpu()
    b = model.encode_sentences(list(to_sentences), batch_size=batch_size).cpu()
    return mean_difference(a, b)


def shift(model, sentences: list[str], vector, scale: float = 1.0, **generation) -> list[str]:
    """Decode each sentence's posterior mean plus scale * vector."""
    v = torch.as_tensor(np.asarray(vector), dtype=torch.float32).reshape(-1)
    if v.numel() != model.latent_size:
        raise UserError(f"the vector has {v.numel()} numbers; the model's codes have {model.latent_size}")
    z = model.encode_sentences(list(sentences)).float().cpu()
    return model.decode(z + scale * v, **generation)

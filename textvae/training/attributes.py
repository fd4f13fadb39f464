"""Attribute values beside the examples: what a Task needs to feed loss.attributes (textvae.core.attributes).

A task computes or reads an (N, A) float array of values for its training split (NaN: missing), wraps
the dataset in `WithAttributes`, and in its collate splits the items from the values with
`split_attributed`, putting the values in batch["attributes"]. `describe` is what the model saves in
config.json.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..core.attributes import AttributeConfig
from ..errors import UserError


class Attributed(NamedTuple):
    item: Any
    values: np.ndarray  # (A,)


class WithAttributes(Dataset):
    """A dataset whose items come with their attribute values; other attributes (lengths, texts, ...)
    are the wrapped dataset's."""

    def __init__(self, dataset, values: np.ndarray):
        if len(values) != len(dataset):
            raise ValueError(f"{len(values)} attribute rows for {len(dataset)} examples")
        self.dataset, self.values = dataset, np.asarray(values, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Attributed:
        return Attributed(self.dataset[i], self.values[i])

    def __getattr__(self, name: str):
        if name in ("dataset", "values"):  # not yet set (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)


def split_attributed(examples: list) -> tuple[list, torch.Tensor | None]:
    """Items and their values (B, A) float32, or the items unchanged and None."""
    if not examples or not isinstance(examples[0], Attributed):
        return examples, None
    return [e.item for e in examples], torch.from_numpy(np.stack([e.values for e in examples]))


def column_values(raw: list, spec: AttributeConfig, where: str) -> np.ndarray:
    """A column's cells -> floats: numbers as they are, labels through spec.values (values[k] -> k);
    None, NaN and blank cells -> NaN (missing). An unknown label is a UserError naming it."""
    order = {str(v): k for k, v in enumerate(spec.values)}
    out = np.full(len(raw), np.nan, dtype=np.float64)
    for i, cell in enumerate(raw):
        if (
            cell is None
            or (isinstance(cell, float) and math.isnan(cell))
            or (isinstance(cell, str) and not cell.strip())
        ):
            continue
        if order:
            key = str(cell).strip()
            if key not in order:
                raise UserError(
                    f"{where}: row {i + 1} has {spec.column} = {key!r}, not one of {spec.values} "
                    f"(loss.attributes {spec.name}.values); add it or leave the cell empty"
                )
            out[i] = order[key]
        elif isinstance(cell, bool) or not isinstance(cell, (int, float)):
            try:
                out[i] = float(cell)
            except (TypeError, ValueError):
                raise UserError(
                    f"{where}: column {spec.column!r} holds labels ({cell!r} in row {i + 1}); list "
                    f"them in order with loss.attributes {spec.name}.values, e.g. [neg, pos]"
                ) from None
        else:
            out[i] = float(cell)
    return out


def describe(specs: list[AttributeConfig], values: np.ndarray) -> list[dict]:
    """What a model keeps of its attributes (config.json): name, dim, weight, delta, column and label
    order, and the training values' min, max and count of known values."""
    out = []
    for k, s in enumerate(specs):
        v = values[:, k]
        known = v[~np.isnan(v)]
        if not len(known):
            raise UserError(
                f"loss.attributes: {s.name} has no known value in the training data"
                + (f" (column {s.column!r} is empty)" if s.column else "")
            )
        out.append(
            {
                "name": s.name,
                "dim": s.dim,
                "weight": s.weight,
                "delta": s.delta,
                "adversary": s.adversary,
                "column": s.column,
                "values": list(s.values),
                "min": float(known.min()),
                "max": float(known.max()),
                "labelled": len(known),
                "examples": len(v),
            }
        )
    return out


def summary(attributes: list[dict]) -> str:
    return "; ".join(
        f"{a['name']} on dim {a['dim']} ({a['labelled']:,}/{a['examples']:,} known, {a['min']:g} to {a['max']:g})"
        for a in attributes
    )

"""Measured attributes of images for regularised dimensions (textvae.core.attributes), Morpho-MNIST style
(Castro et al. 2019), and the traversal grid.

Each measure maps uint8 images (N, C, H, W) to (N,) floats; add one in a few lines:

    from textvae.image.attributes import image_attribute

    @image_attribute("top_ink")
    def top_ink(images):
        return images[:, :, : images.shape[2] // 2].float().mean((1, 2, 3)) / 255

The lit region is the set of pixels at half intensity or more (>= 128 of 255, all channels averaged).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..core.attributes import traverse_codes

IMAGE_ATTRIBUTES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
LIT = 128


def image_attribute(name: str):
    """Register fn(uint8 images (N, C, H, W)) -> (N,) floats as the computed attribute `name`."""

    def register(fn):
        IMAGE_ATTRIBUTES[name] = fn
        return fn

    return register


def _grey(images: torch.Tensor) -> torch.Tensor:
    return images.float().mean(1)  # (N, H, W) in 0..255


@image_attribute("ink")
def ink(images: torch.Tensor) -> torch.Tensor:
    """Mean pixel value in [0, 1]."""
    return images.float().mean((1, 2, 3)) / 255


def _extent(lit: torch.Tensor) -> torch.Tensor:
    """lit (N, L) bool -> last lit index - first lit index + 1 (0 if none)."""
    idx = torch.arange(lit.shape[1])
    first = torch.where(lit, idx, lit.shape[1]).min(1).values
    last = torch.where(lit, idx, -1).max(1).values
    return (last - first + 1).clamp(min=0).float()


@image_attribute("width")
def width(images: torch.Tensor) -> torch.Tensor:
    """Columns spanned by the lit region (its bounding box's width, in pixels)."""
    return _extent((_grey(images) >= LIT).any(1))


@image_attribute("height")
def height(images: torch.Tensor) -> torch.Tensor:
    """Rows spanned by the lit region (its bounding box's height, in pixels)."""
    return _extent((_grey(images) >= LIT).any(2))


@image_attribute("slant")
def slant(images: torch.Tensor) -> torch.Tensor:
    """atan(-mu11 / mu02) in radians, from intensity-weighted central moments with x the column and y
    the row (downwards): positive when the shape leans right at the top (Morpho-MNIST's shear)."""
    w = _grey(images)  # (N, H, W)
    h, wd = w.shape[1:]
    y = torch.arange(h, dtype=torch.float32)[None, :, None]
    x = torch.arange(wd, dtype=torch.float32)[None, None, :]
    mass = w.sum((1, 2)).clamp(min=1e-6)
    yc, xc = (w * y).sum((1, 2)) / mass, (w * x).sum((1, 2)) / mass
    dy, dx = y - yc[:, None, None], x - xc[:, None, None]
    mu11, mu02 = (w * dx * dy).sum((1, 2)), (w * dy * dy).sum((1, 2)).clamp(min=1e-6)
    return torch.atan(-mu11 / mu02)


def measure(images: torch.Tensor, name: str) -> np.ndarray:
    """The attribute `name` of uint8 images (N, C, H, W), in chunks: (N,) float64."""
    fn = IMAGE_ATTRIBUTES[name]
    return torch.cat([fn(images[i : i + 2000]) for i in range(0, len(images), 2000)]).double().numpy()


def traversal_grid(
    model,
    images: torch.Tensor,
    dim: int,
    values: list[float],
    path: str | Path,
    title: str = "",
    shown: torch.Tensor | None = None,
) -> Path:
    """A PNG: a row per input image (float (N, C, H, W) in [0, 1]): the input (or `shown`, e.g. the grey
    levels of binarized inputs), then the decode (mean image) of its posterior mean with dimension `dim`
    set to each value."""
    from .pictures import save_grid

    z = model.encode_images(images).mean  # (N, D)
    images = images if shown is None else shown
    codes = traverse_codes(z, dim, values)  # (N, V, D)
    decoded = model.decode_mean(codes.reshape(-1, z.shape[1])).cpu().view(len(images), len(values), *images.shape[1:])
    grid = torch.cat([images[:, None].cpu(), decoded], dim=1).reshape(-1, *images.shape[1:])
    return save_grid(path, grid, ncol=len(values) + 1, title=title)

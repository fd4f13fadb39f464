"""The pictures an image VAE leaves in its model folder: reconstructions, prior samples, interpolations
between test images, and a map of the latent space coloured by class.

All take float images (N, C, H, W) in [0, 1]; decoded pictures show the mean of p(x|z).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.interpolation import interpolate


def tile(images: torch.Tensor, ncol: int, pad: int = 2) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> one (rows*(H+pad)+pad, ncol*(W+pad)+pad[, 3]) array, white gaps."""
    images = images.detach().float().clamp(0, 1).cpu()
    n, c, h, w = images.shape
    rows = -(-n // ncol)
    grid = torch.ones(c, rows * (h + pad) + pad, ncol * (w + pad) + pad)
    for i in range(n):
        r, k = divmod(i, ncol)
        grid[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + k * (w + pad) : pad + k * (w + pad) + w] = images[
            i
        ]
    arr = grid.numpy()
    return arr[0] if c == 1 else arr[:3].transpose(1, 2, 0)


def save_grid(
    path: str | Path, images: torch.Tensor, ncol: int, title: str = "", row_labels: list[str] | None = None
) -> Path:
    """Save a grid of images as a PNG with an optional title and a label for each row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arr = tile(images, ncol)
    height, width = arr.shape[:2]
    scale = 0.03  # inches per pixel: 3 screen pixels per image pixel at 100 dpi
    left = 1.3 if row_labels else 0.1
    fig = plt.figure(figsize=(width * scale + left, height * scale + (0.5 if title else 0.1)), dpi=100)
    ax = fig.add_axes(
        [
            left / fig.get_figwidth(),
            0.02,
            1 - left / fig.get_figwidth() - 0.01,
            1 - (0.5 if title else 0.1) / fig.get_figheight(),
        ]
    )
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    h = images.shape[2] + 2
    if row_labels:
        ax.set_yticks([2 + h * i + h / 2 - 1 for i in range(len(row_labels))], row_labels, fontsize=8)
        ax.tick_params(length=0)
    else:
        ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.15 / fig.get_figheight(), va="top")
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def reconstructions(model, inputs: torch.Tensor, shown: torch.Tensor, path, per_row: int = 12) -> Path:
    """Rows alternate: the images (`shown`, e.g. grey originals) and the decoding of the posterior mean of
    `inputs` (what the model was fed, e.g. binarized)."""
    recon = model.decode_mean(model.encode_images(inputs).mean).cpu()
    rows, labels = [], []
    for start in range(0, len(inputs), per_row):
        rows += [shown[start : start + per_row], recon[start : start + per_row]]
        labels += ["input", "reconstruction"]
    return save_grid(path, torch.cat(rows), per_row, "Test images and the decoding of their posterior mean", labels)


def prior_samples(model, path, n: int = 64, seed: int = 0, ncol: int = 8) -> Path:
    g = torch.Generator().manual_seed(seed)
    z = model.sample_prior(n, g)
    where = "N(0, I)" if model.prior is None else "the fitted prior"
    return save_grid(path, model.decode_mean(z), ncol, f"Mean images of p(x|z), z ~ {where} (seed {seed})")


def interpolations(
    model,
    inputs: torch.Tensor,
    shown: torch.Tensor,
    labels: torch.Tensor,
    class_names: list[str],
    path,
    pairs: int = 8,
    steps: int = 8,
    method: str = "slerp",
) -> Path:
    """Each row: image a, the decodings along the path between the posterior means of a and b, image b.
    Pairs are taken from different classes where labels allow."""
    chosen = _pairs(labels, pairs)
    means = model.encode_images(inputs).mean
    rows, names = [], []
    for a, b in chosen:
        path_z = interpolate(means[a], means[b], steps, method)
        rows.append(torch.cat([shown[a : a + 1], model.decode_mean(path_z).cpu(), shown[b : b + 1]]))
        names.append(f"{_name(labels[a], class_names)} → {_name(labels[b], class_names)}")
    return save_grid(
        path,
        torch.cat(rows),
        steps + 4,
        f"{method} between the posterior means of two test images (the outer columns)",
        names,
    )


def _pairs(labels: torch.Tensor, n: int) -> list[tuple[int, int]]:
    out, used = [], set()
    order = list(range(len(labels)))
    for i in order:
        if len(out) == n:
            break
        if i in used:
            continue
        for j in order[i + 1 :]:
            if j not in used and (labels[j] != labels[i] or labels[i] < 0):
                out.append((i, j))
                used.update((i, j))
                break
    return out


def _name(label, class_names: list[str]) -> str:
    label = int(label)
    if label < 0:
        return "?"
    return class_names[label] if label < len(class_names) else str(label)


def latent_map(
    means: torch.Tensor,
    labels: torch.Tensor,
    class_names: list[str],
    path,
    shown: torch.Tensor | None = None,
    method: str = "pca",
    seed: int = 0,
    title: str = "",
    notes: int = 8,
):
    """Posterior means (N, D) in 2-D (textvae.latent_map: the coordinates themselves when D = 2, else
    PCA, t-SNE or UMAP), coloured by class, with `notes` of the images `shown` (N, C, H, W) in [0, 1]
    drawn beside their points. Returns (Projection, Frame) for mapping clicks back."""
    from ..latent_map import Marks, draw_map, project, spread_points

    proj = project(means.float().cpu().numpy(), method, seed)
    marks = Marks()
    if shown is not None:
        for i in spread_points(proj.xy, range(len(proj.xy)), notes):
            marks.thumbnails[i] = thumbnail(shown[i])
    names = [_name(c, class_names) for c in labels.tolist()]
    single = len(set(names)) <= 1
    frame = draw_map(
        proj,
        path,
        title or f"Posterior means of {len(means):,} test images",
        categories=None if single else names,
        value_name="class",
        marks=marks,
        order=[_name(c, class_names) for c in sorted(set(labels.tolist()))],
    )
    return proj, frame


def thumbnail(image: torch.Tensor) -> np.ndarray:
    """One image (C, H, W) in [0, 1] as an array for matplotlib: (H, W) grey or (H, W, 3)."""
    arr = image.detach().float().clamp(0, 1).cpu().numpy()
    return arr[0] if arr.shape[0] == 1 else arr[:3].transpose(1, 2, 0)


def manifold(model, path, n: int = 15) -> Path:
    """For a 2-D latent: the decoding of an n x n grid of codes at evenly spaced Gaussian quantiles."""
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, n))
    z = torch.stack(torch.meshgrid(q, q.flip(0), indexing="xy"), -1).reshape(-1, 2)[:, [0, 1]]
    return save_grid(path, model.decode_mean(z), n, "Decodings of a grid of codes (Gaussian quantiles 5%-95%)")


def write_all(
    model, inputs: torch.Tensor, shown: torch.Tensor, labels: torch.Tensor, class_names: list[str], folder: str | Path
) -> list[Path]:
    """Every picture into `folder`; returns their paths."""
    folder = Path(folder)
    was_training = model.training
    model.eval()
    try:
        paths = [
            reconstructions(model, inputs[:36], shown[:36], folder / "reconstructions.png"),
            prior_samples(model, folder / "prior_samples.png"),
            interpolations(model, inputs, shown, labels, class_names, folder / "interpolations.png"),
            folder / "latent_map.png",
        ]
        latent_map(model.encode_images(inputs).mean, labels, class_names, paths[-1], shown=shown)
        if model.latent_size == 2:
            paths.append(manifold(model, folder / "manifold.png"))
    finally:
        model.train(was_training)
    return paths

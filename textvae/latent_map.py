"""Maps of a latent space for any modality: codes (N, D) projected to 2-D, drawn as a scatter coloured by
a category or a continuous value with a few points annotated, written as a PNG and a CSV of the points.

    proj = project(codes, "pca")                     # or "tsne", "umap" (umap-learn), or D = 2 as it is
    frame = draw_map(proj, "map.png", "title", categories=labels, notes={i: "a man sleeps ."})
    x, y = frame.to_xy(px, py)                       # a pixel of the PNG -> the map's coordinates
    z, how = proj.to_code(x, y)                      # -> a latent code (D,) under that point

The text and image verbs (`textvae map`), the pictures after training and the demo all draw through
here, so a map reads the same everywhere.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError

METHODS = ("pca", "tsne", "umap")
NEIGHBOURS_FOR_INVERSE = 10  # t-SNE and UMAP have no inverse here: the mean code of this many nearest points


@dataclass
class Projection:
    """Codes (N, D) and their 2-D points (N, 2); `axes` names the two coordinates, `note` the method."""

    method: str
    codes: np.ndarray
    xy: np.ndarray
    axes: tuple[str, str]
    note: str
    mean: np.ndarray | None = None  # PCA: the codes' mean (D,)
    components: np.ndarray | None = None  # PCA: the two principal directions (2, D)

    def to_code(self, x: float, y: float) -> tuple[np.ndarray, str]:
        """The latent code (D,) float32 under the point (x, y) of the map, and how it was found."""
        if self.method == "latent":
            return np.array([x, y], dtype=np.float32), "the point itself (a 2-D latent)"
        if self.method == "pca":
            z = self.mean + np.array([x, y]) @ self.components
            return z.astype(np.float32), "PCA's inverse: the mean code plus x, y along the two components"
        k = min(NEIGHBOURS_FOR_INVERSE, len(self.xy))
        idx = nearest_points(self.xy, x, y, k)
        return self.codes[idx].mean(0).astype(
            np.float32
        ), f"{self.method} has no inverse: the mean code of the {k} nearest points on the map"


def project(codes, method: str = "pca", seed: int = 0) -> Projection:
    """Codes (N, D) -> a Projection; a 2-D latent is used as it is whatever the method."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < 2:
        raise UserError(f"a map needs at least 2 codes, not {len(codes)}")
    n, d = codes.shape
    if d == 2:
        return Projection("latent", codes, codes.copy(), ("z1", "z2"), "the 2-D latent space itself")
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(codes)
        share = pca.explained_variance_ratio_
        return Projection(
            "pca",
            codes,
            pca.transform(codes),
            (f"PC 1 ({share[0]:.0%} of variance)", f"PC 2 ({share[1]:.0%})"),
            f"first two principal components of the {d}-D posterior means",
            mean=pca.mean_,
            components=pca.components_,
        )
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30, max(2, (n - 1) // 3)))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(codes)
        return Projection(
            "tsne", codes, xy, ("t-SNE 1", "t-SNE 2"), f"t-SNE (perplexity {perplexity:g}) of the {d}-D posterior means"
        )
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise UserError("--method umap needs umap-learn: pip install 'textvae[map]' (or umap-learn)") from None
        xy = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed).fit_transform(codes)
        return Projection(
            "umap", codes, np.asarray(xy, dtype=np.float64), ("UMAP 1", "UMAP 2"), f"UMAP of the {d}-D posterior means"
        )
    raise UserError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")


def nearest_points(xy: np.ndarray, x: float, y: float, k: int) -> np.ndarray:
    """Indices of the k points of xy (N, 2) nearest to (x, y), nearest first."""
    d = ((xy - np.array([x, y])) ** 2).sum(1)
    k = min(k, len(xy))
    idx = np.argpartition(d, k - 1)[:k]
    return idx[np.argsort(d[idx], kind="stable")]


def nearest_codes(codes, query, k: int = 5, metric: str = "cosine") -> list[tuple[int, float]]:
    """The k codes of `codes` (N, D) nearest to `query` (D,): (index, cosine similarity or Euclidean
    distance), nearest first."""
    codes, q = np.asarray(codes, dtype=np.float64), np.asarray(query, dtype=np.float64).reshape(-1)
    if metric == "cosine":
        score = codes @ q / np.maximum(np.linalg.norm(codes, axis=1) * np.linalg.norm(q), 1e-12)
        order = np.argsort(-score, kind="stable")
    elif metric == "euclidean":
        score = np.linalg.norm(codes - q, axis=1)
        order = np.argsort(score, kind="stable")
    else:
        raise ValueError(f"metric must be cosine or euclidean, not {metric!r}")
    return [(int(i), float(score[i])) for i in order[:k]]


def spread_points(xy: np.ndarray, candidates, k: int) -> list[int]:
    """Up to k of the candidate indices spread over the map: farthest-point sampling in coordinates
    scaled to unit spread, from the candidate nearest the centre."""
    cand = np.asarray(list(candidates), dtype=np.int64)
    if not len(cand) or k < 1:
        return []
    pts = xy[cand] / np.maximum(xy.std(0), 1e-12)
    chosen = [int(np.argmin(((pts - np.median(pts, 0)) ** 2).sum(1)))]
    dist = ((pts - pts[chosen[0]]) ** 2).sum(1)
    while len(chosen) < min(k, len(cand)):
        nxt = int(np.argmax(dist))
        if dist[nxt] == 0:
            break
        chosen.append(nxt)
        dist = np.minimum(dist, ((pts - pts[nxt]) ** 2).sum(1))
    return [int(cand[i]) for i in chosen]


@dataclass
class Frame:
    """Where the map's axes lie in the PNG: pixel (px, py) from the top left <-> map coordinates."""

    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    xlim: tuple[float, float]
    ylim: tuple[float, float]

    def to_xy(self, px: float, py: float) -> tuple[float, float] | None:
        """Map coordinates of a pixel, or None outside the axes."""
        if not (self.left <= px <= self.right and self.top <= py <= self.bottom):
            return None
        x = self.xlim[0] + (px - self.left) / (self.right - self.left) * (self.xlim[1] - self.xlim[0])
        y = self.ylim[1] - (py - self.top) / (self.bottom - self.top) * (self.ylim[1] - self.ylim[0])
        return float(x), float(y)

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        px = self.left + (x - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * (self.right - self.left)
        py = self.top + (self.ylim[1] - y) / (self.ylim[1] - self.ylim[0]) * (self.bottom - self.top)
        return float(px), float(py)


@dataclass
class Marks:
    """Extra things drawn on a map: labelled stars (e.g. a query sentence), and image thumbnails."""

    stars: list[tuple[float, float, str]] = field(default_factory=list)
    thumbnails: dict[int, np.ndarray] = field(default_factory=dict)  # point -> (H, W) or (H, W, 3) in [0, 1]


def is_categorical(values) -> bool:
    """Labels (strings, or at most 20 distinct integers) rather than a continuous value."""
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if any(isinstance(v, str) for v in vals):
        return True
    return len(set(vals)) <= 20 and all(float(v).is_integer() for v in vals)


def draw_map(
    proj: Projection,
    path,
    title: str,
    categories: list | None = None,
    values=None,
    value_name: str = "",
    notes: dict[int, str] | None = None,
    marks: Marks | None = None,
    order: list[str] | None = None,
    size: tuple[float, float] = (8.0, 6.5),
    dpi: int = 100,
) -> Frame:
    """The scatter of proj.xy as a PNG at `path` (size in inches at dpi): coloured by `categories` (a
    label per point: a legend, in `order` if given, else sorted) or by `values` (floats: a colour bar),
    else one colour; `notes` writes text beside chosen points. Returns the Frame of the axes for mapping
    clicks back."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xy = proj.xy
    fig, ax = plt.subplots(figsize=size, dpi=dpi)
    dot = max(2.5, min(12.0, 6000 / len(xy)))
    if categories is not None:
        cmap = plt.get_cmap("tab10" if len(set(map(str, categories))) <= 10 else "tab20")
        cats = np.array([str(c) if str(c).strip() else "(none)" for c in categories])
        present = set(cats.tolist())
        names = [n for n in order if n in present] if order else sorted(present, key=_natural)
        names += sorted(present - set(names), key=_natural)
        colour = {name: cmap(k % cmap.N) for k, name in enumerate(names)}
        # one scatter in a shuffled order: no class is painted over all the others where they overlap
        order_drawn = np.random.default_rng(0).permutation(len(xy))
        ax.scatter(
            xy[order_drawn, 0],
            xy[order_drawn, 1],
            s=dot,
            alpha=0.6,
            linewidths=0,
            rasterized=True,
            color=[colour[c] for c in cats[order_drawn]],
        )
        for name in names:  # the legend's entries
            ax.scatter([], [], s=dot, color=colour[name], label=name)
        ax.legend(
            markerscale=max(1.0, 12 / dot) ** 0.5 * 2,
            fontsize=8,
            loc="best",
            framealpha=0.8,
            title=value_name or None,
            title_fontsize=8,
        )
    elif values is not None:
        v = np.asarray(values, dtype=np.float64)
        finite = v[np.isfinite(v)]
        lo, hi = np.percentile(finite, [1, 99]) if len(finite) else (0.0, 1.0)
        sc = ax.scatter(
            xy[:, 0],
            xy[:, 1],
            c=v,
            s=dot,
            alpha=0.7,
            cmap="viridis",
            vmin=lo,
            vmax=max(hi, lo + 1e-9),
            rasterized=True,
            linewidths=0,
        )
        fig.colorbar(sc, ax=ax, label=value_name, shrink=0.85, pad=0.02)
    else:
        ax.scatter(xy[:, 0], xy[:, 1], s=dot, alpha=0.6, rasterized=True, linewidths=0)
    marks = marks or Marks()
    _annotate(ax, xy, notes or {}, marks.thumbnails)
    for x, y, label in marks.stars:
        ax.scatter([x], [y], marker="*", s=260, color="red", edgecolors="black", linewidths=0.8, zorder=5)
        ax.annotate(
            label,
            (x, y),
            xytext=(8, -12),
            textcoords="offset points",
            fontsize=8,
            color="darkred",
            zorder=6,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "darkred", "alpha": 0.85},
        )
    ax.set_xlabel(proj.axes[0])
    ax.set_ylabel(proj.axes[1])
    ax.set_title(f"{title}\n{proj.note}", fontsize=10)
    fig.tight_layout()
    fig.canvas.draw()
    box = ax.get_window_extent()  # display pixels, origin at the bottom left
    width, height = fig.canvas.get_width_height()
    frame = Frame(
        int(width),
        int(height),
        float(box.x0),
        float(height - box.y1),
        float(box.x1),
        float(height - box.y0),
        tuple(map(float, ax.get_xlim())),
        tuple(map(float, ax.get_ylim())),
    )
    fig.savefig(path, dpi=dpi)  # no bbox_inches: the PNG's pixels are the canvas's, so the frame holds
    plt.close(fig)
    return frame


def _natural(name: str):
    try:
        return (0, float(name), "")
    except ValueError:
        return (1, 0.0, name)


def _annotate(ax, xy: np.ndarray, notes: dict[int, str], thumbnails: dict[int, np.ndarray]) -> None:
    """Text notes and thumbnails beside their points, pushed outwards from the map's centre."""
    centre = np.median(xy, 0)
    spread = np.maximum(xy.std(0), 1e-12)
    for i, text in notes.items():
        away = (xy[i] - centre) / spread
        # vertically away from the centre, horizontally towards it: the text stays inside the axes
        dx, dy = -14 if away[0] > 0 else 14, 14 if away[1] >= 0 else -14
        ax.annotate(
            text,
            tuple(xy[i]),
            xytext=(dx, dy),
            textcoords="offset points",
            fontsize=7.5,
            ha="left" if dx >= 0 else "right",
            va="bottom" if dy >= 0 else "top",
            zorder=4,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.5", "alpha": 0.85},
            arrowprops={"arrowstyle": "-", "color": "0.3", "lw": 0.6},
        )
        ax.scatter([xy[i, 0]], [xy[i, 1]], s=14, facecolors="none", edgecolors="black", linewidths=0.8, zorder=4)
    if thumbnails:
        from matplotlib.offsetbox import AnnotationBbox, OffsetImage

        for i, img in thumbnails.items():
            away = (xy[i] - centre) / spread
            dx, dy = -26 if away[0] > 0 else 26, -26 if away[1] > 0 else 26  # towards the centre: inside
            box = OffsetImage(img, zoom=1.0, cmap="gray" if img.ndim == 2 else None)
            ax.add_artist(
                AnnotationBbox(
                    box,
                    tuple(xy[i]),
                    xybox=(dx, dy),
                    boxcoords="offset points",
                    pad=0.15,
                    zorder=4,
                    arrowprops={"arrowstyle": "-", "color": "0.3", "lw": 0.6},
                )
            )


def write_points(path, proj: Projection, columns: dict[str, list]) -> Path:
    """A CSV of the map: x, y and each of `columns` (a value per point), a row per point."""
    path = Path(path)
    n = len(proj.xy)
    for name, col in columns.items():
        if len(col) != n:
            raise ValueError(f"column {name} has {len(col)} values for {n} points")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["x", "y", *columns])
        for i in range(n):
            w.writerow([f"{proj.xy[i, 0]:.6g}", f"{proj.xy[i, 1]:.6g}", *(_cell(c[i]) for c in columns.values())])
    return path


def _cell(v):
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return "" if v is None else v


def choose_points(n: int, max_points: int, seed: int = 0) -> np.ndarray:
    """Indices of at most max_points of n rows, a seeded random subset in their original order."""
    if max_points < 2:
        raise UserError(f"--max-points must be >= 2, not {max_points}")
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))

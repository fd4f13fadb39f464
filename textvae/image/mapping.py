"""`textvae map` for image models: the posterior means of test images in 2-D, coloured by class (or by a
measured attribute, or by a named latent dimension), thumbnails of a few images on the map, the points in
a CSV beside the PNG. Projection and drawing are textvae.latent_map's, shared with text."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch

from ..commands import output_path
from ..errors import UserError
from ..latent_map import Projection, choose_points, write_points


@dataclass
class ImageRows:
    """Test images (uint8 (N, C, H, W)), their model inputs (float), labels and class names."""

    images: torch.Tensor
    inputs: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    source: str

    def names(self) -> list[str]:
        from .pictures import _name

        return [_name(c, self.class_names) for c in self.labels.tolist()]


def load_test_images(model_dir, model, data: str | None = None, max_points: int = 5000, seed: int = 0) -> ImageRows:
    """Up to max_points test images of the run's data (or of `data`: idx/npz/folder) as the model sees them."""
    from .task import batcher, load_test_split

    test, cfg, class_names = load_test_split(model_dir, model, data)
    idx = choose_points(len(test), max_points, seed).tolist()
    batch = batcher(test, cfg, model.config, train=False)(idx)
    return ImageRows(
        test.images[idx], batch["images"], batch["labels"], class_names, cfg.path or "the default Fashion-MNIST"
    )


def map_verb(args) -> None:
    """`textvae map` for an image model."""
    from ..registry import load_model
    from .pictures import latent_map

    out = output_path(args.output or "map.png", "--output")
    if out.suffix.lower() != ".png":
        raise UserError(f"--output: {out} should end in .png")
    if args.neighbours:
        raise UserError("--neighbours takes a sentence: it is for text models")
    if args.column and args.column not in ("label", "class"):
        raise UserError(f"--column {args.column!r}: image data has one column, the class (--column label)")
    model = load_model(args.model_dir)
    rows = load_test_images(args.model_dir, model, args.data, args.max_points, args.seed)
    print(f"encoding {len(rows.images):,} test images of {rows.source}", file=sys.stderr)
    with torch.no_grad():
        means = model.encode_images(rows.inputs).mean
    shown = rows.images.float() / 255
    values, value_name = colour_values(args, model, rows, means)
    title = f"Posterior means of {len(means):,} test images"
    if values is None:
        proj, _ = latent_map(
            means, rows.labels, rows.class_names, out, shown=shown, method=args.method, seed=args.seed, title=title
        )
    else:
        proj = _draw_values(means, values, value_name, shown, out, args, title)
    columns = {"index": list(range(len(means)))}
    columns["label"] = rows.labels.tolist()
    columns["class"] = rows.names()
    if values is not None:
        columns[value_name] = values.tolist()
    csv_path = write_points(out.with_suffix(".csv"), proj, columns)
    print(f"wrote {out} and {csv_path} ({len(means):,} points, {proj.note})", file=sys.stderr)


def colour_values(args, model, rows: ImageRows, means: torch.Tensor) -> tuple[np.ndarray | None, str]:
    """--attribute NAME: the code's value in that dimension; --color NAME: a measured attribute (ink, ...);
    neither: None (colour by class)."""
    if args.attribute and args.color:
        raise UserError("colour the map by one thing: give --attribute or --color, not both")
    if args.attribute:
        from ..core.attributes import resolve_dim

        dim = resolve_dim(model.attributes, model.latent_size, name=args.attribute)
        return means[:, dim].float().cpu().numpy(), f"z[{dim}] ({args.attribute})"
    if args.color and args.color not in ("label", "class"):
        from .attributes import IMAGE_ATTRIBUTES, measure

        if args.color not in IMAGE_ATTRIBUTES:
            raise UserError(
                f"--color {args.color!r}: the measured colourings of images are "
                f"{', '.join(IMAGE_ATTRIBUTES)} (or class)"
            )
        return np.asarray(measure(rows.images, args.color), dtype=np.float64), args.color
    return None, ""


def _draw_values(means, values, value_name, shown, out, args, title) -> Projection:
    from ..latent_map import Marks, draw_map, project, spread_points
    from .pictures import thumbnail

    proj = project(means.float().cpu().numpy(), args.method, args.seed)
    marks = Marks(thumbnails={i: thumbnail(shown[i]) for i in spread_points(proj.xy, range(len(proj.xy)), 8)})
    draw_map(proj, out, title, values=values, value_name=value_name, marks=marks)
    return proj

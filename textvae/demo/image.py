"""The demo page of an image model: the same tabs as text, showing images. Test images are chosen by
their index in the test split; decodes show the mean image of p(x|z)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .common import MapView, action, dials, int_in, map_controls, wire_dials, wire_map

MAX_STEPS = 16
MAX_SAMPLES = 100
NEIGHBOURS = 8
ZOOM = 3  # screen pixels per image pixel


def picture(images: torch.Tensor, ncol: int) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] -> one uint8 grid, each pixel ZOOM x ZOOM."""
    from ..image.pictures import tile

    arr = (tile(images, ncol) * 255).round().astype(np.uint8)
    return arr.repeat(ZOOM, 0).repeat(ZOOM, 1)


class ImageDemo:
    def __init__(self, vae, model_dir: str, data: str | None = None, max_points: int = 2000, method: str = "pca"):
        from ..image.mapping import load_test_images
        from ..image.pictures import latent_map

        self.vae, model = vae, vae.model
        self.rows = load_test_images(model_dir, model, data, max_points)
        self.shown = self.rows.images.float() / 255
        self.means = vae.encode(self.rows.inputs)
        png = Path(tempfile.mkdtemp(prefix="textvae-demo-")) / "map.png"
        proj, frame = latent_map(
            self.means,
            self.rows.labels,
            self.rows.class_names,
            png,
            shown=self.shown,
            method=method,
            title=f"Posterior means of {len(self.means):,} test images",
        )
        self.view = MapView(png, frame, proj)
        self.dials, self.dials_said = dials(model.attributes, self.means.numpy())
        self.n = len(self.means)

    def _index(self, value, what: str) -> int:
        return int_in(value, 0, self.n - 1, what)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)

    def interpolate(self, a=0, b=1, steps=8, method="slerp") -> np.ndarray:
        """A strip: image a, the decodes along the path between the posterior means, image b."""
        from ..core.interpolation import interpolate

        a, b = self._index(a, "image A"), self._index(b, "image B")
        steps = int_in(steps, 0, MAX_STEPS, "steps")
        if method not in ("slerp", "linear"):
            raise UserError(f"the path must be slerp or linear, not {method!r}")
        path = interpolate(self.means[a], self.means[b], steps, method)
        row = torch.cat([self.shown[a : a + 1], self._decode(path), self.shown[b : b + 1]])
        return picture(row, len(row))

    def sample(self, n=16, seed=0) -> np.ndarray:
        n = int_in(n, 1, MAX_SAMPLES, "the number of samples")
        return picture(self.vae.sample(n, seed=int_in(seed, 0, 2**31 - 1, "the seed")), max(1, round(n**0.5)))

    def reconstruct(self, index=0) -> np.ndarray:
        """The test image and the decode of its posterior mean, side by side."""
        i = self._index(index, "the image")
        return picture(torch.cat([self.shown[i : i + 1], self._decode(self.means[i])]), 2)

    def _at(self, code: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray, str]:
        from ..latent_map import nearest_codes

        found = nearest_codes(self.means.numpy(), code, NEIGHBOURS, "euclidean")
        names = self.rows.names()
        said = ", ".join(f"#{i} {names[i]} ({d:.2f})" for i, d in found)
        near = picture(self.shown[[i for i, _ in found]], NEIGHBOURS)
        return (
            picture(self._decode(torch.as_tensor(code)), 1),
            near,
            f"code under the point: {how}. Nearest test images by Euclidean distance: {said}",
        )

    def map_decode(self, x, y):
        return self._at(*self.view.code_at(x, y))

    def map_click(self, px, py):
        x, y, code, how = self.view.code_at_pixel(px, py)
        return (x, y, *self._at(code, how))

    def dials_encode(self, index=0) -> tuple:
        i = self._index(index, "the image")
        z = self.means[i]
        return (*[float(z[d.dim]) for d in self.dials], picture(self._decode(z), 1))

    def dials_decode(self, index, *values) -> np.ndarray:
        if len(values) != len(self.dials):
            raise UserError(f"give {len(self.dials)} dial values, not {len(values)}")
        z = self.means[self._index(index, "the image")].clone()
        for d, v in zip(self.dials, values):
            try:
                z[d.dim] = float(v)
            except (TypeError, ValueError):
                raise UserError(f"the dial {d.name} must be a number, not {v!r}") from None
        return picture(self._decode(z), 1)


def build_page(vae, model_dir: str, data: str | None = None, max_points: int = 2000, method: str = "pca"):
    import gradio as gr

    demo = ImageDemo(vae, model_dir, data, max_points, method)
    c = vae.model.config
    last = demo.n - 1
    with gr.Blocks(title=f"textvae: {model_dir}") as page:
        gr.Markdown(
            f"## textvae demo: `{model_dir}`\nAn image VAE ({c.kind}, {c.latent_size}-D latent) on "
            f"{demo.n:,} test images of {demo.rows.source} (index 0-{last})."
        )
        status = gr.Markdown("ready", elem_id="status")

        def index_box(label, value):
            # no minimum/maximum: an index out of range gets the handler's message, not gradio's error
            return gr.Number(value, precision=0, label=f"{label} (test image 0-{last})")

        with gr.Tab("Interpolate"):
            with gr.Row():
                a, b = index_box("image A", 0), index_box("image B", 1)
                steps = gr.Slider(0, MAX_STEPS, value=8, step=1, label="intermediate steps")
                how = gr.Radio(["slerp", "linear"], value="slerp", label="path")
            go = gr.Button("Interpolate", variant="primary", elem_id="interpolate-button")
            strip = gr.Image(label="A, the path of decodes, B", interactive=False, format="png", elem_id="path")
            go.click(action(1)(demo.interpolate), [a, b, steps, how], [strip, status], api_name="interpolate")

        with gr.Tab("Sample / Reconstruct"):
            with gr.Row():
                n = gr.Slider(1, MAX_SAMPLES, value=16, step=1, label="samples from the prior")
                seed = gr.Number(0, precision=0, label="seed")
            go_s = gr.Button("Sample", elem_id="sample-button")
            grid = gr.Image(label="mean images of p(x|z)", interactive=False, format="png", elem_id="samples")
            go_s.click(action(1)(demo.sample), [n, seed], [grid, status], api_name="sample")
            i_r = index_box("image", 0)
            go_r = gr.Button("Reconstruct", elem_id="reconstruct-button")
            recon = gr.Image(
                label="the image and the decode of its posterior mean", interactive=False, format="png", elem_id="recon"
            )
            go_r.click(action(1)(demo.reconstruct), [i_r], [recon, status], api_name="reconstruct")

        with gr.Tab("Map"):
            gr.Markdown(
                f"{demo.view.proj.note}. Click anywhere on the plot: the code under the cursor is decoded "
                f"and the nearest test images shown."
            )
            picture, x, y, go_m = map_controls(gr, demo.view.png)
            with gr.Row():
                decoded = gr.Image(label="decode there", interactive=False, format="png", elem_id="map-decoded")
                near = gr.Image(label="nearest test images", interactive=False, format="png", elem_id="map-neighbours")
            said = gr.Markdown(elem_id="map-said")
            wire_map(gr, demo, picture, x, y, go_m, [decoded, near, said], status)

        with gr.Tab("Dials"):
            gr.Markdown(f"One slider per dimension: {demo.dials_said}.")
            i_d = index_box("image", 0)
            go_d = gr.Button("Encode", elem_id="dials-button")
            sliders = [gr.Slider(d.lo, d.hi, value=0.0, step=0.01, label=d.name) for d in demo.dials]
            d_out = gr.Image(label="decode", interactive=False, format="png", elem_id="dials-decoded")
            wire_dials(demo, i_d, go_d, sliders, d_out, status)
    page.textvae_demo = demo
    return page

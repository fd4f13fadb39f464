"""The demo page of a text model: Interpolate, Sample / Reconstruct, Map, Dials.

Each handler is a plain function of strings and numbers (the page's endpoints, also for gradio_client)
calling textvae's Python API (textvae.pipelines.TextPipeline, which the command line calls too), so a
path on the page is the path `textvae interpolate` prints for the same options and seed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .common import MapView, action, check_sentence, dials, int_in, map_controls, wire_dials, wire_map

MAX_STEPS = 30
MAX_SAMPLES = 50
NEIGHBOURS = 5


class TextDemo:
    """The model, its Map data and the handlers; built once per page."""

    def __init__(self, vae, model_dir: str, data: str | None = None, max_points: int = 2000, method: str = "pca"):
        from ..latent_map import choose_points
        from ..text.mapping import encodable, lengths, read_rows, sentence_map

        model = vae.model
        if model.encoder is None:
            raise UserError(f"{model_dir} is a language model (no encoder): the demo needs a VAE")
        self.vae, self.model, self.model_dir = vae, model, model_dir
        recorded = vae.recorded
        source = data or recorded.get("valid_file") or recorded.get("train_file")
        if not source:
            raise UserError(
                f"give the Map tab's sentences with --data FILE ({model_dir}/train_config.yaml records none)"
            )
        rows = read_rows(source, recorded.get("text_column", "text"), what="the Map tab's data")
        keep = encodable(model, rows.texts)
        texts = [rows.texts[keep[i]] for i in choose_points(len(keep), max_points)]
        if len(texts) < 2:
            raise UserError(f"{source} has fewer than 2 sentences the model can encode: the Map tab needs more")
        self.map = sentence_map(model, texts, method)
        png = Path(tempfile.mkdtemp(prefix="textvae-demo-")) / "map.png"
        frame = self.map.draw(
            png,
            f"Posterior means of {len(texts):,} sentences of {Path(source).name}",
            values=lengths(texts),
            value_name="sentence length (words)",
        )
        self.view = MapView(png, frame, self.map.proj)
        self.dials, self.dials_said = dials(model.attributes, self.map.codes)
        self.source = source

    # -- decoding settings: the command line's --strategy ... --seed -------------------------------
    def generation(self, strategy="greedy", temperature=1.0, top_p=1.0, seed=0) -> dict:
        if strategy not in ("greedy", "sample", "beam"):
            raise UserError(f"the decoding strategy must be greedy, sample or beam, not {strategy!r}")
        return self.vae.generation(
            strategy, float(temperature), top_p=float(top_p), seed=int_in(seed, 0, 2**31 - 1, "the seed")
        )

    # -- the tabs' actions ---------------------------------------------------------------------------
    def interpolate(self, a, b, steps=5, method="slerp", strategy="greedy", temperature=1.0, top_p=1.0, seed=0) -> str:
        a, b = check_sentence(a, "sentence A"), check_sentence(b, "sentence B")
        steps = int_in(steps, 0, MAX_STEPS, "steps")
        if method not in ("slerp", "linear"):
            raise UserError(f"the path must be slerp or linear, not {method!r}")
        gen = self.generation(strategy, temperature, top_p, seed)
        path = self.model.interpolate(a, b, steps=steps, method=method, fit_steps=self.model.config.fit_steps, **gen)
        return "\n".join(path)

    def sample(self, n=10, strategy="sample", temperature=1.0, top_p=1.0, seed=0) -> str:
        n = int_in(n, 1, MAX_SAMPLES, "the number of samples")
        gen = self.generation(strategy, temperature, top_p, seed)
        gen.pop("seed")
        return "\n".join(self.model.sample(n, seed=int(seed), **gen))

    def reconstruct(self, sentence, n=1, strategy="greedy", temperature=1.0, top_p=1.0, seed=0) -> str:
        """n decodes of the sentence's code, fitted to it as `textvae reconstruct` fits it (with sampling:
        seeds seed, seed + 1, ...)."""
        sentence = check_sentence(sentence)
        n = int_in(n, 1, MAX_SAMPLES, "the number of reconstructions")
        z = self.model.encode_sentences([sentence], fit_steps=self.model.config.fit_steps)
        lines = []
        for k in range(n if strategy == "sample" else 1):
            lines += self.model.decode(z, **self.generation(strategy, temperature, top_p, int(seed) + k))
        return "\n".join(lines)

    def _at(self, code: np.ndarray, how: str) -> tuple[str, str]:
        decoded = self.model.decode(torch.as_tensor(code)[None], **self.generation())[0]
        found = self.map.neighbours(code, NEIGHBOURS)
        lines = [f"code under the point: {how}"]
        for metric, said in (
            ("cosine", "cosine similarity (codes centred on their mean)"),
            ("euclidean", "Euclidean distance"),
        ):
            lines.append(f"nearest sentences by {said}:")
            lines += [f"  {score:.3f}  {text}" for text, score in found[metric]]
        return decoded, "\n".join(lines)

    def map_decode(self, x, y) -> tuple[str, str]:
        """The greedy decode of the code at map point (x, y) and the map's sentences nearest to that code."""
        return self._at(*self.view.code_at(x, y))

    def map_click(self, px, py) -> tuple[float, float, str, str]:
        """map_decode at a pixel of the map's PNG (from its top left): what a click on the picture does."""
        x, y, code, how = self.view.code_at_pixel(px, py)
        return (x, y, *self._at(code, how))

    def dials_encode(self, sentence) -> tuple:
        """The sentence's values in the dials' dimensions, and the decode of its posterior mean."""
        z = self.model.encode_sentences([check_sentence(sentence)]).float().cpu()[0]
        values = [float(z[d.dim]) for d in self.dials]
        return (*values, self.model.decode(z[None], **self.generation())[0])

    def dials_decode(self, sentence, *values) -> str:
        """The decode of the sentence's posterior mean with the dials' dimensions set to `values`."""
        from ..core.attributes import set_dims

        if len(values) != len(self.dials):
            raise UserError(f"give {len(self.dials)} dial values, not {len(values)}")
        z = self.model.encode_sentences([check_sentence(sentence)]).float().cpu()
        settings = {}
        for d, v in zip(self.dials, values):
            try:
                settings[d.dim] = float(v)
            except (TypeError, ValueError):
                raise UserError(f"the dial {d.name} must be a number, not {v!r}") from None
        return self.model.decode(set_dims(z, settings), **self.generation())[0]


def build_page(vae, model_dir: str, data: str | None = None, max_points: int = 2000, method: str = "pca"):
    import gradio as gr

    demo = TextDemo(vae, model_dir, data, max_points, method)
    c = vae.model.config
    with gr.Blocks(title=f"textvae: {model_dir}") as page:
        gr.Markdown(
            f"## textvae demo: `{model_dir}`\nA text VAE with a {c.latent_size}-D latent space "
            f"({c.encoder.kind} encoder, {c.decoder.kind} decoder). Every action runs on this machine."
        )
        status = gr.Markdown("ready", elem_id="status")

        def decoding(default="greedy"):
            with gr.Row():
                strategy = gr.Radio(["greedy", "sample", "beam"], value=default, label="decoding")
                temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="temperature (sample)")
                top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="top-p (sample)")
                seed = gr.Number(0, precision=0, label="seed")
            return [strategy, temperature, top_p, seed]

        with gr.Tab("Interpolate"):
            with gr.Row():
                a = gr.Textbox(label="sentence A", value="a man is playing a guitar .", elem_id="sentence-a")
                b = gr.Textbox(label="sentence B", value="two dogs run in the snow .", elem_id="sentence-b")
            with gr.Row():
                steps = gr.Slider(0, MAX_STEPS, value=5, step=1, label="intermediate steps")
                how = gr.Radio(["slerp", "linear"], value="slerp", label="path")
            gen = decoding()
            go = gr.Button("Interpolate", variant="primary", elem_id="interpolate-button")
            path = gr.Textbox(
                label="path (A's reconstruction, the steps, B's reconstruction)",
                lines=9,
                interactive=False,
                elem_id="path",
            )
            go.click(action(1)(demo.interpolate), [a, b, steps, how, *gen], [path, status], api_name="interpolate")

        with gr.Tab("Sample / Reconstruct"):
            with gr.Row():
                n = gr.Slider(1, MAX_SAMPLES, value=10, step=1, label="samples from the prior")
            gen_s = decoding("sample")
            go_s = gr.Button("Sample", elem_id="sample-button")
            samples = gr.Textbox(label="samples", lines=10, interactive=False, elem_id="samples")
            go_s.click(action(1)(demo.sample), [n, *gen_s], [samples, status], api_name="sample")
            sentence = gr.Textbox(
                label="a sentence to reconstruct", value="a woman is reading a book .", elem_id="recon-input"
            )
            n_r = gr.Slider(1, 10, value=3, step=1, label="reconstructions (with sampling)")
            gen_r = decoding()
            go_r = gr.Button("Reconstruct", elem_id="reconstruct-button")
            recon = gr.Textbox(label="decodes of its posterior mean", lines=4, interactive=False, elem_id="recon")
            go_r.click(action(1)(demo.reconstruct), [sentence, n_r, *gen_r], [recon, status], api_name="reconstruct")

        with gr.Tab("Map"):
            gr.Markdown(
                f"Posterior means of {len(demo.map.texts):,} sentences of `{demo.source}`, "
                f"{demo.map.proj.note}. Click anywhere on the plot: the code under the cursor is decoded "
                f"(greedy) and the nearest sentences listed."
            )
            picture, x, y, go_m = map_controls(gr, demo.view.png)
            decoded = gr.Textbox(label="decode of the code there", interactive=False, elem_id="map-decoded")
            near = gr.Textbox(label="nearest sentences", lines=13, interactive=False, elem_id="map-neighbours")
            wire_map(gr, demo, picture, x, y, go_m, [decoded, near], status)

        with gr.Tab("Dials"):
            gr.Markdown(
                f"One slider per dimension: {demo.dials_said}. Moving one re-decodes the sentence's code "
                f"with the sliders' values in those dimensions (greedy)."
            )
            d_sentence = gr.Textbox(label="sentence", value="a man is sleeping on a bench .", elem_id="dials-input")
            go_d = gr.Button("Encode", elem_id="dials-button")
            sliders = [gr.Slider(d.lo, d.hi, value=0.0, step=0.01, label=d.name) for d in demo.dials]
            d_out = gr.Textbox(label="decode", interactive=False, elem_id="dials-decoded")
            wire_dials(demo, d_sentence, go_d, sliders, d_out, status)
    page.textvae_demo = demo  # the handlers, for benchmarks and tests in the same process
    return page

"""What the text and image pages share: checking what the page sends, turning errors into a message on
the page, timing each action, the map's click -> code, and the dials' dimensions."""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..latent_map import Frame, Projection

MAX_WORDS = 100  # longer pastes are refused with a message (a sentence VAE reads sentences)
MAX_CHARS = 2000
DIALS = 6  # sliders on the Dials tab when the model has no named attributes


def check_sentence(text, what: str = "the sentence") -> str:
    """The text stripped, or a UserError for what a sentence box should not hold: nothing, a paste of
    more than MAX_WORDS words, bytes that were not UTF-8 (replacement characters, lone surrogates),
    control characters."""
    if text is None or not isinstance(text, str) or not text.strip():
        raise UserError(f"{what} is empty: type a sentence")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"{what} is not valid UTF-8 text: paste it again as plain text") from None
    if "\ufffd" in text:
        raise UserError(f"{what} holds bytes that were not UTF-8 (shown as \ufffd): paste it again as plain text")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        raise UserError(f"{what} holds control characters: paste it again as plain text")
    words = len(text.split())
    if words > MAX_WORDS or len(text) > MAX_CHARS:
        raise UserError(
            f"{what} has {words:,} words ({len(text):,} characters): give one sentence of at most {MAX_WORDS} words"
        )
    return " ".join(text.split())


def int_in(value, lo: int, hi: int, what: str) -> int:
    """An integer in [lo, hi] from a page's number box, or a UserError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a number, not {value!r}") from None
    if math.isnan(v) or not v.is_integer() or not lo <= v <= hi:
        raise UserError(f"{what} must be a whole number from {lo} to {hi}, not {value}")
    return int(v)


def action(n_outputs: int):
    """Wrap a page handler returning its n_outputs values: the page gets them and a status line with the
    time taken; a UserError or ValueError leaves the outputs as they were and says what went wrong."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args):
            import gradio as gr

            start = time.perf_counter()
            try:
                out = fn(*args)
            except (UserError, ValueError) as e:
                return (*[gr.update() for _ in range(n_outputs)], f"**Could not do that:** {e}")
            out = out if isinstance(out, tuple) else (out,)
            return (*out, f"done in {time.perf_counter() - start:.3f} s")

        return run

    return wrap


@dataclass
class MapView:
    """The Map tab's picture: its PNG, where its axes lie (frame) and the projection behind it."""

    png: Path
    frame: Frame
    proj: Projection

    def code_at_pixel(self, px, py) -> tuple[float, float, np.ndarray, str]:
        """The map coordinates and the latent code under a pixel of the PNG (from the top left)."""
        xy = self.frame.to_xy(float(px), float(py))
        if xy is None:
            raise UserError(f"({px:.0f}, {py:.0f}) is outside the map's axes: click inside the plot")
        return (*xy, *self.proj.to_code(*xy))

    def code_at(self, x, y) -> tuple[np.ndarray, str]:
        try:
            x, y = float(x), float(y)
        except (TypeError, ValueError):
            raise UserError(f"give the map's x and y as numbers, not {x!r}, {y!r}") from None
        if not (np.isfinite(x) and np.isfinite(y)):
            raise UserError("the map's x and y must be finite numbers")
        return self.proj.to_code(x, y)


@dataclass
class Dial:
    dim: int
    name: str
    lo: float
    hi: float


def dials(attributes: list[dict], codes: np.ndarray, k: int = DIALS) -> tuple[list[Dial], str]:
    """A slider per named attribute dimension of the model, else per dimension of the k largest variances
    of the posterior means `codes` (N, D); each spans the codes' range in it, widened by a quarter each
    side. Returns the dials and a line saying which they are."""
    codes = np.asarray(codes, dtype=np.float64)
    if attributes:
        chosen = [(int(a["dim"]), str(a["name"])) for a in attributes]
        said = "the model's attribute dimensions (loss.attributes)"
    else:
        var = codes.var(0)
        top = np.argsort(-var, kind="stable")[:k]
        chosen = [(int(d), f"z[{d}] (variance {var[d]:.2f})") for d in top]
        said = f"the {len(chosen)} dimensions of largest variance of the posterior means (no named attributes)"
    out = []
    for d, name in chosen:
        lo, hi = float(codes[:, d].min()), float(codes[:, d].max())
        pad = max(0.25 * (hi - lo), 0.5)
        out.append(Dial(d, name, round(lo - pad, 2), round(hi + pad, 2)))
    return out, said


# -- the tabs' wiring, the same on both pages ----------------------------------------------------------
def map_controls(gr, png: Path):
    """The Map tab's picture, its x and y boxes and its decode button."""
    picture = gr.Image(
        str(png), type="filepath", format="png", interactive=False, label="latent map", elem_id="map", buttons=[]
    )
    with gr.Row():
        x = gr.Number(0.0, label="map x")
        y = gr.Number(0.0, label="map y")
        go = gr.Button("Decode at (x, y)", elem_id="map-button")
    return picture, x, y, go


def wire_map(gr, demo, picture, x, y, go, shown: list, status) -> None:
    """The button runs demo.map_decode at (x, y); a click on the picture (and the map_click endpoint) runs
    demo.map_click at its pixel. `shown`: the components the decode fills."""
    go.click(action(len(shown))(demo.map_decode), [x, y], [*shown, status], api_name="map_decode")
    px, py = gr.Number(visible=False), gr.Number(visible=False)
    clicked = action(len(shown) + 2)(demo.map_click)
    outputs = [x, y, *shown, status]
    gr.Button(visible=False).click(clicked, [px, py], outputs, api_name="map_click")

    def on_select(evt):
        return clicked(evt.index[0], evt.index[1])

    on_select.__annotations__["evt"] = gr.SelectData  # the real class: gradio reads it to pass the event
    picture.select(on_select, None, outputs, api_name=False)


def wire_dials(demo, source, go, sliders: list, out, status) -> None:
    """The button sets the sliders to the source's code (demo.dials_encode); moving one re-decodes it."""
    go.click(action(len(sliders) + 1)(demo.dials_encode), [source], [*sliders, out, status], api_name="dials_encode")
    moved = action(1)(demo.dials_decode)
    for k, s in enumerate(sliders):
        s.release(moved, [source, *sliders], [out, status], api_name="dials_decode" if k == 0 else False)

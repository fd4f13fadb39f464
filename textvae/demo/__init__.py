"""`textvae demo MODEL_DIR`: a local web page (gradio Blocks) to play with a trained model, text or image.

Tabs: Interpolate, Sample / Reconstruct, Map (click to decode the code under the cursor) and Dials (a
slider per attribute dimension, or per top-variance dimension). The model is loaded once; every action
is a function of textvae's own Python API (textvae.load's TextPipeline and ImagePipeline,
textvae.latent_map), named endpoints for gradio_client as well as buttons.
"""

from __future__ import annotations

import sys

from ..errors import UserError

EXTRA = "pip install 'textvae[demo]'"


def require_gradio():
    try:
        import gradio
    except ImportError:
        raise UserError(f"`textvae demo` needs gradio, which is not installed: {EXTRA}") from None
    return gradio


def build(model_dir: str, data: str | None = None, max_points: int = 2000, method: str = "pca"):
    """The gradio Blocks page for the model saved in model_dir (loaded here, once)."""
    require_gradio()
    from ..pipelines import load
    from ..pipelines.text import TextPipeline

    vae = load(model_dir)
    if isinstance(vae, TextPipeline):
        from .text import build_page
    else:
        from .image import build_page
    return build_page(vae, model_dir, data=data, max_points=max_points, method=method)


def serve(args) -> None:
    """`textvae demo`: build the page and serve it on args.host:args.port until interrupted."""
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # textvae never calls home
    require_gradio()
    if not 1 <= args.port <= 65535:
        raise UserError(f"--port must be in 1-65535, not {args.port}")
    if args.max_points < 2:
        raise UserError(f"--max-points must be >= 2, not {args.max_points}")
    if args.threads < 1:
        raise UserError(f"--threads must be >= 1, not {args.threads}")
    import torch

    torch.set_num_threads(args.threads)
    page = build(args.model_dir, args.data, args.max_points, args.method)
    print(f"textvae demo of {args.model_dir} on http://{args.host}:{args.port} (Ctrl-C stops it)", file=sys.stderr)
    try:
        page.launch(server_name=args.host, server_port=args.port, show_error=True, quiet=True, footer_links=["api"])
    except OSError as e:
        raise UserError(f"cannot serve on {args.host}:{args.port} ({e}); give another --port") from None

"""What the text verbs (textvae.text.commands, textvae.text.attribute_verbs) read from their argparse
Namespace: the model, loaded as a pipeline, and the generation options."""

from __future__ import annotations

import torch


def load(args):
    """The pipeline of args.model_dir (textvae.load), the global seed set as before any verb's work."""
    from ..pipelines import load as load_pipeline

    torch.manual_seed(getattr(args, "seed", 0) or 0)
    return load_pipeline(args.model_dir)


def generation(args) -> dict:
    """The --strategy ... --seed options, as keyword arguments of TextPipeline.generation."""
    return {
        "strategy": args.strategy,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "beam_size": args.beam_size,
        "max_length": args.max_length,
        "seed": args.seed,
    }

"""textvae: variational autoencoders of sentences and images.

    import textvae
    vae = textvae.load("runs/snli-lstm")
    vae.reconstruct(["a man is playing a guitar ."])

`load` and `train` are textvae.pipelines'; torch and the models are imported when a model is loaded.
"""

from .pipelines import load, train

__all__ = ["load", "train"]

"""Sentence VAEs: tokenizers, data, encoders and decoders, the TextVAE model, its task and verbs.

Modules are imported on use (`from textvae.text.model import TextVAE`), so importing this package
loads nothing heavy.
"""

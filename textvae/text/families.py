"""The encoder and decoder families by kind, their configs, and the builders TextVAE calls.

Native families live in textvae.text.encoders and textvae.text.decoders, pretrained backbones in
textvae.text.pretrained; this module is the one place that knows all of them. EncoderConfig and
DecoderConfig are the unions of the families' configs, each naming its kinds (KINDS): the config
loader (textvae.config.from_dict) chooses one by the section's `kind`, lstm when none is given.
"""

from __future__ import annotations

from torch import nn

from .decoders import RNNDecoder, RNNDecoderConfig, TransformerDecoder, TransformerDecoderConfig
from .encoders import NoEncoderConfig, RNNEncoder, RNNEncoderConfig, TransformerEncoder, TransformerEncoderConfig
from .layers import Decoder
from .pretrained import PretrainedDecoder, PretrainedDecoderConfig, PretrainedEncoder, PretrainedEncoderConfig

# the first family's default kind is the one a section without `kind` gets
EncoderConfig = RNNEncoderConfig | TransformerEncoderConfig | PretrainedEncoderConfig | NoEncoderConfig
DecoderConfig = RNNDecoderConfig | TransformerDecoderConfig | PretrainedDecoderConfig

ENCODERS = {"lstm": RNNEncoder, "gru": RNNEncoder, "transformer": TransformerEncoder}
DECODERS = {"lstm": RNNDecoder, "gru": RNNDecoder, "transformer": TransformerDecoder}


def build_encoder(input_size: int, config: EncoderConfig, folder=None) -> nn.Module | None:
    """The encoder module for `config.kind` (None for kind none); it exposes `output_size`, the
    summary's width. A pretrained encoder is read from config.path, or, given the `folder` of a saved
    VAE's encoder, built from its architecture (weights loaded afterwards)."""
    if config.kind == "pretrained":
        return PretrainedEncoder(config, folder)
    return None if config.kind == "none" else ENCODERS[config.kind](input_size, config)


def build_decoder(
    embedding: nn.Embedding | None,
    latent_size: int,
    config: DecoderConfig,
    embed_dropout: float = 0.0,
    output_dropout: float = 0.0,
    tie_embeddings: bool = False,
    folder=None,
) -> Decoder:
    """The decoder for `config.kind`, reading `embedding` and writing logits over its vocabulary. A
    pretrained decoder brings its own embedding and output layer (from config.path, or the architecture
    in a saved VAE's `folder`)."""
    if config.kind == "pretrained":
        return PretrainedDecoder(
            latent_size, config, embed_dropout=embed_dropout, output_dropout=output_dropout, folder=folder
        )
    return DECODERS[config.kind](
        embedding,
        latent_size,
        config,
        embed_dropout=embed_dropout,
        output_dropout=output_dropout,
        tie_embeddings=tie_embeddings,
    )

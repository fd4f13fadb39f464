"""Sentence encoders: embedded tokens and lengths in, one summary vector per sentence out.

The model maps the summary to the posterior's mean and log-variance with a linear head; every
encoder here pairs with every decoder in textvae.text.decoders.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .kernels import GRU, lstm_final_states

ENCODER_KINDS = ("lstm", "gru", "transformer", "pretrained", "none")
POOLINGS = ("mean", "first", "max")


@dataclass
class EncoderConfig:
    """The sentence encoder.

    kind: lstm | gru | transformer | pretrained | none. pretrained: a local transformers encoder
        (textvae.text.pretrained) reading its own tokenizer's ids. none makes the model a language model: q(z|x) is the prior
        N(0, I) for every sentence and the decoder must not read z (so the importance-weighted bound
        is log p(x) exactly, with any number of samples), a baseline trained by the same code.
    hidden_size: RNN state size per direction, or the Transformer's model width.
    num_layers: stacked RNN layers or Transformer blocks.
    bidirectional: RNNs only; the summary concatenates the final states of both directions.
    dropout: between RNN layers, or inside the Transformer blocks.
    num_heads, ff_size: Transformer only (hidden_size must be divisible by num_heads).
    pooling: Transformer and pretrained: mean over real tokens | first (the bos or [CLS] position) | max
        over real tokens.
    path: pretrained: the model folder, or `package:NAME/sub` inside an installed Python package.
    freeze: pretrained: the backbone's weights are not trained (and it runs without dropout).
    lr: pretrained: the backbone's learning rate (0: train.lr), following train.lr's schedule.
    gradient_checkpointing: pretrained: recompute activations in backward to save memory.
    """

    kind: str = "lstm"
    hidden_size: int = 512
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.0
    num_heads: int = 4
    ff_size: int = 1024
    pooling: str = "mean"
    path: str = ""
    freeze: bool = False
    lr: float = 0.0
    gradient_checkpointing: bool = False

    def __post_init__(self):
        if self.kind not in ENCODER_KINDS:
            raise ValueError(f"kind must be one of {', '.join(ENCODER_KINDS)}, not {self.kind!r}")
        for name in ("hidden_size", "num_layers", "num_heads", "ff_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, not {self.pooling!r}")
        if self.kind == "transformer" and self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} must be divisible by num_heads {self.num_heads}")
        check_pretrained_fields(self)


def check_pretrained_fields(config) -> None:
    """Encoder and decoder configs: path, lr and the like belong to kind pretrained."""
    if config.kind == "pretrained" and not config.path:
        raise ValueError("kind pretrained needs path: a local transformers model folder (or package:NAME/sub)")
    if config.lr < 0:
        raise ValueError(f"lr must be >= 0, not {config.lr}")
    if config.kind != "pretrained":
        for name in ("path", "freeze", "lr", "gradient_checkpointing", "gguf_file"):
            if getattr(config, name, None):
                raise ValueError(f"{name} applies to kind pretrained only, not {config.kind}")


def pool(h: torch.Tensor, pad: torch.Tensor, how: str) -> torch.Tensor:
    """h (B, T, H) with pad (B, T) True at padding -> (B, H): mean or max over real positions, or first."""
    if how == "first":
        return h[:, 0]
    if how == "max":
        return h.masked_fill(pad[..., None], float("-inf")).amax(1)
    real = (~pad).to(h.dtype)[..., None]                                            # (B, T, 1)
    return (h * real).sum(1) / real.sum(1)


def sinusoidal_positions(length: int, dim: int, device=None) -> torch.Tensor:
    """Fixed sine/cosine position codes (Vaswani et al. 2017): (length, dim). No maximum length."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]       # (T, 1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    angle = pos * freq                                                             # (T, ceil(dim/2))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe


def transformer_stack(width: int, num_layers: int, num_heads: int, ff_size: int, dropout: float) -> nn.Module:
    """Pre-norm self-attention blocks with a final LayerNorm (used by encoders and decoders)."""
    layer = nn.TransformerEncoderLayer(width, num_heads, ff_size, dropout, activation="gelu",
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(width), enable_nested_tensor=False)


class RNNEncoder(nn.Module):
    """LSTM or GRU over right-padded sequences (as if packed); the summary is the top layer's final
    hidden state of each direction, concatenated: (B, hidden_size * directions)."""

    def __init__(self, input_size: int, config: EncoderConfig):
        super().__init__()
        rnn = nn.LSTM if config.kind == "lstm" else GRU
        self.rnn = rnn(input_size, config.hidden_size, config.num_layers, batch_first=True,
                       bidirectional=config.bidirectional,
                       dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.directions = 2 if config.bidirectional else 1
        self.output_size = config.hidden_size * self.directions

    def forward(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """embedded: (B, T, E) right-padded; lengths: (B,) real tokens. Returns (B, H * directions)."""
        B = embedded.shape[0]
        # both mask the padding themselves, faster than a packed sequence on the CPU (textvae.text.kernels)
        if isinstance(self.rnn, GRU):
            _, hidden = self.rnn(embedded, lengths=lengths)
        else:
            hidden = lstm_final_states(self.rnn, embedded, lengths)
        # (layers * directions, B, H) -> top layer (directions, B, H) -> (B, directions * H)
        top = hidden.view(-1, self.directions, B, hidden.shape[-1])[-1]
        return top.transpose(0, 1).reshape(B, self.output_size)


class TransformerEncoder(nn.Module):
    """Bidirectional self-attention over the real tokens, pooled to (B, hidden_size)."""

    def __init__(self, input_size: int, config: EncoderConfig):
        super().__init__()
        width = config.hidden_size
        self.scale = math.sqrt(input_size)
        self.in_proj = nn.Linear(input_size, width) if input_size != width else nn.Identity()
        self.blocks = transformer_stack(width, config.num_layers, config.num_heads, config.ff_size,
                                        config.dropout)
        self.pooling = config.pooling
        self.output_size = width

    def forward(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """embedded: (B, T, E) right-padded; lengths: (B,) real tokens. Returns (B, H)."""
        B, T, _ = embedded.shape
        x = self.in_proj(embedded * self.scale)                                    # (B, T, H)
        x = x + sinusoidal_positions(T, x.shape[-1], x.device).to(x.dtype)
        pad = torch.arange(T, device=x.device)[None, :] >= lengths[:, None]         # (B, T) True at padding
        h = self.blocks(x, src_key_padding_mask=pad)                                # (B, T, H)
        return pool(h, pad, self.pooling)


ENCODERS = {"lstm": RNNEncoder, "gru": RNNEncoder, "transformer": TransformerEncoder}


def build_encoder(input_size: int, config: EncoderConfig, folder=None) -> nn.Module | None:
    """The encoder module for `config.kind` (None for kind none); it exposes `output_size`, the
    summary's width. A pretrained encoder is read from config.path, or, given the `folder` of a saved
    VAE's encoder, built from its architecture (weights loaded afterwards)."""
    if config.kind == "pretrained":
        from .pretrained import PretrainedEncoder

        return PretrainedEncoder(config, folder)
    return None if config.kind == "none" else ENCODERS[config.kind](input_size, config)

"""Sentence encoders: embedded tokens and lengths in, one summary vector per sentence out.

The model maps the summary to the posterior's mean and log-variance with a linear head; every
encoder here pairs with every decoder in textvae.text.decoders (built by kind in textvae.text.families).
Each family has its config: RNNEncoderConfig (lstm, gru), TransformerEncoderConfig, NoEncoderConfig
(kind none, a language model); the pretrained one is in textvae.text.pretrained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .kernels import GRU, lstm_final_states
from .layers import check_pooling, pool, sinusoidal_positions, transformer_stack


@dataclass
class NativeEncoderConfig:
    """What the lstm, gru and transformer encoders share.

    hidden_size: RNN state size per direction, or the Transformer's model width.
    num_layers: stacked RNN layers or Transformer blocks.
    dropout: between RNN layers, or inside the Transformer blocks.
    """

    KINDS: ClassVar[tuple[str, ...]] = ()

    kind: str
    hidden_size: int = 512
    num_layers: int = 1
    dropout: float = 0.0

    def __post_init__(self):
        if self.kind not in self.KINDS:
            raise ValueError(f"kind must be one of {', '.join(self.KINDS)}, not {self.kind!r}")
        for name in ("hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")


@dataclass
class RNNEncoderConfig(NativeEncoderConfig):
    """An LSTM or GRU encoder (RNNEncoder), beside the keys of NativeEncoderConfig.

    kind: lstm | gru.
    bidirectional: the summary concatenates the final states of both directions.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("lstm", "gru")

    kind: str = "lstm"
    bidirectional: bool = True


@dataclass
class TransformerEncoderConfig(NativeEncoderConfig):
    """A Transformer encoder (TransformerEncoder), beside the keys of NativeEncoderConfig.

    kind: transformer.
    num_heads, ff_size: attention heads (hidden_size must be divisible by num_heads) and the width of
        each block's feed-forward layer.
    pooling: mean over real tokens | first (the bos position) | max over real tokens.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("transformer",)

    kind: str = "transformer"
    num_heads: int = 4
    ff_size: int = 1024
    pooling: str = "mean"

    def __post_init__(self):
        super().__post_init__()
        for name in ("num_heads", "ff_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        check_pooling(self.pooling)
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} must be divisible by num_heads {self.num_heads}")


@dataclass
class NoEncoderConfig:
    """No encoder: the model is a language model. q(z|x) is the prior N(0, I) for every sentence and the
    decoder must not read z (so the bound is log p(x) exactly, with any number of samples), a baseline
    trained by the same code.

    kind: none.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("none",)

    kind: str = "none"

    def __post_init__(self):
        if self.kind not in self.KINDS:
            raise ValueError(f"kind must be none, not {self.kind!r}")


class RNNEncoder(nn.Module):
    """LSTM or GRU over right-padded sequences (as if packed); the summary is the top layer's final
    hidden state of each direction, concatenated: (B, hidden_size * directions)."""

    def __init__(self, input_size: int, config: RNNEncoderConfig):
        super().__init__()
        rnn = nn.LSTM if config.kind == "lstm" else GRU
        self.rnn = rnn(
            input_size,
            config.hidden_size,
            config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
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

    def __init__(self, input_size: int, config: TransformerEncoderConfig):
        super().__init__()
        width = config.hidden_size
        self.scale = math.sqrt(input_size)
        self.in_proj = nn.Linear(input_size, width) if input_size != width else nn.Identity()
        self.blocks = transformer_stack(width, config.num_layers, config.num_heads, config.ff_size, config.dropout)
        self.pooling = config.pooling
        self.output_size = width

    def forward(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """embedded: (B, T, E) right-padded; lengths: (B,) real tokens. Returns (B, H)."""
        B, T, _ = embedded.shape
        x = self.in_proj(embedded * self.scale)  # (B, T, H)
        x = x + sinusoidal_positions(T, x.shape[-1], x.device).to(x.dtype)
        pad = torch.arange(T, device=x.device)[None, :] >= lengths[:, None]  # (B, T) True at padding
        h = self.blocks(x, src_key_padding_mask=pad)  # (B, T, H)
        return pool(h, pad, self.pooling)

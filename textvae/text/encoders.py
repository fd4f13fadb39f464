"""Sentence encoders: embedded tokens and lengths in, one summary vector per sentence out.

The model maps the summary to the posterior's mean and log-variance with a linear head; every
encoder here pairs with every decoder in textvae.text.decoders (built by kind in textvae.text.families).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .kernels import GRU, lstm_final_states
from .layers import check_pretrained_fields, pool, sinusoidal_positions, transformer_stack

ENCODER_KINDS = ("lstm", "gru", "transformer", "pretrained", "none")
POOLINGS = ("mean", "first", "max")


@dataclass
class EncoderConfig:
    """The sentence encoder.

    kind: lstm | gru | transformer | pretrained | none. pretrained: a local transformers encoder
        (textvae.text.pretrained) reading its own tokenizer's ids. none makes the model a language model:
        q(z|x) is the prior N(0, I) for every sentence and the decoder must not read z (so the bound
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


class RNNEncoder(nn.Module):
    """LSTM or GRU over right-padded sequences (as if packed); the summary is the top layer's final
    hidden state of each direction, concatenated: (B, hidden_size * directions)."""

    def __init__(self, input_size: int, config: EncoderConfig):
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

    def __init__(self, input_size: int, config: EncoderConfig):
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

"""Layers the text encoder and decoder families share: position codes, a Transformer stack,
pooling over real tokens, and the decoder's embedding-to-vocabulary base (Decoder: input embedding,
dropout, output layer, mixture of softmaxes).

Family modules (encoders, decoders, pretrained) import from here, never from each other.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .kernels import Dropout, linear_log_prob

POOLINGS = ("mean", "first", "max")


def check_pooling(how: str) -> None:
    """Encoder configs: pooling is one of POOLINGS (see pool)."""
    if how not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, not {how!r}")


def pool(h: torch.Tensor, pad: torch.Tensor, how: str) -> torch.Tensor:
    """h (B, T, H) with pad (B, T) True at padding -> (B, H): mean or max over real positions, or first."""
    if how == "first":
        return h[:, 0]
    if how == "max":
        return h.masked_fill(pad[..., None], float("-inf")).amax(1)
    real = (~pad).to(h.dtype)[..., None]  # (B, T, 1)
    return (h * real).sum(1) / real.sum(1)


def sinusoidal_positions(length: int, dim: int, device=None, start: int = 0) -> torch.Tensor:
    """Fixed sine/cosine position codes (Vaswani et al. 2017) of positions start .. length - 1:
    (length - start, dim). No maximum length."""
    pos = torch.arange(start, length, device=device, dtype=torch.float32)[:, None]  # (T, 1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    angle = pos * freq  # (T, ceil(dim/2))
    pe = torch.zeros(length - start, dim, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe


def transformer_stack(width: int, num_layers: int, num_heads: int, ff_size: int, dropout: float) -> nn.Module:
    """Pre-norm self-attention blocks with a final LayerNorm (used by encoders and decoders)."""
    layer = nn.TransformerEncoderLayer(
        width, num_heads, ff_size, dropout, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(width), enable_nested_tensor=False)


class Decoder(nn.Module):
    """What every decoder shares: the input embedding, its dropout, and the output projection.

    config: the decoder's config (textvae.text.decoders.NativeDecoderConfig); its hidden_size,
    word_type_dropout, softmaxes and mixture_dropout are read here."""

    def __init__(
        self,
        embedding: nn.Embedding,
        config,
        embed_dropout: float = 0.0,
        output_dropout: float = 0.0,
        tie_embeddings: bool = False,
    ):
        super().__init__()
        vocab_size, embed_size = embedding.weight.shape
        self.embedding = embedding
        self.word_type_dropout = config.word_type_dropout
        self.embed_dropout = Dropout(embed_dropout)
        self.output_dropout = Dropout(output_dropout)
        if tie_embeddings:
            if config.hidden_size != embed_size:
                raise ValueError(
                    f"tie_embeddings needs decoder.hidden_size ({config.hidden_size}) == embed_size ({embed_size})"
                )
            self.out = None
            self.out_bias = nn.Parameter(torch.zeros(vocab_size))
        else:
            self.out = nn.Linear(config.hidden_size, vocab_size)
        K, H = config.softmaxes, config.hidden_size
        self.mixture_weights = nn.Linear(H, K, bias=False) if K > 1 else None  # pi_k(h)
        self.mixture_components = nn.Linear(H, K * H) if K > 1 else None  # P_k h, k = 1..K
        self.mixture_dropout = Dropout(config.mixture_dropout)

    def _mixture(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A mixture of softmaxes' log pi (N, K) float32 and component features (N * K, H), row n's K
        components consecutive, from features h (N, H)."""
        log_pi = torch.log_softmax(self.mixture_weights(h).float(), -1)
        parts = self.mixture_dropout(torch.tanh(self.mixture_components(h)))
        return log_pi, parts.reshape(h.shape[0] * log_pi.shape[1], -1)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(input_ids)  # (B, T, E)
        p = self.word_type_dropout
        if self.training and p:  # one keep/drop draw per word type, read at each token
            keep = torch.rand(self.embedding.num_embeddings, device=x.device) >= p  # (V,)
            x = x * (keep[input_ids].to(x.dtype) / (1 - p)).unsqueeze(-1)
        return self.embed_dropout(x)

    def output_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The output layer's weight (V, H) and bias (V,): the embedding's if tied."""
        return (self.embedding.weight, self.out_bias) if self.out is None else (self.out.weight, self.out.bias)

    def project(self, h: torch.Tensor) -> torch.Tensor:
        """Features (..., H) -> logits (..., V): with a mixture of softmaxes, its log-probabilities (float32)."""
        h = self.output_dropout(h)
        if self.mixture_weights is None:
            return F.linear(h, *self.output_weights())
        lead = h.shape[:-1]
        log_pi, parts = self._mixture(h.reshape(-1, h.shape[-1]))  # (N, K), (N * K, H)
        log_p = torch.log_softmax(F.linear(parts, *self.output_weights()).float(), -1)  # (N * K, V)
        return torch.logsumexp(log_pi[..., None] + log_p.view(*log_pi.shape, -1), 1).view(*lead, -1)

    def target_log_probs(self, h: torch.Tensor, targets: torch.Tensor, block: int | None = None) -> torch.Tensor:
        """log p(target | features): h (N, H), targets (N,) -> (N,) float32, with output dropout in
        training; targets (N, K) -> (N, K). The output layer and log-softmax run fused
        (textvae.text.kernels.linear_log_prob): no (N, V) float32 tensor is written, in training or
        evaluation; a mixture of softmaxes runs it on its N * K component rows."""
        h = self.output_dropout(h)
        if self.mixture_weights is None:
            return linear_log_prob(h, *self.output_weights(), targets, block)
        log_pi, parts = self._mixture(h)  # (N, K), (N * K, H)
        K = log_pi.shape[1]
        log_p = linear_log_prob(parts, *self.output_weights(), targets.repeat_interleave(K, 0), block)
        log_p = log_p.view(h.shape[0], K, *targets.shape[1:])  # (N, K[, k])
        return torch.logsumexp(log_pi.view(*log_pi.shape, *([1] * (targets.dim() - 1))) + log_p, 1)

    def features(self, input_ids: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, input_ids: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """input_ids: (B, T) starting with bos; z: (B, D). Returns logits (B, T, V) for the next token."""
        return self.project(self.features(input_ids, z))

"""Causal sentence decoders conditioned on a latent code z.

Each decoder owns the token embedding it reads (shared with the encoder by the model when asked) and
the output projection to the vocabulary (optionally tied to that embedding). Two ways in:

    logits = decoder(input_ids, z)            # training: (B, T) ids, (B, D) codes -> (B, T, V)
    h = decoder.features(input_ids, z)        # the same before the projection: (B, T, H)

and a step API for generation (textvae.text.generation):

    state = decoder.start(z)                  # (B, D)
    logits, state = decoder.step(tokens, state)   # tokens (B,) -> logits (B, V)
    state = decoder.select(state, index)      # reorder / repeat hypotheses (beam search)

Each family has its config: RNNDecoderConfig (lstm, gru) and TransformerDecoderConfig, which share
NativeDecoderConfig's keys; the pretrained decoder's is in textvae.text.pretrained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .kernels import GRU, lstm_precision
from .layers import Decoder, sinusoidal_positions, transformer_stack


@dataclass
class NativeDecoderConfig:
    """What the lstm, gru and transformer decoders share: the stack and textvae's own output layer
    (textvae.text.layers.Decoder).

    hidden_size: RNN state size, or the Transformer's model width; the output projection reads it.
    num_layers: stacked RNN layers or Transformer blocks.
    dropout: between RNN layers, or inside the Transformer blocks.
    word_type_dropout: in training, each word type of the vocabulary is dropped with this probability
        from the decoder's input embedding, one mask per batch, so all its occurrences in the batch read
        zeros (AWD-LSTM's embedding dropout; the survivors are scaled by 1 / (1 - p)). A tied output
        layer still reads the whole matrix.
    softmaxes: the output layer as a mixture of this many softmaxes (Yang et al. 2018, "Breaking the
        softmax bottleneck"): p(x_t | h) = sum_k pi_k(h) softmax(W tanh(P_k h) + b), pi = softmax(Q h), the
        K components sharing the output layer W, b (tied or not). A single softmax over H features has
        log-probabilities of rank <= H + 1 across contexts; the mixture lifts that bound. Costs about K
        times the output layer's work. 1: the plain softmax.
    mixture_dropout: with softmaxes > 1, dropout on the component features tanh(P_k h) in training
        (Yang et al.'s "dropoutl", 0.29 on PTB; here one mask per element, not per sentence).
    """

    KINDS: ClassVar[tuple[str, ...]] = ()
    z_options: ClassVar[tuple[str, ...]] = ()  # the switches that feed z to the decoder

    kind: str
    hidden_size: int = 512
    num_layers: int = 1
    dropout: float = 0.0
    word_type_dropout: float = 0.0
    softmaxes: int = 1
    mixture_dropout: float = 0.0

    def __post_init__(self):
        if self.kind not in self.KINDS:
            raise ValueError(f"kind must be one of {', '.join(self.KINDS)}, not {self.kind!r}")
        for name in ("hidden_size", "num_layers", "softmaxes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        for name in ("dropout", "word_type_dropout", "mixture_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), not {getattr(self, name)}")
        if self.mixture_dropout and self.softmaxes == 1:
            raise ValueError("mixture_dropout drops the features of a mixture of softmaxes; it needs softmaxes > 1")

    @property
    def reads_z(self) -> bool:
        return any(getattr(self, name) for name in self.z_options)


@dataclass
class RNNDecoderConfig(NativeDecoderConfig):
    """An LSTM or GRU decoder (RNNDecoder), beside the keys of NativeDecoderConfig.

    kind: lstm | gru.
    z_to_initial_state: the initial hidden (and cell) state is a linear map of z (else zeros).
    z_to_every_input: z is concatenated to the embedding of every input token.
    z_to_output: a linear map of z is added to the RNN's output at every step, a path from z to the
        softmax that does not pass through the recurrence (the skip connection of Dieng et al. 2019's
        Skip-VAE, against posterior collapse).
    """

    KINDS: ClassVar[tuple[str, ...]] = ("lstm", "gru")
    z_options: ClassVar[tuple[str, ...]] = ("z_to_initial_state", "z_to_every_input", "z_to_output")

    kind: str = "lstm"
    z_to_initial_state: bool = True
    z_to_every_input: bool = False
    z_to_output: bool = False


@dataclass
class TransformerDecoderConfig(NativeDecoderConfig):
    """A causal Transformer decoder (TransformerDecoder), beside the keys of NativeDecoderConfig.

    kind: transformer.
    num_heads, ff_size: attention heads (hidden_size must be divisible by num_heads) and the width of
        each block's feed-forward layer.
    z_as_memory: z, mapped to the model width, is a prefix every position attends to.
    z_added_to_inputs: z, mapped to the model width, is added to every input embedding.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("transformer",)
    z_options: ClassVar[tuple[str, ...]] = ("z_as_memory", "z_added_to_inputs")

    kind: str = "transformer"
    num_heads: int = 4
    ff_size: int = 1024
    z_as_memory: bool = True
    z_added_to_inputs: bool = False

    def __post_init__(self):
        super().__post_init__()
        for name in ("num_heads", "ff_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} must be divisible by num_heads {self.num_heads}")


class RNNDecoder(Decoder):
    """LSTM or GRU language model whose initial state and/or every input carry z.

    Padding sits after the real tokens and the model is causal, so padded positions never affect
    real ones: no packing is needed, the loss masks them.
    """

    def __init__(self, embedding: nn.Embedding, latent_size: int, config: RNNDecoderConfig, **kwargs):
        super().__init__(embedding, config, **kwargs)
        self.is_lstm = config.kind == "lstm"
        self.num_layers, self.hidden_size = config.num_layers, config.hidden_size
        self.z_to_every_input = config.z_to_every_input
        input_size = embedding.embedding_dim + (latent_size if self.z_to_every_input else 0)
        rnn = nn.LSTM if self.is_lstm else GRU
        self.rnn = rnn(
            input_size,
            config.hidden_size,
            config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        num_states = 2 if self.is_lstm else 1  # LSTM: hidden and cell
        self.z_to_state = (
            nn.Linear(latent_size, num_states * config.num_layers * config.hidden_size)
            if config.z_to_initial_state
            else None
        )
        self.z_to_output = nn.Linear(latent_size, config.hidden_size) if config.z_to_output else None

    def initial_state(self, z: torch.Tensor):
        """z: (B, D) -> h0 (L, B, H), or (h0, c0) for an LSTM."""
        B, n = z.shape[0], 2 if self.is_lstm else 1
        if self.z_to_state is None:
            states = z.new_zeros(n, self.num_layers, B, self.hidden_size)
        else:
            # (B, n * L * H) -> (n, L, B, H); the RNN wants a contiguous state
            states = self.z_to_state(z).view(B, n, self.num_layers, self.hidden_size).permute(1, 2, 0, 3)
            states = states.contiguous()
        return (states[0], states[1]) if self.is_lstm else states[0]

    def _inputs(self, input_ids: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        x = self.embed(input_ids)  # (B, T, E)
        if self.z_to_every_input:
            zs = z[:, None, :].expand(-1, x.shape[1], -1).to(x.dtype)  # (B, T, D)
            x = torch.cat([x, zs], dim=-1)  # (B, T, E + D)
        return x

    def _run(self, x: torch.Tensor, state):
        if not self.is_lstm:
            return self.rnn(x, state.to(x.dtype))
        x, precision = lstm_precision(x)  # float32 where the CPU has no bf16 LSTM
        with precision:
            # Under autocast the initial state must match the RNN's input dtype.
            return self.rnn(x, tuple(s.to(x.dtype) for s in state))

    def _skip(self, out: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The RNN's output (B, T, H) plus z's linear map when z_to_output."""
        return out if self.z_to_output is None else out + self.z_to_output(z)[:, None, :].to(out.dtype)

    def features(self, input_ids: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        out, _ = self._run(self._inputs(input_ids, z), self.initial_state(z))
        return self._skip(out, z)  # (B, T, H)

    def start(self, z: torch.Tensor) -> dict:
        return {"z": z, "rnn": self.initial_state(z)}

    def step(self, tokens: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """tokens: (B,) the previous token of each row -> next-token logits (B, V), new state."""
        out, rnn_state = self._run(self._inputs(tokens[:, None], state["z"]), state["rnn"])
        return self.project(self._skip(out, state["z"])[:, 0]), {"z": state["z"], "rnn": rnn_state}

    def select(self, state: dict, index: torch.Tensor) -> dict:
        """Keep rows `index` (B',) of every state tensor (batch is dim 1 of RNN states)."""
        rnn_state = state["rnn"]
        if self.is_lstm:
            rnn_state = (rnn_state[0][:, index], rnn_state[1][:, index])
        else:
            rnn_state = rnn_state[:, index]
        return {"z": state["z"][index], "rnn": rnn_state}


class TransformerDecoder(Decoder):
    """Causal self-attention language model; z is a prefix position all tokens attend to
    (z_as_memory) and/or is added to every input (z_added_to_inputs).

    Generation keeps each block's keys and values of the positions so far (a KV cache), so a step costs
    one position's work: `step` gives the logits `forward` gives at that position.
    """

    def __init__(self, embedding: nn.Embedding, latent_size: int, config: TransformerDecoderConfig, **kwargs):
        super().__init__(embedding, config, **kwargs)
        width, embed_size = config.hidden_size, embedding.embedding_dim
        self.scale = math.sqrt(embed_size)
        self.in_proj = nn.Linear(embed_size, width) if embed_size != width else nn.Identity()
        self.z_memory = nn.Linear(latent_size, width) if config.z_as_memory else None
        self.z_add = nn.Linear(latent_size, width) if config.z_added_to_inputs else None
        self.blocks = transformer_stack(width, config.num_layers, config.num_heads, config.ff_size, config.dropout)

    def features(self, input_ids: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        T = input_ids.shape[1]
        x = self.in_proj(self.embed(input_ids) * self.scale)  # (B, T, H)
        x = x + sinusoidal_positions(T, x.shape[-1], x.device).to(x.dtype)
        if self.z_add is not None:
            x = x + self.z_add(z)[:, None, :].to(x.dtype)
        if self.z_memory is not None:
            x = torch.cat([self.z_memory(z)[:, None, :].to(x.dtype), x], dim=1)  # (B, 1 + T, H)
        n = x.shape[1]
        causal = torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1)  # True: may not attend
        h = self.blocks(x, mask=causal, is_causal=True)
        return h[:, n - T :]  # (B, T, H)

    def start(self, z: torch.Tensor) -> dict:
        """The state before the first token: no tokens read, the z position (if any) in the cache."""
        state = {"z": z, "t": 0, "cache": [None] * len(self.blocks.layers)}
        if self.z_memory is not None:
            self._advance(self.z_memory(z)[:, None, :], state)
        return state

    def step(self, tokens: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """tokens: (B,) the previous token of each row -> next-token logits (B, V), new state."""
        z, t = state["z"], state["t"]
        x = self.in_proj(self.embed(tokens[:, None]) * self.scale)  # (B, 1, H)
        x = x + sinusoidal_positions(t + 1, x.shape[-1], x.device, start=t).to(x.dtype)
        if self.z_add is not None:
            x = x + self.z_add(z)[:, None, :].to(x.dtype)
        state = {"z": z, "t": t + 1, "cache": list(state["cache"])}
        h = self.blocks.norm(self._advance(x, state))[:, 0]  # (B, H)
        return self.project(h), state

    def _advance(self, x: torch.Tensor, state: dict) -> torch.Tensor:
        """One new position x (B, 1, H) through every pre-norm block, attending to the cached keys and
        values of the positions before it (and appending its own); returns the last block's output."""
        for i, layer in enumerate(self.blocks.layers):
            attn = layer.self_attn
            heads = attn.num_heads
            q, k, v = F.linear(layer.norm1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
            q, k, v = (a.unflatten(-1, (heads, -1)).transpose(1, 2) for a in (q, k, v))  # (B, heads, 1, d)
            if state["cache"][i] is not None:
                k, v = torch.cat([state["cache"][i][0], k], 2), torch.cat([state["cache"][i][1], v], 2)
            state["cache"][i] = (k, v)  # (B, heads, positions so far, d)
            p = attn.dropout if self.training else 0.0
            a = F.scaled_dot_product_attention(q, k, v, dropout_p=p).transpose(1, 2).flatten(2)  # (B, 1, H)
            x = x + layer.dropout1(attn.out_proj(a))
            x = x + layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(layer.norm2(x))))))
        return x

    def select(self, state: dict, index: torch.Tensor) -> dict:
        cache = [None if c is None else (c[0][index], c[1][index]) for c in state["cache"]]
        return {"z": state["z"][index], "t": state["t"], "cache": cache}

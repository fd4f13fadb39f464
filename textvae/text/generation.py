"""Turning latent codes into token ids with a decoder's step API: greedy, sampling, beam search.

Every function takes a decoder (textvae.text.decoders), codes z (B, D), the bos/eos ids and a maximum
number of generated tokens, and returns one list of ids per code, without bos and eos. A row stops at
its first eos; a row that reaches max_length tokens is cut there. `banned_ids` (bos and pad, passed
by the model) are never generated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..errors import UserError

STRATEGIES = ("greedy", "sample", "beam")


def check_generation_args(
    strategy: str = "greedy",
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    beam_size: int = 5,
    max_length: int = 64,
    length_penalty: float = 0.0,
) -> None:
    """Raise a UserError naming the first bad generation argument."""
    if strategy not in STRATEGIES:
        raise UserError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if not temperature > 0:
        raise UserError(f"temperature must be > 0, not {temperature}")
    if top_k < 0:
        raise UserError(f"top_k must be >= 0 (0 disables it), not {top_k}")
    if not 0 < top_p <= 1:
        raise UserError(f"top_p must be in (0, 1] (1 disables it), not {top_p}")
    if beam_size < 1:
        raise UserError(f"beam_size must be >= 1, not {beam_size}")
    if max_length < 1:
        raise UserError(f"max_length must be >= 1, not {max_length}")
    if length_penalty < 0:
        raise UserError(f"length_penalty must be >= 0, not {length_penalty}")


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Set to -inf every logit outside the top k (k > 0) and outside the nucleus of mass top_p
    (Holtzman et al. 2020; the most likely token is always kept). logits: (B, V), not modified."""
    logits = logits.clone()
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits[logits < kth] = float("-inf")
    if top_p < 1.0:
        probs = logits.softmax(-1)  # (B, V)
        # Each row's nucleus lies in its top k once their mass reaches top_p: grow k from 64, for the rows
        # not yet covered only, instead of sorting the whole vocabulary of every row (a 10k-word sort per
        # step was most of sampling's time, and one flat row used to make every row of the batch grow k).
        keep = torch.zeros_like(logits, dtype=torch.bool)
        rows, k, V = torch.arange(logits.shape[0], device=logits.device), 64, logits.shape[-1]
        while rows.numel():
            top, order = probs[rows].topk(min(k, V), dim=-1)  # (R, k), descending
            covered = (top.sum(-1) >= top_p) | (k >= V)
            top, order, done = top[covered], order[covered], rows[covered]
            # keep a token while the tokens ranked above it hold less than top_p of the mass
            keep[done] = torch.zeros_like(keep[done]).scatter_(-1, order, (top.cumsum(-1) - top) < top_p)
            rows, k = rows[~covered], k * 4
        logits.masked_fill_(~keep, float("-inf"))
    return logits


def sample_nucleus(
    probs: torch.Tensor, top_p: float, generator: torch.Generator | None = None, rounds: int = 8
) -> torch.Tensor:
    """One token per row of probs (B, V) from its top-p nucleus, renormalised: (B,) ids. A draw from
    the whole row is kept when the tokens more likely than it hold less than top_p of the mass, which is
    the nucleus of filter_logits (a tie at its edge keeps every tied token); rejection sampling, so the
    kept draws follow the nucleus exactly and each is kept with probability >= top_p. One pass over the
    vocabulary a draw instead of a search for each row's nucleus; rows still without a token after
    `rounds` draws (a small top_p on a flat row) take filter_logits' nucleus."""
    out = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    rows = torch.arange(probs.shape[0], device=probs.device)
    for _ in range(rounds):
        if not rows.numel():
            return out
        p = probs[rows]
        draw = torch.multinomial(p, 1, generator=generator)  # (R, 1)
        above = p.masked_fill(p <= p.gather(-1, draw), 0.0).sum(-1)  # (R,) mass more likely
        ok = above < top_p
        out[rows[ok]] = draw[ok, 0]
        rows = rows[~ok]
    if rows.numel():
        nucleus = filter_logits(probs[rows].log(), top_p=top_p).softmax(-1)
        out[rows] = torch.multinomial(nucleus, 1, generator=generator)[:, 0]
    return out


def _ids_until_eos(out: torch.Tensor, eos_id: int) -> list[list[int]]:
    """(B, T) ids -> lists cut before each row's first eos."""
    rows = []
    for row in out.tolist():
        rows.append(row[: row.index(eos_id)] if eos_id in row else row)
    return rows


def _ban(logits: torch.Tensor, banned_ids: Sequence[int]) -> torch.Tensor:
    if banned_ids:
        logits[:, list(banned_ids)] = float("-inf")
    return logits


def _decode_loop(
    decoder,
    z: torch.Tensor,
    bos_id: int,
    eos_id: int,
    max_length: int,
    pick: Callable[[torch.Tensor], torch.Tensor],
    banned_ids: Sequence[int],
) -> list[list[int]]:
    """One token per row per step, chosen by `pick` from float32 logits (B, V) -> (B,)."""
    B = z.shape[0]
    state = decoder.start(z)
    tokens = torch.full((B,), bos_id, dtype=torch.long, device=z.device)
    out = torch.full((B, max_length), eos_id, dtype=torch.long, device=z.device)
    done = torch.zeros(B, dtype=torch.bool, device=z.device)
    for t in range(max_length):
        logits, state = decoder.step(tokens, state)
        tokens = pick(_ban(logits.float(), banned_ids)).masked_fill(done, eos_id)  # (B,)
        out[:, t] = tokens
        done |= tokens == eos_id
        if bool(done.all()):
            break
    return _ids_until_eos(out, eos_id)


@torch.no_grad()
def greedy(
    decoder, z: torch.Tensor, bos_id: int, eos_id: int, max_length: int = 64, banned_ids: Sequence[int] = ()
) -> list[list[int]]:
    """The most likely next token at every step."""
    return _decode_loop(decoder, z, bos_id, eos_id, max_length, lambda logits: logits.argmax(-1), banned_ids)


@torch.no_grad()
def sample(
    decoder,
    z: torch.Tensor,
    bos_id: int,
    eos_id: int,
    max_length: int = 64,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    banned_ids: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Ancestral sampling from softmax(logits / temperature), restricted to the top k tokens and/or
    the top-p nucleus."""

    def pick(logits: torch.Tensor) -> torch.Tensor:
        probs = filter_logits(logits / temperature, top_k).softmax(-1)  # (B, V)
        if top_p < 1.0:
            return sample_nucleus(probs, top_p, generator)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    return _decode_loop(decoder, z, bos_id, eos_id, max_length, pick, banned_ids)


@torch.no_grad()
def beam_search(
    decoder,
    z: torch.Tensor,
    bos_id: int,
    eos_id: int,
    max_length: int = 64,
    beam_size: int = 5,
    length_penalty: float = 0.0,
    banned_ids: Sequence[int] = (),
) -> list[list[int]]:
    """Beam search with `beam_size` hypotheses per code, all codes batched together.

    A hypothesis that emits eos is finished: it keeps its slot and its score (its only continuation
    is another eos at no cost), so it competes with the running ones to the end. The search stops when
    every hypothesis is finished or after max_length tokens. The answer is the hypothesis with the
    best log-probability / length ** length_penalty (0: raw log-probability; 1: per-token average;
    the length counts the eos).
    """
    B, K = z.shape[0], beam_size
    device = z.device
    state = decoder.start(z.repeat_interleave(K, dim=0))  # B * K rows
    tokens = torch.full((B * K,), bos_id, dtype=torch.long, device=device)
    scores = torch.zeros(B, K, device=device)
    scores[:, 1:] = float("-inf")  # all beams start identical: expand only the first one
    history = torch.empty(B * K, 0, dtype=torch.long, device=device)
    finished = torch.zeros(B * K, dtype=torch.bool, device=device)
    lengths = torch.zeros(B * K, device=device)
    base = (torch.arange(B, device=device) * K)[:, None]  # (B, 1)
    for _ in range(max_length):
        logits, state = decoder.step(tokens, state)
        logp = _ban(logits.float(), banned_ids).log_softmax(-1)  # (B*K, V)
        logp[finished] = float("-inf")
        logp[finished, eos_id] = 0.0
        V = logp.shape[-1]
        scores, flat = (scores.view(-1, 1) + logp).view(B, K * V).topk(K, dim=-1)  # (B, K)
        src = (base + torch.div(flat, V, rounding_mode="floor")).view(-1)  # (B*K,) parent rows
        tokens = (flat % V).view(-1)
        state = decoder.select(state, src)
        lengths = lengths[src] + (~finished[src]).float()
        finished = finished[src] | (tokens == eos_id)
        history = torch.cat([history[src], tokens[:, None]], dim=1)
        if bool(finished.all()):
            break
    final = scores / lengths.view(B, K).clamp(min=1) ** length_penalty if length_penalty else scores
    best = base.squeeze(1) + final.argmax(-1)  # (B,)
    return _ids_until_eos(history[best], eos_id)


def generate(
    decoder,
    z: torch.Tensor,
    bos_id: int,
    eos_id: int,
    strategy: str = "greedy",
    max_length: int = 64,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    beam_size: int = 5,
    length_penalty: float = 0.0,
    banned_ids: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Dispatch to greedy, sample or beam_search after checking the arguments."""
    check_generation_args(strategy, temperature, top_k, top_p, beam_size, max_length, length_penalty)
    if strategy == "greedy":
        return greedy(decoder, z, bos_id, eos_id, max_length, banned_ids)
    if strategy == "sample":
        return sample(decoder, z, bos_id, eos_id, max_length, temperature, top_k, top_p, banned_ids, generator)
    return beam_search(decoder, z, bos_id, eos_id, max_length, beam_size, length_penalty, banned_ids)

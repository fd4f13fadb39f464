"""Generation: every strategy on every decoder, beam search against the exact optimum, the nucleus
(top-p) against a full sort and in its draws, and bad arguments as one-line user errors."""

import itertools
import math

import pytest
import torch
from tiny_text import KINDS, SENTENCES, tiny_model

from textvae.errors import UserError
from textvae.text import generation


@pytest.mark.parametrize("decoder", KINDS)
def test_generation_strategies(tokenizer, decoder):
    model = tiny_model(tokenizer, "lstm", decoder)
    c = model.config
    z = torch.randn(5, model.latent_size)
    for strategy in ("greedy", "sample", "beam"):
        texts = model.decode(z, strategy=strategy, top_p=0.9, beam_size=3, max_length=6, seed=0)
        assert len(texts) == 5 and all(isinstance(t, str) for t in texts)
        ids = generation.generate(
            model.decoder,
            z,
            c.bos_id,
            c.eos_id,
            strategy=strategy,
            max_length=4,
            beam_size=3,
            banned_ids=(c.bos_id, c.pad_id),
        )
        assert all(len(row) <= 4 and c.eos_id not in row and c.bos_id not in row for row in ids)
    greedy = model.decode(z, max_length=12)
    assert model.decode(z, strategy="beam", beam_size=1, max_length=12) == greedy
    assert model.decode(z, strategy="sample", top_k=1, max_length=12, seed=3) == greedy
    assert model.sample(4, strategy="sample", seed=7) == model.sample(4, strategy="sample", seed=7)
    assert len(model.interpolate(SENTENCES[0], SENTENCES[1], steps=3)) == 5
    assert len(model.reconstruct(SENTENCES[:3], strategy="beam")) == 3


class MarkovDecoder:
    """A decoder whose next-token log-probabilities depend only on the previous token (a table):
    small enough to enumerate every sentence and check beam search against the exact optimum."""

    def __init__(self, table):
        self.table = table  # (V, V) log-probs

    def start(self, z):
        return {}

    def step(self, tokens, state):
        return self.table[tokens], state

    def select(self, state, index):
        return state


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_beam_search_with_a_wide_beam_finds_the_best_sentence(length_penalty):
    bos, eos, words, max_length = 0, 1, (2, 3, 4), 4
    torch.manual_seed(0)
    table = torch.randn(5, 5).mul(2).log_softmax(-1)
    banned_table = table.clone()
    banned_table[:, bos] = float("-inf")
    best, best_score = None, float("-inf")
    for n in range(max_length + 1):
        for body in itertools.product(words, repeat=n):
            seq = list(body) + ([eos] if n < max_length else [])  # truncated at max_length
            prev, lp = bos, 0.0
            for t in seq:
                lp += banned_table[prev].log_softmax(-1)[t].item()
                prev = t
            score = lp / len(seq) ** length_penalty if length_penalty else lp
            if score > best_score:
                best, best_score = list(body), score
    got = generation.beam_search(
        MarkovDecoder(table),
        torch.zeros(2, 1),
        bos,
        eos,
        max_length=max_length,
        beam_size=125,
        length_penalty=length_penalty,
        banned_ids=(bos,),
    )
    assert got == [best, best]


def test_top_p_keeps_the_smallest_nucleus():
    logits = torch.tensor([[math.log(0.5), math.log(0.3), math.log(0.15), math.log(0.05)]])
    kept = torch.isfinite(generation.filter_logits(logits, top_p=0.75))
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(generation.filter_logits(logits, top_k=3, top_p=0.9))
    assert kept.tolist() == [[True, True, True, False]]


@pytest.mark.parametrize("scale", [[0.1], [3.0], [10.0], [10.0, 0.1, 3.0, 10.0, 1.0, 0.1, 30.0, 2.0]])
def test_top_p_matches_the_full_sort_on_flat_and_peaked_rows(scale):
    """The top-k search for the nucleus (k grows from 64, for the rows not yet covered) keeps what a sort
    of the whole vocabulary keeps, whether the nucleus needs a few tokens or most of them (flat rows, k
    grows to V), also when flat and peaked rows share a batch."""
    torch.manual_seed(0)
    logits = torch.randn(8, 3000, dtype=torch.float64) * torch.tensor(scale, dtype=torch.float64).unsqueeze(1)
    order = logits.argsort(-1, descending=True)
    probs = logits.gather(-1, order).softmax(-1)
    drop_sorted = (probs.cumsum(-1) - probs) >= 0.9
    expected = ~drop_sorted.scatter(-1, order, drop_sorted)
    assert torch.equal(torch.isfinite(generation.filter_logits(logits, top_p=0.9)), expected)


def test_bad_generation_arguments_are_user_errors(tokenizer):
    model = tiny_model(tokenizer)
    z = torch.zeros(1, model.latent_size)
    for kwargs in ({"strategy": "nucleus"}, {"temperature": 0.0}, {"top_p": 0.0}, {"beam_size": 0}, {"max_length": 0}):
        with pytest.raises(UserError):
            model.decode(z, **kwargs)
    with pytest.raises(UserError, match="shape"):
        model.decode(torch.zeros(2, model.latent_size + 1))
    with pytest.raises(UserError, match="slerp"):
        model.interpolate(SENTENCES[0], SENTENCES[1], method="cubic")


@pytest.mark.parametrize("scale", [0.1, 3.0])
def test_nucleus_sampling_draws_the_renormalised_nucleus(scale):
    """sample_nucleus (rejection from the whole row) never draws outside filter_logits' nucleus, and its
    draws follow the nucleus renormalised: flat rows (the nucleus is most of the vocabulary, draws are
    rejected) and peaked ones."""
    torch.manual_seed(0)
    logits = torch.randn(1, 50, dtype=torch.float64) * scale
    nucleus = generation.filter_logits(logits, top_p=0.6).softmax(-1)[0]
    draws = generation.sample_nucleus(
        logits.softmax(-1).expand(40_000, -1), top_p=0.6, generator=torch.Generator().manual_seed(1)
    )
    freq = torch.bincount(draws, minlength=50).double() / draws.numel()
    assert freq[nucleus == 0].sum() == 0
    assert (freq - nucleus).abs().sum() / 2 < 0.02  # total variation: ~0.01 from 40k draws' noise
    # a small top_p on a flat row leaves rows to the fallback, which keeps to the nucleus too
    flat = (torch.rand(64, 50, dtype=torch.float64) * 1e-2 + 1).log_softmax(-1)
    few = generation.sample_nucleus(flat.exp(), top_p=0.05, generator=torch.Generator().manual_seed(2), rounds=1)
    inside = torch.isfinite(generation.filter_logits(flat, top_p=0.05)).gather(-1, few.unsqueeze(1))
    assert bool(inside.all())

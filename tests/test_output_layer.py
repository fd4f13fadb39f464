"""The decoder's output layer: the fused evaluation path matches cross-entropy, and the
mixture of softmaxes (a distribution, read by every path, beyond one softmax's rank, its dropout)."""

import dataclasses

import pytest
import torch
from tiny_text import KINDS, SENTENCES, tiny_config, tiny_decoder, tiny_model

from textvae.registry import load_model
from textvae.text.decoders import RNNDecoderConfig
from textvae.text.model import TextVAE


@pytest.mark.parametrize("tie", [False, True])
def test_the_evaluation_path_of_the_output_layer_matches_cross_entropy(tokenizer, tie):
    """Under no_grad in eval mode log p(target) is computed blockwise from logsumexp: the same numbers
    as the training path's cross-entropy (fp32: to rounding; bf16 autocast: to bf16's precision)."""
    model = tiny_model(tokenizer, tie_embeddings=tie).eval()
    h, targets = torch.randn(1000, 16), torch.randint(0, model.config.vocab_size, (1000,))
    with torch.enable_grad():
        reference = model.decoder.target_log_probs(h, targets).detach()
    with torch.no_grad():
        fast = model.decoder.target_log_probs(h, targets, block=64)
        assert torch.allclose(fast, reference, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.decoder.target_log_probs(h, targets)
    assert low.dtype == torch.float32 and float((low - reference).abs().max()) < 0.05
    assert abs(float((low - reference).mean())) < 2e-3


@pytest.mark.parametrize("decoder", KINDS)
def test_a_mixture_of_softmaxes_is_a_distribution_the_fused_path_reads_and_round_trips(tokenizer, decoder, tmp_path):
    """decoder.softmaxes K: project gives log-probabilities that sum to one; the fused path (one target
    or K a row) gives the same numbers and a gradient to the mixture; the
    step API matches; generation and save/load work."""
    config = dataclasses.replace(tiny_config(), decoder=tiny_decoder(decoder, softmaxes=3))
    torch.manual_seed(0)
    model = TextVAE(config, tokenizer).eval()
    batch = model.batch_from_sentences(SENTENCES[:4])
    ids = batch["input_ids"][:, :-1]
    z = torch.randn(4, model.latent_size)
    with torch.no_grad():
        log_p = model.decoder(ids, z)  # (B, T, V)
        torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(ids.shape), atol=1e-5, rtol=0)
        h = model.decoder.features(ids, z).reshape(-1, 16)
        targets = torch.randint(0, model.config.vocab_size, (h.shape[0], 5))
        full = log_p.reshape(-1, log_p.shape[-1])
        torch.testing.assert_close(
            model.decoder.target_log_probs(h, targets[:, 0]), full.gather(1, targets[:, :1])[:, 0], atol=1e-5, rtol=0
        )
        torch.testing.assert_close(
            model.decoder.target_log_probs(h, targets), full.gather(1, targets), atol=1e-5, rtol=0
        )
        state = model.decoder.start(z)
        logits, state = model.decoder.step(ids[:, 0], state)
        torch.testing.assert_close(logits, log_p[:, 0], atol=1e-5, rtol=0)
    model.log_likelihood(z[None], batch).sum().backward()
    for part in (model.decoder.mixture_weights, model.decoder.mixture_components):
        assert part.weight.grad.abs().sum() > 0
    assert len(model.sample(2, seed=0)) == 2
    model.save_pretrained(tmp_path / "m")
    loaded = load_model(tmp_path / "m").eval()
    assert loaded.config.decoder.softmaxes == 3
    with torch.no_grad():
        torch.testing.assert_close(loaded.decoder(ids, z), log_p, atol=0, rtol=0)


def test_a_mixture_of_softmaxes_lifts_the_rank_bound_of_one_softmax(tokenizer):
    """Yang et al. 2018's point: over many contexts, one softmax's log-probabilities (N, V) have rank at
    most H + 1 (H features, the bias); a mixture of softmaxes over the same H features goes beyond it."""
    ranks = {}
    for k in (1, 3):
        torch.manual_seed(0)
        config = dataclasses.replace(tiny_config(), decoder=RNNDecoderConfig(hidden_size=16, softmaxes=k))
        model = TextVAE(config, tokenizer).double().eval()
        with torch.no_grad():
            log_p = model.decoder.project(torch.randn(200, 16, dtype=torch.float64) * 3)
        ranks[k] = int(torch.linalg.matrix_rank(log_p))
    assert model.config.vocab_size > 40 and ranks[1] <= 17 < ranks[3], ranks


def test_mixture_dropout_drops_component_features_in_training_only(tokenizer):
    """decoder.mixture_dropout (Yang et al.'s dropoutl): in training the mixture's component features are
    dropped, so the log-probabilities change from draw to draw yet stay a distribution; in evaluation the
    model is the one without it. Without a mixture there is nothing to drop: refused."""
    outputs = {}
    for p in (0.0, 0.5):
        torch.manual_seed(0)
        config = dataclasses.replace(
            tiny_config(), decoder=RNNDecoderConfig(hidden_size=16, softmaxes=3, mixture_dropout=p)
        )
        model = TextVAE(config, tokenizer)
        h = torch.randn(6, 16, generator=torch.Generator().manual_seed(1))
        targets = torch.arange(6)
        with torch.no_grad():
            model.train()
            outputs[p, "train"] = [model.decoder.project(h) for _ in range(2)]
            outputs[p, "fused"] = model.decoder.target_log_probs(h, targets)
            model.eval()
            outputs[p, "eval"] = model.decoder.project(h)
    a, b = outputs[0.5, "train"]
    torch.testing.assert_close(a.exp().sum(-1), torch.ones(6), atol=1e-5, rtol=0)
    assert (a - b).abs().max() > 1e-3  # a new mask each call
    undropped = outputs[0.5, "eval"].gather(1, targets[:, None])[:, 0]
    assert (outputs[0.5, "fused"] - undropped).abs().max() > 1e-3  # the fused path drops too
    torch.testing.assert_close(
        outputs[0.0, "fused"], outputs[0.0, "eval"].gather(1, targets[:, None])[:, 0], atol=1e-5, rtol=0
    )
    torch.testing.assert_close(*outputs[0.0, "train"], atol=0, rtol=0)
    torch.testing.assert_close(outputs[0.5, "eval"], outputs[0.0, "eval"], atol=0, rtol=0)
    with pytest.raises(ValueError, match="needs softmaxes > 1"):
        RNNDecoderConfig(mixture_dropout=0.3)

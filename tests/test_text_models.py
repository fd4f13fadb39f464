"""Sentence VAEs: every encoder x decoder pairing trains on real sentences; likelihoods ignore
padding; word dropout has its rate; save/load is exact; configuration errors are one-line user errors."""

import dataclasses
import itertools
import math

import pytest
import torch
from tiny_text import KINDS, SENTENCES, tiny_config, tiny_decoder, tiny_model

from textvae.config import from_dict
from textvae.core.elbo_module import ElboModule
from textvae.core.objectives import elbo_loss
from textvae.errors import UserError
from textvae.registry import load_model
from textvae.text.decoders import RNNDecoderConfig
from textvae.text.encoders import NoEncoderConfig
from textvae.text.model import TextModelConfig, TextVAE


@pytest.mark.parametrize("encoder,decoder", list(itertools.product(KINDS, KINDS)))
def test_every_pairing_trains_on_real_sentences(tokenizer, encoder, decoder):
    model = tiny_model(tokenizer, encoder, decoder, word_dropout=0.1, embed_dropout=0.1)
    batch = model.batch_from_sentences(SENTENCES)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(20):
        posterior = model.encode(batch)
        log_px_z = model.log_likelihood(posterior.rsample()[None], batch)[0]  # (B,)
        terms = elbo_loss(log_px_z, posterior, kl_weight=0.1)
        opt.zero_grad()
        terms.loss.backward()
        opt.step()
        losses.append(terms.loss.item())
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-3:]) / 3 < 0.9 * losses[0]


@pytest.mark.parametrize("decoder", KINDS)
def test_a_language_model_has_the_prior_as_posterior_and_an_exact_bound(tokenizer, decoder, tmp_path):
    """encoder.kind none: KL 0, and log p(x) = log p(x|z) for any z, so the bound is exact at every k."""
    from textvae.core.objectives import iw_log_marginal

    blind = tiny_decoder(decoder)
    blind = dataclasses.replace(blind, **{name: False for name in blind.z_options})
    config = dataclasses.replace(tiny_config(decoder=decoder), encoder=NoEncoderConfig(), decoder=blind)
    torch.manual_seed(0)
    model = TextVAE(config, tokenizer).eval()
    assert not any("encoder" in name or "posterior" in name for name, _ in model.named_parameters())
    batch = model.batch_from_sentences(SENTENCES[:6])
    posterior = model.encode(batch)
    assert float(posterior.kl().abs().max()) == 0.0
    ll = model.log_likelihood(torch.randn(3, 6, model.latent_size), batch)  # (3, 6): z is ignored
    assert torch.allclose(ll, ll[0].expand(3, -1))
    with torch.no_grad():
        for k in (1, 7):
            assert torch.allclose(iw_log_marginal(model, batch, k, chunk_size=3), ll[0], atol=1e-5)
    model.save_pretrained(tmp_path / "lm")
    again = load_model(tmp_path / "lm")
    assert torch.equal(again.log_likelihood(torch.zeros(1, 6, model.latent_size), batch), ll[:1])
    assert len(again.sample(2, seed=0)) == 2


def test_log_likelihood_is_float32_under_bf16_autocast(tokenizer):
    model = tiny_model(tokenizer, "transformer", "lstm").eval()
    batch = model.batch_from_sentences(SENTENCES[:4])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ll = model.log_likelihood(model.encode(batch).mean[None], batch)
    assert ll.dtype == torch.float32 and ll.shape == (1, 4) and torch.isfinite(ll).all()


def test_word_dropout_rate_in_training_and_none_in_eval(tokenizer):
    p = 0.3
    model = tiny_model(tokenizer, word_dropout=p)
    ids = model.batch_from_sentences(SENTENCES * 8)["input_ids"][:, :-1]  # decoder inputs
    c = model.config
    eligible = (ids != c.bos_id) & (ids != c.pad_id) & (ids != c.unk_id)
    model.train()
    out = model.word_dropout(ids)
    replaced = out != ids
    assert (out[replaced] == c.unk_id).all()
    assert not replaced[~eligible].any()  # bos and pad untouched
    n = int(eligible.sum())
    rate = replaced[eligible].float().mean().item()
    assert abs(rate - p) < 3 * math.sqrt(p * (1 - p) / n)
    model.eval()
    assert torch.equal(model.word_dropout(ids), ids)


def test_word_dropout_reaches_the_likelihood_only_in_training(tokenizer):
    model = tiny_model(tokenizer, word_dropout=0.5)
    batch = model.batch_from_sentences(SENTENCES[:8])
    z = torch.zeros(1, 8, model.latent_size)
    model.eval()
    assert torch.equal(model.log_likelihood(z, batch), model.log_likelihood(z, batch))
    model.train()
    torch.manual_seed(1)
    assert not torch.equal(model.log_likelihood(z, batch), model.log_likelihood(z, batch))


@pytest.mark.parametrize("decoder", KINDS)
def test_log_likelihood_shape_and_padding_invariance(tokenizer, decoder):
    model = tiny_model(tokenizer, "gru", decoder).eval()
    short, longer = "a carpenter is hammering .", SENTENCES[12]
    batch = model.batch_from_sentences([short, longer, SENTENCES[0]])
    alone = model.batch_from_sentences([short])
    assert batch["input_ids"].shape[1] > alone["input_ids"].shape[1]
    z = torch.randn(4, 3, model.latent_size)  # (S, B, D)
    with torch.no_grad():
        ll = model.log_likelihood(z, batch)
        ll_alone = model.log_likelihood(z[:, :1], alone)
    assert ll.shape == (4, 3) and ll.dtype == torch.float32
    torch.testing.assert_close(ll[:, :1], ll_alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("decoder", KINDS)
def test_log_likelihood_counts_every_token_after_bos(tokenizer, decoder):
    model = tiny_model(tokenizer, "lstm", decoder).eval()
    batch = model.batch_from_sentences([SENTENCES[3]])
    z = torch.randn(1, model.latent_size)
    with torch.no_grad():
        logp = model.decoder(batch["input_ids"][:, :-1], z).log_softmax(-1)[0]  # (T-1, V)
        expected = logp.gather(1, batch["input_ids"][0, 1:, None]).sum()
        got = model.log_likelihood(z[None], batch)[0, 0]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("decoder", KINDS)
def test_step_api_matches_the_training_forward(tokenizer, decoder):
    config = dataclasses.replace(
        tiny_config(),
        decoder=tiny_decoder(
            decoder,
            **(
                {"z_added_to_inputs": True}
                if decoder == "transformer"
                else {"z_to_every_input": True, "z_to_output": True}
            ),
        ),
    )
    torch.manual_seed(0)
    model = TextVAE(config, tokenizer).eval()
    ids = model.batch_from_sentences(SENTENCES[:3])["input_ids"][:, :-1]  # (B, T)
    z = torch.randn(3, model.latent_size)
    with torch.no_grad():
        full = model.decoder(ids, z)  # (B, T, V)
        state = model.decoder.start(z)
        for t in range(ids.shape[1]):
            logits, state = model.decoder.step(ids[:, t], state)
            torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=0)


@pytest.mark.parametrize("memory", [True, False])
def test_the_transformer_kv_cache_matches_the_forward_after_beam_reordering(tokenizer, memory):
    """The cached step (keys and values of the positions so far) against the full forward, with and
    without the z position, and after `select` has reordered and repeated the rows as beam search does."""
    config = dataclasses.replace(
        tiny_config(), decoder=tiny_decoder("transformer", z_as_memory=memory, z_added_to_inputs=True, num_layers=2)
    )
    torch.manual_seed(0)
    model = TextVAE(config, tokenizer).eval()
    ids = model.batch_from_sentences(SENTENCES[:3])["input_ids"][:, :-1]  # (B, T)
    z = torch.randn(3, model.latent_size)
    index = torch.tensor([2, 0, 0, 1])
    with torch.no_grad():
        full = model.decoder(ids[index], z[index])  # (4, T, V)
        state = model.decoder.start(z)
        for t in range(ids.shape[1]):
            if t == 2:
                state = model.decoder.select(state, index)
            logits, state = model.decoder.step(ids[index if t >= 2 else slice(None), t], state)
            expected = full[:, t] if t >= 2 else model.decoder(ids, z)[:, t]
            torch.testing.assert_close(logits, expected, atol=1e-5, rtol=0)
        assert state["cache"][0][0].shape[2] == ids.shape[1] + memory  # one key per position read


@pytest.mark.parametrize("decoder", ["lstm", "gru"])
def test_z_to_output_alone_carries_z_to_the_softmax_and_round_trips(tokenizer, decoder, tmp_path):
    """The Skip-VAE path: with the initial state and the inputs blind to z, z still moves every
    position's logits, the path trains, and it is saved and loaded with the model."""
    config = dataclasses.replace(
        tiny_config(),
        decoder=RNNDecoderConfig(kind=decoder, hidden_size=16, z_to_initial_state=False, z_to_output=True),
    )
    torch.manual_seed(0)
    model = TextVAE(config, tokenizer).eval()
    torch.nn.init.normal_(model.decoder.z_to_output.weight)
    batch = model.batch_from_sentences(SENTENCES[:4])
    ids = batch["input_ids"][:, :-1]
    z = torch.randn(2, 4, model.latent_size)
    a, b = model.decoder(ids, z[0]), model.decoder(ids, z[1])
    assert (a - b).abs().amax(-1).min() > 1e-3  # every position
    model.log_likelihood(z, batch).sum().backward()
    assert model.decoder.z_to_output.weight.grad.abs().sum() > 0
    model.save_pretrained(tmp_path / "m")
    loaded = load_model(tmp_path / "m").eval()
    assert loaded.config.decoder.z_to_output
    torch.testing.assert_close(loaded.decoder(ids, z[0]), a, atol=0, rtol=0)


@pytest.mark.parametrize("encoder", KINDS)
def test_encodings_do_not_depend_on_the_batch(tokenizer, encoder):
    model = tiny_model(tokenizer, encoder, "gru")
    model.train()
    one_by_one = model.encode_sentences(SENTENCES[:6], batch_size=1)
    together = model.encode(SENTENCES[:6])  # the list-of-str form
    assert together.shape == (6, model.latent_size)
    torch.testing.assert_close(one_by_one, together, atol=1e-5, rtol=0)
    assert model.training  # mode restored


@pytest.mark.parametrize(
    "encoder,decoder,extra",
    [
        ("lstm", "transformer", {}),
        ("transformer", "gru", {"share_embeddings": False, "tie_embeddings": True}),
    ],
)
def test_save_load_round_trip_is_exact(tokenizer, tmp_path, encoder, decoder, extra):
    model = tiny_model(tokenizer, encoder, decoder, **extra)
    model.save_pretrained(tmp_path / "m")
    for loaded in (TextVAE.from_pretrained(tmp_path / "m"), load_model(tmp_path / "m")):
        assert isinstance(loaded, TextVAE) and loaded.config == model.config
        assert torch.equal(loaded.encode(SENTENCES[:5]), model.encode(SENTENCES[:5]))
        assert loaded.reconstruct(SENTENCES[:5]) == model.reconstruct(SENTENCES[:5])


@pytest.mark.parametrize("bad", ["", "   ", "qwxz zzyzx"])
def test_unusable_sentences_are_user_errors(tokenizer, bad):
    model = tiny_model(tokenizer)
    with pytest.raises(UserError, match="sentence 1"):
        model.encode_sentences([SENTENCES[0], bad])
    with pytest.raises(UserError):
        model.reconstruct([bad])
    with pytest.raises(UserError):
        model.interpolate(SENTENCES[0], bad)


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"latent_size": 0}, "latent_size"),
        ({"word_dropout": 1.0}, "word_dropout"),
        ({"tie_embeddings": True, "embed_size": 16, "decoder": {"hidden_size": 32}}, "tie_embeddings"),
        ({"encoder": {"kind": "cnn"}}, "model.encoder: kind"),
        (
            {"decoder": {"kind": "gru", "z_to_initial_state": False}},
            "ignore z: set decoder.z_to_initial_state, decoder.z_to_every_input or decoder.z_to_output to true",
        ),
        ({"encoder": {"kind": "none"}}, "must not read z: set decoder.z_to_initial_state to false"),
        (
            {"encoder": {"kind": "none"}, "decoder": {"z_to_initial_state": False, "z_to_output": True}},
            "must not read z: set decoder.z_to_output to false",
        ),
        (
            {"decoder": {"kind": "transformer", "z_to_output": True}},
            r"model.decoder.z_to_output: not a key of decoder kind transformer \(only of lstm, gru\)",
        ),
        (
            {
                "encoder": {"kind": "none"},
                "decoder": {"kind": "transformer", "z_as_memory": False, "z_added_to_inputs": True},
            },
            "set decoder.z_added_to_inputs to false",
        ),
        ({"decoder": {"kind": "transformer", "hidden_size": 30, "num_heads": 4}}, "divisible"),
        ({"decoder": {"softmaxes": 0}}, "softmaxes must be >= 1"),
        (
            {"decoder": {"kind": "pretrained", "path": "x", "softmaxes": 2}},
            r"model.decoder.softmaxes: not a key of decoder kind pretrained \(only of lstm, gru, transformer\)",
        ),
        ({"encoder": {"kind": "transformer", "pooling": "sum"}}, "pooling must be one of mean, first, max"),
        (
            {"decoder": {"num_heads": 2}},  # no kind: lstm
            r"model.decoder.num_heads: not a key of decoder kind lstm \(only of transformer\); did you mean "
            r"'model.decoder.num_layers'\? Its keys: kind, hidden_size",
        ),
        ({"encoder": {"kind": "none", "hidden_size": 8}}, "model.encoder.hidden_size: not a key of encoder kind none"),
        ({"decoder": {"z_to_every_inputs": True}}, "did you mean 'model.decoder.z_to_every_input'"),
    ],
)
def test_config_errors_are_one_line_user_errors(raw, message):
    with pytest.raises(UserError, match=message):
        from_dict(TextModelConfig, raw, prefix="model.")


def test_tokenizer_must_match_the_config(tokenizer):
    config = tiny_config().for_tokenizer(tokenizer)
    with pytest.raises(UserError, match="vocab_size"):
        TextVAE(
            tiny_config(
                vocab_size=config.vocab_size + 1,
                pad_id=config.pad_id,
                bos_id=config.bos_id,
                eos_id=config.eos_id,
                unk_id=config.unk_id,
            ),
            tokenizer,
        )
    with pytest.raises(UserError, match="vocab_size is 0"):
        TextVAE(tiny_config())


@pytest.mark.parametrize("decoder", KINDS)
def test_word_type_dropout_drops_every_occurrence_of_a_type_at_once(tokenizer, decoder):
    """Embedding dropout (AWD-LSTM): in training a word type is dropped everywhere in the batch or kept
    everywhere (scaled by 1 / (1 - p)), about p of the types dropped; evaluation reads the plain embedding."""
    model = tiny_model(tokenizer, "lstm", decoder)
    model.decoder.word_type_dropout = 0.5
    ids = torch.arange(4, 404).remainder(model.config.vocab_size).view(4, 100)  # types repeated across rows
    plain = model.decoder.embedding(ids)
    model.train()
    torch.manual_seed(0)
    emb = model.decoder.embed(ids)
    dropped = (emb == 0).all(-1)
    assert torch.equal(emb[~dropped], 2 * plain[~dropped])
    for token in ids.unique():
        assert dropped[ids == token].unique().numel() == 1  # all or none of its uses
    rate = torch.stack([dropped[ids == token][0] for token in ids.unique()]).float().mean()
    assert 0.4 < rate < 0.6
    model.eval()
    assert torch.equal(model.decoder.embed(ids), plain)
    with pytest.raises(ValueError, match="word_type_dropout must be in"):
        tiny_decoder(decoder, word_type_dropout=1.0)


@pytest.mark.parametrize("decoder", KINDS)
def test_activation_penalties_are_added_to_the_training_loss_only(tokenizer, decoder):
    """AR and TAR, computed by hand on each sentence's real positions of the decoder's features, are what
    the training loss adds to the bound's; evaluation and the reported terms never see them."""
    plain = tiny_model(tokenizer, "lstm", decoder)
    regs = TextVAE(dataclasses.replace(plain.config, activation_reg=2.0, temporal_activation_reg=1.0), tokenizer)
    regs.load_state_dict(plain.state_dict())
    batch = plain.batch_from_sentences(SENTENCES[:6])
    plain.train(), regs.train()
    losses = {}
    for name, model in (("plain", plain), ("regs", regs)):
        torch.manual_seed(5)
        losses[name] = ElboModule(model)(batch, kl_weight=0.5)
    torch.manual_seed(5)
    z = regs.encode(batch).rsample()
    h = regs.decoder.features(batch["input_ids"][:, :-1], z)  # (B, T-1, H)
    by_hand = []
    for h_i, length in zip(h, batch["lengths"].tolist()):
        h_i = h_i[: length - 1]  # eos included, pad not
        ar = h_i.square().mean(-1).sum()
        tar = (h_i[1:] - h_i[:-1]).square().mean(-1).sum()
        by_hand.append(2.0 * ar + 1.0 * tar)
    penalty = torch.stack(by_hand).mean()
    assert penalty > 0
    torch.testing.assert_close(losses["regs"]["loss"] - losses["plain"]["loss"], penalty.detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(losses["regs"]["rec"], losses["plain"]["rec"])
    regs.eval()
    assert regs.likelihood(z[None], batch).penalty is None
    with pytest.raises(ValueError, match="activation_reg must be >= 0"):
        tiny_config(activation_reg=-1.0)

"""The VAE contract (textvae.core.model), checked for every model type in textvae.registry.MODELS.

Like diffusers' tester mixins: each registered model type gets the same tests on a tiny config, so a
new family is covered once it is registered and has an entry in TINY (the first test fails until it does).
"""

import pytest
import torch
from tiny_text import SENTENCES, tiny_model

from textvae.core.elbo_module import ElboModule
from textvae.core.model import VAEOutput
from textvae.registry import MODELS, load_model, model_class


def _tiny_text(tokenizer):
    model = tiny_model(tokenizer, "lstm", "lstm")
    return model, model.batch_from_sentences(SENTENCES[:5])


def _tiny_image(kind: str):
    def build(tokenizer):
        from textvae.image.models import ImageModelConfig, model_for

        torch.manual_seed(0)
        model = model_for(ImageModelConfig(kind=kind, latent_size=4, hidden_size=32, conv_channels=4))
        images = (torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(1)) > 0.5).float()
        return model, {"images": images}

    return build


# model_type -> a function of the `tokenizer` fixture giving (tiny model, batch of 5 examples)
TINY = {
    "text_vae": _tiny_text,
    "conv_image_vae": _tiny_image("conv"),
    "mlp_image_vae": _tiny_image("mlp"),
}


def test_every_registered_model_has_a_tiny_config():
    assert sorted(TINY) == sorted(MODELS), "add a tiny builder to TINY for each model type in textvae.registry"


@pytest.fixture(params=sorted(MODELS))
def tiny(request, tokenizer):
    if request.param not in TINY:
        pytest.fail(f"no tiny config for model type {request.param!r}: add one to TINY")
    model, batch = TINY[request.param](tokenizer)
    assert type(model) is model_class(request.param) and model.model_type == request.param
    return model, batch


def test_encode_gives_a_diagonal_gaussian_over_the_batch(tiny):
    model, batch = tiny
    model.eval()
    with torch.no_grad():
        posterior = model.encode(batch)
    assert posterior.mean.shape == posterior.logvar.shape == (5, model.latent_size)
    assert posterior.mean.dtype == posterior.logvar.dtype == torch.float32
    assert torch.isfinite(posterior.mean).all() and torch.isfinite(posterior.logvar).all()


def test_likelihood_is_float32_per_sample_and_example(tiny):
    """log_likelihood: z (S, B, D) -> (S, B) float32, also under bf16 autocast; likelihood gives the same
    numbers in a VAEOutput, with no training penalty in evaluation."""
    model, batch = tiny
    model.eval()
    z = torch.randn(3, 5, model.latent_size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ll = model.log_likelihood(z, batch)
        out = model.likelihood(z, batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.log_likelihood(z, batch)
    assert ll.shape == (3, 5) and ll.dtype == torch.float32 and torch.isfinite(ll).all()
    assert (ll <= 0).all()  # a log-probability of discrete data
    assert isinstance(out, VAEOutput) and out.penalty is None and torch.equal(out.log_px_z, ll)
    assert low.shape == (3, 5) and low.dtype == torch.float32


def test_save_and_load_round_trip_is_exact(tiny, tmp_path):
    model, batch = tiny
    model.eval()
    model.save_pretrained(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.config == model.config
    own, theirs = model.state_dict(), loaded.state_dict()
    assert own.keys() == theirs.keys() and all(torch.equal(own[k], theirs[k]) for k in own)
    z = torch.randn(2, 5, model.latent_size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(loaded.encode(batch).mean, model.encode(batch).mean)
        assert torch.equal(loaded.log_likelihood(z, batch), model.log_likelihood(z, batch))


def test_one_training_step_changes_the_weights_with_a_finite_loss(tiny):
    model, batch = tiny
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    torch.manual_seed(4)
    res = ElboModule(model)(batch, kl_weight=1.0)
    assert res["loss"].shape == () and torch.isfinite(res["loss"])
    assert res["rec_each"].shape == res["kl_each"].shape == (5,)
    res["loss"].backward()
    optimizer.step()
    changed = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed, "no weight changed"
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert not trainable - set(changed) - {k for k, p in model.named_parameters() if p.grad is None}

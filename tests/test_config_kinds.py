"""A text model's encoder and decoder: one config dataclass per family, chosen by `kind`. A key of another
family is an error, except the config file's keys of a section whose kind an override switched, and the
keys of every family that models and runs saved before the split hold (their config.json and
train_config.yaml still load, to the same model)."""

import dataclasses
import json

import pytest
import torch
import yaml
from conftest import ROOT
from tiny_text import SENTENCES, tiny_config, tiny_decoder, tiny_encoder

from textvae.config import families, from_dict
from textvae.errors import UserError
from textvae.registry import load_model
from textvae.text.decoders import RNNDecoderConfig, TransformerDecoderConfig
from textvae.text.encoders import NoEncoderConfig
from textvae.text.families import DecoderConfig, EncoderConfig
from textvae.text.model import TextModelConfig, TextVAE
from textvae.training.config import config_to_dict, load_config
from textvae.training.run_folder import command_config

LSTM_YAML = ROOT / "configs" / "text" / "snli-lstm.yaml"
# The fields and defaults of the one EncoderConfig and DecoderConfig that every kind shared before the split.
OLD_ENCODER = {
    "kind": "lstm",
    "hidden_size": 512,
    "num_layers": 1,
    "bidirectional": True,
    "dropout": 0.0,
    "num_heads": 4,
    "ff_size": 1024,
    "pooling": "mean",
    "path": "",
    "freeze": False,
    "lr": 0.0,
    "gradient_checkpointing": False,
}
OLD_DECODER = {
    "kind": "lstm",
    "hidden_size": 512,
    "num_layers": 1,
    "dropout": 0.0,
    "word_type_dropout": 0.0,
    "z_to_initial_state": True,
    "z_to_every_input": False,
    "z_to_output": False,
    "num_heads": 4,
    "ff_size": 1024,
    "z_as_memory": True,
    "z_added_to_inputs": False,
    "path": "",
    "gguf_file": "",
    "freeze": False,
    "lr": 0.0,
    "gradient_checkpointing": False,
    "softmaxes": 1,
    "mixture_dropout": 0.0,
}


def old_shape(model_config: dict) -> dict:
    """A model config dict as the code before the split saved it: every field of the old dataclasses
    (the tiny test models set num_heads 2 and ff_size 32 on every kind, which only a Transformer read)."""
    tiny = {"num_heads": 2, "ff_size": 32}
    return {
        **model_config,
        "encoder": {**OLD_ENCODER, **tiny, **model_config["encoder"]},
        "decoder": {**OLD_DECODER, **tiny, **model_config["decoder"]},
    }


@pytest.mark.parametrize(("union", "old"), [(EncoderConfig, OLD_ENCODER), (DecoderConfig, OLD_DECODER)])
def test_every_family_keeps_the_old_defaults_and_the_families_cover_the_old_fields(union, old):
    covered = set()
    for kind, family in families(union).items():
        config = family(kind=kind) if kind != "pretrained" else family(path="x")
        for name, value in dataclasses.asdict(config).items():
            assert value == old[name] or name in ("kind", "path"), (kind, name, value)
            covered.add(name)
    assert covered == set(old)
    assert from_dict(union, {}) == families(union)["lstm"]()  # no kind: lstm


@pytest.mark.parametrize(("encoder", "decoder"), [("lstm", "lstm"), ("transformer", "gru"), ("gru", "transformer")])
def test_a_model_saved_with_the_old_config_loads_and_gives_the_same_outputs(tokenizer, tmp_path, encoder, decoder):
    torch.manual_seed(0)
    model = TextVAE(tiny_config(encoder, decoder), tokenizer).eval()
    _check_old_folder_loads(model, tmp_path)


def test_a_language_model_saved_with_the_old_config_loads(tokenizer, tmp_path):
    config = dataclasses.replace(
        tiny_config(), encoder=NoEncoderConfig(), decoder=tiny_decoder("lstm", z_to_initial_state=False)
    )
    torch.manual_seed(0)
    _check_old_folder_loads(TextVAE(config, tokenizer).eval(), tmp_path)


def _check_old_folder_loads(model: TextVAE, tmp_path) -> None:
    folder = tmp_path / "old"
    model.save_pretrained(folder)
    meta = json.loads((folder / "config.json").read_text())
    meta["config"] = old_shape(meta["config"])
    (folder / "config.json").write_text(json.dumps(meta, indent=2))
    loaded = load_model(folder)
    assert loaded.config == model.config
    batch = model.batch_from_sentences(SENTENCES[:5])
    z = torch.randn(2, 5, model.latent_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(loaded.log_likelihood(z, batch), model.log_likelihood(z, batch))
        assert torch.equal(loaded.encode(batch).mean, model.encode(batch).mean)
    assert loaded.reconstruct(SENTENCES[:3]) == model.reconstruct(SENTENCES[:3])


def test_a_saved_config_still_refuses_a_key_no_family_has():
    raw = old_shape(config_to_dict(load_config(LSTM_YAML)).get("model"))
    raw["decoder"]["hiden_size"] = 3
    with pytest.raises(UserError, match=r"config.decoder.hiden_size: not a key of decoder kind lstm; did you mean"):
        from_dict(TextModelConfig, raw, prefix="config.", saved=True)


def test_a_run_saved_with_the_old_config_resumes(tmp_path):
    """--resume compares the run's train_config.yaml with the config given; one in the old shape is read
    as the families it names, with or without --config."""
    run = tmp_path / "run"
    overrides = ["model.latent_size=8", "model.embed_size=32", "model.decoder.hidden_size=32"]
    cfg = load_config(LSTM_YAML, [*overrides, f"train.output_dir={run}"])
    raw = config_to_dict(cfg)
    raw["model"] = old_shape(raw["model"])
    run.mkdir()
    (run / "train_config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert command_config(str(LSTM_YAML), overrides, str(run), "auto") == cfg
    assert command_config(None, [], str(run), "auto") == cfg


# -- switching kind on the command line -----------------------------------------------------------------
def test_an_override_of_the_kind_drops_the_files_keys_the_new_kind_lacks():
    cfg = load_config(LSTM_YAML, ["model.decoder.kind=transformer", "model.encoder.kind=gru"]).model
    # the file's lstm decoder: hidden_size 256 and z_to_initial_state, z_to_every_input, z_to_output true
    assert cfg.decoder == TransformerDecoderConfig(hidden_size=256)
    assert cfg.encoder == tiny_encoder("gru", hidden_size=256, bidirectional=True)
    lm = load_config(
        LSTM_YAML,
        [
            "model.encoder.kind=none",
            "model.decoder.z_to_initial_state=false",
            "model.decoder.z_to_every_input=false",
            "model.decoder.z_to_output=false",
        ],
    ).model
    assert lm.encoder == NoEncoderConfig() and not lm.decoder.reads_z


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.decoder.kind=transformer", "model.decoder.z_to_output=true"],  # after the switch
        ["model.decoder.z_to_output=false", "model.decoder.kind=transformer"],  # before it
    ],
)
def test_a_key_given_on_the_command_line_must_belong_to_the_kind(overrides):
    with pytest.raises(
        UserError, match=r"model.decoder.z_to_output: not a key of decoder kind transformer \(only of lstm, gru\)"
    ):
        load_config(LSTM_YAML, overrides)


def test_without_an_override_of_the_kind_the_files_keys_must_belong_to_it(tmp_path):
    raw = yaml.safe_load(LSTM_YAML.read_text())
    raw["model"]["decoder"]["num_heads"] = 2
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match=r"^model.decoder.num_heads: not a key of decoder kind lstm \(only of trans"):
        load_config(path)
    assert load_config(path, ["model.decoder.kind=transformer"]).model.decoder.num_heads == 2
    raw["model"]["decoder"]["hiden_size"] = 2  # a typo is no key of any kind: refused whatever the kind
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match=r"model.decoder.hiden_size: not a key of decoder kind transformer; did you"):
        load_config(path, ["model.decoder.kind=transformer"])


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"kind": "pretrained"}, "model.encoder: kind pretrained needs path"),
        ({"kind": "pretrained", "path": "x", "lr": -1}, "model.encoder: lr must be >= 0"),
        ({"kind": "lstm", "path": "x"}, r"model.encoder.path: not a key of encoder kind lstm \(only of pretrained\)"),
        (
            {"kind": "gru", "freeze": True},
            r"model.encoder.freeze: not a key of encoder kind gru \(only of pretrained\)",
        ),
        ({"kind": "pretrained", "path": "x", "gguf_file": "y"}, "model.encoder.gguf_file: not a key of encoder kind"),
    ],
)
def test_pretrained_keys_belong_to_kind_pretrained(changes, message):
    with pytest.raises(UserError, match=message):
        from_dict(EncoderConfig, changes, prefix="model.encoder.")


def test_a_family_config_object_is_taken_as_it_is():
    decoder = RNNDecoderConfig(kind="gru", hidden_size=8)
    assert from_dict(TextModelConfig, {"decoder": decoder}).decoder is decoder
    assert from_dict(DecoderConfig, {"kind": "gru", "hidden_size": 8}) == decoder

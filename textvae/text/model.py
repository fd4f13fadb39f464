"""The sentence VAE: any encoder and any decoder around a Gaussian latent code.

Training uses the VAE contract (encode a batch to q(z|x), score a batch under codes z); the rest is
the user API on strings (textvae.text.sentences.SentenceAPI), batched and run under no_grad in eval mode:

    model.encode(["a man is sleeping ."])        # posterior means (N, D)
    model.reconstruct(sentences, strategy="beam")
    model.sample(5, strategy="sample", top_p=0.9)
    model.interpolate("a man sleeps .", "two dogs run .", steps=5)
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from ..core.distributions import DiagonalGaussian
from ..core.model import VAE, VAEOutput
from ..errors import UserError
from .decoders import RNNDecoderConfig
from .encoders import RNNEncoderConfig
from .families import DecoderConfig, EncoderConfig, build_decoder, build_encoder
from .kernels import Dropout
from .pretrained import HFTokenizer
from .sentences import FIT_STEPS, SentenceAPI


@dataclass
class TextModelConfig:
    """A sentence VAE.

    vocab_size, pad_id, bos_id, eos_id, unk_id: filled from the tokenizer by the task (vocab_size 0
        means "not yet known").
    embed_size: token embedding width. latent_size: dimensions of z.
    encoder: the sentence encoder: lstm, gru, transformer, pretrained or none (a language model), by its
        `kind` (lstm when not given), each kind with its own keys (textvae.text.families.EncoderConfig).
    decoder: the sentence decoder: lstm, gru, transformer or pretrained, by its `kind` (lstm when not
        given), each kind with its own keys (textvae.text.families.DecoderConfig). Any encoder kind pairs
        with any decoder kind.
    word_dropout: in training, each decoder input token other than bos/pad becomes unk with this
        probability (Bowman et al. 2016), so the decoder must lean on z.
    encoder_word_deletion: in training, each token the encoder reads (other than bos/eos) is deleted
        with this probability, while the decoder still reconstructs the whole sentence: a denoising
        autoencoder's input noise (Shen et al. 2020), which maps similar sentences to nearby codes. Not
        for a pretrained encoder (it reads its own tokenization).
    word_replacement: in training, each token between bos and eos is replaced with this probability by a
        token drawn uniformly from the vocabulary, in what the encoder reads and what the decoder
        reconstructs alike: the model learns to carry any word at any place, not only the sentences
        of a small corpus (against memorising it; benchmarks/faithful.md). Not with pretrained parts
        (they read their own tokenization).
    word_replacement_targets: what the decoder is taught to write where a word was replaced: `replaced`
        (the drawn word, as the encoder read it), `original` (the sentence's own word: a denoising
        target, so the decoder never learns to write a random word) or `skipped` (no loss at that
        position). The decoder's next input is the drawn word in every case.
    embed_dropout: dropout on token embeddings (encoder and decoder).
    output_dropout: dropout on the decoder's features before the output projection.
    tie_embeddings: the output projection reuses the decoder's embedding matrix (Press & Wolf 2017);
        needs decoder.hidden_size == embed_size. (A pretrained decoder keeps its own choice.)
    share_embeddings: encoder and decoder read one embedding matrix (a pretrained decoder's, if it
        is one; else the encoder has its own, embed_size wide, over the decoder's vocabulary).
    activation_reg, temporal_activation_reg: in training, penalties added to the loss beside the bound
        (AR and TAR of Merity et al. 2018, AWD-LSTM), on the decoder's features before output dropout:
        the weight times, summed over a sentence's real positions, the mean over features of h_t^2 (AR)
        or of (h_t - h_{t-1})^2 (TAR), averaged over the batch, as the loss is. (AWD applies AR after
        output dropout, which in expectation only scales its weight by 1 / (1 - p).) Evaluation and
        the reported bounds never include them.
    prior_components: 0 for the prior N(0, I); K > 0 once `textvae fit-prior` has fitted a K-component
        Gaussian mixture to the aggregate posterior (textvae.core.priors). Training with K > 0 continues
        from such a model (train.init_from), against its mixture held fixed.
    fit_steps: the Adam steps by which reconstruct, interpolate and the demo fit a sentence's code to it
        after the encoder (textvae.core.objectives.fit_codes) when not told otherwise (`--fit-steps`):
        kept in the model's config.json, so a model that needs more steps to decode its sentences back
        says so itself (25 for the LSTM default; the Transformer default sets 100: benchmarks/faithful.md).

    With a pretrained decoder the vocabulary and special ids are its tokenizer's; with a pretrained
    encoder, the encoder reads its own tokenizer's ids (textvae.text.pretrained).
    """

    FILLED_BY_TASK = ("vocab_size", "pad_id", "bos_id", "eos_id", "unk_id")  # not fields: no annotation

    vocab_size: int = 0
    pad_id: int = 0
    bos_id: int = 0
    eos_id: int = 0
    unk_id: int = 0
    embed_size: int = 256
    latent_size: int = 32
    encoder: EncoderConfig = field(default_factory=RNNEncoderConfig)
    decoder: DecoderConfig = field(default_factory=RNNDecoderConfig)
    word_dropout: float = 0.0
    encoder_word_deletion: float = 0.0
    word_replacement: float = 0.0
    word_replacement_targets: str = "replaced"
    embed_dropout: float = 0.0
    output_dropout: float = 0.0
    tie_embeddings: bool = False
    share_embeddings: bool = True
    activation_reg: float = 0.0
    temporal_activation_reg: float = 0.0
    prior_components: int = 0
    fit_steps: int = FIT_STEPS

    def __post_init__(self):
        for name in ("embed_size", "latent_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.prior_components < 0:
            raise ValueError(f"prior_components must be >= 0, not {self.prior_components}")
        if self.fit_steps < 0:
            raise ValueError(f"fit_steps must be >= 0, not {self.fit_steps}")
        for name in ("word_dropout", "encoder_word_deletion", "word_replacement", "embed_dropout", "output_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), not {getattr(self, name)}")
        if self.word_replacement_targets not in REPLACEMENT_TARGETS:
            raise ValueError(
                f"word_replacement_targets must be {_listed(list(REPLACEMENT_TARGETS), 'or')}, "
                f"not {self.word_replacement_targets!r}"
            )
        for name in ("activation_reg", "temporal_activation_reg"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.encoder.kind == "none" and self.decoder.reads_z:
            on = [f"decoder.{name}" for name in self.decoder.z_options if getattr(self.decoder, name)]
            raise ValueError(
                f"encoder.kind none makes a language model, whose decoder must not read z: set "
                f"{_listed(on, 'and')} to false"
            )
        if self.encoder.kind != "none" and not self.decoder.reads_z:
            options = [f"decoder.{name}" for name in self.decoder.z_options]
            raise ValueError(
                f"the decoder would ignore z: set {_listed(options, 'or')} to true "
                f"(or encoder.kind: none for a language model)"
            )
        if self.vocab_size < 0:
            raise ValueError(f"vocab_size must be >= 0, not {self.vocab_size}")
        if self.encoder_word_deletion and self.encoder.kind in ("pretrained", "none"):
            raise ValueError(
                f"encoder_word_deletion applies to an encoder reading the decoder's tokens, not to "
                f"encoder kind {self.encoder.kind}; set it to 0"
            )
        if self.word_replacement and "pretrained" in (self.encoder.kind, self.decoder.kind):
            raise ValueError(
                "word_replacement draws words of the model's own vocabulary, not of a pretrained encoder's or "
                "decoder's tokenization; set it to 0"
            )
        if self.tie_embeddings and self.decoder.kind == "pretrained":
            raise ValueError(
                "tie_embeddings does not apply to a pretrained decoder (it keeps its own output "
                "layer); set tie_embeddings: false"
            )
        if self.tie_embeddings and self.decoder.hidden_size != self.embed_size:
            raise ValueError(
                f"tie_embeddings needs decoder.hidden_size ({self.decoder.hidden_size}) == "
                f"embed_size ({self.embed_size}); make them equal or set tie_embeddings: false"
            )
        if self.vocab_size:
            ids = {"pad_id": self.pad_id, "bos_id": self.bos_id, "eos_id": self.eos_id, "unk_id": self.unk_id}
            for name, value in ids.items():
                if not 0 <= value < self.vocab_size:
                    raise ValueError(f"{name} {value} is outside the vocabulary of {self.vocab_size}")
            # pad may be unk (a pretrained tokenizer may have no pad token): padding is masked anyway
            if len({self.bos_id, self.eos_id, self.pad_id}) < 3 or len({self.bos_id, self.eos_id, self.unk_id}) < 3:
                raise ValueError(f"bos and eos need ids distinct from each other and from pad and unk, not {ids}")

    def for_tokenizer(self, tokenizer) -> TextModelConfig:
        """A copy with the vocabulary size and special ids of `tokenizer`."""
        return dataclasses.replace(
            self,
            vocab_size=tokenizer.vocab_size,
            pad_id=tokenizer.pad_id,
            bos_id=tokenizer.bos_id,
            eos_id=tokenizer.eos_id,
            unk_id=tokenizer.unk_id,
        )


class TextVAE(SentenceAPI, VAE):
    """A VAE of sentences.

    Args:
        config: the architecture. vocab_size 0 (not yet known) is filled from `tokenizer`.
        tokenizer: turns strings into ids and back (textvae.text.tokenizers); needed by the string API
            and saved beside the weights. The contract methods work on batches without it.

        encoder_tokenizer: a pretrained encoder's tokenizer (loaded from its config when not given).
        folder: a saved model folder: pretrained parts are built from its `encoder/` and `decoder/`
            (architecture and tokenizer; weights come from model.safetensors) instead of their paths.

    Batches are dicts with `input_ids` (B, T) = bos + tokens + eos, right-padded with pad_id, and
    `lengths` (B,) counting bos and eos; with a pretrained encoder also `encoder_input_ids` and
    `encoder_lengths`, the same sentences in the encoder's tokenization.
    """

    model_type: ClassVar[str] = "text_vae"
    config_class: ClassVar[type] = TextModelConfig
    task_name: ClassVar[str] = "text"

    def __init__(self, config: TextModelConfig, tokenizer=None, encoder_tokenizer=None, folder: Path | None = None):
        parts = {name: None if folder is None else Path(folder) / name for name in ("encoder", "decoder")}
        if tokenizer is None and config.decoder.kind == "pretrained":
            tokenizer = HFTokenizer.load(config.decoder, parts["decoder"])
        if encoder_tokenizer is None and config.encoder.kind == "pretrained":
            encoder_tokenizer = HFTokenizer.load(config.encoder, parts["encoder"])
        if tokenizer is not None:
            config = _check_tokenizer(config, tokenizer)
        if config.vocab_size == 0:
            raise UserError("the model's vocab_size is 0: give a tokenizer or set model.vocab_size")
        super().__init__(config)
        self.tokenizer, self.encoder_tokenizer = tokenizer, encoder_tokenizer
        c = config
        decoder = functools.partial(
            build_decoder,
            latent_size=c.latent_size,
            config=c.decoder,
            embed_dropout=c.embed_dropout,
            output_dropout=c.output_dropout,
            tie_embeddings=c.tie_embeddings,
            folder=parts["decoder"],
        )
        if c.decoder.kind == "pretrained":  # built first: its embedding is the one an encoder may share
            self.decoder = decoder(None)
            dec_embedding = self.decoder.embedding
        else:  # (the order of random initialisation of earlier versions)
            dec_embedding = _embedding(c.vocab_size, c.embed_size, c.pad_id)
        # Shared: the encoder reads the decoder's module (one tensor in the state dict).
        self.enc_embedding = None if c.share_embeddings else _embedding(c.vocab_size, c.embed_size, c.pad_id)
        self.embed_dropout = Dropout(c.embed_dropout)
        enc_input = (dec_embedding if self.enc_embedding is None else self.enc_embedding).embedding_dim
        self.encoder = build_encoder(enc_input, c.encoder, folder=parts["encoder"])  # None: a language model
        self.to_posterior = None if self.encoder is None else nn.Linear(self.encoder.output_size, 2 * c.latent_size)
        if c.decoder.kind != "pretrained":
            self.decoder = decoder(dec_embedding)

    @property
    def device(self) -> torch.device:
        return self.decoder.embedding.weight.device

    # -- the VAE contract ------------------------------------------------------------------------
    def encode(self, batch, batch_size: int = 64):
        """q(z|x) of a batch dict -> DiagonalGaussian over (B, D).

        Given a list of strings instead, returns their posterior means (N, D): see encode_sentences.
        """
        if isinstance(batch, (str, list, tuple)):
            return self.encode_sentences(batch, batch_size=batch_size)
        ids, lengths = batch["input_ids"], batch["lengths"]  # (B, T), (B,)
        if self.encoder is None:  # language model: the posterior is the prior, KL 0
            zeros = torch.zeros(ids.shape[0], self.config.latent_size, device=ids.device)
            return DiagonalGaussian(zeros, zeros.clone())
        if getattr(self.encoder, "reads_ids", False):  # a pretrained encoder with its own tokenization
            summary = self.encoder(batch["encoder_input_ids"], batch["encoder_lengths"])  # (B, H_enc)
        else:
            embedding = self.decoder.embedding if self.enc_embedding is None else self.enc_embedding
            ids, lengths = self.delete_words(ids, lengths)
            summary = self.encoder(self.embed_dropout(embedding(ids)), lengths)  # (B, H_enc)
        mean, logvar = self.to_posterior(summary).float().chunk(2, dim=-1)  # (B, D) each
        return DiagonalGaussian(mean, logvar)

    def log_likelihood(self, z: torch.Tensor, batch) -> torch.Tensor:
        """log p(x|z) summed over the tokens after bos (eos included): z (S, B, D) -> (S, B) float32."""
        return self.likelihood(z, batch).log_px_z

    def likelihood(self, z: torch.Tensor, batch) -> VAEOutput:
        """log p(x|z) as log_likelihood, and in training the activation penalties (AR, TAR) if set."""
        ids, lengths = batch["input_ids"], batch["lengths"]
        S, B, _ = z.shape
        inputs = self.word_dropout(ids[:, :-1])  # (B, T-1)
        targets = batch.get("target_ids", ids)[:, 1:]  # (B, T-1); target_ids: augment's
        real = torch.arange(targets.shape[1], device=ids.device)[None, :] < (lengths[:, None] - 1)
        if "skip_targets" in batch:  # augment's: replaced words not to be learnt
            real = real & ~batch["skip_targets"][:, 1:]
        if S > 1:  # every sample decodes the whole batch: (S * B, ...) rows, sample-major
            inputs, targets, real = inputs.repeat(S, 1), targets.repeat(S, 1), real.repeat(S, 1)
        h = self.decoder.features(inputs, z.reshape(S * B, -1))  # (S*B, T-1, H)
        penalty = None
        if self.training and (self.config.activation_reg or self.config.temporal_activation_reg):
            penalty = self.activation_penalty(h, real)
        # The output softmax dominates the cost: compute it only at real positions.
        token_ll = self.decoder.target_log_probs(h[real], targets[real])  # (N,)
        rows = torch.arange(S * B, device=ids.device)[:, None].expand_as(real)[real]  # (N,)
        ll = torch.zeros(S * B, device=ids.device, dtype=torch.float32).index_add_(0, rows, token_ll)
        return VAEOutput(ll.view(S, B), penalty)

    def activation_penalty(self, h: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """AR and TAR (see TextModelConfig) of features h (N, T, H) at the real positions (N, T), per
        sentence: a scalar, float32."""
        h = h.float()
        ar = (h.square().mean(-1) * real).sum()
        both = real[:, 1:] & real[:, :-1]  # consecutive real pairs
        tar = ((h[:, 1:] - h[:, :-1]).square().mean(-1) * both).sum()
        return (self.config.activation_reg * ar + self.config.temporal_activation_reg * tar) / h.shape[0]

    def augment(self, batch: dict) -> dict:
        """In training, the batch with each token between bos and eos replaced by a uniformly drawn token
        with probability config.word_replacement (a draw that hits a special token or the word itself keeps
        the original); with config.word_replacement_targets `original` also `target_ids` (the sentence as it
        was), with `skipped` also `skip_targets` (B, T), true where a word was replaced."""
        p = self.config.word_replacement
        if not self.training or p == 0:
            return batch
        ids, lengths = batch["input_ids"], batch["lengths"]  # (B, T), (B,)
        pos = torch.arange(ids.shape[1], device=ids.device)[None, :]
        inner = (pos > 0) & (pos < lengths[:, None] - 1)  # tokens between bos and eos
        drawn = torch.randint_like(ids, self.config.vocab_size)
        c = self.config
        special = (drawn == c.pad_id) | (drawn == c.bos_id) | (drawn == c.eos_id) | (drawn == c.unk_id)
        replace = inner & ~special & (drawn != ids) & (torch.rand(ids.shape, device=ids.device) < p)
        out = {**batch, "input_ids": torch.where(replace, drawn, ids)}
        if c.word_replacement_targets == "original":
            out["target_ids"] = ids
        elif c.word_replacement_targets == "skipped":
            out["skip_targets"] = replace
        return out

    def delete_words(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """In training, the encoder's input with each token between bos and eos deleted with probability
        config.encoder_word_deletion, the rest moved left in order: ids (B, T), lengths (B,)."""
        p = self.config.encoder_word_deletion
        if not self.training or p == 0:
            return ids, lengths
        pos = torch.arange(ids.shape[1], device=ids.device)[None, :]  # (1, T)
        inner = (pos > 0) & (pos < lengths[:, None] - 1)  # tokens between bos and eos
        keep = (pos < lengths[:, None]) & ~(inner & (torch.rand(ids.shape, device=ids.device) < p))
        order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices  # kept positions first
        new_lengths = keep.sum(1)
        kept = ids.gather(1, order).masked_fill(pos >= new_lengths[:, None], self.config.pad_id)
        return kept[:, : int(new_lengths.max())], new_lengths

    def word_dropout(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Replace decoder inputs other than bos/pad by unk with probability config.word_dropout,
        in training mode only."""
        p = self.config.word_dropout
        if not self.training or p == 0:
            return input_ids
        drop = torch.rand(input_ids.shape, device=input_ids.device) < p
        drop &= (input_ids != self.config.bos_id) & (input_ids != self.config.pad_id)
        return input_ids.masked_fill(drop, self.config.unk_id)

    # -- saving and loading ----------------------------------------------------------------------
    def save_extras(self, directory: Path) -> None:
        if self.config.encoder.kind == "pretrained":
            self.encoder.save(directory / "encoder", self.encoder_tokenizer)
        if self.config.decoder.kind == "pretrained":
            self.decoder.save(directory / "decoder", self.tokenizer)
        elif self.tokenizer is not None:
            self.tokenizer.save(directory)

    @classmethod
    def build_from_folder(cls, config: TextModelConfig, directory: Path) -> TextVAE:
        from .tokenizers import load_tokenizer

        tokenizer = None if config.decoder.kind == "pretrained" else load_tokenizer(directory)
        return cls(config, tokenizer, folder=directory)

    # -- training ----------------------------------------------------------------------------------
    def parameter_groups(self, lr: float) -> list[dict]:
        """Trainable parameters for the optimizer: each pretrained backbone with its own learning rate
        (config lr, 0 meaning `lr`), the rest at `lr`. `lr_scale` is the group's rate over `lr`, kept
        by the trainer's schedule."""
        groups, seen = [], set()
        for part, part_config in ((self.encoder, self.config.encoder), (self.decoder, self.config.decoder)):
            backbone = getattr(part, "backbone", None)
            if backbone is None:
                continue
            seen.update(id(p) for p in backbone.parameters())
            params = [p for p in backbone.parameters() if p.requires_grad]
            if params:
                scale = (part_config.lr or lr) / lr
                groups.append({"params": params, "lr": lr * scale, "lr_scale": scale})
        rest = [p for p in self.parameters() if id(p) not in seen and p.requires_grad]
        return [{"params": rest, "lr": lr, "lr_scale": 1.0}, *groups]


REPLACEMENT_TARGETS = ("replaced", "original", "skipped")


def _listed(names: list[str], last: str) -> str:
    """["a", "b", "c"], "or" -> "a, b or c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"


def _embedding(vocab_size: int, embed_size: int, pad_id: int) -> nn.Embedding:
    emb = nn.Embedding(vocab_size, embed_size, padding_idx=pad_id)
    # std E^-1/2: tied output logits start near unit scale; Transformers rescale inputs by sqrt(E).
    nn.init.normal_(emb.weight, std=embed_size**-0.5)
    with torch.no_grad():
        emb.weight[pad_id].zero_()
    return emb


def _check_tokenizer(config: TextModelConfig, tokenizer) -> TextModelConfig:
    """Fill an unset vocabulary from the tokenizer; refuse one that disagrees with the config."""
    if config.vocab_size == 0:
        return config.for_tokenizer(tokenizer)
    wanted = config.for_tokenizer(tokenizer)
    for name in ("vocab_size", "pad_id", "bos_id", "eos_id", "unk_id"):
        if getattr(wanted, name) != getattr(config, name):
            raise UserError(
                f"the tokenizer's {name} is {getattr(wanted, name)} but the model config says "
                f"{getattr(config, name)}; the tokenizer does not belong to this model"
            )
    return config

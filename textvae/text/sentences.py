"""The sentence VAE's user API on strings, batched and run under no_grad in eval mode: a mixin of
TextVAE (textvae.text.model), which provides the tokenizers, config, encoder and decoder.

    model.encode_sentences(["a man is sleeping ."])   # posterior means (N, D)
    model.reconstruct(sentences, strategy="beam")
    model.sample(5, strategy="sample", top_p=0.9)
    model.interpolate("a man sleeps .", "two dogs run .", steps=5)
    model.traverse(["a man sleeps ."], [-2, 0, 2], attribute="length")
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ..core.attributes import resolve_dim
from ..core.interpolation import interpolate as interpolate_codes
from ..core.objectives import fit_codes
from ..errors import UserError
from .attributes import attribute_vector, traverse
from .data import collate_ids
from .generation import check_generation_args, generate

# Adam steps that fit a code to its sentence where a user reconstructs or interpolates, unless the model's
# config sets model.fit_steps: on SNLI exact match 55% -> 89%, endpoint fidelity 28% -> 82% for the LSTM
# default (benchmarks/faithful.md)
FIT_STEPS = 25


class SentenceAPI:
    """encode_sentences / decode / reconstruct / sample / interpolate / traverse / attribute_vector
    for a model with `tokenizer`, `encoder_tokenizer`, `config`, `decoder`, `device`, `attributes`,
    `encode(batch)` and `sample_prior(n)`."""

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        """no_grad and eval mode, restoring the previous mode afterwards."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.train(was_training)

    def _require_tokenizer(self):
        if self.tokenizer is None:
            raise UserError(
                "this model has no tokenizer: build it with TextVAE(config, tokenizer) or load a saved model folder"
            )
        return self.tokenizer

    def batch_from_sentences(self, sentences: list[str]) -> dict[str, torch.Tensor]:
        """Tokenize and pad sentences into a batch on the model's device; UserError on a sentence that
        is empty or has only unknown words."""
        tok, c = self._require_tokenizer(), self.config
        rows = []
        for i, text in enumerate(sentences):
            if not isinstance(text, str):
                raise UserError(f"sentence {i} is a {type(text).__name__}, not a string")
            ids = tok.encode(text) if text.strip() else []
            if not ids:
                raise UserError(f"sentence {i} is empty; give at least one word")
            if all(t == c.unk_id for t in ids):
                raise UserError(f"sentence {i} ({text!r}) has only words unknown to the model's vocabulary")
            rows.append(ids)
        if self.encoder_tokenizer is not None:
            rows = list(zip(rows, self.encoder_tokenizer.model_inputs(sentences)))
        return {k: v.to(self.device) for k, v in self.collate(rows).items()}

    def collate(self, items: list) -> dict[str, torch.Tensor]:
        """Dataset items (ids, or (ids, encoder ids) with a pretrained encoder) -> a padded batch."""
        enc_pad = 0 if self.encoder_tokenizer is None else self.encoder_tokenizer.input_pad_id
        return collate_ids(items, self.config.pad_id, self.config.bos_id, self.config.eos_id, enc_pad)

    def encode_sentences(self, sentences: list[str], batch_size: int = 64, fit_steps: int = 0) -> torch.Tensor:
        """Posterior means of sentences.

        Args:
            sentences: strings (one string is taken as a list of one).
            batch_size: sentences encoded at a time.
            fit_steps: after the encoder, that many Adam steps on each code towards the decoder's likelihood of
                its own sentence (textvae.core.objectives.fit_codes): codes that decode back to their
                sentences far more often (on SNLI exact match 55% -> 90% at 25 steps), at the cost of a
                forward and backward pass of the decoder per step.
        Returns:
            (N, D) float32 tensor on the model's device.
        """
        if isinstance(sentences, str):
            sentences = [sentences]
        sentences = list(sentences)
        if not sentences:
            raise UserError("no sentences to encode")
        if batch_size < 1:
            raise UserError(f"batch_size must be >= 1, not {batch_size}")
        self._require_tokenizer()
        batches = [
            self.batch_from_sentences(sentences[i : i + batch_size])  # validate all before work
            for i in range(0, len(sentences), batch_size)
        ]
        if fit_steps < 0:
            raise UserError(f"fit_steps must be >= 0, not {fit_steps}")
        with self._inference():
            return torch.cat([fit_codes(self, b, self.encode(b).mean, fit_steps) for b in batches])

    def decode(
        self,
        z: torch.Tensor,
        strategy: str = "greedy",
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        beam_size: int = 5,
        max_length: int = 64,
        length_penalty: float = 0.0,
        batch_size: int = 64,
        seed: int | None = None,
    ) -> list[str]:
        """Sentences from latent codes.

        Args:
            z: (N, D) codes, or one code (D,).
            strategy: greedy | sample | beam.
            temperature, top_k, top_p: sampling only (top_k 0 and top_p 1 disable the filters).
            beam_size, length_penalty: beam only; the best hypothesis maximises
                log p / length ** length_penalty.
            max_length: most tokens generated per sentence (eos included).
            batch_size: codes decoded at a time.
            seed: makes sampling reproducible.
        Returns:
            N strings.
        """
        tok, c = self._require_tokenizer(), self.config
        check_generation_args(strategy, temperature, top_k, top_p, beam_size, max_length, length_penalty)
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.dim() == 1:
            z = z[None]
        if z.dim() != 2 or z.shape[1] != c.latent_size:
            raise UserError(f"codes must have shape (N, {c.latent_size}), not {tuple(z.shape)}")
        generator = None
        if seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(seed)
        texts = []
        with self._inference():
            for i in range(0, z.shape[0], batch_size):
                ids = generate(
                    self.decoder,
                    z[i : i + batch_size].to(self.device),
                    c.bos_id,
                    c.eos_id,
                    strategy=strategy,
                    max_length=max_length,
                    temperature=temperature,
                    top_k=top_k,
                    top_p=top_p,
                    beam_size=beam_size,
                    length_penalty=length_penalty,
                    banned_ids=(c.bos_id, c.pad_id),
                    generator=generator,
                )
                texts.extend(tok.decode(row) for row in ids)
        return texts

    def reconstruct(self, sentences: list[str], batch_size: int = 64, fit_steps: int = 0, **generation) -> list[str]:
        """Decode each sentence's posterior mean (fitted by `fit_steps`, as in encode_sentences);
        `generation` as in decode."""
        codes = self.encode_sentences(sentences, batch_size, fit_steps=fit_steps)
        return self.decode(codes, batch_size=batch_size, **generation)

    def sample(self, n: int, seed: int | None = None, **generation) -> list[str]:
        """n sentences decoded from codes drawn from the prior (N(0, I) or the fitted mixture);
        `generation` as in decode."""
        if n < 1:
            raise UserError(f"the number of samples must be >= 1, not {n}")
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        return self.decode(self.sample_prior(n, generator), seed=seed, **generation)

    def interpolate(
        self, a: str, b: str, steps: int = 5, method: str = "slerp", fit_steps: int = 0, **generation
    ) -> list[str]:
        """Decodes along the path between the posterior means of sentences a and b.

        Returns steps + 2 strings: a's reconstruction, `steps` intermediate points, b's reconstruction.
        `method` is slerp or linear; fit_steps as in encode_sentences (the ends then decode back to a and
        b far more often); `generation` as in decode.
        """
        means = self.encode_sentences([a, b], fit_steps=fit_steps)  # (2, D)
        try:
            path = interpolate_codes(means[0], means[1], steps, method)  # (steps + 2, D)
        except ValueError as e:
            raise UserError(str(e)) from None
        return self.decode(path, **generation)

    def traverse(
        self,
        sentences: list[str],
        values: list[float],
        attribute: str | None = None,
        dim: int | None = None,
        **generation,
    ) -> list[list[str]]:
        """For each sentence, the decodes of its posterior mean with one dimension (an attribute's, by
        name, or `dim`) set to each value; `generation` as in decode (textvae.text.attributes.traverse)."""
        sentences = [sentences] if isinstance(sentences, str) else list(sentences)
        return traverse(
            self, sentences, resolve_dim(self.attributes, self.latent_size, attribute, dim), list(values), **generation
        )

    def attribute_vector(self, from_sentences: list[str], to_sentences: list[str]) -> torch.Tensor:
        """Mean posterior mean of to_sentences minus that of from_sentences, (D,): add it to move a code
        from one group towards the other."""
        return attribute_vector(self, from_sentences, to_sentences)

"""A trained text VAE as a Python object: encode, decode, reconstruct, interpolate, sample, evaluate."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

from ..commands import recorded_data_config
from ..errors import UserError
from ..evaluation import check_evaluation_options

DEFAULT_MAX_LENGTH = 64  # tokens generated when the run recorded no data.max_length


class TextPipeline:
    """A text model loaded from its folder (`textvae.load`), with the run's generation defaults.

    Attributes:
        model: the textvae.text.model.TextVAE itself.
        model_dir: the folder it was loaded from.
        max_length: tokens generated per sentence unless a call says otherwise (the longest training
            sentence plus its end, as recorded in the run's train_config.yaml).
    """

    def __init__(self, model, model_dir: str | Path):
        self.model = model.eval()
        self.model_dir = Path(model_dir)
        self.recorded = recorded_data_config(model_dir)
        self.max_length = int(self.recorded.get("max_length", DEFAULT_MAX_LENGTH)) + 1

    @property
    def latent_size(self) -> int:
        return self.model.latent_size

    def generation(
        self,
        strategy: str = "greedy",
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        beam_size: int = 5,
        max_length: int | None = None,
        seed: int | None = 0,
    ) -> dict:
        """The decoding settings of every generating method, as keyword arguments of TextVAE.decode.

        Args:
            strategy: greedy | sample | beam.
            temperature, top_k, top_p: sampling only (top_k 0 and top_p 1 keep every token).
            beam_size: beam only.
            max_length: most tokens per sentence (default: self.max_length).
            seed: makes sampling reproducible.
        Returns:
            A dict for TextVAE.decode.
        """
        return {
            "strategy": strategy,
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "beam_size": beam_size,
            "max_length": self.max_length if max_length is None else max_length,
            "seed": seed,
        }

    def fit_steps(self, asked: int | None = None) -> int:
        """The fitting steps of reconstruct and interpolate: `asked`, or when None the model's own
        (model.fit_steps in its config.json)."""
        return self.model.config.fit_steps if asked is None else asked

    def encode(self, sentences: list[str] | str, batch_size: int = 256, fit_steps: int = 0) -> torch.Tensor:
        """Posterior means of sentences.

        Args:
            sentences: strings (one string is taken as a list of one).
            batch_size: sentences encoded at a time.
            fit_steps: Adam steps fitting each code to its sentence after the encoder (codes that decode
                back to their sentences far more often; textvae.core.objectives.fit_codes).
        Returns:
            (N, latent_size) float32 tensor on the CPU.
        Raises:
            textvae.errors.UserError: a sentence is empty or has only unknown words.
        """
        return self.model.encode_sentences(sentences, batch_size=batch_size, fit_steps=fit_steps).float().cpu()

    def decode(
        self,
        z: torch.Tensor,
        strategy: str = "greedy",
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        beam_size: int = 5,
        max_length: int | None = None,
        seed: int | None = 0,
    ) -> list[str]:
        """Sentences from latent codes.

        Args:
            z: (N, latent_size) codes, or one code (latent_size,).
            strategy, temperature, top_k, top_p, beam_size, max_length, seed: as in `generation`.
        Returns:
            N strings.
        """
        return self.model.decode(z, **self.generation(strategy, temperature, top_k, top_p, beam_size, max_length, seed))

    def reconstruct(self, sentences: list[str] | str, fit_steps: int | None = None, **generation) -> list[str]:
        """The decoding of each sentence's posterior mean.

        Args:
            sentences: strings (one string is taken as a list of one).
            fit_steps: as in `encode` (default: the model's model.fit_steps, 25 unless its config set
                another, as on the command line: the codes decode back to their sentences far more often
                than the posterior means do).
            **generation: strategy, temperature, top_k, top_p, beam_size, max_length, seed (as in `generation`).
        Returns:
            One string per sentence, in order.
        """
        return self.decode(self.encode(sentences, fit_steps=self.fit_steps(fit_steps)), **generation)

    def interpolate(
        self, a: str, b: str, steps: int = 5, method: str = "slerp", fit_steps: int | None = None, **generation
    ) -> list[str]:
        """Decodes along the path between the posterior means of two sentences.

        Args:
            a, b: the two sentences.
            steps: intermediate codes.
            method: slerp | linear.
            fit_steps: as in `encode` (default: the model's model.fit_steps, 25 unless its config set
                another, as on the command line: the codes decode back to their sentences far more often
                than the posterior means do).
            **generation: as in `generation`.
        Returns:
            steps + 2 strings: a's reconstruction, the intermediate decodes, b's reconstruction (an end
            may differ from its sentence when the model does not reconstruct it).
        """
        gen = self.generation(**generation)
        return self.model.interpolate(a, b, steps=steps, method=method, fit_steps=self.fit_steps(fit_steps), **gen)

    def sample(
        self, n: int, strategy: str = "sample", temperature: float = 1.0, seed: int = 0, **generation
    ) -> list[str]:
        """Sentences decoded from codes drawn from the prior (N(0, I), or the fitted mixture).

        Args:
            n: how many.
            strategy, temperature: as in `generation` (sampling by default).
            seed: draws the codes and the tokens reproducibly.
            **generation: top_k, top_p, beam_size, max_length.
        Returns:
            n strings.
        """
        gen = self.generation(strategy, temperature, seed=seed, **generation)
        gen.pop("seed")
        return self.model.sample(n, seed=seed, **gen)

    def evaluate(
        self,
        data: str | Path | None = None,
        iw_samples: int = 500,
        batch_size: int | None = None,
        seed: int = 0,
        refine_steps: int = 0,
        refine_lr: float = 0.02,
        proposal_scale: float = 1.0,
        mixed_precision: str = "no",
        faithfulness: bool = False,
        fluency_lm: str | Path | None = None,
        fit_steps: int = 0,
    ) -> dict | None:
        """The numbers `textvae evaluate` prints: importance-weighted NLL and perplexity per word, -ELBO,
        reconstruction, KL, mutual information, active units, and the BLEU and exact match of greedy
        decodes of the posterior means.

        Args:
            data: sentences to score (one a line, or CSV/JSONL/parquet); default the run's validation file.
            iw_samples: k of the importance-weighted bound (0 skips the NLL and perplexity).
            batch_size: sentences at a time (default 16 with the bound, 128 without).
            seed: the bound's samples.
            refine_steps, refine_lr: Adam steps on each sentence's own q(z|x) before the bound.
            proposal_scale: the bound's samples from q(z|x) with its standard deviations times this.
            mixed_precision: no | bf16 | fp16.
            faithfulness: add the trade-off report (textvae.text.faithfulness) under "faithfulness".
            fluency_lm: a language model folder (encoder kind none): adds the perplexity it gives prior
                samples (implies faithfulness).
            fit_steps: the faithfulness report's codes fitted to their sentences by that many steps (as in
                `encode`); the other numbers are the encoder's.
        Returns:
            The summary (the JSON `textvae evaluate --output` writes) on the main process; None on the
            others under `accelerate launch`.
        """
        from accelerate import Accelerator

        from ..evaluation import evaluate_vae, scalars
        from ..runtime import checked_precision, finish_processes
        from ..text.data import read_sentences, tokenize_sentences
        from ..training.batching import EpochBatchSampler

        check_evaluation_options(iw_samples, batch_size, refine_steps, refine_lr, proposal_scale)
        lm = _fluency_lm(fluency_lm) if fluency_lm else None  # checked before the evaluation's work
        data = data or self.recorded.get("valid_file")
        if not data:
            raise UserError(
                f"give the sentences to evaluate on with --data FILE ({self.model_dir}/train_config.yaml "
                f"records no validation file)"
            )
        sentences, report = read_sentences(data, "auto", self.recorded.get("text_column", "text"), "--data")
        print(report.describe("evaluation data"), file=sys.stderr)
        # No length limit: every sentence is scored whole.
        dataset, _ = tokenize_sentences(sentences, self.model.tokenizer, encoder_tokenizer=self.model.encoder_tokenizer)
        batch_size = batch_size or (16 if iw_samples else 128)  # k samples of a batch are decoded at once
        accelerator = Accelerator(mixed_precision=checked_precision(mixed_precision or "no", "--mixed-precision"))
        sampler = EpochBatchSampler(len(dataset), batch_size, shuffle=False, lengths=dataset.lengths)
        res = evaluate_vae(
            self.model,
            dataset,
            self.model.collate,
            accelerator,
            iw_samples=iw_samples,
            batch_size=batch_size,
            seed=seed,
            batch_sampler=sampler,
            refine_steps=refine_steps,
            refine_lr=refine_lr,
            proposal_scale=proposal_scale,
        )
        try:
            if not accelerator.is_main_process:
                return None
            words, n = sum(len(s.split()) for s in dataset.texts), len(dataset)
            summary = {
                "model_dir": str(self.model_dir),
                "data": str(data),
                "sentences": n,
                "words": words,
                "blank_lines_skipped": report.blank,
                "bad_utf8_lines": report.bad_utf8,
                **scalars(res),
            }
            if iw_samples:
                # per word, each sentence's end counting as one word (Mikolov et al.; Bowman et al. 2016)
                summary["perplexity"] = math.exp(-float(res["log_px"].double().sum()) / (words + n))
                summary["perplexity_note"] = (
                    "exp(-sum of log p(x) / (words + sentences)); words split on "
                    f"whitespace, log p(x) the importance-weighted bound with k={iw_samples}"
                )
            summary.update(_reconstruction_scores(self.model, res["means"], dataset, max(batch_size, 64)))
            if faithfulness or lm is not None:
                from ..text.faithfulness import measure_faithfulness

                summary["faithfulness"] = measure_faithfulness(
                    self.model, sentences, lm=lm, max_length=self.max_length, seed=seed, fit_steps=fit_steps
                )
                if lm is not None:
                    summary["faithfulness"]["fluency"]["lm"] = str(fluency_lm)
            return summary
        finally:  # every process meets here, the main one after its work
            finish_processes(accelerator)


def _fluency_lm(folder: str | Path):
    """The language model of --fluency-lm, refused unless it is one."""
    from ..registry import load_model
    from ..text.model import TextVAE

    if not Path(folder).is_dir():
        raise UserError(f"--fluency-lm: {folder} is not a folder; give a model folder written by `textvae train`")
    lm = load_model(folder)
    if not isinstance(lm, TextVAE) or lm.encoder is not None:
        raise UserError(
            f"--fluency-lm: {folder} is not a language model; train one with model.encoder.kind=none "
            f"on the same data (configs/text/snli-lm.yaml)"
        )
    return lm


def _reconstruction_scores(model, means: torch.Tensor, dataset, batch_size: int) -> dict:
    """Corpus BLEU and exact match of the greedy decoding of each posterior mean (N, D) against the
    input as the tokenizer sees it (lower-cased if it lower-cases, out-of-vocabulary words as <unk>)."""
    import sacrebleu

    max_length = max(len(x) for x in dataset.ids) + 1
    hyps = model.decode(means, strategy="greedy", max_length=max_length, batch_size=batch_size)
    refs = [model.tokenizer.decode(ids) for ids in dataset.ids]
    metric = sacrebleu.BLEU(force=True)  # tokenized corpora (SNLI, PTB) are the norm here: no warning
    return {
        "bleu": float(metric.corpus_score(hyps, [refs]).score),
        "bleu_signature": str(metric.get_signature()),
        "exact_match": sum(h == r for h, r in zip(hyps, refs)) / len(refs),
    }

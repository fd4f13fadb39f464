"""The text Task: sentences from files, a tokenizer trained on them, padded batches, a TextVAE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ..errors import UserError
from ..training.attributes import WithAttributes, describe, split_attributed, summary
from ..training.task import Task
from .attributes import TEXT_ATTRIBUTES, computed_values, read_columns
from .data import (
    TextDataConfig,
    TokenizedText,
    collate_ids,
    read_sentences,
    split_heldout,
    tokenize_sentences,
    tokenizer_settings,
    train_tokenizer,
)
from .model import TextModelConfig, TextVAE
from .pretrained import HFTokenizer
from .streaming import SentenceStream, first_sentences, open_stream
from .tokenizers import SPECIALS, load_tokenizer

SETTINGS_NAME = "settings.json"


class TextTask(Task):
    name: ClassVar[str] = "text"
    data_config_class: ClassVar[type] = TextDataConfig
    model_config_class: ClassVar[type] = TextModelConfig
    unit_name: ClassVar[str] = "tokens"

    def setup(self, accelerator) -> None:
        """Read the sentences, train (or reuse) the tokenizer in <output_dir>/tokenizer, tokenize."""
        d: TextDataConfig = self.config.data
        m: TextModelConfig = self.config.model
        log = accelerator.print
        specs = self.config.loss.attributes
        if specs and (d.streaming or m.encoder.kind == "none"):
            raise UserError(
                "loss.attributes needs a VAE (an encoder) trained on data in memory (data.streaming="
                "false): the attribute values sit beside each training sentence"
            )
        if d.streaming and m.encoder.kind == "pretrained":
            raise UserError(
                "data.streaming does not support a pretrained encoder yet (batches would need both "
                "tokenizations); read the file into memory (data.streaming=false)"
            )
        # The main process reads first, so `datasets` builds its cache and the tokenizer is written once.
        self.stream = None
        with accelerator.main_process_first():
            if d.streaming:
                self.stream = open_stream(d.train_file, d.format, d.text_column, "data.train_file")
                train_texts = first_sentences(self.stream, d.stream_sample)
                if not train_texts:
                    raise UserError(
                        f"data.train_file: {d.train_file} holds only blank lines; give a file with one sentence a line"
                    )
                log(
                    f"training data: streamed from {d.train_file}; the tokenizer is trained on its first "
                    f"{len(train_texts):,} sentences (data.stream_sample)"
                )
            else:
                train_texts, report = read_sentences(d.train_file, d.format, d.text_column, "data.train_file")
                log(report.describe("training data"))
            columns = None  # the values of column attributes, a row for each training sentence
            if any(s.column for s in specs):
                columns = read_columns(d.train_file, d.format, d.text_column, specs, "data.train_file")
            if d.valid_file:
                valid_texts, vreport = read_sentences(d.valid_file, d.format, d.text_column, "data.valid_file")
                log(vreport.describe("validation data"))
            else:
                train_texts, valid_texts = split_heldout(train_texts, d.valid_fraction, d.split_seed)
                if columns is not None:  # the same split of the rows
                    columns = columns[split_heldout(list(range(len(columns))), d.valid_fraction, d.split_seed)[0]]
                log(
                    f"validation data: {len(valid_texts):,} sentences held out of the training file "
                    f"(valid_fraction {d.valid_fraction}, split_seed {d.split_seed})"
                )
            if m.decoder.kind == "pretrained":  # the decoder's own tokenizer; nothing to train
                self.tokenizer = HFTokenizer.load(m.decoder)
            else:
                self.tokenizer = self._tokenizer(
                    Path(self.config.train.output_dir) / "tokenizer", train_texts, accelerator
                )
            self.encoder_tokenizer = HFTokenizer.load(m.encoder) if m.encoder.kind == "pretrained" else None
        self.train_data, treport = tokenize_sentences(
            train_texts, self.tokenizer, d.max_length, d.long_policy, self.encoder_tokenizer
        )
        self.valid_data, vreport = tokenize_sentences(
            valid_texts, self.tokenizer, d.max_length, d.long_policy, self.encoder_tokenizer
        )
        self.train_values = None
        if specs:
            self.train_values = self._attribute_values(columns)
            self.attribute_meta = describe(specs, self.train_values)
            log(f"attributes: {summary(self.attribute_meta)}")
        note = "" if m.decoder.kind == "pretrained" else _smaller_than_asked(d.tokenizer, self.tokenizer)
        log(f"tokenizer: {self.tokenizer.kind}, {self.tokenizer.vocab_size:,} entries{note}")
        if self.encoder_tokenizer is not None:
            log(f"encoder tokenizer: {self.encoder_tokenizer.kind}, {self.encoder_tokenizer.vocab_size:,} entries")
        log(f"training{' (the tokenizer sample)' if d.streaming else ''}: {treport.describe()}")
        log(f"validation: {vreport.describe()}")

    def _attribute_values(self, columns) -> np.ndarray:
        """(N, A): each kept training sentence's value of each attribute (NaN: missing)."""
        specs, data = self.config.loss.attributes, self.train_data
        out = np.full((len(data), len(specs)), np.nan)
        for k, s in enumerate(specs):
            out[:, k] = columns[data.rows, k] if s.column else computed_values(data.texts, s.name)
        return out

    @classmethod
    def computed_attributes(cls) -> list[str]:
        return list(TEXT_ATTRIBUTES)

    def _tokenizer(self, folder: Path, sentences: list[str], accelerator):
        """The tokenizer cached in `folder` if it was trained with these settings and sentences (a
        resumed run reuses it), else a new one saved there."""
        d = self.config.data
        settings = tokenizer_settings(sentences, d.tokenizer, d.lowercase)
        saved = folder / SETTINGS_NAME
        if saved.is_file():
            try:
                old = json.loads(saved.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                old = None
            if old == settings:
                accelerator.print(f"tokenizer: reusing {folder}")
                return load_tokenizer(folder)
            if old is not None:
                changed = sorted(k for k in settings if old.get(k) != settings[k])
                raise UserError(
                    f"{folder} holds a tokenizer trained with other settings or data (changed: "
                    f"{', '.join(changed)}), which this run's checkpoints may depend on; continue that run with "
                    f"its own data and config (`--resume auto --output-dir {folder.parent}` alone), or start "
                    f"afresh with --overwrite or a new train.output_dir"
                )
        if not accelerator.is_main_process:
            raise UserError(
                f"the main process did not leave a tokenizer in {folder}; is train.output_dir "
                f"on a file system all processes share?"
            )
        tokenizer = train_tokenizer(sentences, d.tokenizer, d.lowercase, seed=self.config.train.seed)
        tokenizer.save(folder)
        # Written last: a folder without it (an interrupted write) is trained again.
        (folder / SETTINGS_NAME).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        return tokenizer

    def check_init_from(self, folder: Path) -> None:
        self._check_same_tokenizer(folder, "train.init_from", "its embeddings")

    def _check_same_tokenizer(self, folder: Path, option: str, what: str) -> None:
        if self.config.model.decoder.kind == "pretrained":
            return  # the backbone's own tokenizer, the same in every run
        # a training run's folder keeps its tokenizer in tokenizer/; a model folder written otherwise (e.g. by
        # `textvae fit-prior`) holds only the tokenizer's file, beside the weights
        theirs = folder / "tokenizer" if (folder / "tokenizer").is_dir() else folder
        try:
            tokenizer = load_tokenizer(theirs)
        except UserError:
            raise UserError(f"{option}: {folder} holds no tokenizer; is it a text model folder?") from None
        if tokenizer._serialize() != self.tokenizer._serialize():
            raise UserError(
                f"{option}: {folder} was trained with another tokenizer than this run's "
                f"(other data or data.tokenizer settings), so {what} would be read with "
                f"other ids; train both on the same data and tokenizer settings"
            )

    def build_model(self) -> TextVAE:
        self.config.model = self.config.model.for_tokenizer(self.tokenizer)  # recorded in train_config.yaml
        model = TextVAE(self.config.model, self.tokenizer, self.encoder_tokenizer)
        if self.train_values is not None:
            model.attributes = self.attribute_meta
        return model

    def train_dataset(self) -> TokenizedText:
        data = self.train_data
        return data if self.train_values is None else WithAttributes(data, self.train_values)

    def train_stream(self, batch_size: int, seed: int, rank: int, world: int) -> SentenceStream | None:
        if self.stream is None:
            return None
        d = self.config.data
        return SentenceStream(
            self.stream,
            self.tokenizer,
            d.max_length,
            d.long_policy,
            batch_size,
            seed,
            rank,
            world,
            collate=lambda ids: self.collate(ids, train=True),
            shuffle_buffer=d.shuffle_buffer,
        )

    def eval_dataset(self) -> TokenizedText:
        return self.valid_data

    def collate(self, examples: list, train: bool) -> dict[str, torch.Tensor]:
        examples, values = split_attributed(examples)
        tok, enc = self.tokenizer, self.encoder_tokenizer
        batch = collate_ids(examples, tok.pad_id, tok.bos_id, tok.eos_id, 0 if enc is None else enc.input_pad_id)
        if values is not None:
            batch["attributes"] = values
        return batch

    def lengths(self, dataset: TokenizedText) -> list[int]:
        return dataset.lengths

    def count_units(self, batch: dict[str, torch.Tensor]) -> int:
        return int((batch["lengths"] - 1).sum())  # predicted tokens: everything after bos, eos included

    def after_training(self, model: TextVAE, output_dir: Path, accelerator) -> None:
        """Write interpolation.txt: a slerp path between two validation sentences, and prior samples."""
        texts = self.valid_data.texts
        gen = {"strategy": "greedy", "max_length": self.config.data.max_length + 1}
        lines = []
        if len(texts) >= 2:
            a, b = texts[0], texts[1]
            path = model.interpolate(a, b, steps=5, method="slerp", **gen)
            lines += [
                "# slerp between the posterior means of two validation sentences, greedy decoding",
                f"# a: {a}",
                f"# b: {b}",
                *path,
                "",
            ]
        lines += [
            "# 5 sentences decoded greedily from codes drawn from the prior (seed 0)",
            *model.sample(5, seed=0, **gen),
        ]
        (Path(output_dir) / "interpolation.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        if model.encoder is not None:  # latent_map.png/.csv: the validation sentences' codes in 2-D
            from .mapping import validation_map

            validation_map(model, texts, output_dir)
        if model.encoder is not None and len(texts) >= 2:  # the trade-off report (no fluency: that needs an LM)
            from .faithfulness import measure_faithfulness

            report = measure_faithfulness(model, texts, max_length=gen["max_length"])
            (Path(output_dir) / "faithfulness.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            r, p = report["reconstruction"], report["paths"]
            accelerator.print(
                f"faithfulness (validation): reconstruction BLEU {r['bleu']:.1f}, exact match "
                f"{r['exact_match']:.1%}, endpoint fidelity {p['endpoint_fidelity']:.0%}, monotone paths "
                f"{p['monotone']:.0%} (faithfulness.json)"
            )


def _smaller_than_asked(asked, tokenizer) -> str:
    """A note when the training sentences allow fewer entries than the config asks for (a small corpus
    is not an error: the vocabulary is what the corpus has)."""
    if asked.kind == "sentencepiece" and tokenizer.vocab_size < asked.vocab_size:
        return f" (data.tokenizer.vocab_size asks for {asked.vocab_size:,}: the training sentences allow no more)"
    words = tokenizer.vocab_size - len(SPECIALS)
    if asked.kind == "word" and asked.max_size and words < asked.max_size:
        return f" (data.tokenizer.max_size asks for {asked.max_size:,} words: the training sentences have {words:,})"
    return ""

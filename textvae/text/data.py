"""Sentence data: the `data` config section, tokenizing, batching (files are read by textvae.text.files).

sentences, report = read_sentences("train.txt")             # or .jsonl/.json/.csv/.parquet
data, counts = tokenize_sentences(sentences, tokenizer, max_length=64)
batch = collate_ids([data[0], data[1]], tokenizer)          # {"input_ids", "lengths"}
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..errors import UserError
from .files import (  # noqa: F401  (the reading functions stay importable from here, as before)
    _BUILDER,
    FORMATS,
    ReadReport,
    check_file,
    detect_format,
    read_lines,
    read_sentences,
)


def shipped_corpus(split: str, name: str = "snli") -> Path:
    """The path of a corpus shipped inside the package: textvae/data/<name>/<split>.txt."""
    return Path(str(resources.files("textvae").joinpath("data", name, f"{split}.txt")))


@dataclass
class TokenizerConfig:
    """How the tokenizer is trained on the training sentences.

    kind: sentencepiece (subwords) | word (whitespace-separated words).
    vocab_size: sentencepiece: target number of pieces (a small corpus yields fewer, not an error).
    model_type: sentencepiece: unigram | bpe.
    character_coverage: sentencepiece: share of characters covered (1.0 suits English).
    input_sentence_size: sentencepiece: trains on at most this many sentences, sampled.
    max_size: word: keep the most frequent words (0: all), specials not counted.
    min_count: word: drop words seen fewer times.
    """

    kind: str = "sentencepiece"
    vocab_size: int = 8000
    model_type: str = "unigram"
    character_coverage: float = 1.0
    input_sentence_size: int = 1_000_000
    max_size: int = 0
    min_count: int = 1

    def __post_init__(self):
        if self.kind not in ("sentencepiece", "word"):
            raise ValueError(f"kind must be sentencepiece or word, not {self.kind!r}")
        if self.model_type not in ("unigram", "bpe"):
            raise ValueError(f"model_type must be unigram or bpe, not {self.model_type!r}")
        if self.vocab_size < 8:
            raise ValueError(f"vocab_size must be >= 8, not {self.vocab_size}")
        if not 0 < self.character_coverage <= 1:
            raise ValueError(f"character_coverage must be in (0, 1], not {self.character_coverage}")
        if self.input_sentence_size < 0 or self.max_size < 0:
            raise ValueError("input_sentence_size and max_size must be >= 0")
        if self.min_count < 1:
            raise ValueError(f"min_count must be >= 1, not {self.min_count}")


@dataclass
class TextDataConfig:
    """Where the sentences come from and how they become ids.

    train_file: the training sentences (default: the shipped SNLI sample, textvae/data/snli).
    valid_file: the validation sentences; None holds out `valid_fraction` of the training file
        (shuffled with `split_seed`), except for the shipped training file, whose own validation
        file is then used.
    format: auto (by extension: .json .jsonl .ndjson .csv .parquet; anything else is plain text,
        one sentence a line) | text | json | jsonl | csv | parquet.
    text_column: the column holding the sentences in JSON/CSV/Parquet files.
    max_length: most tokens in a sentence, bos and eos not counted.
    long_policy: truncate | drop sentences longer than max_length (training and validation data).
    lowercase: lower-case the text; the saved tokenizer keeps doing so at inference.
    streaming: read the training file as a stream instead of into memory, for corpora larger than
        memory (textvae/text/streaming.py); needs train.max_steps and a valid_file.
    stream_sample: streaming: the tokenizer is trained on the first this many training sentences.
    shuffle_buffer: streaming: sentences in the shuffle buffer (memory grows with it, not the corpus).
    """

    train_file: str = field(default_factory=lambda: str(shipped_corpus("train")))
    valid_file: str | None = None
    valid_fraction: float = 0.05  # without valid_file: the share of training sentences held out
    split_seed: int = 0  # seeds the shuffle of that held-out split
    format: str = "auto"
    text_column: str = "text"
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    max_length: int = 64
    long_policy: str = "truncate"
    lowercase: bool = False
    streaming: bool = False
    stream_sample: int = 100_000
    shuffle_buffer: int = 10_000

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {self.format!r}")
        if self.long_policy not in ("truncate", "drop"):
            raise ValueError(f"long_policy must be truncate or drop, not {self.long_policy!r}")
        if self.max_length < 1:
            raise ValueError(f"max_length must be >= 1, not {self.max_length}")
        if not 0 < self.valid_fraction < 1:
            raise ValueError(f"valid_fraction must be between 0 and 1, not {self.valid_fraction}")
        if not self.train_file:
            raise ValueError("train_file is empty; give a file of sentences")
        if self.stream_sample < 1 or self.shuffle_buffer < 1:
            raise ValueError("stream_sample and shuffle_buffer must be >= 1")
        if self.valid_file is None and _same_file(self.train_file, shipped_corpus("train")):
            self.valid_file = str(shipped_corpus("valid"))
        if self.streaming and not self.valid_file:
            raise ValueError("streaming needs valid_file: a held-out split would need the whole stream in memory")


def _same_file(a: str | Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == b.resolve()
    except OSError:
        return False


def split_heldout(sentences: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, valid): a seeded random `fraction` of the sentences held out, order otherwise kept."""
    import numpy as np

    if len(sentences) < 2:
        raise UserError(
            "the training file has one sentence; hold-out validation needs at least two (or set data.valid_file)"
        )
    n_valid = min(len(sentences) - 1, max(1, round(fraction * len(sentences))))
    held = set(np.random.default_rng(seed).permutation(len(sentences))[:n_valid].tolist())
    train = [s for i, s in enumerate(sentences) if i not in held]
    valid = [s for i, s in enumerate(sentences) if i in held]
    return train, valid


# -- tokenizing ------------------------------------------------------------------------------------
class TokenizedText(Dataset):
    """Token ids (no bos/eos) per sentence, with the sentence text. Items are lists of ids, or with
    `encoder_ids` (a pretrained encoder's own tokenization, specials included) pairs (ids, encoder ids)."""

    def __init__(self, ids: list[list[int]], texts: list[str], encoder_ids: list[list[int]] | None = None):
        self.ids = ids
        self.texts = texts
        self.encoder_ids = encoder_ids
        self.rows = list(range(len(ids)))  # each item's index among the sentences it was tokenized from

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        return self.ids[i] if self.encoder_ids is None else (self.ids[i], self.encoder_ids[i])

    @property
    def lengths(self) -> list[int]:
        """Sequence lengths as batched: bos + tokens + eos."""
        return [len(x) + 2 for x in self.ids]


@dataclass
class TokenizeReport:
    sentences: int = 0
    tokens: int = 0
    truncated: int = 0
    dropped: int = 0
    max_length: int = 0

    def describe(self) -> str:
        mean = self.tokens / max(1, self.sentences)
        text = f"{self.sentences:,} sentences, {self.tokens:,} tokens ({mean:.1f} a sentence)"
        if self.truncated:
            text += f"; {self.truncated:,} truncated to {self.max_length} tokens"
        if self.dropped:
            text += f"; {self.dropped:,} longer than {self.max_length} tokens dropped"
        return text


def tokenize_sentences(
    sentences: list[str], tokenizer, max_length: int = 0, long_policy: str = "truncate", encoder_tokenizer=None
) -> tuple[TokenizedText, TokenizeReport]:
    """Tokenize with `datasets.Dataset.map(batched=True)` and apply the length policy.

    Args:
        max_length: most tokens per sentence (0: no limit).
        long_policy: truncate | drop sentences over max_length.
        encoder_tokenizer: a pretrained encoder's tokenizer (textvae.text.pretrained.HFTokenizer): its
            ids are kept beside (the length policy counts the decoder's tokens).
    """
    import datasets

    def encode(batch):
        out = {"input_ids": tokenizer.encode_batch(batch["text"])}
        if encoder_tokenizer is not None:
            out["encoder_ids"] = encoder_tokenizer.model_inputs(batch["text"])
        return out

    ds = datasets.Dataset.from_dict({"text": sentences})
    # An explicit fingerprint: the tokenizer need not be hashable, and nothing is cached to disk.
    tag = f"{ds._fingerprint}-{tokenizer!r}-{id(tokenizer)}-{id(encoder_tokenizer)}"
    key = hashlib.sha256(tag.encode()).hexdigest()[:16]
    were_disabled = datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()  # a fraction of a second per 10k sentences
    try:
        ds = ds.map(
            encode, batched=True, batch_size=1000, keep_in_memory=True, new_fingerprint=key, load_from_cache_file=False
        )
    finally:
        if not were_disabled:
            datasets.utils.enable_progress_bars()
    report = TokenizeReport(max_length=max_length)
    # The policy keeps or drops sentence indices; texts and encoder ids follow them.
    ids, kept = apply_length_policy(list(ds["input_ids"]), list(range(len(sentences))), max_length, long_policy, report)
    if not ids:
        raise UserError(
            f"every sentence is longer than data.max_length={max_length} tokens and "
            f"long_policy is drop; raise data.max_length or use long_policy: truncate"
        )
    encoder_ids = None
    if encoder_tokenizer is not None:
        column = ds["encoder_ids"]
        encoder_ids = [list(column[i]) for i in kept]
    data = TokenizedText(ids, [sentences[i] for i in kept], encoder_ids)
    data.rows = kept  # long_policy drop leaves some out
    return data, report


def apply_length_policy(
    rows: list[list[int]], texts: list, max_length: int, long_policy: str, report: TokenizeReport
) -> tuple[list[list[int]], list]:
    """The rows (and their texts, or any tag per row) with those over max_length truncated or dropped;
    counts added to `report`."""
    ids, kept = [], []
    for text, row in zip(texts, rows):
        if max_length and len(row) > max_length:
            if long_policy == "drop":
                report.dropped += 1
                continue
            row = row[:max_length]
            report.truncated += 1
        ids.append(row)
        kept.append(text)
    report.sentences += len(ids)
    report.tokens += sum(len(r) for r in ids)
    return ids, kept


def collate_ids(
    examples: list, pad_id: int, bos_id: int, eos_id: int, encoder_pad_id: int = 0
) -> dict[str, torch.Tensor]:
    """Lists of ids -> {"input_ids": (B, T) bos + ids + eos right-padded with pad_id to the batch's
    longest, "lengths": (B,) counting bos and eos}. Pairs (ids, encoder ids) add "encoder_input_ids"
    (B, T') right-padded with encoder_pad_id and "encoder_lengths" (B,)."""
    if examples and isinstance(examples[0], tuple):
        batch = collate_ids([ids for ids, _ in examples], pad_id, bos_id, eos_id)
        batch["encoder_input_ids"], batch["encoder_lengths"] = _pad([e for _, e in examples], encoder_pad_id)
        return batch
    input_ids, lengths = _pad([[bos_id, *x, eos_id] for x in examples], pad_id)
    return {"input_ids": input_ids, "lengths": lengths}


def _pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ids -> (B, T) right-padded with pad_id to the longest, and the lengths (B,)."""
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)  # (B,)
    ids = torch.full((len(rows), int(lengths.max())), pad_id, dtype=torch.long)  # (B, T)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return ids, lengths


def train_tokenizer(sentences: list[str], cfg: TokenizerConfig, lowercase: bool = False, seed: int = 0):
    """A new tokenizer of kind cfg.kind trained on `sentences`."""
    from .tokenizers import SentencePieceTokenizer, WordTokenizer

    if cfg.kind == "word":
        return WordTokenizer.train(sentences, max_size=cfg.max_size, min_count=cfg.min_count, lowercase=lowercase)
    return SentencePieceTokenizer.train(
        sentences,
        vocab_size=cfg.vocab_size,
        model_type=cfg.model_type,
        lowercase=lowercase,
        character_coverage=cfg.character_coverage,
        input_sentence_size=cfg.input_sentence_size,
        seed=seed,
    )


def tokenizer_settings(sentences: list[str], cfg: TokenizerConfig, lowercase: bool) -> dict:
    """What a trained tokenizer depends on: its settings and a digest of its training sentences."""
    digest = hashlib.sha256()
    for s in sentences:
        digest.update(s.encode("utf-8", errors="replace") + b"\n")
    return {
        **dataclasses.asdict(cfg),
        "lowercase": lowercase,
        "sentences": len(sentences),
        "sentences_sha256": digest.hexdigest(),
    }

"""Training sentences streamed from disk, for corpora larger than memory (`data.streaming: true`).

    ds = open_stream("corpus.txt")                       # a datasets.IterableDataset, column "text"
    tokenizer = WordTokenizer.train(first_sentences(ds, 100_000))
    stream = SentenceStream(ds, tokenizer, max_length=64, long_policy="truncate", batch_size=64, seed=0,
                            rank=0, world=1, collate=collate)
    for batch in stream.epoch(0, skip=0): ...

The file is read through `datasets.load_dataset(..., streaming=True)` and shuffled in a bounded buffer
(`IterableDataset.shuffle`, reseeded each epoch by `set_epoch`). Sentences are tokenized a thousand at a
time and collected in pools of `pool_batches` batches, sorted by length inside a pool (little padding,
as in the in-memory EpochBatchSampler), and the pool's batches are shuffled. Every process reads the
same stream and takes batch i when i mod N is its rank, so the shards are disjoint and, once the last
incomplete round is dropped at the end of an epoch, every process trains on the same number of batches:
no process waits at an all-reduce for a batch that never comes. Memory holds the shuffle buffer, one
pool and the reader's chunk; not the corpus.

An epoch depends only on (seed, epoch), so a resumed run skips the batches already trained on
(reading and tokenizing them again, without training) and continues exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..errors import UserError
from .data import TokenizeReport, apply_length_policy
from .files import _BUILDER, check_file, detect_format

ENCODE_CHUNK = 1000  # sentences tokenized at once


def open_stream(path: str | Path, fmt: str = "auto", text_column: str = "text", what: str = "data.train_file"):
    """A `datasets.IterableDataset` with one column "text", read lazily from `path`.

    Plain text is decoded with replacement characters where bytes are not UTF-8 (as in read_lines);
    a JSON/CSV/Parquet file must have `text_column` (checked on its first row)."""
    import datasets

    p = check_file(path, what)
    if p.stat().st_size == 0:
        raise UserError(f"{what}: {p} is empty; give a file of sentences")
    kind = detect_format(p, fmt)
    try:
        if kind == "text":
            ds = datasets.load_dataset(
                "text", data_files=str(p), split="train", streaming=True, encoding_errors="replace"
            )
        else:
            kwargs = {"keep_default_na": False} if kind == "csv" else {}
            ds = datasets.load_dataset(_BUILDER[kind], data_files=str(p), split="train", streaming=True, **kwargs)
            first = next(iter(ds), None)
            if first is None:
                raise UserError(f"{what}: {p} has no rows; give a file of sentences")
            if text_column not in first:
                raise UserError(
                    f"{what}: {p} has no column '{text_column}' (its columns: {', '.join(first)}); set data.text_column"
                )
            ds = ds.select_columns([text_column])
            if text_column != "text":
                ds = ds.rename_column(text_column, "text")
    except UserError:
        raise
    except Exception as e:  # the builders raise many types; the cause is the useful part
        cause = e.__cause__ or e
        detail = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        raise UserError(f"{what}: could not read {p} as {kind} ({detail}); check the file or set data.format") from None
    return ds


def sentences_of(ds) -> Iterator[str]:
    """The non-blank sentences of a stream, stripped."""
    for row in ds:
        text = row["text"]
        if isinstance(text, str) and text.strip():
            yield text.strip()


def first_sentences(ds, n: int) -> list[str]:
    """The first `n` non-blank sentences of a stream (the tokenizer's bounded training sample)."""
    out = []
    for text in sentences_of(ds):
        out.append(text)
        if len(out) == n:
            break
    return out


class SentenceStream:
    """Batches of a streamed corpus for one process (see the module docstring)."""

    def __init__(
        self,
        ds,
        tokenizer,
        max_length: int,
        long_policy: str,
        batch_size: int,
        seed: int,
        rank: int,
        world: int,
        collate: Callable,
        shuffle_buffer: int = 10_000,
        pool_batches: int = 100,
    ):
        self.ds = ds
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.long_policy = long_policy
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world = world
        self.collate = collate
        self.shuffle_buffer = shuffle_buffer
        self.pool = pool_batches * batch_size
        self.report = TokenizeReport(max_length=max_length)  # counts of the epoch being read

    def _global_batches(self, epoch: int) -> Iterator[list[list[int]]]:
        """Every process's batches in order: pools sorted by length, cut, the batches shuffled."""
        ds = self.ds.shuffle(seed=self.seed, buffer_size=self.shuffle_buffer)
        ds.set_epoch(epoch)
        self.report = TokenizeReport(max_length=self.max_length)
        pool, texts, n_pool = [], [], 0

        def cut(pool: list[list[int]], n_pool: int):
            order = np.argsort([len(x) for x in pool], kind="stable")
            batches = [[pool[i] for i in order[j : j + self.batch_size]] for j in range(0, len(pool), self.batch_size)]
            rng = np.random.default_rng([self.seed, epoch, n_pool])
            return [batches[i] for i in rng.permutation(len(batches))]

        def encode(texts: list[str]) -> list[list[int]]:
            ids, _ = apply_length_policy(
                self.tokenizer.encode_batch(texts), texts, self.max_length, self.long_policy, self.report
            )
            return ids

        for text in sentences_of(ds):
            texts.append(text)
            if len(texts) == ENCODE_CHUNK:
                pool += encode(texts)
                texts = []
                if len(pool) >= self.pool:
                    yield from cut(pool[: self.pool], n_pool)
                    pool, n_pool = pool[self.pool :], n_pool + 1
        if texts:
            pool += encode(texts)
        while pool:
            yield from cut(pool[: self.pool], n_pool)
            pool, n_pool = pool[self.pool :], n_pool + 1

    def epoch(self, epoch: int, skip: int = 0, device=None) -> Iterator[dict]:
        """This process's collated batches of `epoch`, after skipping its first `skip` batches; only
        complete rounds (one batch for every process) are used."""
        round_ = []
        taken = 0
        for batch in self._global_batches(epoch):
            round_.append(batch)
            if len(round_) < self.world:
                continue
            mine, round_ = round_[self.rank], []
            taken += 1
            if taken <= skip:
                continue
            out = self.collate(mine)
            yield {k: v.to(device) for k, v in out.items()} if device is not None else out

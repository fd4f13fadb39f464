"""Deterministic, epoch-seeded batching with optional length bucketing.

The batches of epoch e depend only on (seed, e), so a resumed run sees exactly the batches an
uninterrupted run would, and under `accelerate launch` every process builds the same list before
Accelerate hands each process its share.
"""

from __future__ import annotations

import math

import numpy as np
from torch.utils.data import Sampler


class EpochBatchSampler(Sampler):
    """Yields lists of indices.

    Args:
        num_examples: dataset size.
        batch_size: examples per batch (per process).
        shuffle: shuffle example order (and batch order) each epoch.
        seed: base seed; epoch e uses seed + e.
        lengths: per-example lengths; when given, examples are sorted by length inside pools of
            `pool_batches` batches so each batch holds similar lengths (little padding), and the
            batches are then shuffled.
        drop_last: drop a final short batch.
    """

    def __init__(
        self,
        num_examples: int,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        lengths=None,
        pool_batches: int = 100,
        drop_last: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        self.num_examples = num_examples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.pool = pool_batches * batch_size
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        rng = np.random.default_rng(self.seed + self.epoch)
        order = rng.permutation(self.num_examples) if self.shuffle else np.arange(self.num_examples)
        if self.lengths is not None:
            # Stable sort inside each pool keeps the shuffled order among equal lengths.
            pools = [order[i : i + self.pool] for i in range(0, len(order), self.pool)]
            order = np.concatenate([p[np.argsort(self.lengths[p], kind="stable")] for p in pools]) if pools else order
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle and self.lengths is not None:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self):
        return iter(self.batches())

    def __len__(self) -> int:
        n = self.num_examples / self.batch_size
        return math.floor(n) if self.drop_last else math.ceil(n)

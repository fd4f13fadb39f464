"""What the one trainer needs from a modality (text, images): the Task interface.

A Task turns the `data` and `model` sections of an experiment config into datasets, a collate
function, a batch sampler and a model; it knows how to count the units of a batch for throughput, and
what to leave in the model folder after training (pictures, a demo interpolation).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from torch.utils.data import Dataset

from ..core.model import VAE
from .batching import EpochBatchSampler


class Task:
    name: ClassVar[str] = ""
    data_config_class: ClassVar[type] = object
    model_config_class: ClassVar[type] = object

    def __init__(self, config):
        self.config = config  # ExperimentConfig; config.data / config.model are this task's classes

    def setup(self, accelerator) -> None:
        """Read the data and build what the model needs from it (a tokenizer). Called on every
        process; write shared files only inside `with accelerator.main_process_first():`."""
        raise NotImplementedError

    def build_model(self) -> VAE:
        raise NotImplementedError

    @classmethod
    def computed_attributes(cls) -> list[str]:
        """The attributes (loss.attributes) this modality computes from the examples themselves; a task
        that supports them puts each batch's values in batch["attributes"] (B, A), NaN where missing,
        and sets the model's `attributes` (textvae.core.attributes)."""
        return []

    def check_init_from(self, folder: Path) -> None:
        """Refuse (UserError) a model folder whose weights would mean something else to this run
        (text: another vocabulary); called before train.init_from's weights are copied."""

    def train_dataset(self) -> Dataset:
        raise NotImplementedError

    def eval_dataset(self) -> Dataset:
        raise NotImplementedError

    def train_stream(self, batch_size: int, seed: int, rank: int, world: int):
        """For data streamed from disk: an object whose `epoch(e, skip, device)` yields this process's
        batches of epoch e after its first `skip`; None (the default) uses train_dataset()."""
        return None

    def collate(self, examples: list, train: bool) -> dict[str, torch.Tensor]:
        """A list of dataset items -> a batch (dict of tensors); `train` selects training-only
        randomness such as dynamic binarization."""
        raise NotImplementedError

    def lengths(self, dataset: Dataset) -> list[int] | None:
        """Per-example lengths for length bucketing, or None for equal-sized examples."""
        return None

    def batch_sampler(self, dataset: Dataset, batch_size: int, shuffle: bool, seed: int) -> EpochBatchSampler:
        return EpochBatchSampler(len(dataset), batch_size, shuffle=shuffle, seed=seed, lengths=self.lengths(dataset))

    def count_units(self, batch: dict[str, torch.Tensor]) -> int:
        """Real units in a batch for throughput (non-pad tokens; images for image models)."""
        return int(next(iter(batch.values())).shape[0])

    unit_name: ClassVar[str] = "examples"

    def after_training(self, model: VAE, output_dir: Path, accelerator) -> None:
        """Main process only: leave pictures or a demo in the model folder."""

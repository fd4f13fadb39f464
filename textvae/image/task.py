"""The image Task: images from idx/npz/folder, binarized or dequantized batches, a conv or MLP VAE."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ..commands import recorded_data_config
from ..config import from_dict
from ..errors import UserError
from ..training.attributes import WithAttributes, describe, split_attributed, summary
from ..training.task import Task
from .attributes import IMAGE_ATTRIBUTES, measure
from .data import ImageBatcher, ImageDataConfig, ImageDataset, load_splits
from .models import ImageModelConfig, ImageVAE, model_for


def check_pairing(data: ImageDataConfig, model: ImageModelConfig) -> None:
    if model.likelihood == "bernoulli" and data.binarize != "dynamic":
        raise UserError(
            "model.likelihood=bernoulli needs binary pixels: set data.binarize=dynamic "
            "(or model.likelihood=gaussian for grey levels)"
        )
    if model.likelihood == "gaussian" and data.binarize != "none":
        raise UserError("model.likelihood=gaussian models grey levels: set data.binarize=none")


def batcher(
    dataset: ImageDataset, data: ImageDataConfig, model: ImageModelConfig, train: bool, seed: int = 0, epoch=lambda: 0
) -> ImageBatcher:
    return ImageBatcher(
        dataset, data.binarize, train, dequantize=model.likelihood == "gaussian", seed=seed, epoch=epoch
    )


def load_test_split(model_dir: str | Path, model, data: str | None = None):
    """The test split of the run's data (or of `data`: idx/npz/folder), checked against the model.

    Returns:
        (the test images as an ImageDataset, the ImageDataConfig that read them, the class names).
    """
    raw = recorded_data_config(model_dir)
    if data:
        raw = {**raw, "path": data, "format": "auto"}
    cfg = from_dict(ImageDataConfig, {**raw, "val_size": 0, "max_train_examples": 0}, "data.")
    check_pairing(cfg, model.config)
    splits = load_splits(cfg)
    test = ImageDataset(*splits.test)
    c, h = test.images.shape[1:3]
    if (c, h) != (model.config.channels, model.config.image_size):
        raise UserError(
            f"the test images are {c}x{h}x{h} but the model takes {model.config.channels}x"
            f"{model.config.image_size}x{model.config.image_size}"
        )
    return test, cfg, splits.class_names


class ImageTask(Task):
    name: ClassVar[str] = "image"
    data_config_class: ClassVar[type] = ImageDataConfig
    model_config_class: ClassVar[type] = ImageModelConfig
    unit_name: ClassVar[str] = "images"

    def setup(self, accelerator) -> None:
        d, m = self.config.data, self.config.model
        check_pairing(d, m)
        specs = self.config.loss.attributes
        for a in specs:
            if a.column:
                raise UserError(
                    f"loss.attributes: {a.name} reads column {a.column!r}, but image data has no columns; "
                    f"image attributes are measured: {', '.join(IMAGE_ATTRIBUTES)}"
                )
        self.splits = load_splits(d)
        accelerator.print(self.splits.describe())
        c, h, w = self.splits.train[0].shape[1:]
        if (c, h) != (m.channels, m.image_size) or h != w:
            raise UserError(
                f"the images are {c}x{h}x{w} but the model expects {m.channels}x{m.image_size}x"
                f"{m.image_size}: set model.channels={c} model.image_size={h}"
                if h == w
                else f"the images are {h}x{w}; the image models need square images"
            )
        self.datasets = {k: ImageDataset(*getattr(self.splits, k)) for k in ("train", "val", "test")}
        self.train_values = None
        if specs:
            images = self.datasets["train"].images
            self.train_values = np.stack([measure(images, a.name) for a in specs], axis=1)  # (N, A)
            self.attribute_meta = describe(specs, self.train_values)
            accelerator.print(f"attributes: {summary(self.attribute_meta)}")
        self._train_sampler = None
        seed = self.config.train.seed
        self.batchers = {
            (k, train): batcher(ds, d, m, train, seed, self._epoch)
            for k, ds in self.datasets.items()
            for train in (True, False)
        }

    def _epoch(self) -> int:
        return self._train_sampler.epoch if self._train_sampler is not None else 0

    def batch_sampler(self, dataset, batch_size: int, shuffle: bool, seed: int):
        sampler = super().batch_sampler(dataset, batch_size, shuffle, seed)
        if shuffle:  # the training sampler: its epoch seeds the binarization noise
            self._train_sampler = sampler
        return sampler

    def build_model(self) -> ImageVAE:
        model = model_for(self.config.model)
        if self.train_values is not None:
            model.attributes = self.attribute_meta
        return model

    @classmethod
    def computed_attributes(cls) -> list[str]:
        return list(IMAGE_ATTRIBUTES)

    def train_dataset(self):
        train = self.datasets["train"]
        return train if self.train_values is None else WithAttributes(train, self.train_values)

    def eval_dataset(self) -> ImageDataset:
        return self.datasets["val"]

    def collate(self, examples: list[int], train: bool) -> dict[str, torch.Tensor]:
        # The trainer collates training batches from the training split and evaluation batches from
        # the validation split.
        examples, values = split_attributed(examples)
        batch = self.batchers[("train", True) if train else ("val", False)](examples)
        if values is not None:
            batch["attributes"] = values
        return batch

    def count_units(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["images"].shape[0])

    def after_training(self, model: ImageVAE, output_dir: Path, accelerator) -> None:
        """Pictures from the test split into the model folder."""
        from .pictures import write_all

        test = self.datasets["test"]
        n = min(len(test), 5000)
        batch = self.batchers[("test", False)](list(range(n)))
        shown = test.images[:n].float() / 255
        paths = write_all(model, batch["images"], shown, batch["labels"], self.splits.class_names, output_dir)
        accelerator.print("pictures: " + ", ".join(p.name for p in paths))

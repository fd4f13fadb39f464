"""The experiment config: task-specific `data` and `model` sections plus the generic `train` and
`loss` sections that the one trainer reads."""

from __future__ import annotations

import dataclasses
import difflib
import sys
from dataclasses import dataclass, field
from typing import Any

from ..config import apply_overrides, from_dict, load_yaml
from ..core.attributes import AttributeConfig
from ..core.schedules import KLScheduleConfig
from ..errors import UserError


@dataclass
class LossConfig:
    """The objective: negative ELBO with a scheduled KL weight and a free-bits floor.

    free_bits: floor in nats on each latent dimension's KL (0 disables). Against a fitted mixture prior
        (no per-dimension KL) the floor is free_bits x latent size on the total KL.
    free_bits_per: batch (the floor is on each dimension's batch-mean KL, Kingma et al. 2016) or example
        (on each example's KL of each dimension, as Li et al. 2019's code trains: its "fb 2" with
        target_kl / latent_size per dimension).
    attributes: latent dimensions given a meaning (AR-VAE, Pati and Lerch 2020): a list of
        {name, dim, weight, delta, column, values} (textvae.core.attributes.AttributeConfig), each adding
        weight x its pairwise loss to the training loss only.
    """

    kl: KLScheduleConfig = field(default_factory=KLScheduleConfig)
    free_bits: float = 0.0
    free_bits_per: str = "batch"
    attributes: list[AttributeConfig] = field(default_factory=list)

    def __post_init__(self):
        if self.free_bits < 0:
            raise ValueError(f"free_bits must be >= 0, not {self.free_bits}")
        if self.free_bits_per not in ("batch", "example"):
            raise ValueError(f"free_bits_per must be batch or example, not {self.free_bits_per!r}")


@dataclass
class TrainConfig:
    """The training loop.

    batch_size is per process and per micro-step; the global batch is
    batch_size * grad_accum * num_processes. max_steps > 0 overrides epochs. Steps count optimizer
    updates. eval_every/save_every: 0 means at the end of each epoch / only at the end.
    select_best: the final model folder holds the weights with the best validation -ELBO.
    init_from: a saved model folder whose weights start this run (before training; a resumed run
        reads its checkpoint instead). init_parts: the parameter names to take from it, by prefix
        ("encoder", "to_posterior", "decoder.rnn", ...); empty takes every parameter. Li et al. 2019
        start a VAE's encoder from an autoencoder's: init_parts [encoder, to_posterior], plus
        decoder.embedding when the embedding is shared (it lives in the decoder).
    optimizer: adamw (fused on CPU when available) or sgd (with `momentum`; Zaremba et al. and Li et al.
        train LSTM language models with plain SGD at lr 1.0).
    ema_decay: > 0 keeps an exponential moving average of the weights (decay per optimizer step, e.g.
        0.999) next to the trained ones; validation, best-model selection and the saved model use the
        average. It is part of each checkpoint, so a resumed run continues it exactly.
    progress_bar: auto (the default: a tqdm bar when stderr is a terminal, else a plain line every
        log_every steps, so that a redirected log holds no carriage-return updates), true (the bar
        always) or false (the plain lines always).
    fit_prior: K > 0: once trained, the model's prior N(0, I) is replaced by a K-component Gaussian
        mixture fitted to codes z ~ q(z|x) of the training data (4 per example), as `textvae fit-prior`
        does, and the model folder holds the model with it: prior samples then come from where the
        decoder was trained (Ghosh et al. 2020). Training itself is unchanged.
    """

    output_dir: str = "runs/default"  # the model folder: config, weights, tokenizer, logs/, checkpoints/
    seed: int = 0  # seeds torch, numpy and the data order
    batch_size: int = 64  # examples per process and per micro-step
    eval_batch_size: int = 256  # examples per validation batch
    epochs: int = 10  # passes over the training data (unless max_steps > 0)
    max_steps: int = 0  # > 0: train this many optimizer updates, overriding epochs
    lr: float = 1e-3  # peak learning rate (a pretrained backbone may have its own `lr`)
    weight_decay: float = 0.0  # the optimizer's decoupled weight decay (AdamW) or L2 penalty (SGD)
    lr_schedule: str = "constant"  # constant | cosine | linear decay after the warm-up
    lr_warmup_steps: int = 0  # steps of linear warm-up from 0 to lr
    min_lr_ratio: float = 0.0  # cosine and linear decay end at lr x this
    grad_accum: int = 1  # micro-steps whose gradients are summed into one optimizer update
    clip_grad_norm: float = 5.0  # clip the gradients' global norm to this (0: no clipping)
    mixed_precision: str = "no"  # no | bf16 | fp16 autocast (the loss stays float32; fp16 scales it)
    log_every: int = 50  # optimizer steps per logged window (and per plain progress line)
    eval_every: int = 0  # validate every this many optimizer steps (0: at the end of each epoch)
    save_every: int = 0  # write a checkpoint every this many optimizer steps (0: only at the end)
    keep_last: int = 2  # checkpoints kept in checkpoints/ (the oldest are deleted)
    select_best: bool = True
    report_to: list[str] = field(
        default_factory=lambda: ["jsonl", "tensorboard"]
    )  # jsonl (logs/train.jsonl), tensorboard
    progress_bar: bool | str = "auto"
    threads: int = 0  # torch threads per process (0: torch's default)
    init_from: str = ""
    init_parts: list[str] = field(default_factory=list)
    optimizer: str = "adamw"
    momentum: float = 0.0  # optimizer sgd: momentum
    ema_decay: float = 0.0
    fit_prior: int = 0

    def __post_init__(self):
        for name in ("batch_size", "eval_batch_size", "grad_accum"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        for name in (
            "epochs",
            "max_steps",
            "lr_warmup_steps",
            "log_every",
            "eval_every",
            "save_every",
            "threads",
            "fit_prior",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.epochs == 0 and self.max_steps == 0:
            raise ValueError("set epochs or max_steps to a positive number")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, not {self.lr}")
        if self.keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, not {self.keep_last}")
        if self.lr_schedule not in ("constant", "cosine", "linear"):
            raise ValueError(f"lr_schedule must be constant, cosine or linear, not {self.lr_schedule!r}")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise ValueError(f"mixed_precision must be no, bf16 or fp16, not {self.mixed_precision!r}")
        if self.clip_grad_norm < 0:
            raise ValueError(f"clip_grad_norm must be >= 0, not {self.clip_grad_norm}")
        if self.init_parts and not self.init_from:
            raise ValueError("init_parts needs init_from (the model folder to take them from)")
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"optimizer must be adamw or sgd, not {self.optimizer!r}")
        if self.momentum and self.optimizer != "sgd":
            raise ValueError("momentum is an option of optimizer sgd")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), not {self.momentum}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0: off), not {self.ema_decay}")
        unknown = set(self.report_to) - {"jsonl", "tensorboard"}
        if unknown:
            raise ValueError(f"report_to accepts jsonl and tensorboard, not {sorted(unknown)}")
        if isinstance(self.progress_bar, str) and self.progress_bar != "auto":
            raise ValueError(f"progress_bar must be auto, true or false, not {self.progress_bar!r}")

    def shows_progress_bar(self) -> bool:
        """Whether this process draws tqdm bars: progress_bar true, or auto on a terminal (stderr)."""
        return self.progress_bar is True or (self.progress_bar == "auto" and sys.stderr.isatty())


@dataclass
class ExperimentConfig:
    task: str
    data: Any
    model: Any
    train: TrainConfig = field(default_factory=TrainConfig)
    loss: LossConfig = field(default_factory=LossConfig)


SECTIONS = ("task", "data", "model", "train", "loss")


def build_config(raw: dict, saved: bool = False) -> ExperimentConfig:
    """A nested dict (YAML + overrides) -> a checked ExperimentConfig. `saved`: the dict is a run's
    train_config.yaml, which may hold keys of other kinds than its sections' own (textvae.config.from_dict)."""
    from ..registry import task_class

    for key in raw:
        if key not in SECTIONS:
            near = difflib.get_close_matches(str(key), SECTIONS, n=1, cutoff=0.0)[0]
            raise UserError(f"unknown config key '{key}'; did you mean '{near}'?")
    if "task" not in raw:
        raise UserError("the config must name a task: 'task: text' or 'task: image'")
    task = task_class(raw["task"])
    model_raw = raw.get("model") or {}
    train_raw = raw.get("train") or {}
    if (
        isinstance(model_raw, dict)
        and model_raw.get("prior_components")
        and isinstance(train_raw, dict)
        and not train_raw.get("init_from")
    ):
        raise UserError(
            "model.prior_components: a mixture prior is fitted, not learnt from scratch: fit one to a "
            "trained model with `textvae fit-prior MODEL_DIR --components K`, then train further from it "
            "with train.init_from=FITTED_DIR"
        )
    cfg = ExperimentConfig(
        task=raw["task"],
        data=from_dict(task.data_config_class, raw.get("data") or {}, "data.", saved),
        model=from_dict(task.model_config_class, raw.get("model") or {}, "model.", saved),
        train=from_dict(TrainConfig, raw.get("train") or {}, "train.", saved),
        loss=from_dict(LossConfig, raw.get("loss") or {}, "loss.", saved),
    )
    if cfg.loss.attributes:
        from ..core.attributes import check_attributes

        check_attributes(cfg.loss.attributes, cfg.model.latent_size, task.computed_attributes())
    return cfg


def load_config(path, overrides: list[str] = ()) -> ExperimentConfig:
    return build_config(apply_overrides(load_yaml(path), list(overrides)))


def config_to_dict(cfg: ExperimentConfig) -> dict:
    return dataclasses.asdict(cfg)


def flatten(d: dict, prefix: str = "", scalars: bool = False) -> dict:
    """A nested config dict -> {"a.b": value}; with `scalars`, values other than int/float/str/bool as
    strings (what TensorBoard's hparams take)."""
    flat = {}
    for k, v in d.items():
        if isinstance(v, dict):
            flat.update(flatten(v, f"{prefix}{k}.", scalars))
        else:
            flat[f"{prefix}{k}"] = str(v) if scalars and not isinstance(v, (int, float, str, bool)) else v
    return flat

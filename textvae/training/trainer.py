"""The one training loop, for every model and modality, on Hugging Face Accelerate.

Shape of accelerate's examples: build data and model, `prepare`, loop with `accumulate`/`backward`,
evaluate with `gather_for_metrics`, checkpoint with `save_state`, resume with `load_state` and
`skip_first_batches`. Nothing here knows whether it runs on one CPU or many GPUs, or on text or images.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import torch
import yaml
from torch.utils.data import DataLoader

from ..core.attributes import Adversaries
from ..core.elbo_module import ElboModule
from ..core.model import init_from_folder
from ..core.schedules import kl_weight
from ..errors import UserError
from ..registry import task_class
from ..runtime import (
    bound_onednn_cache,
    finish_processes,
    keep_freed_memory,
    peak_rss_mb,
    runtime_facts,
    seconds_since_start,
    usable_precision,
)
from .checkpoints import load_checkpoint, read_state, resolve_resume, save_checkpoint
from .config import ExperimentConfig, config_to_dict, flatten
from .optim import lr_at, make_ema, make_optimizer
from .progress import MAX_SKIPPED_FP16_STEPS, StopSignal, Window, diverged, progress_line
from .run_folder import check_output_folder, clear_output_folder
from .tracking import build_accelerator


def train(cfg: ExperimentConfig, resume: str | None = None, overwrite: bool = False) -> Path:
    """Train the experiment described by `cfg`; returns the model folder (cfg.train.output_dir).

    Args:
        cfg: the experiment (textvae.training.config.build_config / load_config).
        resume: None, "auto" (latest checkpoint under output_dir/checkpoints) or a checkpoint folder.
        overwrite: a fresh run into a folder that holds a model or checkpoints empties it first (without
            it, such a run stops before writing anything).
    Returns:
        The model folder.
    """
    check_output_folder(cfg, resume, overwrite)  # before anything is written, on every process
    return Trainer(cfg, resume, overwrite).run()


class Trainer:
    """One run: built in __init__ (accelerator, model, optimiser, data, `prepare`, resume), then `run`
    loops over `step`, `log`, `validate` and `checkpoint` and ends with `finish`."""

    def __init__(self, cfg: ExperimentConfig, resume: str | None, overwrite: bool):
        from accelerate.utils import set_seed

        self.cfg, self.tc = cfg, cfg.train
        self.out = Path(self.tc.output_dir)
        self.ckpt_root = self.out / "checkpoints"
        keep_freed_memory()
        bound_onednn_cache()
        if self.tc.threads:
            torch.set_num_threads(self.tc.threads)
        # float32 where the CPU would emulate bf16; the config keeps what was asked (a resumed run asks the
        # same) and the opening lines say what runs, after every check of the config (an error stays one line)
        precision, self.precision_note = usable_precision(self.tc.mixed_precision)
        self.accelerator = build_accelerator(self.tc, self.out, precision)
        self.main = self.accelerator.is_main_process
        if overwrite:
            if self.main and (removed := clear_output_folder(self.out)):
                self.accelerator.print(f"--overwrite: emptied {self.out} ({removed} entries of the old run)")
            self.accelerator.wait_for_everyone()
        self.resume_path = resolve_resume(resume, self.ckpt_root) if resume else None
        set_seed(self.tc.seed)
        self.task = task_class(cfg.task)(cfg)
        self.task.setup(self.accelerator)
        self.vae = self._model()
        adversaries = (
            Adversaries(self.vae.attributes, self.vae.latent_size)
            if any(a.get("adversary") for a in self.vae.attributes)
            else None
        )
        self.module = ElboModule(self.vae, adversaries)
        # A model may give parameter groups (pretrained parts with their own rates); frozen ones are left out.
        groups = (
            self.vae.parameter_groups(self.tc.lr)
            if hasattr(self.vae, "parameter_groups")
            else [{"params": [p for p in self.vae.parameters() if p.requires_grad]}]
        )
        if adversaries is not None:
            groups.append({"params": list(adversaries.parameters())})
        self.optimizer = make_optimizer(groups, self.tc)
        data_text = self._data()  # prepares module, optimizer and loaders
        self.total_steps = self.tc.max_steps or self.tc.epochs * self.steps_per_epoch
        self.ema = make_ema(self.vae, self.tc.ema_decay, self.accelerator)
        # train_seconds: wall time of the run so far, summed over its resumed parts (up to the checkpoint).
        self.state = {"step": 0, "epoch": 0, "batches_in_epoch": 0, "best_val": None, "train_seconds": 0.0}
        if self.resume_path is not None:
            load_checkpoint(self.accelerator, self.resume_path)
            self.state.update(read_state(self.resume_path))
            self.accelerator.print(f"resumed from {self.resume_path} at step {self.state['step']}")
        self._start_logs(data_text)
        self.nonfinite_steps = 0
        self.window = Window()

    # -- building -----------------------------------------------------------------------------------
    def _model(self):
        """The task's model, its weights copied from train.init_from for a fresh run."""
        tc = self.tc
        vae = self.task.build_model()
        if tc.init_from and not self.resume_path:  # a resumed run reads every weight from its checkpoint
            self.task.check_init_from(Path(tc.init_from))
            copied = init_from_folder(vae, Path(tc.init_from), tc.init_parts)
            self.accelerator.print(
                f"initialised {len(copied)} tensors ({', '.join(tc.init_parts) or 'all'}) from {tc.init_from}"
            )
            if vae.prior is not None and not any(name.startswith("prior.") for name in copied):
                raise UserError(
                    f"model.prior_components {vae.prior.components}: the mixture must come from "
                    f"train.init_from; add prior to train.init_parts"
                )
        if tc.fit_prior and getattr(vae, "encoder", True) is None:
            raise UserError(
                f"train.fit_prior {tc.fit_prior}: a language model (encoder kind none) has no codes to "
                f"fit a prior to; set train.fit_prior=0"
            )
        return vae

    def _data(self) -> str:
        """The loaders (or the stream), `prepare`d with the module and optimiser; says what the data is."""
        tc, task, acc = self.tc, self.task, self.accelerator
        eval_ds = task.eval_dataset()
        eval_sampler = task.batch_sampler(eval_ds, tc.eval_batch_size, shuffle=False, seed=0)
        eval_loader = DataLoader(eval_ds, batch_sampler=eval_sampler, collate_fn=partial(task.collate, train=False))
        # Streamed data is sharded by the stream itself (every process the same number of batches).
        self.stream = task.train_stream(tc.batch_size, tc.seed, acc.process_index, acc.num_processes)
        if self.stream is None:
            train_ds = task.train_dataset()
            self.sampler = task.batch_sampler(train_ds, tc.batch_size, shuffle=True, seed=tc.seed)
            # A loader-owned generator keeps DataLoader.__iter__ from drawing on the global RNG, so a run
            # resumed mid-epoch sees the same random stream (dropout, sampling) as an uninterrupted one.
            train_loader = DataLoader(
                train_ds,
                batch_sampler=self.sampler,
                collate_fn=partial(task.collate, train=True),
                generator=torch.Generator().manual_seed(tc.seed),
            )
            self.module, self.optimizer, self.train_loader, self.eval_loader = acc.prepare(
                self.module, self.optimizer, train_loader, eval_loader
            )
            self.steps_per_epoch = max(1, math.ceil(len(self.train_loader) / tc.grad_accum))
            return f"{len(train_ds):,} training examples"
        if not tc.max_steps:
            raise UserError("streamed data has no known length: set train.max_steps")
        self.module, self.optimizer, self.eval_loader = acc.prepare(self.module, self.optimizer, eval_loader)
        self.steps_per_epoch = None
        return "streamed training data"

    def _start_logs(self, data_text: str) -> None:
        """train_config.yaml, the trackers (with the config and the machine) and the opening line."""
        cfg, tc, acc = self.cfg, self.tc, self.accelerator
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "train_config.yaml").write_text(
                yaml.safe_dump(config_to_dict(cfg), sort_keys=False), encoding="utf-8"
            )
        runtime = {**runtime_facts(), "processes": acc.num_processes}
        acc.init_trackers("train", config=flatten({**config_to_dict(cfg), "runtime": runtime}, scalars=True))
        if self.precision_note:
            acc.print(f"train.mixed_precision {tc.mixed_precision}: {self.precision_note}")
        per_epoch = f"{self.steps_per_epoch:,}" if self.steps_per_epoch else "unknown"
        acc.print(
            f"training {type(self.vae).__name__}: {sum(p.numel() for p in self.vae.parameters()):,} parameters "
            f"({sum(p.numel() for g in self.optimizer.param_groups for p in g['params']):,} trained), "
            f"{data_text}, {self.total_steps:,} steps ({per_epoch} per epoch, global batch "
            f"{tc.batch_size * tc.grad_accum * acc.num_processes}), {acc.num_processes} process(es), "
            f"precision {acc.mixed_precision}"
        )

    # -- the loop -----------------------------------------------------------------------------------
    def run(self) -> Path:
        """Train to total_steps (or to a stop signal: checkpoint and exit), validate, save, finish."""
        from tqdm.auto import tqdm

        state, tc = self.state, self.tc
        # A bar on a terminal; redirected, a plain line every log_every steps instead of carriage returns.
        self.show_bar = tc.shows_progress_bar()
        self.bar = tqdm(
            total=self.total_steps,
            initial=state["step"],
            disable=not (self.main and self.show_bar),
            unit="step",
            dynamic_ncols=True,
            desc="train",
        )
        self.module.train()
        self.seconds_before, self.first_step = state["train_seconds"], state["step"]
        self.t_started = time.perf_counter()
        self.window = Window()
        stopped_by = None
        with StopSignal() as stop:
            while state["step"] < self.total_steps and stopped_by is None:
                for batch in self._epoch_batches():
                    beta = self.step(batch)
                    if not self.accelerator.sync_gradients:
                        continue
                    step = state["step"]
                    if step % tc.log_every == 0 or step == self.total_steps:
                        self.log(beta)
                    if tc.eval_every and step % tc.eval_every == 0 and step != self.total_steps:
                        self.validate()
                    if tc.save_every and step % tc.save_every == 0 and step != self.total_steps:
                        self.checkpoint()
                    if stop.received is not None:
                        stopped_by = stop.received
                    if step >= self.total_steps or stopped_by is not None:
                        break
                else:
                    state["epoch"] += 1
                    state["batches_in_epoch"] = 0
                    if not tc.eval_every and state["step"] < self.total_steps:
                        self.validate()
            self.bar.close()
            if stopped_by is not None:
                path = self.checkpoint()
                self.accelerator.print(
                    f"stopped by signal {stopped_by} at step {state['step']}; checkpoint saved to "
                    f"{path}; continue with `textvae train --resume auto --output-dir {self.out}`"
                )
                finish_processes(self.accelerator)
                raise SystemExit(128 + int(stopped_by))
            self.validate()
            if not tc.select_best:
                self.save_model("last")
            self.checkpoint()
        return self.finish()

    def _epoch_batches(self):
        """The batches of the current epoch, less those a resumed run has already trained on."""
        state = self.state
        if self.stream is not None:
            return self.stream.epoch(state["epoch"], skip=state["batches_in_epoch"], device=self.accelerator.device)
        self.sampler.set_epoch(state["epoch"])
        loader = self.train_loader
        if state["batches_in_epoch"]:
            loader = self.accelerator.skip_first_batches(self.train_loader, state["batches_in_epoch"])
        # Accelerate's loader sets the sampler's epoch to its own count of iterations when iterated;
        # after a resume (or through a fresh skip loader) that count is wrong unless set here.
        loader.set_epoch(state["epoch"])
        return loader

    def step(self, batch) -> float:
        """One forward and backward pass; on the last batch of an accumulation, the optimiser's step (the
        step count, the average and the bar move on). Returns the KL weight used."""
        acc, state, loss = self.accelerator, self.state, self.cfg.loss
        beta = kl_weight(loss.kl, state["step"], self.total_steps)
        with acc.accumulate(self.module):
            res = self.module(batch, beta, loss.free_bits, loss.free_bits_per == "example")
            acc.backward(res["loss"])
            if acc.sync_gradients:
                self._check_and_schedule()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        state["batches_in_epoch"] += 1
        self.window.add(res, self.task.count_units(batch))
        if acc.sync_gradients:
            state["step"] += 1
            if self.ema is not None:
                self.ema.update_parameters(self.vae)
            self.bar.update(1)
            if state["step"] == 1 and self.resume_path is None:  # process start to the end of the first step
                startup = seconds_since_start()
                if startup is not None:
                    acc.log({"train/seconds_to_first_step": startup}, step=1)
        return beta

    def _check_and_schedule(self) -> None:
        """Before the optimiser's step: clip the gradient, stop on divergence, set this step's rates."""
        tc, state = self.tc, self.state
        # The norm is global (gradients are all-reduced), so every process decides alike.
        norm = self.accelerator.clip_grad_norm_(self.module.parameters(), tc.clip_grad_norm or float("inf"))
        finite = bool(torch.isfinite(torch.as_tensor(norm)))
        # fp16: an infinite gradient is the loss scaler's business (it skips the step and lowers the
        # scale); only a long run of them means the model itself diverged.
        self.nonfinite_steps = 0 if finite else self.nonfinite_steps + 1
        if self.nonfinite_steps > (MAX_SKIPPED_FP16_STEPS if self.accelerator.mixed_precision == "fp16" else 0):
            raise UserError(diverged(state["step"], f"gradient norm {float(norm)}", self.ckpt_root))
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(tc, state["step"], self.total_steps) * group.get("lr_scale", 1.0)

    def log(self, beta: float) -> None:
        """The training losses since the last log line, summed over processes (the global batch's, as
        with one process), to the trackers and the bar or a plain line."""
        acc, step, unit = self.accelerator, self.state["step"], self.task.unit_name
        logs = {
            **self.window.means(acc, unit),
            "train/kl_weight": beta,
            "train/lr": self.optimizer.param_groups[0]["lr"],
            "epoch": self.state["epoch"],
        }
        peak = peak_rss_mb()  # the main process's
        if peak is not None:
            logs["train/peak_memory_mb"] = peak
        acc.log(logs, step=step)
        self.bar.set_postfix(
            loss=f"{logs['train/loss']:.2f}",
            kl=f"{logs['train/kl']:.2f}",
            beta=f"{beta:.2f}",
            **{f"{unit}/s": f"{logs[f'train/{unit}_per_s']:.0f}"},
        )
        if not self.show_bar:
            acc.print(
                progress_line(step, self.total_steps, logs, unit, self.first_step, time.perf_counter() - self.t_started)
            )
        self.window = Window()

    # -- validation and saving ----------------------------------------------------------------------
    def evaluate(self) -> dict:
        """-ELBO, reconstruction and KL per example of the validation data (all processes' examples)."""
        acc = self.accelerator
        self.module.eval()
        # The average, when kept, is what is validated and saved (autocast as the prepared module has it).
        scored, context = (
            (self.module, nullcontext()) if self.ema is None else (ElboModule(self.ema.module), acc.autocast())
        )
        rec, kl, n = 0.0, 0.0, 0
        with torch.no_grad(), context:
            for batch in self.eval_loader:
                res = scored(batch, 1.0, 0.0)
                each = acc.gather_for_metrics({"rec": res["rec_each"], "kl": res["kl_each"]})
                rec += float(each["rec"].double().sum())
                kl += float(each["kl"].double().sum())
                n += each["rec"].shape[0]
        self.module.train()
        return {"val/neg_elbo": (rec + kl) / n, "val/rec": rec / n, "val/kl": kl / n, "val/examples": n}

    def validate(self) -> None:
        """evaluate, logged and printed; with train.select_best, a better -ELBO saves the model."""
        state = self.state
        metrics = self.evaluate()
        metrics["epoch"] = state["epoch"]
        self.accelerator.log(metrics, step=state["step"])
        self.accelerator.print(
            f"step {state['step']}: validation -ELBO {metrics['val/neg_elbo']:.3f} "
            f"(rec {metrics['val/rec']:.3f}, KL {metrics['val/kl']:.3f})"
        )
        if self.tc.select_best and (state["best_val"] is None or metrics["val/neg_elbo"] < state["best_val"]):
            state["best_val"] = metrics["val/neg_elbo"]
            self.save_model("best")

    def save_model(self, tag: str) -> None:
        """The model (the average, when kept) to the output folder, by the main process."""
        from safetensors import SafetensorError

        if self.main:
            model = self.accelerator.unwrap_model(self.module).vae if self.ema is None else self.ema.module
            try:  # written under temporary names and renamed: a failed write leaves the old model
                model.save_pretrained(self.out)
            except (OSError, SafetensorError) as e:
                raise UserError(
                    f"could not save the {tag} model to {self.out} ({getattr(e, 'strerror', None) or e})"
                ) from None
        self.accelerator.wait_for_everyone()

    def checkpoint(self) -> Path:
        """The whole training state (save_state) and the loop's counters, for an exact resume."""
        self.state["train_seconds"] = round(self.seconds_before + time.perf_counter() - self.t_started, 1)
        return save_checkpoint(self.accelerator, self.ckpt_root, dict(self.state), self.tc.keep_last)

    def finish(self) -> Path:
        """On the main process, the saved model reloaded: its fitted prior (train.fit_prior) and the task's
        after-training pictures; then every process meets and closes. Returns the model folder."""
        if self.main:
            from ..registry import load_model

            model = load_model(self.out)
            if self.tc.fit_prior:
                _fit_prior(model, self.task, self.out, self.tc, self.accelerator.print)
            self.task.after_training(model, self.out, self.accelerator)
            self.accelerator.print(f"model saved to {self.out}")
        finish_processes(self.accelerator)
        return self.out


def _fit_prior(model, task, out: Path, tc, log) -> None:
    """train.fit_prior: a Gaussian mixture fitted to 4 codes of every training example becomes the
    model's prior; the model is saved again with it, the fit's report in prior_fit.json."""
    from .prior_fit import fit_prior_to_data, save_with_prior

    data = task.train_dataset()
    report = fit_prior_to_data(
        model,
        data,
        partial(task.collate, train=False),
        tc.fit_prior,
        samples_per_example=4,
        seed=tc.seed,
        batch_sampler=task.batch_sampler(data, tc.eval_batch_size, shuffle=False, seed=0),
        what="training examples",
        where=f"train.fit_prior {tc.fit_prior}: ",
        progress=False,
    )
    save_with_prior(model, out, report)
    log(
        f"prior: a {tc.fit_prior}-component Gaussian mixture fitted to {report['codes']:,} training codes "
        f"(average log p(z) {report['log_p_standard_normal']:.2f} under N(0, I), {report['log_p_fitted']:.2f} fitted)"
    )

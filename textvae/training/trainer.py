"""The one training loop, for every model and modality, on Hugging Face Accelerate.

Shape of accelerate's examples: build data and model, `prepare`, loop with `accumulate`/`backward`,
evaluate with `gather_for_metrics`, checkpoint with `save_state`, resume with `load_state` and
`skip_first_batches`. Nothing here knows whether it runs on one CPU or many GPUs, or on text or images.
"""
from __future__ import annotations

import math
import signal
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import torch
import yaml
from torch.utils.data import DataLoader

from ..core.elbo_module import ElboModule
from ..core.model import init_from_folder
from ..core.schedules import kl_weight
from ..errors import UserError
from ..registry import task_class
from ..runtime import (bound_onednn_cache, finish_processes, keep_freed_memory, peak_rss_mb, runtime_facts,
                       seconds_since_start)
from .checkpoints import load_checkpoint, read_state, resolve_resume, save_checkpoint
from .config import ExperimentConfig, config_to_dict
from .run_folder import check_output_folder, clear_output_folder


def lr_at(cfg, step: int, total_steps: int) -> float:
    """Learning rate at `step`: linear warm-up, then constant, cosine or linear decay to min_lr_ratio."""
    if cfg.lr_warmup_steps and step < cfg.lr_warmup_steps:
        return cfg.lr * (step + 1) / cfg.lr_warmup_steps
    if cfg.lr_schedule == "constant":
        return cfg.lr
    progress = min(1.0, (step - cfg.lr_warmup_steps) / max(1, total_steps - cfg.lr_warmup_steps))
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if cfg.lr_schedule == "cosine" else 1 - progress
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * shape)


def make_optimizer(params, cfg):
    kwargs = dict(lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, momentum=cfg.momentum, **kwargs)
    try:  # the fused kernel is ~4x faster per step on CPU (measured on PTB-sized models)
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(params, **kwargs)


class _StopSignal:
    """SIGINT/SIGTERM ask the loop to checkpoint and stop at the next step boundary."""

    def __init__(self):
        self.received = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.received is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


MAX_SKIPPED_FP16_STEPS = 50  # consecutive overflowing fp16 steps before the run is declared diverged


def _diverged(step: int, what: str, ckpt_root: Path) -> str:
    return (f"training diverged at step {step} ({what}); lower train.lr, or use train.mixed_precision=no; "
            f"the last good checkpoint, if any, is under {ckpt_root}")


def train(cfg: ExperimentConfig, resume: str | None = None, overwrite: bool = False) -> Path:
    """Train the experiment described by `cfg`; returns the model folder (cfg.train.output_dir).

    Args:
        resume: None, "auto" (latest checkpoint under output_dir/checkpoints) or a checkpoint folder.
        overwrite: a fresh run into a folder that holds a model or checkpoints empties it first (without
            it, such a run stops before writing anything).
    """
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed
    from safetensors import SafetensorError
    from tqdm.auto import tqdm

    from .tracking import JSONLTracker

    tc = cfg.train
    out = Path(tc.output_dir)
    check_output_folder(cfg, resume, overwrite)  # before anything is written
    keep_freed_memory()
    bound_onednn_cache()
    if tc.threads:
        torch.set_num_threads(tc.threads)
    trackers = []
    if "jsonl" in tc.report_to:
        trackers.append(JSONLTracker("train", out / "logs"))
    if "tensorboard" in tc.report_to:
        trackers.append("tensorboard")
    accelerator = Accelerator(
        mixed_precision=tc.mixed_precision, gradient_accumulation_steps=tc.grad_accum, log_with=trackers or None,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")))
    main = accelerator.is_main_process
    if overwrite:
        if main and (removed := clear_output_folder(out)):
            accelerator.print(f"--overwrite: emptied {out} ({removed} entries of the old run)")
        accelerator.wait_for_everyone()
    ckpt_root = out / "checkpoints"
    resume_path = resolve_resume(resume, ckpt_root) if resume else None
    set_seed(tc.seed)

    task = task_class(cfg.task)(cfg)
    task.setup(accelerator)
    vae = task.build_model()
    if tc.init_from and not resume_path:  # a resumed run reads every weight from its checkpoint
        task.check_init_from(Path(tc.init_from))
        copied = init_from_folder(vae, Path(tc.init_from), tc.init_parts)
        accelerator.print(f"initialised {len(copied)} tensors ({', '.join(tc.init_parts) or 'all'}) from "
                          f"{tc.init_from}")
        if vae.prior is not None and not any(name.startswith("prior.") for name in copied):
            raise UserError(f"model.prior_components {vae.prior.components}: the mixture must come from "
                            f"train.init_from; add prior to train.init_parts")
    if tc.fit_prior and getattr(vae, "encoder", True) is None:
        raise UserError(f"train.fit_prior {tc.fit_prior}: a language model (encoder kind none) has no codes to fit "
                        f"a prior to; set train.fit_prior=0")
    module = ElboModule(vae)
    # A model may give parameter groups (pretrained parts with their own rates); frozen ones are left out.
    groups = vae.parameter_groups(tc.lr) if hasattr(vae, "parameter_groups") else \
        [{"params": [p for p in vae.parameters() if p.requires_grad]}]
    optimizer = make_optimizer(groups, tc)

    eval_ds = task.eval_dataset()
    eval_sampler = task.batch_sampler(eval_ds, tc.eval_batch_size, shuffle=False, seed=0)
    eval_loader = DataLoader(eval_ds, batch_sampler=eval_sampler, collate_fn=partial(task.collate, train=False))
    # Streamed data is sharded by the stream itself (every process the same number of batches).
    stream = task.train_stream(tc.batch_size, tc.seed, accelerator.process_index, accelerator.num_processes)
    if stream is None:
        train_ds = task.train_dataset()
        sampler = task.batch_sampler(train_ds, tc.batch_size, shuffle=True, seed=tc.seed)
        # A loader-owned generator keeps DataLoader.__iter__ from drawing on the global RNG, so a run
        # resumed mid-epoch sees the same random stream (dropout, sampling) as an uninterrupted one.
        train_loader = DataLoader(train_ds, batch_sampler=sampler, collate_fn=partial(task.collate, train=True),
                                  generator=torch.Generator().manual_seed(tc.seed))
        module, optimizer, train_loader, eval_loader = accelerator.prepare(module, optimizer, train_loader, eval_loader)
        steps_per_epoch = max(1, math.ceil(len(train_loader) / tc.grad_accum))
        data_text = f"{len(train_ds):,} training examples"
    else:
        if not tc.max_steps:
            raise UserError("streamed data has no known length: set train.max_steps")
        module, optimizer, eval_loader = accelerator.prepare(module, optimizer, eval_loader)
        steps_per_epoch = None
        data_text = "streamed training data"
    total_steps = tc.max_steps or tc.epochs * steps_per_epoch
    ema = None
    if tc.ema_decay:  # a copy of the bare model (no DDP or autocast wrapper), checkpointed with the rest
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(vae, multi_avg_fn=get_ema_multi_avg_fn(tc.ema_decay), use_buffers=True)
        ema.requires_grad_(False).eval()
        accelerator.register_for_checkpointing(ema)
    # train_seconds: wall time of the run so far, summed over its resumed parts (up to the checkpoint).
    state = {"step": 0, "epoch": 0, "batches_in_epoch": 0, "best_val": None, "train_seconds": 0.0}
    if resume_path is not None:
        load_checkpoint(accelerator, resume_path)
        state.update(read_state(resume_path))
        accelerator.print(f"resumed from {resume_path} at step {state['step']}")
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False),
                                               encoding="utf-8")
    runtime = {**runtime_facts(), "processes": accelerator.num_processes}
    accelerator.init_trackers("train", config=_flat({**config_to_dict(cfg), "runtime": runtime}))
    accelerator.print(
        f"training {type(vae).__name__}: {sum(p.numel() for p in vae.parameters()):,} parameters "
        f"({sum(p.numel() for g in optimizer.param_groups for p in g['params']):,} trained), "
        f"{data_text}, {total_steps:,} steps "
        f"({f'{steps_per_epoch:,}' if steps_per_epoch else 'unknown'} per epoch, global batch {tc.batch_size * tc.grad_accum * accelerator.num_processes}), "
        f"{accelerator.num_processes} process(es), precision {tc.mixed_precision}")

    def evaluate() -> dict:
        module.eval()
        # The average, when kept, is what is validated and saved (autocast as the prepared module has it).
        scored, context = (module, nullcontext()) if ema is None else (ElboModule(ema.module), accelerator.autocast())
        rec, kl, n = 0.0, 0.0, 0
        with torch.no_grad(), context:
            for batch in eval_loader:
                res = scored(batch, 1.0, 0.0)
                each = accelerator.gather_for_metrics({"rec": res["rec_each"], "kl": res["kl_each"]})
                rec += float(each["rec"].double().sum())
                kl += float(each["kl"].double().sum())
                n += each["rec"].shape[0]
        module.train()
        return {"val/neg_elbo": (rec + kl) / n, "val/rec": rec / n, "val/kl": kl / n, "val/examples": n}

    def save_model(tag: str) -> None:
        if main:
            try:  # written under temporary names and renamed: a failed write leaves the old model
                (accelerator.unwrap_model(module).vae if ema is None else ema.module).save_pretrained(out)
            except (OSError, SafetensorError) as e:
                raise UserError(f"could not save the {tag} model to {out} ({getattr(e, 'strerror', None) or e})") from None
        accelerator.wait_for_everyone()

    def checkpoint() -> Path:
        state["train_seconds"] = round(seconds_before + time.perf_counter() - t_started, 1)
        return save_checkpoint(accelerator, ckpt_root, dict(state), tc.keep_last)

    def maybe_eval(force: bool = False) -> None:
        metrics = evaluate()
        metrics["epoch"] = state["epoch"]
        accelerator.log(metrics, step=state["step"])
        accelerator.print(f"step {state['step']}: validation -ELBO {metrics['val/neg_elbo']:.3f} "
                          f"(rec {metrics['val/rec']:.3f}, KL {metrics['val/kl']:.3f})")
        if tc.select_best and (state["best_val"] is None or metrics["val/neg_elbo"] < state["best_val"]):
            state["best_val"] = metrics["val/neg_elbo"]
            save_model("best")

    # A bar on a terminal; redirected, a plain line every log_every steps instead of carriage returns.
    show_bar = tc.shows_progress_bar()
    bar = tqdm(total=total_steps, initial=state["step"], disable=not (main and show_bar), unit="step",
               dynamic_ncols=True, desc="train")
    module.train()
    seconds_before, t_started, first_step = state["train_seconds"], time.perf_counter(), state["step"]
    window = {"units": 0, "t0": time.perf_counter(), "loss": 0.0, "rec": 0.0, "kl": 0.0, "n": 0}
    stopped_by = None
    nonfinite_steps = 0
    with _StopSignal() as stop:
        while state["step"] < total_steps and stopped_by is None:
            if stream is not None:
                loader = stream.epoch(state["epoch"], skip=state["batches_in_epoch"], device=accelerator.device)
            else:
                sampler.set_epoch(state["epoch"])
                loader = train_loader
                if state["batches_in_epoch"]:
                    loader = accelerator.skip_first_batches(train_loader, state["batches_in_epoch"])
                # Accelerate's loader sets the sampler's epoch to its own count of iterations when iterated;
                # after a resume (or through a fresh skip loader) that count is wrong unless set here.
                loader.set_epoch(state["epoch"])
            for batch in loader:
                beta = kl_weight(cfg.loss.kl, state["step"], total_steps)
                with accelerator.accumulate(module):
                    res = module(batch, beta, cfg.loss.free_bits, cfg.loss.free_bits_per == "example")
                    accelerator.backward(res["loss"])
                    if accelerator.sync_gradients:
                        # The norm is global (gradients are all-reduced), so every process decides alike.
                        norm = accelerator.clip_grad_norm_(module.parameters(), tc.clip_grad_norm or float("inf"))
                        finite = bool(torch.isfinite(torch.as_tensor(norm)))
                        # fp16: an infinite gradient is the loss scaler's business (it skips the step and
                        # lowers the scale); only a long run of them means the model itself diverged.
                        nonfinite_steps = 0 if finite else nonfinite_steps + 1
                        if nonfinite_steps > (MAX_SKIPPED_FP16_STEPS if tc.mixed_precision == "fp16" else 0):
                            raise UserError(_diverged(state["step"], f"gradient norm {float(norm)}", ckpt_root))
                        for group in optimizer.param_groups:
                            group["lr"] = lr_at(tc, state["step"], total_steps) * group.get("lr_scale", 1.0)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                state["batches_in_epoch"] += 1
                window["units"] += task.count_units(batch)
                window["loss"] += float(res["loss"].detach())
                window["rec"] += float(res["rec"].detach())
                window["kl"] += float(res["kl"].detach())
                window["n"] += 1
                if not accelerator.sync_gradients:
                    continue
                state["step"] += 1
                if ema is not None:
                    ema.update_parameters(vae)
                bar.update(1)
                step = state["step"]
                if step == 1 and resume_path is None:  # process start to the end of the first step
                    startup = seconds_since_start()
                    if startup is not None:
                        accelerator.log({"train/seconds_to_first_step": startup}, step=step)
                if step % tc.log_every == 0 or step == total_steps:
                    # Summed over processes: the logged losses are the global batch's, as with one process.
                    sums = accelerator.reduce(torch.tensor([float(window[k]) for k in ("units", "loss", "rec", "kl", "n")],
                                                           dtype=torch.float64, device=accelerator.device), "sum")
                    units, loss, rec, kl, n = sums.tolist()
                    dt = time.perf_counter() - window["t0"]
                    n = max(1.0, n)
                    logs = {"train/loss": loss / n, "train/rec": rec / n, "train/kl": kl / n, "train/kl_weight": beta,
                            "train/lr": optimizer.param_groups[0]["lr"],
                            f"train/{task.unit_name}_per_s": units / dt, "epoch": state["epoch"]}
                    peak = peak_rss_mb()  # the main process's
                    if peak is not None:
                        logs["train/peak_memory_mb"] = peak
                    accelerator.log(logs, step=step)
                    bar.set_postfix(loss=f"{logs['train/loss']:.2f}", kl=f"{logs['train/kl']:.2f}",
                                    beta=f"{beta:.2f}", **{f"{task.unit_name}/s": f"{logs[f'train/{task.unit_name}_per_s']:.0f}"})
                    if not show_bar:
                        accelerator.print(_progress_line(step, total_steps, logs, task.unit_name, first_step,
                                                         time.perf_counter() - t_started))
                    window = {"units": 0, "t0": time.perf_counter(), "loss": 0.0, "rec": 0.0, "kl": 0.0, "n": 0}
                if tc.eval_every and step % tc.eval_every == 0 and step != total_steps:
                    maybe_eval()
                if tc.save_every and step % tc.save_every == 0 and step != total_steps:
                    checkpoint()
                if stop.received is not None:
                    stopped_by = stop.received
                if step >= total_steps or stopped_by is not None:
                    break
            else:
                state["epoch"] += 1
                state["batches_in_epoch"] = 0
                if not tc.eval_every and state["step"] < total_steps:
                    maybe_eval()
        bar.close()
        if stopped_by is not None:
            path = checkpoint()
            accelerator.print(f"stopped by signal {stopped_by} at step {state['step']}; checkpoint saved to {path}; "
                              f"continue with `textvae train --resume auto --output-dir {out}`")
            finish_processes(accelerator)
            raise SystemExit(128 + int(stopped_by))
        maybe_eval()
        if not tc.select_best:
            save_model("last")
        checkpoint()
    if main:
        from ..registry import load_model

        model = load_model(out)
        if tc.fit_prior:
            _fit_prior(model, task, out, tc, accelerator.print)
        task.after_training(model, out, accelerator)
        accelerator.print(f"model saved to {out}")
    finish_processes(accelerator)
    return out


def _fit_prior(model, task, out: Path, tc, log) -> None:
    """train.fit_prior: a Gaussian mixture fitted to codes of the training data becomes the model's
    prior; the model is saved again with it, the fit's report in prior_fit.json."""
    import json

    from ..core.priors import GaussianMixturePrior
    from ..evaluation import posterior_codes

    data = task.train_dataset()
    if len(data) * 4 < 2 * tc.fit_prior:
        raise UserError(f"train.fit_prior {tc.fit_prior}: {len(data)} training examples x 4 codes are too few "
                        f"for {tc.fit_prior} components (at least {2 * tc.fit_prior} codes)")
    sampler = task.batch_sampler(data, tc.eval_batch_size, shuffle=False, seed=0)
    codes = posterior_codes(model, data, partial(task.collate, train=False), batch_sampler=sampler,
                            samples_per_example=4, seed=tc.seed, progress=False)
    prior = GaussianMixturePrior(tc.fit_prior, model.latent_size)
    report = prior.fit(codes, seed=tc.seed)
    model.prior = prior
    model.config.prior_components = tc.fit_prior
    model.save_pretrained(out)
    (out / "prior_fit.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log(f"prior: a {tc.fit_prior}-component Gaussian mixture fitted to {codes.shape[0]:,} training codes "
        f"(average log p(z) {report['log_p_standard_normal']:.2f} under N(0, I), {report['log_p_fitted']:.2f} fitted)")


def _progress_line(step: int, total: int, logs: dict, unit: str, first_step: int, seconds: float) -> str:
    """The plain progress line printed instead of a bar: step, losses, speed, time spent and left."""
    left = seconds / max(1, step - first_step) * (total - step)
    return (f"step {step}/{total}: loss {logs['train/loss']:.3f} (rec {logs['train/rec']:.3f}, "
            f"KL {logs['train/kl']:.3f}, weight {logs['train/kl_weight']:.2f}), {logs[f'train/{unit}_per_s']:.0f} {unit}/s, "
            f"{_clock(seconds)} spent, {_clock(left)} left")


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def _flat(d: dict, prefix: str = "") -> dict:
    """Nested config -> flat {a.b: value} with TensorBoard-friendly values."""
    flat = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(_flat(v, key + "."))
        else:
            flat[key] = v if isinstance(v, (int, float, str, bool)) else str(v)
    return flat

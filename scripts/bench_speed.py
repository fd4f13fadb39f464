"""Benchmark: training, evaluation and generation throughput of textvae on PTB shapes, beside a minimal
hand-written PyTorch loop and the machine's own matrix-product peak.

    python scripts/bench_speed.py [--ptb ../shared/data/ptb] [--out benchmarks] [--runs runs/bench-speed]
                                  [--steps 300] [--rounds 2] [--eval-sentences 400] [--models NAME ...]
    python scripts/bench_speed.py --render [benchmarks]     # speed.md again from the speed-*.json

For each model (MODELS) and precision (fp32, bf16), `textvae train` runs exactly as a user runs it
(a subprocess, the config file plus overrides), then a minimal hand-written loop (plain torch modules:
nn.Embedding, nn.GRU/nn.LSTM on packed sequences, nn.Linear, F.cross_entropy, torch.optim.Adam) on
the same batches (textvae's tokenizer and length-bucketed sampler, same seed), alternating for
--rounds rounds; throughput is the median over the logged windows of real (non-pad) tokens per
second, eos included, the first window of each run (start-up) left out.

Also measured: the bf16 and fp32 matrix-product peak (2048 x 2048, median of repeats) and the share
of it training reaches (model FLOPs per token counted analytically, forward and backward = 3x the
forward); padding waste of the batches; `textvae evaluate` with 500 importance samples on the first
--eval-sentences test sentences (sentences/s, the whole test split's time extrapolated by tokens, and
bf16's NLL against fp32's on a smaller subset); encoding and generation sentences/s (greedy, top-p 0.9
sampling, beam 5, batches of 64); the command line's start-up (`textvae --help`) and the seconds from
process start to the end of the first training step. Writes speed-MACHINE.json (MACHINE: amd-epyc,
intel-xeon-amx, ...; the processor varies between sessions) and speed.md, a section per machine file found
under --out.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml
from bench_ptb import ptb_files  # scripts/ is on sys.path when a script here runs
from benchlib import ROOT, run  # scripts/ is on sys.path when a script here runs
from speed_report import LOG_EVERY, machine_slug, write_markdown

from textvae.runtime import has_amx, processor_name

PY = [sys.executable, "-m", "textvae"]
MODELS = {
    "sentencevae": (
        "GRU 300/256, latent 16, batch 32 (the public Sentence-VAE's shapes)",
        "configs/text/ptb-sentencevae.yaml",
        [],
    ),
    "lstm": ("LSTM VAE 256/256, latent 32, batch 64 (the PTB benchmark's)", "configs/text/ptb-lstm.yaml", []),
    "transformer": (
        "Transformer VAE 2+2 layers, d 256, latent 32, batch 64",
        "configs/text/snli-transformer.yaml",
        ["data.tokenizer.kind=word", "data.max_length=100", "data.long_policy=truncate"],
    ),
}
PRECISIONS = ("no", "bf16")
HAND_LOOP = str(Path(__file__).with_name("speed_hand_loop.py"))  # the baseline, in a process of its own


# -- the machine ------------------------------------------------------------------------------------


def matmul_peak(dtype_name: str, n: int = 2048, reps: int = 10) -> float:
    """Median GFLOP/s of an n x n x n product on this process's threads."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def flops_per_token(cfg: dict) -> float:
    """Forward + backward multiply-adds x 2 of the model per predicted token (3x the forward): the
    output layer, the decoder and the encoder (per token it reads), the embedding lookups left out."""
    m = cfg["model"]
    V, E, D = m["vocab_size"], m["embed_size"], m["latent_size"]
    enc, dec = m["encoder"], m["decoder"]
    fwd = 2 * dec["hidden_size"] * V

    def rnn(kind, inp, hid, layers, directions):
        gates = 4 if kind == "lstm" else 3
        total, width = 0, inp
        for _ in range(layers):
            total += directions * 2 * gates * hid * (width + hid)
            width = hid * directions
        return total

    def transformer(width, layers, ff, inp):
        proj = 2 * inp * width if inp != width else 0
        return proj + layers * (2 * 4 * width * width + 2 * 2 * width * ff)  # attention scores left out

    if dec["kind"] == "transformer":
        fwd += transformer(dec["hidden_size"], dec["num_layers"], dec["ff_size"], E)
    else:
        fwd += rnn(dec["kind"], E + (D if dec.get("z_to_every_input") else 0), dec["hidden_size"], dec["num_layers"], 1)
    if enc["kind"] == "transformer":
        fwd += transformer(enc["hidden_size"], enc["num_layers"], enc["ff_size"], E)
    elif enc["kind"] != "none":
        fwd += rnn(enc["kind"], E, enc["hidden_size"], enc["num_layers"], 2 if enc["bidirectional"] else 1)
    return 3.0 * fwd


# -- runs ---------------------------------------------------------------------------------------------


def windows(log: Path) -> tuple[list[float], float | None]:
    records = [json.loads(line) for line in log.read_text().splitlines()]
    speeds = [r["train/tokens_per_s"] for r in records if "train/tokens_per_s" in r]
    startup = next((r["train/seconds_to_first_step"] for r in records if "train/seconds_to_first_step" in r), None)
    return speeds[1:], startup


def textvae_train(key: str, precision: str, steps: int, folder: Path, data: dict) -> dict:
    _, config, extra = MODELS[key]
    run(
        [
            *PY,
            "train",
            "--config",
            config,
            "--output-dir",
            folder,
            "--overwrite",
            f"data.train_file={data['train']}",
            f"data.valid_file={data['valid']}",
            f"train.max_steps={steps}",
            f"train.log_every={LOG_EVERY}",
            f"train.mixed_precision={precision}",
            "train.progress_bar=false",
            "train.report_to=[jsonl]",
            "train.threads=2",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
    )
    speeds, startup = windows(folder / "logs" / "train.jsonl")
    return {"windows": speeds, "seconds_to_first_step": startup, "val_neg_elbo": final_val(folder)}


def final_val(folder: Path) -> float | None:
    """The validation -ELBO logged at the end of a run (to compare precisions after the same steps)."""
    records = [json.loads(line) for line in (folder / "logs" / "train.jsonl").read_text().splitlines()]
    return next((r["val/neg_elbo"] for r in reversed(records) if "val/neg_elbo" in r), None)


def hand_train(key: str, precision: str, steps: int, folder: Path, data: dict) -> dict:
    out = folder / "hand.json"
    run(
        [sys.executable, HAND_LOOP, key, precision, str(steps), str(out), data["train"], data["valid"]],
        stdout=subprocess.DEVNULL,
    )
    return json.loads(out.read_text())


def train_rows(args, data: dict) -> list[dict]:
    rows = []
    for key in args.models:
        for precision in PRECISIONS:
            runs = {"textvae": [], "hand": []}
            startup, waste, cfg = None, None, None
            for r in range(args.rounds):
                folder = Path(args.runs) / f"{key}-{precision}-{r}"
                res = textvae_train(key, precision, args.steps, folder, data)
                runs["textvae"] += res["windows"]
                startup = startup or res["seconds_to_first_step"]
                if key != "transformer":
                    hand = hand_train(key, precision, args.steps, folder, data)
                    runs["hand"] += hand["windows"]
                    waste = hand["padding_waste"]
                cfg = yaml.safe_load((folder / "train_config.yaml").read_text())
            tv = statistics.median(runs["textvae"])
            hand = statistics.median(runs["hand"]) if runs["hand"] else None
            fpt = flops_per_token(cfg)
            rows.append(
                {
                    "model": key,
                    "name": MODELS[key][0],
                    "precision": precision,
                    "textvae_tokens_per_s": tv,
                    "hand_tokens_per_s": hand,
                    "ratio": tv / hand if hand else None,
                    "textvae_windows": runs["textvae"],
                    "hand_windows": runs["hand"],
                    "flops_per_token": fpt,
                    "gflops": fpt * tv / 1e9,
                    "padding_waste": waste,
                    "seconds_to_first_step": startup,
                    "model_folder": str(Path(args.runs) / f"{key}-{precision}-0"),
                    "val_neg_elbo": final_val(Path(args.runs) / f"{key}-{precision}-0"),
                }
            )
    return rows


def test_sentences(data: dict) -> list[str]:
    from textvae.text.data import read_sentences

    return read_sentences(data["test"], "text", what="--ptb")[0]


def eval_rows(args, data: dict, model_dir: Path) -> dict:
    test = test_sentences(data)
    total_tokens = sum(len(s.split()) + 1 for s in test)
    runs = Path(args.runs)
    res = {"test_sentences": len(test), "test_tokens": total_tokens}
    subset = test[: args.eval_sentences] if args.eval_sentences else test
    (runs / "eval-subset.txt").write_text("\n".join(subset) + "\n")
    seconds = run(
        [
            *PY,
            "evaluate",
            model_dir,
            "--data",
            runs / "eval-subset.txt",
            "--iw-samples",
            "500",
            "--mixed-precision",
            "bf16",
            "--output",
            runs / "eval-bf16.json",
        ],
        stdout=subprocess.DEVNULL,
    )
    sub_tokens = sum(len(s.split()) + 1 for s in subset)
    res.update(
        {
            "eval_sentences": len(subset),
            "eval_seconds": seconds,
            "eval_sentences_per_s": len(subset) / seconds,
            "test_split_minutes": seconds * total_tokens / sub_tokens / 60,
            "test_split_extrapolated": len(subset) < len(test),
        }
    )
    small = test[: args.precision_sentences]
    (runs / "eval-small.txt").write_text("\n".join(small) + "\n")
    nll = {}
    for precision in ("no", "bf16"):
        out = runs / f"eval-small-{precision}.json"
        run(
            [
                *PY,
                "evaluate",
                model_dir,
                "--data",
                runs / "eval-small.txt",
                "--iw-samples",
                "500",
                "--mixed-precision",
                precision,
                "--output",
                out,
            ],
            stdout=subprocess.DEVNULL,
        )
        nll[precision] = json.loads(out.read_text())["nll"]
    res.update(
        {
            "precision_sentences": len(small),
            "nll_fp32": nll["no"],
            "nll_bf16": nll["bf16"],
            "nll_bf16_minus_fp32": nll["bf16"] - nll["no"],
        }
    )
    return res


def generation_rows(model_dir: Path, data: dict, n: int = 512) -> dict:
    import torch

    from textvae.registry import load_model

    torch.set_num_threads(2)
    model = load_model(model_dir)
    sentences = test_sentences(data)[: 2 * n]
    res = {}
    t0 = time.perf_counter()
    model.encode(sentences, batch_size=64)
    res["encode_sentences_per_s"] = len(sentences) / (time.perf_counter() - t0)
    for name, kwargs in [
        ("greedy", {"strategy": "greedy"}),
        ("top-p 0.9", {"strategy": "sample", "top_p": 0.9}),
        ("beam 5", {"strategy": "beam", "beam_size": 5}),
    ]:
        count = n if name != "beam 5" else n // 4
        t0 = time.perf_counter()
        model.sample(count, seed=0, batch_size=64, max_length=60, **kwargs)
        res[f"{name} sentences_per_s"] = count / (time.perf_counter() - t0)
    return res


def help_seconds(reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run([*PY, "--help"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--render":  # speed.md again from the machine files (and run folders)
        out = Path(sys.argv[2] if len(sys.argv) > 2 else "benchmarks")
        for path in sorted(out.glob("speed-*.json")):
            result = json.loads(path.read_text())
            for r in result["train"]:
                if r.get("val_neg_elbo") is None and Path(r["model_folder"]).is_dir():
                    r["val_neg_elbo"] = final_val(Path(r["model_folder"]))
            path.write_text(json.dumps(result, indent=2) + "\n")
        print(write_markdown(out))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ptb", default=str(ROOT.parent / "shared" / "data" / "ptb"))
    p.add_argument("--out", default="benchmarks")
    p.add_argument("--runs", default="runs/bench-speed")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--eval-sentences", type=int, default=400, help="0: the whole test split")
    p.add_argument("--precision-sentences", type=int, default=100)
    p.add_argument("--skip-eval", action="store_true")
    p.add_argument(
        "--eval-only",
        action="store_true",
        help="keep the training rows of --out/speed.json; measure evaluation and generation again",
    )
    args = p.parse_args()

    import torch

    torch.set_num_threads(2)
    data = ptb_files(Path(args.ptb))
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    cpu = processor_name()
    out = Path(args.out)
    machine = {
        "cpu": f"{platform.machine()} {cpu}",
        "amx": has_amx(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    path = out / f"speed-{machine_slug(machine)}.json"
    if args.eval_only:
        result = json.loads(path.read_text())
    else:
        machine["peak_gflops"] = {d: matmul_peak(d) for d in ("float32", "bfloat16")}
        result = {
            "machine": machine,
            "date": time.strftime("%Y-%m-%d"),
            "steps": args.steps,
            "rounds": args.rounds,
            "startup": {"help_seconds": help_seconds()},
        }
        result["train"] = train_rows(args, data)
    lstm = next((r for r in result["train"] if r["model"] == "lstm"), result["train"][0])
    if not args.skip_eval:
        result["eval"] = eval_rows(args, data, Path(lstm["model_folder"]))
    result["generation"] = generation_rows(Path(lstm["model_folder"]), data)
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(write_markdown(out))


if __name__ == "__main__":
    main()

"""Benchmark: the conv VAE of configs/image/fashion-mnist.yaml against the Kingma-Welling MLP VAE
(configs/image/fashion-mnist-mlp.yaml), trained by the same trainer for the same number of steps,
both evaluated with the importance-weighted bound (500 samples) on the 10,000 Fashion-MNIST test images.

    python scripts/bench_fashion_mnist.py [--data PATH] [--out benchmarks] [--runs runs/bench] [key=value ...]

Overrides apply to both runs (e.g. train.epochs=5 for a quick look). Writes fashion-mnist.json and
fashion-mnist.md under --out; each row names the commands that produced it.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from benchlib import run, textvae, train_command  # scripts/ is on sys.path when a script here runs

from textvae.runtime import processor_name

MODELS = {"conv": "configs/image/fashion-mnist.yaml", "mlp (Kingma-Welling)": "configs/image/fashion-mnist-mlp.yaml"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="", help="Fashion-MNIST folder (default: ../shared/data/fashion-mnist)")
    p.add_argument("--out", default="benchmarks")
    p.add_argument("--runs", default="runs/bench-fashion-mnist")
    p.add_argument("--iw-samples", type=int, default=500)
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, config in MODELS.items():
        folder = Path(args.runs) / Path(config).stem
        overrides = ([f"data.path={args.data}"] if args.data else []) + args.overrides + ["train.progress_bar=false"]
        train_cmd = train_command(
            config,
            str(folder),
            "--overwrite",
            *overrides,
        )
        train_s = run(train_cmd)
        result = folder / "test_eval.json"
        eval_cmd = textvae(
            "evaluate",
            str(folder),
            "--iw-samples",
            str(args.iw_samples),
            "--output",
            str(result),
        )
        eval_s = run(eval_cmd)
        res = json.loads(result.read_text())
        state = json.loads(
            max(
                (folder / "checkpoints").glob("step-*/trainer_state.json"),
                key=lambda f: int(f.parent.name.split("-")[1]),
            ).read_text()
        )
        from safetensors import safe_open

        with safe_open(str(folder / "model.safetensors"), "pt") as f:
            params = sum(_numel(f.get_slice(k).get_shape()) for k in f.keys())
        rows.append(
            {
                "model": name,
                "config": config,
                "parameters": params,
                "steps": state["step"],
                "nll_nats": res["nll"],
                "bits_per_dim": res["bits_per_dim"],
                "neg_elbo": res["neg_elbo"],
                "kl": res["kl"],
                "mi": res["mi"],
                "active_units": res["active_units"],
                "latent_size": res["latent_size"],
                "iw_samples": args.iw_samples,
                "train_seconds": round(train_s, 1),
                "eval_seconds": round(eval_s, 1),
                "commands": [shlex.join(train_cmd[1:]), shlex.join(eval_cmd[1:])],
            }
        )
    report = {
        "benchmark": "Fashion-MNIST, dynamically binarized (test: one fixed binarization, seed 0)",
        "protocol": f"NLL = -mean over the 10,000 test images of the importance-weighted bound with "
        f"k={args.iw_samples}; bits/dim = NLL / (784 ln 2)",
        "machine": f"{processor_name()}, torch threads 2, CPU only",
        "rows": rows,
    }
    (out / "fashion-mnist.json").write_text(json.dumps(report, indent=2) + "\n")
    print(write_markdown(report, out / "fashion-mnist.md"))


def write_markdown(report: dict, path: Path) -> str:
    rows = report["rows"]
    lines = [
        f"# {report['benchmark']}",
        "",
        report["protocol"] + ".",
        "",
        "| model | parameters | steps | NLL (nats) | bits/dim | -ELBO | KL | MI | active units |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['parameters']:,} | {r['steps']:,} | {r['nll_nats']:.2f} | "
            f"{r['bits_per_dim']:.4f} | {r['neg_elbo']:.2f} | {r['kl']:.2f} | {r['mi']:.2f} | "
            f"{r['active_units']}/{r['latent_size']} |"
        )
    lines += [
        "",
        f"Machine: {report['machine']}. Wall times are in the JSON; they are not speed measurements "
        "when other jobs shared the machine.",
        "",
        "Commands (from the project root):",
        "",
    ]
    lines += [f"    python {c}" for r in rows for c in r["commands"]]
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


if __name__ == "__main__":
    main()

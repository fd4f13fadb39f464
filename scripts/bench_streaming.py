"""Benchmark: memory and time of one pass over a corpus 1x, 3x and 10x as large, streamed from disk
(`data.streaming=true`) and read into memory (the default), with the same small text VAE.

    python scripts/bench_streaming.py [--ptb ../shared/data/ptb] [--out benchmarks] [--runs runs/bench-streaming]
                                      [--sizes 1 3 10] [key=value ...]

The corpus is the Penn Treebank training text (42,068 sentences) repeated k times; the validation
file is PTB's. Each run is one `textvae train` in its own process, one epoch (streaming: max_steps =
the number of batches in one pass); peak memory is that process's maximum resident set size
(getrusage ru_maxrss). The model is deliberately small so that the reading, tokenizing and batching
of the data is a visible share of the work. Writes streaming.json and streaming.md under --out.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import shlex
import subprocess
import sys
import time
from pathlib import Path

from textvae.runtime import processor_name

ROOT = Path(__file__).resolve().parent.parent
CONFIG = "configs/text/snli-lstm.yaml"
BATCH = 64
SAMPLE = 40_000  # sentences the streamed runs train the tokenizer on (PTB x1 has 42,068)
MODEL = [
    "data.tokenizer.kind=word",
    "data.tokenizer.max_size=2000",
    "model.embed_size=32",
    "model.latent_size=16",
    "model.encoder.hidden_size=32",
    "model.decoder.hidden_size=32",
    f"train.batch_size={BATCH}",
    "train.eval_batch_size=64",
    "train.progress_bar=false",
    "train.select_best=false",
    "train.report_to=[jsonl]",
    "train.log_every=100",
    "train.threads=2",
    "data.max_length=80",
]
# Runs `textvae train` in this process and leaves its peak resident memory (kB on Linux) in a file.
WRAPPER = """
import resource, sys
from textvae.cli import main
try:
    main(sys.argv[2:])
finally:
    open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ptb", default=str(ROOT.parent / "shared" / "data" / "ptb"))
    p.add_argument("--out", default="benchmarks")
    p.add_argument("--runs", default="runs/bench-streaming")
    p.add_argument("--sizes", type=int, nargs="+", default=[1, 3, 10])
    p.add_argument("--modes", nargs="+", default=["streaming", "in-memory"], choices=["streaming", "in-memory"])
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    runs, out = Path(args.runs), Path(args.out)
    runs.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    train = gzip.open(Path(args.ptb) / "ptb.train.txt.gz", "rt", encoding="utf-8").read().splitlines()
    valid = runs / "ptb.valid.txt"
    valid.write_text(gzip.open(Path(args.ptb) / "ptb.valid.txt.gz", "rt", encoding="utf-8").read(), encoding="utf-8")
    rows = []
    for k in args.sizes:
        corpus = runs / f"ptb.train.x{k}.txt"
        if not corpus.exists():
            corpus.write_text("\n".join(train * k) + "\n", encoding="utf-8")
        n = len(train) * k
        for mode in args.modes:
            folder = runs / f"{mode}-x{k}"
            data = [f"data.train_file={corpus}", f"data.valid_file={valid}"]
            # The same tokenizer sample at every size: memory should not depend on the corpus.
            extra = (
                ["data.streaming=true", f"data.stream_sample={SAMPLE}", f"train.max_steps={math.ceil(n / BATCH)}"]
                if mode == "streaming"
                else ["train.epochs=1"]
            )
            argv = [
                "train",
                "--config",
                CONFIG,
                "--output-dir",
                str(folder),
                "--overwrite",
                *data,
                *MODEL,
                *extra,
                *args.overrides,
            ]
            rss_file = runs / f"{mode}-x{k}.rss"
            cmd = [sys.executable, "-c", WRAPPER, str(rss_file), *argv]
            print("$ python -m textvae " + shlex.join(argv), flush=True)
            start = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, check=True)
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "mode": mode,
                    "copies": k,
                    "sentences": n,
                    "bytes": corpus.stat().st_size,
                    "seconds": round(seconds, 1),
                    "peak_rss_mb": round(int(rss_file.read_text()) / 1024, 1),
                    "command": "python -m textvae " + shlex.join(argv),
                }
            )
            print(rows[-1], flush=True)
    report = {
        "benchmark": "one pass over PTB training text repeated 1x/3x/10x, streamed vs in memory",
        "machine": f"{processor_name()}, 2 cores, CPU only, torch threads 2",
        "tokenizer_sample": SAMPLE,
        "model": "LSTM VAE, embeddings 32, hidden 32, latent 16, word vocabulary of the 2,000 most frequent words, batch 64",  # noqa: E501
        "rows": rows,
    }
    (out / "streaming.json").write_text(json.dumps(report, indent=2) + "\n")
    print(write_markdown(report, out / "streaming.md"))


def write_markdown(report: dict, path: Path) -> str:
    rows = report["rows"]
    base = {r["mode"]: r for r in rows if r["copies"] == min(x["copies"] for x in rows)}
    lines = [
        f"# Streaming: {report['benchmark']}",
        "",
        f"{report['model']}; {report['machine']}. Each run is one `textvae train` process; time is its wall "
        f"time for one pass (reading, tokenizer, training, one validation), peak memory its maximum "
        f"resident set size. Ratios are against the smallest corpus of the same mode. Streamed runs "
        f"train the tokenizer on the first {report['tokenizer_sample']:,} sentences at every size.",
        "",
        "| mode | corpus | sentences | MB on disk | wall time (s) | time ratio | peak RSS (MB) | RSS ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        b = base[r["mode"]]
        lines.append(
            f"| {r['mode']} | {r['copies']}x | {r['sentences']:,} | {r['bytes'] / 2**20:.1f} | "
            f"{r['seconds']:.1f} | {r['seconds'] / b['seconds']:.2f} | {r['peak_rss_mb']:.0f} | "
            f"{r['peak_rss_mb'] / b['peak_rss_mb']:.2f} |"
        )
    lines += ["", "Commands (from the project root):", ""]
    lines += [f"    {r['command']}" for r in rows]
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


if __name__ == "__main__":
    main()

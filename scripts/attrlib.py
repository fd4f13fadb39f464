"""What the attribute benchmark's rows share (scripts/bench_attributes.py): where runs and results go,
training an arm once, the test NLL, the codes every model can encode, and the scores of one dimension."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from benchlib import ROOT, shown, textvae  # scripts/ is on sys.path when a script here runs

RUNS = Path(os.environ.get("BENCH_ATTRIBUTES_RUNS", ROOT / "runs" / "attributes")).resolve()  # a dry run elsewhere
OUT = Path(os.environ.get("BENCH_ATTRIBUTES_OUT", ROOT / "benchmarks")).resolve()
POLARITY = ROOT.parent / "shared" / "data" / "sentence-polarity"


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def run(args: list, commands: list) -> float:
    """Run `textvae ARGS` from the project root, its command line kept in `commands`; its wall time."""
    cmd = textvae(*args)
    commands.append(shown(cmd))
    log(commands[-1])
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    return time.perf_counter() - t


def train(out: Path, args: list, commands: list) -> dict:
    """Train into `out` unless a finished run is there (DONE); the train seconds from the log."""
    cmd = ["train", *args[:2], "--output-dir", out.relative_to(ROOT), *args[2:]]
    if (out / "DONE").exists():
        commands.append(shown(textvae(*cmd)))
        log(f"reusing {out}")
    else:
        if out.exists():
            sys.exit(f"bench_attributes: {out} holds an unfinished run; delete it or finish it with --resume")
        run(cmd, commands)
        (out / "DONE").write_text("finished\n")
    steps = [json.loads(line) for line in (out / "logs" / "train.jsonl").read_text().splitlines() if line.strip()]
    return {"steps": max(s.get("step", 0) for s in steps)}


def nll(model_dir: Path, k: int, commands: list, data: Path | None = None) -> dict:
    out = model_dir / f"test_eval_k{k}.json"
    args = ["evaluate", model_dir.relative_to(ROOT), "--iw-samples", k, "--output", out.relative_to(ROOT)]
    if data is not None:
        args += ["--data", data.relative_to(ROOT) if data.is_relative_to(ROOT) else data]
    if not out.exists():
        run(args, commands)
    else:
        commands.append(shown(textvae(*args)))
    return json.loads(out.read_text())


def sweep_values(z_r: np.ndarray, n: int = 9) -> list[float]:
    lo, hi = np.percentile(z_r, [5, 95])
    return np.linspace(lo, hi, n).tolist()


def encodable(models: list, texts: list[str]) -> np.ndarray:
    """Indices of the sentences every model can encode: not every word unknown to its vocabulary (PTB's
    "<unk> <unk>", a review of two rare names), which encode_sentences refuses. The rest are left out of
    the codes (their count is in the row)."""
    keep = [
        i for i, t in enumerate(texts) if all(any(x != m.config.unk_id for x in m.tokenizer.encode(t)) for m in models)
    ]
    return np.array(keep, dtype=int)


def subset(part: dict, keep: np.ndarray) -> dict:
    return {**part, "texts": [part["texts"][i] for i in keep], "labels": part["labels"][keep]}


def attribute_scores(codes, base_codes, a, dim) -> dict:
    from textvae.core.attributes import best_spearman, interpretability, spearman

    r, score = interpretability(codes, a)
    bd, bs = best_spearman(base_codes, a)
    _, bscore = interpretability(base_codes, a)
    return {
        "dim": dim,
        "scc": spearman(codes[:, dim], a),
        "interpretability": score,
        "interpretability_dim": r,
        "base_best_scc": bs,
        "base_best_scc_dim": bd,
        "base_interpretability": bscore,
    }


def delta_key(delta: float | None, weight: float | None = None) -> str:
    """The `, delta: D` (and `, weight: W`) of a row's loss.attributes items (nothing: the defaults)."""
    return (f", delta: {delta:g}" if delta else "") + (f", weight: {weight:g}" if weight is not None else "")

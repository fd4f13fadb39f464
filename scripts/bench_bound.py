"""Benchmark: how tight is the importance-weighted bound of a trained text VAE, and which proposal helps?

    python scripts/bench_bound.py MODEL_DIR --data FILE [--sentences 200] [--samples 1 10 100 500 5000]
                                  [--refine-steps 50] [--scales 1 1.25] [--precision bf16] [--out benchmarks]
    python scripts/bench_bound.py --table-only [--out benchmarks]    (bound.md again from bound.json)

On the first --sentences lines of FILE, the bound on log p(x) (nats per sentence, as `textvae evaluate`
reports it) for each k of --samples, from the encoder's q(z|x) and from the proposals `textvae evaluate`
offers (q widened by each of --scales; q refined by --refine-steps Adam steps, widened the same ways).
Every bound is a valid lower bound on log p(x), and the largest k approaches it: how far the k = 500
bound of the papers' protocol is from it says how much a better proposal can still give. The bounds
of one proposal at every k use the same random stream, so their differences are not sampling noise of
one against another. Writes bound.json and bound.md under --out.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch


def bounds_for(
    model, batch, proposal, ks: list[int], chunk: int, generator: torch.Generator
) -> dict[int, torch.Tensor]:
    """The bound for each k in ks from one stream of max(ks) samples: the bound at k uses the first k
    samples. {k: (B,) float64}."""
    from textvae.core.objectives import iw_log_weights

    largest = max(ks)
    ks = sorted(ks)
    out, total, done = {}, None, 0
    for k in ks:
        while done < k:
            s = min(chunk, k - done)
            lse = torch.logsumexp(iw_log_weights(model, batch, proposal, s, generator).double(), dim=0)
            total = lse if total is None else torch.logaddexp(total, lse)
            done += s
        out[k] = total - math.log(k)
    assert done == largest
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", nargs="?")
    p.add_argument("--data", help="a text file, one sentence a line")
    p.add_argument("--sentences", type=int, default=200)
    p.add_argument("--samples", type=int, nargs="+", default=[1, 10, 100, 500, 5000])
    p.add_argument("--refine-steps", type=int, default=50)
    p.add_argument("--refine-lr", type=float, default=0.02)
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 1.25])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--chunk", type=int, default=50)
    p.add_argument("--precision", choices=["no", "bf16"], default="bf16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks")
    p.add_argument("--table-only", action="store_true", help="only rewrite bound.md from bound.json")
    args = p.parse_args()
    out = Path(args.out)
    if args.table_only:
        (out / "bound.md").write_text(markdown(json.loads((out / "bound.json").read_text())))
        return
    if not (args.model_dir and args.data):
        sys.exit("error: give MODEL_DIR and --data FILE")
    if min(args.samples) < 1 or args.sentences < 1:
        sys.exit("error: --samples and --sentences must be >= 1")

    from tqdm.auto import tqdm

    from textvae.core.objectives import refine_posterior
    from textvae.registry import load_model
    from textvae.runtime import processor_name
    from textvae.text.data import read_sentences, tokenize_sentences
    from textvae.training.batching import EpochBatchSampler

    torch.manual_seed(args.seed)
    model = load_model(args.model_dir).eval()
    sentences, _ = read_sentences(args.data, "auto", "text", "--data")
    sentences = sentences[: args.sentences]
    dataset, _ = tokenize_sentences(sentences, model.tokenizer, encoder_tokenizer=model.encoder_tokenizer)
    sampler = EpochBatchSampler(len(dataset), args.batch_size, shuffle=False, lengths=dataset.lengths)
    proposals = [(0, s) for s in args.scales] + (
        [(args.refine_steps, s) for s in args.scales] if args.refine_steps else []
    )
    sums = {(r, s): {k: 0.0 for k in args.samples} for r, s in proposals}
    seconds = {(r, s): 0.0 for r, s in proposals}
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    for indices in tqdm(list(sampler), desc="bound", unit="batch", dynamic_ncols=True):
        batch = model.collate([dataset[i] for i in indices])
        with torch.no_grad(), torch.autocast("cpu", dtype=dtype, enabled=args.precision == "bf16"):
            q = model.encode(batch)
            refined = {}
            for r, s in proposals:
                t0 = time.perf_counter()
                if r and r not in refined:
                    g = torch.Generator().manual_seed(args.seed + 2000)
                    refined[r] = refine_posterior(model, batch, q, r, args.refine_lr, generator=g)
                proposal = (refined[r] if r else q).widened(s)
                g = torch.Generator().manual_seed(args.seed)
                for k, v in bounds_for(model, batch, proposal, args.samples, args.chunk, g).items():
                    sums[(r, s)][k] += float(v.sum())
                seconds[(r, s)] += time.perf_counter() - t0
    n = len(dataset)
    rows = [
        {
            "refine_steps": r,
            "scale": s,
            "seconds": round(seconds[(r, s)], 1),
            "nll": {str(k): -sums[(r, s)][k] / n for k in args.samples},
        }
        for r, s in proposals
    ]
    result = {
        "model_dir": str(args.model_dir),
        "data": str(args.data),
        "sentences": n,
        "precision": args.precision,
        "samples": args.samples,
        "refine_lr": args.refine_lr,
        "machine": f"{platform.machine()} {processor_name()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}",
        "rows": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "bound.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "bound.md").write_text(markdown(result))
    print(markdown(result))


def markdown(result: dict) -> str:
    """bound.md from bound.json's content."""
    ks = result["samples"]
    n = result["sentences"]
    lines = [
        f"# How tight is the importance-weighted bound: {result['model_dir']}",
        "",
        f"NLL in nats per sentence (minus the bound on log p(x)), mean over the first {n} sentences of "
        f"{result['data']}; {result['precision']}; {result['machine']}. Each proposal's bounds at every k "
        f"come from one stream of samples (the bound at k uses the first k); refinement: Adam steps at lr "
        f"{result['refine_lr']:g} on each sentence's own q(z|x) (`textvae evaluate --refine-steps`). Command: "
        f"`python scripts/bench_bound.py {result['model_dir']} --data {result['data']} --sentences {n} "
        f"--samples {' '.join(map(str, ks))}`.",
        "",
        "| proposal | " + " | ".join(f"k={k}" for k in ks) + " | seconds |",
        "|---" * (len(ks) + 2) + "|",
    ]
    for row in result["rows"]:
        name = "q(z\\|x)" if not row["refine_steps"] else f"q refined, {row['refine_steps']} steps"
        if row["scale"] != 1:
            name += f", {row['scale']:g}x wider"
        lines.append(
            f"| {name} | " + " | ".join(f"{row['nll'][str(k)]:.3f}" for k in ks) + f" | {row['seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

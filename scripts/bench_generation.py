"""Generation speed of the Transformer decoder: the KV cache against recomputing the whole prefix.

    python scripts/bench_generation.py [--model runs/faithful/transformer-replace0.1] [--n 1000] [--out benchmarks]

`TransformerDecoder.step` keeps each block's keys and values of the positions read so far, so a step runs
one position through the blocks. The reference is what it did before: the training forward over the whole
prefix at every step, keeping its last position (`PrefixRecompute` below). Both decode the same `--n`
codes drawn from the model's prior (seed 0) through `textvae.text.generation.generate`, greedily and by
sampling (temperature 1, one seeded generator each), up to 65 tokens, in batches of 256, with the
processor's two threads; the greedy token ids of the two must be equal (the script stops otherwise). Each
is timed once after a warm-up of 64 codes. Writes benchmarks/generation.{json,md}; nothing else may run on
the machine meanwhile.

The default model is the one `python scripts/bench_faithful.py --only transformer-replace0.1` trains
(configs/text/snli-transformer.yaml with word replacement, 3,000 steps on the shipped SNLI sample).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


class PrefixRecompute:
    """The step API over a TransformerDecoder without a cache: the whole prefix again at every step."""

    def __init__(self, decoder):
        self.decoder = decoder

    def start(self, z: torch.Tensor) -> dict:
        return {"z": z, "tokens": torch.empty(z.shape[0], 0, dtype=torch.long, device=z.device)}

    def step(self, tokens: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        prefix = torch.cat([state["tokens"], tokens[:, None]], dim=1)  # (B, t)
        h = self.decoder.features(prefix, state["z"])[:, -1]  # (B, H)
        return self.decoder.project(h), {"z": state["z"], "tokens": prefix}

    def select(self, state: dict, index: torch.Tensor) -> dict:
        return {"z": state["z"][index], "tokens": state["tokens"][index]}


def decode_all(decoder, codes: torch.Tensor, cfg, strategy: str, batch_size: int = 256) -> list[list[int]]:
    from textvae.text.generation import generate

    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(0, len(codes), batch_size):
        z = codes[i : i + batch_size]
        ids = generate(decoder, z, cfg.bos_id, cfg.eos_id, strategy=strategy, max_length=65, generator=g)
        out.extend(ids)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="runs/faithful/transformer-replace0.1")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--out", default="benchmarks")
    args = p.parse_args()
    from textvae.registry import load_model
    from textvae.runtime import processor_name

    folder = Path(args.model)
    if not (folder / "model.safetensors").exists():
        sys.exit(f"bench_generation: no model in {folder}; train it with scripts/bench_faithful.py first")
    torch.set_num_threads(2)
    model = load_model(folder).eval()
    if model.config.decoder.kind != "transformer":
        sys.exit(f"bench_generation: {folder} has a {model.config.decoder.kind} decoder, not a transformer")
    cfg = model.config
    with torch.no_grad():
        codes = model.sample_prior(args.n, torch.Generator().manual_seed(0))  # (n, D): its fitted prior's
        rows = []
        for strategy in ("greedy", "sample"):
            ids = {}
            for name, decoder in (("kv cache", model.decoder), ("whole prefix", PrefixRecompute(model.decoder))):
                decode_all(decoder, codes[:64], cfg, strategy)  # warm-up
                t0 = time.perf_counter()
                ids[name] = decode_all(decoder, codes, cfg, strategy)
                seconds = time.perf_counter() - t0
                tokens = sum(len(r) + 1 for r in ids[name])
                rows.append({"strategy": strategy, "step": name, "seconds": seconds, "tokens": tokens})
                print(f"{strategy:7s} {name:13s} {seconds:7.2f} s, {tokens / seconds:,.0f} tokens/s", flush=True)
            if strategy == "greedy" and ids["kv cache"] != ids["whole prefix"]:
                sys.exit("bench_generation: the KV cache's greedy decodes differ from the whole prefix's")
    result = {
        "model": str(folder),
        "processor": processor_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "codes": args.n,
        "rows": rows,
    }
    out = Path(args.out)
    (out / "generation.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Generation speed: the Transformer decoder's KV cache",
        "",
        f"Written by `python scripts/bench_generation.py` (its docstring says what is measured). Model: "
        f"`{result['model']}`; {args.n:,} prior codes, up to 65 tokens, batches of 256; "
        f"{result['processor']}, {result['threads']} threads, torch {result['torch']}.",
        "",
        "| strategy | step | seconds | tokens/s | speed-up |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        ref = next(x for x in rows if x["strategy"] == r["strategy"] and x["step"] == "whole prefix")
        lines.append(
            f"| {r['strategy']} | {r['step']} | {r['seconds']:.2f} | {r['tokens'] / r['seconds']:,.0f} | "
            f"{ref['seconds'] / r['seconds']:.1f}x |"
        )
    (out / "generation.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out / 'generation.md'}")


if __name__ == "__main__":
    main()

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
LOG_EVERY = 50


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
        [sys.executable, __file__, "--hand-loop", key, precision, str(steps), str(out), data["train"], data["valid"]],
        stdout=subprocess.DEVNULL,
    )
    return json.loads(out.read_text())


def hand_loop(key: str, precision: str, steps: int, out: str, train_file: str, valid_file: str) -> None:
    """The minimal hand-written loop on textvae's batches (run in its own process)."""
    import torch
    import torch.nn.functional as F
    from accelerate import Accelerator
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence

    from textvae.registry import task_class
    from textvae.training.config import load_config

    torch.set_num_threads(2)
    _, config, extra = MODELS[key]
    cfg = load_config(
        ROOT / config,
        [
            *extra,
            f"data.train_file={train_file}",
            f"data.valid_file={valid_file}",
            f"train.output_dir={Path(out).parent / 'hand'}",
        ],
    )
    task = task_class("text")(cfg)
    task.setup(Accelerator(cpu=True))
    tok, m = task.tokenizer, cfg.model
    V, E, D = tok.vocab_size, m.embed_size, m.latent_size
    sampler = task.batch_sampler(task.train_data, cfg.train.batch_size, shuffle=True, seed=cfg.train.seed)
    batches = [task.collate([task.train_data[i] for i in idx], train=True) for idx in sampler.batches()[:steps]]
    real = sum(int((b["lengths"] - 1).sum()) for b in batches)
    padded = sum(b["input_ids"].shape[0] * (b["input_ids"].shape[1] - 1) for b in batches)
    rnns = {"lstm": nn.LSTM, "gru": nn.GRU}

    class Hand(nn.Module):
        def __init__(self):
            super().__init__()
            enc, dec = m.encoder, m.decoder
            self.emb = nn.Embedding(V, E, padding_idx=tok.pad_id)
            self.enc = rnns[enc.kind](E, enc.hidden_size, batch_first=True, bidirectional=enc.bidirectional)
            self.post = nn.Linear(enc.hidden_size * (2 if enc.bidirectional else 1), 2 * D)
            self.states = 2 if dec.kind == "lstm" else 1
            self.z2h = nn.Linear(D, self.states * dec.hidden_size)
            self.dec = rnns[dec.kind](E + (D if dec.z_to_every_input else 0), dec.hidden_size, batch_first=True)
            self.out = nn.Linear(dec.hidden_size, V)
            if m.tie_embeddings:
                self.out.weight = self.emb.weight

        def forward(self, ids, lengths, beta):
            B = ids.shape[0]
            x = F.dropout(self.emb(ids), m.embed_dropout, self.training)
            _, h = self.enc(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
            h = h[0] if isinstance(h, tuple) else h
            mu, logvar = self.post(torch.cat(list(h), -1)).float().chunk(2, -1)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            inputs = ids[:, :-1]
            if m.word_dropout:
                drop = (torch.rand(inputs.shape) < m.word_dropout) & (inputs != tok.bos_id) & (inputs != tok.pad_id)
                inputs = inputs.masked_fill(drop, tok.unk_id)
            y = F.dropout(self.emb(inputs), m.embed_dropout, self.training)
            if m.decoder.z_to_every_input:
                y = torch.cat([y, z[:, None].expand(-1, y.shape[1], -1).to(y.dtype)], -1)
            h0 = self.z2h(z).view(B, self.states, 1, -1).permute(1, 2, 0, 3).contiguous()
            h0 = (h0[0], h0[1]) if self.states == 2 else h0[0]
            o, _ = self.dec(y, h0)
            logits = self.out(F.dropout(o, m.output_dropout, self.training))
            rec = (
                F.cross_entropy(
                    logits.float().reshape(-1, V), ids[:, 1:].reshape(-1), ignore_index=tok.pad_id, reduction="sum"
                )
                / B
            )
            kl_dims = (-0.5 * (1 + logvar - mu**2 - logvar.exp())).mean(0)
            return rec + beta * kl_dims.clamp(min=cfg.loss.free_bits).sum()

    torch.manual_seed(0)
    model = Hand().train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    speeds, t0, tokens = [], time.perf_counter(), 0
    for step, b in enumerate(batches, 1):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(b["input_ids"], b["lengths"], 0.5)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.train.clip_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int((b["lengths"] - 1).sum())
        if step % LOG_EVERY == 0:
            speeds.append(tokens / (time.perf_counter() - t0))
            t0, tokens = time.perf_counter(), 0
    Path(out).write_text(json.dumps({"windows": speeds[1:], "padding_waste": padded / real - 1}) + "\n")


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


def fmt(x, digits=0):
    return "-" if x is None else f"{x:,.{digits}f}"


def machine_slug(machine: dict) -> str:
    """A file name for a processor: amd-epyc, intel-xeon-amx, ..."""
    words = [w for w in machine["cpu"].lower().replace("(r)", "").replace("processor", "").split()[1:3] if w]
    return "-".join(words + (["amx"] if machine.get("amx") else []))


# What the public Sentence-VAE reimplementation reached on each machine, and the targets (issue 34)
ANCHORS = {
    False: "The public Sentence-VAE reimplementation's published anchor on the issue's machine: 2,663 real "
    "tokens/s (fp32, batch 32); 4x that is 10,652.",
    True: "The public Sentence-VAE reimplementation on this kind of machine (issue 34, the same hour): 2,791-3,107 "
    "real tokens/s. Targets: >= 13,000 at its shapes in bf16 (4x its best), >= 16,000 for the LSTM PTB config, "
    "the whole PTB test split at k = 500 in under 10 minutes.",
}


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"## {m['cpu']}{' (AMX)' if m.get('amx') else ''}",
        "",
        f"Machine: {m['cpu']}, {m['threads']} threads, torch {m['torch']}, Python {m['python']}, CPU only"
        f"{', AMX (amx_bf16)' if m.get('amx') else ', no AMX'}. "
        f"Matrix-product peak measured in this run (2048^3, median): fp32 {m['peak_gflops']['float32']:,.0f} GFLOP/s, "
        f"bf16 {m['peak_gflops']['bfloat16']:,.0f} GFLOP/s. Training steps per run: {result['steps']}, windows of "
        f"{LOG_EVERY} steps, {result['rounds']} alternating round(s) of textvae and the hand-written loop"
        f"{'; measured ' + result['date'] if result.get('date') else ''}.",
        "",
        "### Training (real tokens/s, median of windows)",
        "",
        "| model | precision | textvae train | hand-written loop | ratio | GFLOP/s | share of peak | padding waste "
        f"| validation -ELBO after {result['steps']} steps |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["train"]:
        peak = m["peak_gflops"]["bfloat16" if r["precision"] == "bf16" else "float32"]
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        waste = "-" if r["padding_waste"] is None else f"{100 * r['padding_waste']:.1f}%"
        lines.append(
            f"| {r['name']} | {'fp32' if r['precision'] == 'no' else 'bf16'} | {fmt(r['textvae_tokens_per_s'])} "
            f"| {fmt(r['hand_tokens_per_s'])} | {ratio} | {r['gflops']:.0f} | {100 * r['gflops'] / peak:.0f}% | {waste} "  # noqa: E501
            f"| {fmt(r.get('val_neg_elbo'), 2)} |"
        )
    lines += ["", ANCHORS[bool(m.get("amx"))], ""]
    e = result.get("eval")
    if e:
        lines += [
            "### Evaluation (`textvae evaluate`, k = 500, bf16)",
            "",
            f"- {e['eval_sentences']:,} test sentences in {e['eval_seconds']:.0f} s: "
            f"{e['eval_sentences_per_s']:.2f} sentences/s (wall time of the command, BLEU decoding included)",
            f"- whole PTB test split ({e['test_sentences']:,} sentences): {e['test_split_minutes']:.1f} min"
            + (" (extrapolated by tokens from the subset)" if e["test_split_extrapolated"] else ""),
            f"- NLL on the first {e['precision_sentences']} test sentences: fp32 {e['nll_fp32']:.3f}, bf16 "
            f"{e['nll_bf16']:.3f} nats (difference {e['nll_bf16_minus_fp32']:+.3f})",
            "",
        ]
    g = result.get("generation")
    if g:
        lines += [
            "### Encoding and generation (batches of 64, fp32, sentences/s)",
            "",
            "| encode | greedy | top-p 0.9 | beam 5 |",
            "|---|---|---|---|",
            f"| {g['encode_sentences_per_s']:,.0f} | {g['greedy sentences_per_s']:,.0f} | "
            f"{g['top-p 0.9 sentences_per_s']:,.0f} | {g['beam 5 sentences_per_s']:,.0f} |",
            "",
        ]
    s = result["startup"]
    first = [
        f"{r['name'].split(' (')[0]} {'fp32' if r['precision'] == 'no' else 'bf16'}: {r['seconds_to_first_step']:.1f} s"
        for r in result["train"]
        if r["seconds_to_first_step"]
    ]
    lines += [
        "### Start-up",
        "",
        f"- `textvae --help`: {s['help_seconds']:.2f} s (median of 5)",
        "- process start to the end of the first training step (PTB read, word vocabulary built): " + "; ".join(first),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--hand-loop":
        hand_loop(sys.argv[2], sys.argv[3], int(sys.argv[4]), *sys.argv[5:8])
        return
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


def write_markdown(out: Path) -> str:
    """speed.md: a section per machine file under out, AMX machines first."""
    results = [json.loads(p.read_text()) for p in sorted(out.glob("speed-*.json"))]
    results.sort(key=lambda r: not r["machine"].get("amx"))
    text = "\n".join(
        [
            "# Speed: training, evaluation and generation on PTB shapes",
            "",
            "Command: `python scripts/bench_speed.py` (what each column means: the script's docstring). "
            "One section per processor it ran on: speeds compare within a section, never across.",
            "",
            *map(markdown, results),
        ]
    )
    (out / "speed.md").write_text(text)
    return text


if __name__ == "__main__":
    main()

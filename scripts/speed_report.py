"""speed.md from the speed-MACHINE.json files of scripts/bench_speed.py: a section per processor (training,
evaluation, generation, start-up), AMX machines first."""

from __future__ import annotations

import json
from pathlib import Path

LOG_EVERY = 50  # bench_speed's training runs log (and are timed) in windows of this many steps


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

"""Benchmark: which bf16 matrix products kill the process on this CPU (oneDNN's AMX kernels, SIGFPE).

    python scripts/bench_amx_products.py [--out benchmarks] [--quick]

For the products the output layer (textvae.text.kernels.linear_log_prob) issues, at its row counts (a
multiple of 32 up to PRODUCT_ROWS) and the vocabulary and hidden sizes of the shipped and common models,
each product runs once in a forked child process, in each weight layout: `ab` (weights row-major, what
`a @ b` passes) and `ba` (transposed, `a @ b.t()`, what F.linear passes), and the weight gradient's
`a.t() @ b`. A child killed by a signal is a crash. Writes amx-products.json and amx-products.md under
--out. On a CPU without AMX nothing crashes (the bug is in oneDNN's AMX code).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VOCABS = [10000, 10002, 10016, 32000, 32768, 49152, 50257, 50272, 65536, 151936]
HIDDEN = [256, 576, 768]
ROWS = list(range(32, 513, 32))
DW_ROWS = list(range(640, 4097, 128))  # the weight gradient's K is every row of the batch at once
LAYOUTS = {  # name -> what it multiplies
    "ab": "(rows, V) x (V, H) weights row-major: the backward's d h (textvae)",
    "ba": "(rows, V) x (H, V).t(): d h against transposed weights (textvae before the fix)",
    "fwd-ab": "(rows, H) x (H, V) row-major: the forward's logits (textvae)",
    "fwd-ba": "(rows, H) x (V, H).t(): the forward as F.linear runs it",
    "dw": "(rows, V).t() x (rows, H): the weight gradient, K = rows (textvae)",
}


def _child(layout: str, rows: int, vocab: int, hidden: int) -> None:
    import torch

    torch.set_num_threads(2)

    def t(*shape):  # the kernels' choice depends on shapes and layouts only, not on the values
        return torch.ones(*shape, dtype=torch.bfloat16)

    if layout == "ab":
        t(rows, vocab) @ t(vocab, hidden)
    elif layout == "ba":
        t(rows, vocab) @ t(hidden, vocab).t()
    elif layout == "fwd-ab":
        t(rows, hidden) @ t(hidden, vocab)
    elif layout == "fwd-ba":
        t(rows, hidden) @ t(vocab, hidden).t()
    else:
        t(rows, vocab).t() @ t(rows, hidden)


def run_one(layout: str, rows: int, vocab: int, hidden: int) -> int:
    """0, or the number of the signal that killed the child."""
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            _child(layout, rows, vocab, hidden)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return os.WTERMSIG(status)
    if os.WEXITSTATUS(status):
        raise RuntimeError(f"{layout} {rows}x{vocab}x{hidden}: the child failed (exit {os.WEXITSTATUS(status)})")
    return 0


def render(result: dict) -> str:
    lines = [
        "# bf16 products that kill the process (oneDNN AMX kernels)",
        "",
        f"Machine: {result['processor']}, AMX: {'yes' if result['amx'] else 'no'}, torch {result['torch']}, "
        f"2 threads. Command: `python scripts/bench_amx_products.py` (what it runs: its docstring).",
        "",
        "| layout | what | products run | crashed |",
        "|---|---|---|---|",
    ]
    for name, what in LAYOUTS.items():
        runs = [r for r in result["runs"] if r["layout"] == name]
        bad = [r for r in runs if r["signal"]]
        said = ", ".join(f"{r['rows']}x{r['vocab']}x{r['hidden']} (signal {r['signal']})" for r in bad) or "none"
        lines.append(f"| `{name}` | {what} | {len(runs)} | {said} |")
    lines += [
        "",
        f"Rows: {', '.join(map(str, result['rows']))} (`dw` also {DW_ROWS[0]} to {DW_ROWS[-1]} in steps "
        f"of 128 unless --quick); vocabularies "
        f"{', '.join(map(str, result['vocabs']))}; hidden sizes {', '.join(map(str, result['hidden']))}. "
        "The output layer uses `fwd-ab`, `ab` and `dw` only (textvae/text/kernels.py, AMX_NOTE).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    import torch

    from textvae.runtime import has_amx, processor_name

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks"))
    parser.add_argument("--quick", action="store_true", help="rows 32 and 512 only, two vocabularies")
    args = parser.parse_args()
    rows, vocabs = (ROWS, VOCABS) if not args.quick else ([32, 512], [10002, 49152])
    runs = []
    cases = list(itertools.product(LAYOUTS, rows, vocabs, HIDDEN))
    if not args.quick:
        cases += list(itertools.product(["dw"], DW_ROWS, vocabs, HIDDEN))
    for n, (layout, r, v, h) in enumerate(cases, 1):
        sig = run_one(layout, r, v, h)
        runs.append({"layout": layout, "rows": r, "vocab": v, "hidden": h, "signal": sig})
        if sig or n % 100 == 0:
            print(f"[{n}/{len(cases)}] {layout} {r}x{v}x{h}: {f'signal {sig}' if sig else 'ok'}", flush=True)
    result = {
        "processor": processor_name(),
        "machine": platform.machine(),
        "amx": has_amx(),
        "torch": torch.__version__,
        "rows": rows,
        "vocabs": vocabs,
        "hidden": HIDDEN,
        "runs": runs,
    }
    out = Path(args.out)
    (out / "amx-products.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (out / "amx-products.md").write_text(render(result), encoding="utf-8")
    print((out / "amx-products.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()

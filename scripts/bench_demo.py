"""Latency of every action of `textvae demo`, measured the way a page calls it: the demo served in a
subprocess on a free port, each endpoint called through gradio_client (HTTP, queue, JSON, the PNGs of
image models) --repeats times after one warm-up call; median and worst per action. Optionally a
screenshot of the Interpolate tab in headless Chromium (/usr/bin/chromium via Playwright).

    python scripts/bench_demo.py runs/snli-lstm runs/fashion-mnist --screenshot benchmarks/demo.png

Writes benchmarks/demo.json and benchmarks/demo.md. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

A, B = "a man is playing a guitar on stage .", "two dogs are running through the snow ."


def processor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def actions(kind: str) -> dict:
    """name -> (api_name, args): every tab's endpoints with the page's default settings."""
    if kind == "text":
        return {
            "interpolate (5 steps, greedy)": ("/interpolate", [A, B, 5, "slerp", "greedy", 1.0, 1.0, 0]),
            "interpolate (5 steps, beam 5)": ("/interpolate", [A, B, 5, "slerp", "beam", 1.0, 1.0, 0]),
            "sample (10, temperature 1)": ("/sample", [10, "sample", 1.0, 1.0, 0]),
            "reconstruct (3 samples)": ("/reconstruct", [A, 3, "sample", 1.0, 1.0, 0]),
            "map click (decode + neighbours)": ("/map_click", [400, 330]),
            "dials: encode": ("/dials_encode", [A]),
            "dials: move (re-decode)": ("/dials_decode", None),
        }
    return {
        "interpolate (8 steps)": ("/interpolate", [0, 1, 8, "slerp"]),
        "sample (16)": ("/sample", [16, 0]),
        "reconstruct": ("/reconstruct", [3]),
        "map click (decode + neighbours)": ("/map_click", [400, 330]),
        "dials: encode": ("/dials_encode", [2]),
        "dials: move (re-decode)": ("/dials_decode", None),
    }


def bench_model(model_dir: str, repeats: int, screenshot: str | None) -> dict:
    from test_demo import connect, slider_ranges, start_demo, stop

    from textvae.core.model import read_model_config

    kind = "text" if read_model_config(Path(model_dir))["model_type"] == "text_vae" else "image"
    t0 = time.perf_counter()
    proc, url = start_demo(model_dir)
    client = connect(url)
    startup = time.perf_counter() - t0
    rows = {}
    try:
        for name, (api, args) in actions(kind).items():
            if args is None:  # every dial moved to the low end of its slider
                args = [A if kind == "text" else 2, *[lo for lo, _ in slider_ranges(url)]]
            client.predict(*args, api_name=api)  # warm-up
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                out = client.predict(*args, api_name=api)
                times.append(time.perf_counter() - t)
            status = out[-1] if isinstance(out, (list, tuple)) else ""
            rows[name] = {"median_s": statistics.median(times), "max_s": max(times), "status": status}
            print(
                f"{model_dir}: {name}: median {rows[name]['median_s']:.3f} s, worst {max(times):.3f} s", file=sys.stderr
            )
        if screenshot and kind == "text":
            shoot(url, screenshot)
    finally:
        stop(proc)
    return {"model_dir": model_dir, "kind": kind, "startup_s": startup, "actions": rows}


def shoot(url: str, path: str) -> None:
    """The Interpolate tab after one interpolation, as a PNG."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(url, timeout=120_000)
        page.locator("#sentence-a textarea").fill(A)
        page.locator("#sentence-b textarea").fill(B)
        page.locator("#interpolate-button").click()
        page.wait_for_function("() => document.querySelector('#path textarea').value.length > 0", timeout=60_000)
        page.screenshot(path=path, full_page=True)
        browser.close()
    print(f"wrote {path}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--screenshot", help="PNG of the text demo's Interpolate tab")
    ap.add_argument("--output", default=str(ROOT / "benchmarks" / "demo"))
    args = ap.parse_args()
    import torch

    result = {
        "processor": processor(),
        "torch": torch.__version__,
        "threads": 1,
        "repeats": args.repeats,
        "command": "python scripts/bench_demo.py " + " ".join(sys.argv[1:]),
        "models": [bench_model(m, args.repeats, args.screenshot) for m in args.models],
    }
    out = Path(args.output)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [
        f"# Demo latency per action ({result['processor']}, torch {result['torch']}, 1 thread)",
        "",
        (
            "Each endpoint of `textvae demo` called through gradio_client (HTTP and queue included, browser "
            f"rendering not), {args.repeats} times after a warm-up call."
        ),
        "",
        f"`{result['command']}`",
        "",
    ]
    for m in result["models"]:
        lines += [
            f"## `{m['model_dir']}` ({m['kind']}; page ready after {m['startup_s']:.1f} s)",
            "",
            "| action | median (s) | worst (s) |",
            "|---|---|---|",
        ]
        lines += [f"| {k} | {v['median_s']:.3f} | {v['max_s']:.3f} |" for k, v in m["actions"].items()]
        lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}", file=sys.stderr)


if __name__ == "__main__":
    main()

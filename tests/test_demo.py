"""`textvae demo` served for real: started on a free port in a subprocess, every tab's endpoint called
through gradio_client and checked against the command line; bad input answered on the page; one run in
a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) that types two sentences,
presses Interpolate, reads the path off the page and takes a screenshot."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import IMAGE_SAMPLE as SAMPLE
from conftest import run_cli
from PIL import Image

gradio_client = pytest.importorskip(
    "gradio_client", reason="the demo extra is not installed: pip install 'textvae[demo]'"
)

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
A, B = "a man is playing a guitar on stage .", "two dogs are running through the snow ."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(model_dir, *extra):
    """`textvae demo MODEL_DIR --port P` in a subprocess; returns (process, url) once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "textvae", "demo", str(model_dir), "--port", str(port), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the demo exited with {proc.returncode}:\n{proc.stdout.read()}")
        try:  # the page's config answers once the app is up (the port opens a little earlier)
            if httpx.get(url + "config", timeout=60).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("the demo did not answer within 300 s")


def connect(url):
    return gradio_client.Client(url, verbose=False, analytics_enabled=False, httpx_kwargs={"timeout": 300})


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def text_model(text_run):
    return text_run  # conftest's tiny text run


@pytest.fixture(scope="module")
def text_demo(text_model):
    proc, url = start_demo(text_model)
    client = connect(url)
    yield client, url
    stop(proc)


def call(client, api, *args):
    """An endpoint's outputs without the status line, and the status line."""
    out = client.predict(*args, api_name=api)
    out = out if isinstance(out, (list, tuple)) else [out]
    return list(out[:-1]), out[-1]


def cli_lines(*args):
    return run_cli(*args).stdout.split("\n")[:-1]


def unmarked(lines):
    return [line.removeprefix("~ ") for line in lines]  # interpolate marks a missed end


@pytest.mark.parametrize("steps, method, strategy, seed", [(4, "slerp", "greedy", 0), (6, "linear", "sample", 3)])
def test_interpolate_gives_the_command_lines_path(text_demo, text_model, steps, method, strategy, seed):
    client, _ = text_demo
    (path,), status = call(client, "/interpolate", A, B, steps, method, strategy, 1.0, 1.0, seed)
    assert status.startswith("done in")
    lines = path.split("\n")
    assert len(lines) == steps + 2
    expected = cli_lines(
        "interpolate", text_model, A, B, "--steps", steps, "--method", method, "--strategy", strategy, "--seed", seed
    )
    assert lines == unmarked(expected)


def test_sample_and_reconstruct_give_the_command_lines_decodes(text_demo, text_model):
    client, _ = text_demo
    (samples,), _ = call(client, "/sample", 7, "sample", 0.8, 0.9, 5)
    assert samples.split("\n") == cli_lines(
        "sample", text_model, "-n", 7, "--temperature", 0.8, "--top-p", 0.9, "--seed", 5
    )
    (recon,), _ = call(client, "/reconstruct", A, 3, "greedy", 1.0, 1.0, 0)
    assert recon.split("\n") == cli_lines("reconstruct", text_model, A)  # greedy: one decode
    (recon,), _ = call(client, "/reconstruct", A, 3, "sample", 1.0, 1.0, 0)
    assert len(recon.split("\n")) == 3


def test_map_decodes_the_code_under_a_click(text_demo):
    client, _ = text_demo
    (x, y, decoded, near), status = call(client, "/map_click", 400, 330)
    assert status.startswith("done in"), status
    assert "PCA's inverse" in near
    listed = near.split("\n")
    cos, euc = (
        listed.index("nearest sentences by cosine similarity (codes centred on their mean):"),
        listed.index("nearest sentences by Euclidean distance:"),
    )
    assert euc - cos == 6 and len(listed) == euc + 6
    # the pixel's map coordinates decode the same through the coordinates' own endpoint
    (decoded2, near2), _ = call(client, "/map_decode", x, y)
    assert (decoded2, near2) == (decoded, near)
    # another point of the map decodes its own code: the neighbours change along the map
    far = call(client, "/map_click", 120, 80)[0]
    assert far[:2] != [x, y]
    _, status = call(client, "/map_click", 2, 2)
    assert "outside the map's axes" in status


def slider_ranges(url):
    """(minimum, maximum) of each dial on the page, from the page's own config."""
    config = httpx.get(url + "config", timeout=60).json()
    return [
        (c["props"]["minimum"], c["props"]["maximum"])
        for c in config["components"]
        if c.get("type") == "slider" and str(c["props"].get("label", "")).startswith("z[")
    ]


def test_dials_start_at_the_sentences_code_and_move_it(text_demo):
    client, url = text_demo
    out, status = call(client, "/dials_encode", A)
    values, decoded = out[:-1], out[-1]
    assert len(values) == 6 and status.startswith("done in")  # no attributes: the 6 top-variance dimensions
    ranges = slider_ranges(url)
    assert len(ranges) == 6 and all(lo < v < hi for v, (lo, hi) in zip(values, ranges))
    (same,), _ = call(client, "/dials_decode", A, *values)
    assert same == decoded  # the dials at the sentence's own values decode its posterior mean
    (moved,), status = call(client, "/dials_decode", A, *[lo for lo, _ in ranges])
    assert status.startswith("done in") and isinstance(moved, str)


@pytest.mark.parametrize(
    "a, message",
    [
        ("", "sentence A is empty"),
        ("   ", "sentence A is empty"),
        (" ".join(["word"] * 10_000), "has 10,000 words"),
        ("caf\ufffd au lait \ufffd", "not UTF-8"),
        ("a man\x00 sleeps", "control characters"),
    ],
)
def test_bad_input_gets_a_message_on_the_page_and_no_crash(text_demo, a, message):
    client, _ = text_demo
    _, status = call(client, "/interpolate", a, B, 3, "slerp", "greedy", 1.0, 1.0, 0)
    assert message in status, status
    (path,), status = call(client, "/interpolate", A, B, 2, "slerp", "greedy", 1.0, 1.0, 0)
    assert status.startswith("done in") and len(path.split("\n")) == 4  # the server lives on


def test_demo_refuses_a_bad_port_in_one_line(text_model):
    proc = run_cli("demo", text_model, "--port", "70000", check=False)
    assert proc.returncode == 2 and "--port must be in 1-65535" in proc.stderr


def test_demo_without_gradio_names_the_extra_in_one_line(text_model, tmp_path):
    (tmp_path / "gradio").mkdir()  # a gradio that cannot be imported, first on the path
    (tmp_path / "gradio" / "__init__.py").write_text("raise ImportError('gradio is not installed')\n")
    proc = run_cli("demo", text_model, check=False, env_extra={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 2 and "pip install 'textvae[demo]'" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# -- an image model: the same tabs with pictures ------------------------------------------------------
@pytest.fixture(scope="module")
def image_demo(image_run):
    proc, url = start_demo(image_run)
    yield connect(url)
    stop(proc)


def size(path):
    with Image.open(path) as im:
        return im.size


def test_image_tabs_show_pictures(image_demo):
    zoom, cell = 3, 30  # 28-pixel images with 2-pixel gaps, each pixel 3x3
    (strip,), status = call(image_demo, "/interpolate", 0, 5, 6, "slerp")
    # image A, the 6 + 2 decodes of the path (its ends: the decodes of A and B), image B
    assert status.startswith("done in") and size(strip) == (zoom * (10 * cell + 2), zoom * (cell + 2))
    (grid,), _ = call(image_demo, "/sample", 9, 0)
    assert size(grid) == (zoom * (3 * cell + 2), zoom * (3 * cell + 2))
    (pair,), _ = call(image_demo, "/reconstruct", 4)
    assert size(pair) == (zoom * (2 * cell + 2), zoom * (cell + 2))
    # the reconstruct tab's first image is test image 4 itself
    from textvae.image.data import ImageDataConfig, load_splits

    image = load_splits(ImageDataConfig(path=str(SAMPLE), val_size=64)).test[0][4, 0].numpy()
    shown = np.asarray(Image.open(pair).convert("L"))[zoom * 2 : zoom * 30 : zoom, zoom * 2 : zoom * 30 : zoom]
    assert np.abs(shown.astype(int) - image.astype(int)).max() <= 1
    (_, _, decoded, near, said), status = call(image_demo, "/map_click", 400, 330)
    assert status.startswith("done in") and "Euclidean" in said
    assert size(decoded) == (zoom * (cell + 2),) * 2 and size(near) == (zoom * (8 * cell + 2), zoom * (cell + 2))
    out, _ = call(image_demo, "/dials_encode", 3)
    assert len(out) == 5  # 4 dimensions (at most 6), then the decode
    (moved,), status = call(image_demo, "/dials_decode", 3, *out[:-1])
    assert status.startswith("done in")
    # the dials at the image's own values decode its posterior mean (to a grey level: the PNG's rounding)
    assert np.abs(np.asarray(Image.open(moved), dtype=int) - np.asarray(Image.open(out[-1]), dtype=int)).max() <= 1
    _, status = call(image_demo, "/reconstruct", 100)
    assert "from 0 to 99" in status


# -- a real browser -----------------------------------------------------------------------------------
def test_interpolate_in_a_real_headless_chromium(text_demo, tmp_path):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("no browser: Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")
    client, url = text_demo
    (expected,), _ = call(client, "/interpolate", A, B, 5, "slerp", "greedy", 1.0, 1.0, 0)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=["--no-sandbox"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url, timeout=120_000)
        page.locator("#sentence-a textarea").fill(A)
        page.locator("#sentence-b textarea").fill(B)
        page.locator("#interpolate-button").click()
        path = page.locator("#path textarea")
        page.wait_for_function("() => document.querySelector('#path textarea').value.length > 0", timeout=60_000)
        shown = path.input_value()
        shot = tmp_path / "demo.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shown.split("\n") == expected.split("\n") and len(shown.split("\n")) == 7
    with Image.open(shot) as im:
        assert im.size[0] == 1280 and im.size[1] >= 600
        assert len(set(np.asarray(im.convert("L")).ravel().tolist())) > 20  # a rendered page, not a blank

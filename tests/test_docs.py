"""The documentation: the generated reference pages match the code, and the site builds with warnings as
errors (a broken link, a missing include or a stale nav entry fails)."""

import importlib.util
import os
import subprocess
import sys

import pytest
from conftest import ROOT


def _generator():
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "scripts" / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", ["config.md", "cli.md"])
def test_the_committed_reference_pages_are_what_the_code_generates(page):
    gen = _generator()
    path = ROOT / "docs" / "reference" / page
    expected = gen.pages()[path]
    assert path.exists() and path.read_text(encoding="utf-8") == expected, (
        f"docs/reference/{page} is stale: run python scripts/gen_reference.py"
    )


def test_every_config_key_has_a_meaning_and_nested_sections_are_expanded():
    text = _generator().config_page()  # raises SystemExit naming any key without a meaning
    for key in (
        "train.lr",
        "loss.kl.kind",
        "loss.attributes[].dim",
        "data.tokenizer.kind",
        "model.decoder.kind",
        "model.encoder.kind",
        "model.likelihood",
        "data.binarize",
    ):
        assert f"| `{key}` |" in text, key
    assert "/textvae/data/" not in text.split("textvae/data/snli/train.txt")[0]  # no machine-specific path


def test_the_cli_reference_lists_every_verb_and_option():
    from textvae.cli import build_parser

    text = _generator().cli_page()
    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    for verb, parser in sub.choices.items():
        assert f"\n## {verb}\n" in text, verb
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in text or f", {option}" in text, (verb, option)


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "config" / "index.html").exists()
    assert (tmp_path / "site" / "benchmarks" / "ptb-curves.png").exists()  # the repository's benchmarks/ joined

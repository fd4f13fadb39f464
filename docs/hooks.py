"""MkDocs hooks (mkdocs.yml `hooks:`): the site shows the repository's own results and configs.

- `on_files`: the pictures and data of the repository's `benchmarks/` folder (PNG, JSON, CSV) and the
  YAML files of `configs/` join the site under the same paths (`benchmarks/ptb-curves.png`,
  `configs/text/snli-lstm.yaml`), so a link to one is checked by `mkdocs build --strict` like a link
  to a page.
- `on_page_markdown`: a line `--8<-- "benchmarks/NAME.md"` is replaced by that file of the repository
  (a path from the repository root), its headings one level down, so a page holds the full table that
  a benchmark script writes. A missing file stops the build.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
MOUNTED = {"benchmarks": (".png", ".json", ".csv", ".svg", ".jpg"), "configs": (".yaml", ".yml")}
INCLUDE = re.compile(r'^--8<-- "([^"]+)"\s*$')


def on_files(files, config):
    for folder, suffixes in MOUNTED.items():
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file() or path.suffix not in suffixes:
                continue
            uri = path.relative_to(ROOT).as_posix()
            if files.get_file_from_path(uri) is None:
                files.append(File(uri, str(ROOT), config["site_dir"], config["use_directory_urls"]))
    return files


def _shifted(text: str) -> str:
    """Headings one level down (`#` -> `##`), outside fenced code."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith(("```", "~~~")):
            fenced = not fenced
        out.append("#" + line if not fenced and re.match(r"#{1,5} ", line) else line)
    return "\n".join(out)


def on_page_markdown(markdown, page, config, files):
    lines = []
    for line in markdown.splitlines():
        m = INCLUDE.match(line)
        if not m:
            lines.append(line)
            continue
        path = ROOT / m.group(1)
        if not path.is_file():
            raise PluginError(f"{page.file.src_uri}: included file {m.group(1)} does not exist")
        lines.append(_shifted(path.read_text(encoding="utf-8")))
    return "\n".join(lines) + "\n"

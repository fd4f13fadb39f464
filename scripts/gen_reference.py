"""Write docs/reference/config.md and docs/reference/cli.md from the code, so neither can drift from it.

    python scripts/gen_reference.py            # (re)write both pages
    python scripts/gen_reference.py --check    # exit 1 if a committed page differs from what the code gives

The config reference walks the experiment config's dataclasses recursively (the `data` and `model`
sections through each registered task's config classes); a section chosen by its kind (a union of
families, textvae.config.families) gets one table per family after its section's table. Each key's
meaning comes from the code: a field's `metadata={"help": ...}`, a string or comment beside or above the
field, or the entry `name: meaning` in its class's docstring (or a base class's). A key without one is
an error. The command-line reference walks textvae.cli.build_parser().
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import re
import sys
import textwrap
import tokenize
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import textvae  # noqa: E402
from textvae import registry  # noqa: E402
from textvae.cli import build_parser  # noqa: E402
from textvae.config import families  # noqa: E402
from textvae.training.config import ExperimentConfig  # noqa: E402

CONFIG_PAGE = ROOT / "docs" / "reference" / "config.md"
CLI_PAGE = ROOT / "docs" / "reference" / "cli.md"
PACKAGE_DIR = str(Path(textvae.__file__).resolve().parent)
LONGEST = 220  # characters of meaning a table row keeps (whole sentences, at least one)


# -- where each field's meaning is written -----------------------------------------------------------
def _field_notes(cls) -> dict[str, str]:
    """Per field name: the string literal after it, else the comment beside it, else comments above it."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    comments: dict[int, str] = {}  # 1-based line -> comment text
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    notes = {}
    body = ast.parse(source).body[0].body
    for i, node in enumerate(body):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        name = node.target.id
        after = body[i + 1] if i + 1 < len(body) else None
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            notes[name] = " ".join(after.value.value.split())
            continue
        beside = [comments[n] for n in range(node.lineno, node.end_lineno + 1) if n in comments]
        if beside:
            notes[name] = " ".join(beside)
            continue
        above, n = [], node.lineno - 1
        while n >= 1 and lines[n - 1].strip().startswith("#"):
            above.insert(0, comments.get(n, ""))
            n -= 1
        if above:
            notes[name] = " ".join(above)
    return notes


_NAMES = r"[A-Za-z_]\w*(?:\s*(?:,|/|,? and)\s*[A-Za-z_]\w*)*"


def _docstring_entries(cls, fields: list[str]) -> dict[str, str]:
    """`name: meaning` entries of the class docstring (also `a, b: meaning` and `a/b: meaning`), at the
    start of a line or after a sentence; only names that are fields of the class open an entry."""
    doc = inspect.getdoc(cls) or ""
    if cls.__doc__ is None or doc.startswith(f"{cls.__name__}("):  # dataclass's generated signature
        return {}
    text = doc.split("\n\n", 1)[-1] if "\n\n" in doc else ""
    starts = []
    for m in re.finditer(rf"(?m)(?:^\s*|(?<=[.;] ))({_NAMES}): ", text):
        names = re.split(r"\s*(?:,|/|,? and)\s*", m.group(1))
        if all(n in fields for n in names):
            starts.append((m.start(1), m.end(), names))
    entries = {}
    for k, (_, begin, names) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(text)
        for name in names:
            entries.setdefault(name, " ".join(text[begin:end].split()))
    return entries


def _sentences(text: str) -> list[str]:
    """Split on '. ' outside parentheses, not after e.g., i.e., et al., etc."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1, "[": 1, "]": -1}.get(ch, 0)
        if ch == "." and depth <= 0 and i + 1 < len(text) and text[i + 1] == " ":
            word = text[start : i + 1].rsplit(" ", 1)[-1]
            if word.lower() in ("e.g.", "i.e.", "al.", "etc.", "vs.", "cf."):
                continue
            out.append(text[start : i + 1].strip())
            start = i + 1
    if text[start:].strip():
        out.append(text[start:].strip())
    return out


def _one_line(text: str) -> str:
    kept = []
    for sentence in _sentences(" ".join(text.split())):
        if kept and len(" ".join([*kept, sentence])) > LONGEST:
            break
        kept.append(sentence)
    return " ".join(kept)


def meanings(cls) -> dict[str, str]:
    """Per field: its meaning, said by the class or else by the nearest base class that says one."""
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    sources = [(_field_notes(c), _docstring_entries(c, fields)) for c in cls.__mro__ if dataclasses.is_dataclass(c)]
    out = {}
    for f in dataclasses.fields(cls):
        said = [f.metadata.get("help"), *(text.get(f.name) for pair in sources for text in pair)]
        text = next((t for t in said if t), None)
        if text:
            out[f.name] = _one_line(text)
    return out


# -- walking the dataclasses -------------------------------------------------------------------------
def _dataclass_in(tp) -> tuple[type | None, bool]:
    """The dataclass a field's type holds (itself or a list's items), and whether it is a list of them."""
    if dataclasses.is_dataclass(tp):
        return tp, False
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, tuple) and args and dataclasses.is_dataclass(args[0]):
        return args[0], True
    return None, False


def _type_name(f: dataclasses.Field, tp) -> str:
    if isinstance(f.type, str):
        return f.type
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _default(f: dataclasses.Field) -> str | None:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return None
    if dataclasses.is_dataclass(value):
        return None
    if isinstance(value, str) and value.startswith(PACKAGE_DIR):  # a file shipped inside the package
        value = "textvae" + value[len(PACKAGE_DIR) :].replace("\\", "/")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return repr(value)


def rows(cls, prefix: str, missing: list[str], chosen: list) -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, meaning) for every field of `cls`, nested dataclasses expanded. A
    section chosen by kind has one row here (its default: the default kind), and its families are
    appended to `chosen` as (section key, kinds, dataclass), for tables of their own."""
    hints = typing.get_type_hints(cls)
    said = meanings(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key, tp_name = f"{prefix}{f.name}", _type_name(f, hints[f.name])
        inner, is_list = _dataclass_in(hints[f.name])
        meaning = said.get(f.name, "")
        kinds = families(hints[f.name])
        if kinds:
            by_family: dict[type, list[str]] = {}
            for kind, family in kinds.items():
                by_family.setdefault(family, []).append(kind)
            chosen += [(key, names, family) for family, names in by_family.items()]
            listed = ", ".join(f"[{', '.join(names)}](#{_anchor(key, names)})" for names in by_family.values())
            out.append((key, tp_name, f.default_factory().kind, f"{meaning} Kinds: {listed}.".strip()))
            continue
        if inner is not None:
            if is_list:
                out.append((key, tp_name, _default(f) or "", meaning or f"a list of {inner.__name__} entries"))
            out += rows(inner, f"{key}[]." if is_list else f"{key}.", missing, chosen)
            continue
        if not meaning:
            missing.append(f"{cls.__module__}.{cls.__qualname__}.{f.name} ({key})")
        out.append((key, tp_name, _default(f) or "", meaning))
    return out


def _cell(text: str) -> str:
    """Escape the pipes a table cell holds outside code spans (inside them a pipe never splits a cell)."""
    parts = text.split("`")
    return "`".join(p if i % 2 else p.replace("|", "\\|") for i, p in enumerate(parts))


def _family_heading(key: str, kinds: list[str]) -> str:
    return f"{key} kind {', '.join(kinds)}"


def _anchor(key: str, kinds: list[str]) -> str:
    """The id Python-Markdown's toc gives the heading of a family's table."""
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", _family_heading(key, kinds)).strip().lower())


def _section(heading: str, cls, prefix: str, missing: list[str]) -> list[str]:
    """A heading, the dataclass's name and its table, then a table (### heading) for each family of a
    section in it that its kind chooses."""
    chosen: list = []
    lines = [heading, "", f"`{cls.__module__}.{cls.__name__}`", "", *_table(rows(cls, prefix, missing, chosen)), ""]
    for key, kinds, family in chosen:
        lines += _section(f"### {_family_heading(key, kinds)}", family, f"{key}.", missing)
    return lines


def _table(entries) -> list[str]:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, tp, default, meaning in entries:
        lines.append(f"| `{key}` | `{tp}` | {'`' + default + '`' if default else ''} | {_cell(meaning)} |")
    return lines


def config_page() -> str:
    missing: list[str] = []
    sections = {f.name: f for f in dataclasses.fields(ExperimentConfig)}
    hints = typing.get_type_hints(ExperimentConfig)
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python scripts/gen_reference.py` from the config dataclasses; do not edit. -->",
        "",
        "A config is a YAML file with five sections, `task`, `data`, `model`, `train` and `loss`",
        "(examples under [configs/](../guide/models.md#shipped-configs)). Any key can be overridden on the",
        "command line, type-checked:",
        "`textvae train --config configs/text/snli-lstm.yaml train.epochs=3 model.latent_size=16`.",
        "A misspelt key is an error that names the nearest valid one. `data` and `model` depend on the task.",
        "A section chosen by its `kind` (a text model's `encoder` and `decoder`) takes the keys of that kind,",
        "one table per kind below; an override of the kind (`model.decoder.kind=transformer`) drops the keys",
        "the config file gave the section that the new kind lacks.",
        "",
        "## task",
        "",
        f"`task` (`str`, required): the modality, one of {', '.join(f'`{t}`' for t in registry.TASKS)}.",
        "",
    ]
    parts = [(name, name, hints[name]) for name in ("train", "loss")]
    for task_name in registry.TASKS:
        task = registry.task_class(task_name)
        parts += [
            (f"{name} (task: {task_name})", name, cls)
            for name, cls in (("data", task.data_config_class), ("model", task.model_config_class))
        ]
    for title, name, cls in parts:
        lines += _section(f"## {title}", cls, f"{name}.", missing)
    assert set(sections) == {"task", "data", "model", "train", "loss"}, sorted(sections)
    if missing:
        raise SystemExit(
            "config keys without a meaning in the code (add a comment beside the field, or an entry "
            "in its class docstring):\n  " + "\n  ".join(missing)
        )
    return "\n".join(lines).rstrip() + "\n"


# -- the command line --------------------------------------------------------------------------------
def _flag(action: argparse.Action) -> str:
    if not action.option_strings:
        return action.metavar or action.dest
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = action.metavar or (("{" + ",".join(action.choices) + "}") if action.choices else action.dest.upper())
    shown = f"[{metavar}]" if action.nargs == "?" else metavar
    return ", ".join(f"{o} {shown}" for o in action.option_strings)


def _synopsis(verb: str, parser: argparse.ArgumentParser) -> str:
    parts = [f"textvae {verb}"]
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction):
            continue
        if a.option_strings:
            text = a.option_strings[0] if a.nargs == 0 else f"{a.option_strings[0]} {_flag(a).split(' ', 1)[1]}"
            parts.append(text if a.required else f"[{text}]")
        else:
            name = a.metavar or a.dest
            parts.append({"*": f"[{name} ...]", "+": f"{name} [{name} ...]", "?": f"[{name}]"}.get(a.nargs, name))
    return " ".join(parts)


def _arg_default(a: argparse.Action) -> str:
    if a.required or a.nargs == 0 or a.default in (None, argparse.SUPPRESS) or a.default == []:
        return ""
    return f"`{a.default}`"


def cli_page() -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in sub._choices_actions}
    lines = [
        "# Command-line reference",
        "",
        "<!-- Generated by `python scripts/gen_reference.py` from textvae/cli.py; do not edit. -->",
        "",
        f"{parser.description} `python -m textvae` is the same command. {parser.epilog}",
        "Bad input (an unknown config key, a missing file, a directory where a file belongs) stops with one",
        "line naming the problem and exit status 2.",
        "",
        "| verb | what it does |",
        "|---|---|",
    ]
    lines += [f"| [`{verb}`](#{verb}) | {_cell(helps.get(verb) or '')} |" for verb in sub.choices]
    for verb, p in sub.choices.items():
        said = helps.get(verb) or ""
        lines += ["", f"## {verb}", ""]
        if said:
            lines += [said[0].upper() + said[1:] + ("" if said.endswith(".") else "."), ""]
        lines += ["```text", _synopsis(verb, p), "```", ""]
        if p.description:
            lines += [p.description, ""]
        for group in p._action_groups:
            actions = [a for a in group._group_actions if not isinstance(a, argparse._HelpAction)]
            if not actions:
                continue
            title = {"positional arguments": "arguments", "options": "options", "optional arguments": "options"}.get(
                group.title, group.title
            )
            lines += [f"**{title}**", "", "| argument | default | meaning |", "|---|---|---|"]
            for a in actions:
                meaning = a.help or ""
                if a.choices and a.option_strings and "{" not in _flag(a):
                    meaning = f"{meaning} (one of {', '.join(map(str, a.choices))})".strip()
                lines.append(f"| `{_flag(a)}` | {_arg_default(a)} | {_cell(meaning)} |")
            lines.append("")
        if p.epilog:
            lines += [p.epilog, ""]
    return "\n".join(lines).rstrip() + "\n"


def pages() -> dict[Path, str]:
    return {CONFIG_PAGE: config_page(), CLI_PAGE: cli_page()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare the committed pages with the code's")
    args = ap.parse_args(argv)
    stale = []
    for path, text in pages().items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.relative_to(ROOT))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"stale: {', '.join(map(str, stale))}; run python scripts/gen_reference.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

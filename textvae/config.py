"""Typed config dataclasses filled from YAML and `key.sub=value` overrides.

Every section is a dataclass beside the code it configures; `from_dict` checks keys and types, and an
unknown key is an error naming the nearest valid one. Validation of values lives in each dataclass's
`__post_init__` (raising ValueError), which `from_dict` turns into a UserError naming the section.

A section may be one of several dataclasses, chosen by its `kind` key (a text model's encoder and
decoder): its field is annotated with the union of the families, each naming its kinds in a `KINDS`
class attribute (see `families`).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError


def _nearest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.0)
    return close[0] if close else valid[0]


def families(tp: Any) -> dict[str, type]:
    """kind -> dataclass of a section chosen by its `kind` key: `tp` is a union of dataclasses that each
    name their kinds in a class attribute KINDS. Empty for any other type."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return {}
    members = typing.get_args(tp)
    if not all(dataclasses.is_dataclass(m) and getattr(m, "KINDS", None) for m in members):
        return {}
    return {kind: m for m in members for kind in m.KINDS}


class KindOverride(dict):
    """A section's mapping whose `kind` an override set (apply_overrides), with `file_keys`: the keys
    only the config file gave it, which configured the file's kind (from_dict drops those the new kind
    lacks)."""

    def __init__(self, data: dict, file_keys: set[str]):
        super().__init__(data)
        self.file_keys = set(file_keys)


def _keys(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]


def _choose_family(kinds: dict[str, type], data: dict, prefix: str, saved: bool) -> tuple[type, dict]:
    """The dataclass that `data`'s kind names (absent: the first family's default kind) and the keys of
    `data` it takes (see from_dict)."""
    section = prefix.rstrip(".") or "config"
    first = next(iter(kinds.values()))
    kind = data.get("kind", first.__dataclass_fields__["kind"].default)
    if not isinstance(kind, str) or kind not in kinds:
        raise UserError(f"{section}: kind must be one of {', '.join(kinds)}, not {kind!r}")
    cls = kinds[kind]
    own = _keys(cls)
    others = {}  # a key the chosen family lacks -> the kinds that have it
    for other_kind, other in kinds.items():
        for key in _keys(other):
            if key not in own:
                others.setdefault(key, []).append(other_kind)
    droppable = set(data) if saved else getattr(data, "file_keys", frozenset())
    taken = {k: v for k, v in data.items() if not (k in others and k in droppable)}
    for key in taken:
        if key not in own:
            also = f" (only of {', '.join(others[key])})" if key in others else ""
            raise UserError(
                f"{prefix}{key}: not a key of {section.rsplit('.', 1)[-1]} kind {kind}{also}; did you mean "
                f"'{prefix}{_nearest(str(key), own)}'? Its keys: {', '.join(own)}"
            )
    return cls, taken


def _coerce(value: Any, tp: Any, where: str, saved: bool = False) -> Any:
    """Check `value` against the annotation `tp`, converting only int -> float."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    kinds = families(tp)
    if kinds or dataclasses.is_dataclass(tp):
        if isinstance(value, tuple(kinds.values()) if kinds else tp):
            return value
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a mapping of keys to values, not {value!r}")
        return from_dict(tp, value, prefix=f"{where}.", saved=saved)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where, saved)
            except UserError as e:
                errors.append(str(e))
        raise UserError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where} must be a list, not {value!r}")
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item_tp, f"{where}[{i}]", saved) for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a mapping, not {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where} must be true or false, not {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where} must be an integer, not {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where} must be a number, not {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, bool):  # YAML 1.1 reads an unquoted no/yes (off/on) as a boolean
            return "yes" if value else "no"
        if not isinstance(value, str):
            raise UserError(f"{where} must be a string, not {value!r}")
        return value
    return value


def from_dict(cls, data: dict, prefix: str = "", saved: bool = False):
    """Build dataclass `cls` from a plain dict, checking every key and type.

    `cls` may be a union of families (see `families`): the dict's `kind` chooses the dataclass (absent:
    the first family's default kind), and a key the chosen family lacks is an error naming the key, the
    kind and the nearest valid key, with two exceptions for keys that some other family of the section
    has. They are dropped
    - from the config file's keys of a section whose kind an override switched (apply_overrides):
      `model.decoder.kind=transformer` on a file with an lstm decoder keeps the file's hidden_size and
      drops its z_to_initial_state; a key given on the command line must belong to the family;
    - everywhere with `saved`, for a config the code wrote (a model's config.json, a run's
      train_config.yaml): before the families were split, each saved section held every family's keys,
      which the code of its kind never read.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{prefix.rstrip('.') or 'config'} must be a mapping, not {data!r}")
    kinds = families(cls)
    if kinds:
        cls, data = _choose_family(kinds, data, prefix, saved)
    hints = typing.get_type_hints(cls)
    names = _keys(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise UserError(f"unknown config key '{prefix}{key}'; did you mean '{prefix}{_nearest(str(key), names)}'?")
        kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}", saved)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        section = prefix.rstrip(".")
        raise UserError(f"{section + ': ' if section else ''}{e}") from None


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)


def parse_override(text: str) -> tuple[list[str], Any]:
    """'train.lr=3e-4' -> (['train', 'lr'], 0.0003). Values are read as YAML scalars."""
    if "=" not in text:
        raise UserError(f"override {text!r} must look like key.sub=value")
    key, raw = text.split("=", 1)
    path = key.strip().split(".")
    if not all(path):
        raise UserError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    # YAML reads 1e-3 as a string: accept scientific notation as a number.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value.lower() for c in ".e") and value.strip() else value
        except ValueError:
            pass
    return path, value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Set each `key.sub=value` in the nested dict `raw` (in place) and return it.

    An override of a section's `kind` makes the section a KindOverride remembering the keys the file
    gave it (not those of an earlier override), so that from_dict can drop those the new kind lacks."""
    given = []  # the paths set so far, on the command line
    for text in overrides:
        path, value = parse_override(text)
        parent, node = None, raw
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise UserError(f"override {text!r}: '{part}' is a value, not a section")
            parent, node = node, child
            if isinstance(node, KindOverride):  # a key the command line sets is the user's, not the file's
                node.file_keys.discard(path[depth + 1])
        if path[-1] == "kind" and parent is not None and not isinstance(node, KindOverride):
            from_file = {k for k in node if k != "kind" and not any(_overlap(g, [*path[:-1], k]) for g in given)}
            node = parent[path[-2]] = KindOverride(node, from_file)
        node[path[-1]] = value
        given.append(path)
    return raw


def _overlap(a: list[str], b: list[str]) -> bool:
    """Whether one key path is the other or inside it."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def load_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.exists():
        raise UserError(f"config file {p} does not exist")
    if p.is_dir():
        raise UserError(f"config {p} is a directory; give a YAML file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"config file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file {p} must hold a mapping at the top level")
    return data

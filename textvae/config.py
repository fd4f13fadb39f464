"""Typed config dataclasses filled from YAML and `key.sub=value` overrides.

Every section is a dataclass beside the code it configures; `from_dict` checks keys and types, and an
unknown key is an error naming the nearest valid one. Validation of values lives in each dataclass's
`__post_init__` (raising ValueError), which `from_dict` turns into a UserError naming the section.
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


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp`, converting only int -> float."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except UserError as e:
                errors.append(str(e))
        raise UserError(errors[0] if errors else f"{where}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a mapping of keys to values, not {value!r}")
        return from_dict(tp, value, prefix=f"{where}.")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where} must be a list, not {value!r}")
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
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


def from_dict(cls, data: dict, prefix: str = ""):
    """Build dataclass `cls` from a plain dict, checking every key and type."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{prefix.rstrip('.') or 'config'} must be a mapping, not {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise UserError(f"unknown config key '{prefix}{key}'; did you mean '{prefix}{_nearest(str(key), names)}'?")
        kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}")
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
    """Set each `key.sub=value` in the nested dict `raw` (in place) and return it."""
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise UserError(f"override {text!r}: '{part}' is a value, not a section")
            node = child
        node[path[-1]] = value
    return raw


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

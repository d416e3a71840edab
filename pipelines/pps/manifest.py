"""Spec files as pachctl reads them (ppsutil.SpecReader): JSON or YAML, one spec, a list of
specs, or several YAML documents (`---`); keys camelCase or snake_case (protojson takes
both); a `$schema` key an editor added is dropped. Several JSON objects one after another
are read too (pachctl before its YAML reader took them).

YAML here is read as pachctl's YAML 1.2 reader does: only true/false are booleans
(`yes`, `on` stay strings) and timestamps stay strings.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from ..errors import SpecError

SCHEMA_KEY = "$schema"


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2's booleans and no timestamp type."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def read_manifest(path: str | Path) -> list[dict]:
    p = Path(path)
    try:
        text = p.read_text() if str(path) != "-" else __import__("sys").stdin.read()
    except FileNotFoundError:
        raise SpecError(f"{p}: no such spec file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{p}: cannot read it ({e})") from None
    return parse_manifest(text, str(p))


def parse_manifest(text: str, where: str = "spec") -> list[dict]:
    """Every spec in a manifest, in order, with `$schema` removed."""
    docs = _json_objects(text)
    if docs is None:
        try:
            docs = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
        except yaml.YAMLError as e:
            raise SpecError(f"{where}: malformed pipeline spec, neither JSON nor YAML ({_short(e)})") from None
    specs: list[dict] = []
    for doc in docs:
        for spec in doc if isinstance(doc, list) else [doc]:
            if not isinstance(spec, dict):
                raise SpecError(f"{where}: expected a mapping or a list of them, got {type(spec).__name__}")
            specs.append({k: v for k, v in spec.items() if k != SCHEMA_KEY})
    if not specs:
        raise SpecError(f"{where}: no pipeline spec in it")
    return specs


def _json_objects(text: str) -> list | None:
    """JSON values one after another (None if the text is not that: then it is YAML)."""
    dec, i, out = json.JSONDecoder(), 0, []
    text = text.strip()
    while i < len(text):
        try:
            value, end = dec.raw_decode(text, i)
        except ValueError:
            return None
        out.append(value)
        i = end
        while i < len(text) and text[i].isspace():
            i += 1
    return out


def _short(e: Exception) -> str:
    return " ".join(str(e).split())[:300]

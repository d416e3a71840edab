"""Strict structural check of a pipeline spec against Pachyderm's own message
definitions, as pachyderm-sdk generates them (so it tracks Pachyderm, not a hand list).

pachyderm-sdk alone drops unknown keys and reads "1h" as 1 s; pachctl refuses both.
Here every key must be a field's protobuf JSON name (lowerCamelCase) or its proto name
(snake_case), as protojson takes either; every value of its field's type, and durations
protobuf-JSON strings like "600s". `normalize` returns the spec with camelCase keys and
integers as numbers (protojson also takes "3"), which is how the engine stores it.
"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import re
import typing

import betterproto
from pachyderm_sdk.api import pps

from pipelines.errors import SpecError

DURATION = re.compile(r"^-?\d+(\.\d{1,9})?s$")
_INTS = {"int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64", "sfixed32", "sfixed64"}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


@functools.cache
def _fields(cls: type) -> dict[str, tuple[str, object, object]]:
    """JSON name -> (python name, proto type, python type hint) of a betterproto message."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        if f.name.startswith("_"):
            continue
        meta = f.metadata.get("betterproto")
        json_name = _JSON_NAMES.get((cls.__name__, f.name), camel(f.name))
        out[json_name] = (f.name, meta.proto_type if meta else None, hints.get(f.name))
    return out


# Fields whose proto name is not snake_case, so their JSON name is not camel(python name).
_JSON_NAMES = {("Egress", "url"): "URL"}


@functools.cache
def _aliases(cls: type) -> dict[str, str]:
    """Every key protojson accepts for a field (JSON name and proto name) -> JSON name."""
    out = {}
    for json_name, (py_name, _, _) in _fields(cls).items():
        proto_name = "URL" if json_name == "URL" else py_name
        out[json_name] = out[proto_name] = json_name
    return out


def check_message(value: object, cls: type, path: str) -> dict:
    if not isinstance(value, dict):
        raise SpecError(f"{path or '(top)'}: expected an object, got {type(value).__name__}")
    fields, aliases, out = _fields(cls), _aliases(cls), {}
    for key, v in value.items():
        where = f"{path}.{key}" if path else key
        if key not in aliases:
            near = ", ".join(sorted(fields)[:12])
            raise SpecError(f"{where}: unknown key (known here: {near}{', ...' if len(fields) > 12 else ''})")
        name = aliases[key]
        if name in out:
            raise SpecError(f"{where}: the field {name} is given twice (as {name} and {key})")
        if v is None:  # protojson: null is the field's default
            continue
        _, proto_type, hint = fields[name]
        out[name] = check_value(v, proto_type, hint, where)
    return out


def check_value(v: object, proto_type, hint, where: str):
    """Raise SpecError if v is not of the field's type; return it normalized."""
    origin = typing.get_origin(hint)
    if origin in (list, typing.List):
        if not isinstance(v, list):
            raise SpecError(f"{where}: expected a list, got {type(v).__name__}")
        (elem,) = typing.get_args(hint)
        return [check_value(item, proto_type, elem, f"{where}[{i}]") for i, item in enumerate(v)]
    if origin in (dict, typing.Dict):
        if not isinstance(v, dict):
            raise SpecError(f"{where}: expected an object, got {type(v).__name__}")
        for k, item in v.items():
            if not isinstance(item, (str, int, float, bool)):
                raise SpecError(f"{where}.{k}: expected a scalar value")
        return dict(v)
    if hint is datetime.timedelta:
        if not (isinstance(v, str) and DURATION.match(v)):
            raise SpecError(f"{where}: {v!r} is not a duration like \"600s\" (protobuf JSON; \"1h\" is not accepted)")
        return v
    if hint is datetime.datetime:
        if not isinstance(v, str):
            raise SpecError(f"{where}: expected an RFC 3339 timestamp string")
        try:
            datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise SpecError(f"{where}: {v!r} is not an RFC 3339 timestamp like 2024-01-01T00:00:00Z") from None
        return v
    if isinstance(hint, type) and issubclass(hint, betterproto.Message):
        return check_message(v, hint, where)
    if isinstance(hint, type) and issubclass(hint, betterproto.Enum):
        names = [m.name for m in hint]
        if not ((isinstance(v, str) and v in names) or (isinstance(v, int) and not isinstance(v, bool))):
            raise SpecError(f"{where}: {v!r} is not one of {', '.join(names)}")
        return v
    if proto_type == "string" or hint is str:
        if not isinstance(v, str):
            raise SpecError(f"{where}: expected a string, got {type(v).__name__}")
    elif proto_type == "bool" or hint is bool:
        if not isinstance(v, bool):
            raise SpecError(f"{where}: expected true or false, got {v!r}")
    elif proto_type in _INTS or hint is int:
        ok = (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and re.fullmatch(r"-?\d+", v))
        if not ok:
            raise SpecError(f"{where}: expected an integer, got {v!r}")
        return int(v)
    elif proto_type in ("double", "float") or hint is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpecError(f"{where}: expected a number, got {v!r}")
    return v


def normalize(spec: dict) -> dict:
    """The spec checked against Pachyderm's messages, with camelCase keys."""
    return check_message(spec, pps.CreatePipelineRequest, "")

"""Strict structural check of a pipeline spec against Pachyderm's own message
definitions, as pachyderm-sdk generates them (so it tracks Pachyderm, not a hand list).

pachyderm-sdk alone drops unknown keys and reads "1h" as 1 s; pachctl refuses both.
Here every key must be a protobuf JSON (lowerCamelCase) field name, every value of
its field's type, and durations protobuf-JSON strings like "600s".
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
        out[camel(f.name)] = (f.name, meta.proto_type if meta else None, hints.get(f.name))
    return out


def check_message(value: object, cls: type, path: str) -> None:
    if not isinstance(value, dict):
        raise SpecError(f"{path or '(top)'}: expected an object, got {type(value).__name__}")
    fields = _fields(cls)
    for key, v in value.items():
        where = f"{path}.{key}" if path else key
        if key not in fields:
            as_camel = camel(key)
            if as_camel in fields and as_camel != key:
                raise SpecError(f"{where}: use the camelCase key {path + '.' if path else ''}{as_camel} "
                                f"(specs here are canonical protobuf JSON)")
            near = ", ".join(sorted(fields)[:12])
            raise SpecError(f"{where}: unknown key (known here: {near}{', ...' if len(fields) > 12 else ''})")
        _, proto_type, hint = fields[key]
        check_value(v, proto_type, hint, where)


def check_value(v: object, proto_type, hint, where: str) -> None:
    origin = typing.get_origin(hint)
    if origin in (list, typing.List):
        if not isinstance(v, list):
            raise SpecError(f"{where}: expected a list, got {type(v).__name__}")
        (elem,) = typing.get_args(hint)
        for i, item in enumerate(v):
            check_value(item, proto_type, elem, f"{where}[{i}]")
        return
    if origin in (dict, typing.Dict):
        if not isinstance(v, dict):
            raise SpecError(f"{where}: expected an object, got {type(v).__name__}")
        for k, item in v.items():
            if not isinstance(item, (str, int, float, bool)):
                raise SpecError(f"{where}.{k}: expected a scalar value")
        return
    if hint is datetime.timedelta:
        if not (isinstance(v, str) and DURATION.match(v)):
            raise SpecError(f"{where}: {v!r} is not a duration like \"600s\" (protobuf JSON; \"1h\" is not accepted)")
        return
    if hint is datetime.datetime:
        if not isinstance(v, str):
            raise SpecError(f"{where}: expected an RFC 3339 timestamp string")
        return
    if isinstance(hint, type) and issubclass(hint, betterproto.Message):
        check_message(v, hint, where)
        return
    if isinstance(hint, type) and issubclass(hint, betterproto.Enum):
        names = [m.name for m in hint]
        if not ((isinstance(v, str) and v in names) or (isinstance(v, int) and not isinstance(v, bool))):
            raise SpecError(f"{where}: {v!r} is not one of {', '.join(names)}")
        return
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
    elif proto_type in ("double", "float") or hint is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpecError(f"{where}: expected a number, got {v!r}")


def check_structure(spec: dict) -> None:
    check_message(spec, pps.CreatePipelineRequest, "")

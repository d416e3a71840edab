"""The record schemas (specs/records/<kind>.schema.json) and how records are written.

Every JSON a stage publishes goes through `write_record`, so nothing that fails its
schema ever reaches an output commit.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "specs" / "records"
_CHUNK = 1 << 20


class RecordError(ValueError):
    """A record does not match its schema (a bug in the stage, never bad media)."""


@functools.cache
def schema(kind: str) -> dict[str, Any]:
    path = SCHEMA_DIR / f"{kind}.schema.json"
    if not path.is_file():
        raise RecordError(f"no schema for record kind {kind!r} (expected {path})")
    return json.loads(path.read_text())


@functools.cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    s = schema(kind)
    cls = jsonschema.validators.validator_for(s)
    cls.check_schema(s)
    return cls(s, format_checker=cls.FORMAT_CHECKER)


def validate(kind: str, record: Any) -> None:
    errors = sorted(_validator(kind).iter_errors(record), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(map(str, e.absolute_path)) or "(top)"
        raise RecordError(f"{kind} record invalid at {where}: {e.message}")


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write JSON atomically (temp file + rename): readers never see half a record."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_record(path: str | os.PathLike, kind: str, record: dict[str, Any]) -> Path:
    validate(kind, record)
    return write_json(path, record)


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def sha256_file(path: str | os.PathLike) -> str:
    """Streaming sha256: never holds a whole upload in memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""ListObjects paging, pure: one page from a sorted stream of objects.

Keys under one common prefix count once toward max-keys; when a page ends on a
common prefix, the next page (marker / continuation token = that prefix) skips
every key under it, so each key and prefix is listed exactly once.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Iterable

from pipelines.s3 import errors
from pipelines.s3.backend import ObjectInfo

MAX_KEYS = 1000


@dataclass(frozen=True)
class Page:
    contents: list[ObjectInfo]
    prefixes: list[str]
    truncated: bool
    last: str | None  # the last key or prefix in this page: the next marker


def list_page(objects: Iterable[ObjectInfo], *, prefix: str, delimiter: str, marker: str,
              max_keys: int) -> Page:
    """`objects`: sorted, with `prefix`, strictly after `marker` (the backend filters)."""
    if max_keys == 0:  # S3: nothing asked, nothing more to say (not truncated)
        return Page([], [], False, None)
    contents: list[ObjectInfo] = []
    prefixes: list[str] = []
    last: str | None = None
    for obj in objects:
        common = common_prefix(obj.key, prefix, delimiter)
        if common is not None and (common == marker or common == last):
            continue  # already listed (this page or the previous one)
        if len(contents) + len(prefixes) >= max_keys:
            return Page(contents, prefixes, True, last)
        if common is not None:
            prefixes.append(common)
            last = common
        else:
            contents.append(obj)
            last = obj.key
    return Page(contents, prefixes, False, last)


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    i = key.find(delimiter, len(prefix))
    return None if i < 0 else key[: i + len(delimiter)]


def parse_max_keys(text: str | None, name: str = "max-keys", limit: int = MAX_KEYS) -> int:
    if text is None or text == "":
        return limit
    try:
        n = int(text)
    except ValueError:
        raise errors.invalid_argument(f"{name} {text!r} is not a number") from None
    if n < 0:
        raise errors.invalid_argument(f"{name} cannot be negative")
    return min(n, limit)


def encode_token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode()


def decode_token(token: str) -> str:
    try:
        last = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        last = ""
    if not last:
        raise errors.invalid_argument("The continuation token provided is incorrect")
    return last

"""Pure header helpers: Content-Type by extension, Range parsing, HTTP dates."""
from __future__ import annotations

import re
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import PurePosixPath

from pipelines.s3 import errors

# What players and browsers need to see for the packages transcode writes.
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".ts": "video/mp2t",
    ".mp3": "audio/mpeg",
    ".aac": "audio/aac",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".json": "application/json",
    ".vtt": "text/vtt",
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml",
}
DEFAULT_TYPE = "application/octet-stream"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def content_type(key: str) -> str:
    return CONTENT_TYPES.get(PurePosixPath(key).suffix.lower(), DEFAULT_TYPE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Inclusive (first, last) byte of a single `bytes=` range, or None for the whole object.

    Syntax S3 ignores (several ranges, other units) gives None; a well-formed range
    that starts past the end raises InvalidRange (416).
    """
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    first, last = m.group(1), m.group(2)
    if first == "":  # suffix: the last N bytes
        n = int(last)
        if n == 0:
            raise errors.invalid_range(size)
        return max(0, size - n), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None  # RFC 9110: an invalid range-spec is ignored
    if start >= size:
        raise errors.invalid_range(size)
    return start, end


def http_date(t: datetime) -> str:
    return format_datetime(t, usegmt=True)


def iso_date(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def precondition(headers: dict[str, str], etag: str, modified: datetime) -> int | None:
    """304 or 412 when conditional headers say so (RFC 9110 order), else None.

    Players re-fetch manifests with If-None-Match; S3 answers 304 when nothing changed.
    """
    quoted = f'"{etag}"'

    def matches(value: str) -> bool:
        return any(t.strip() in ("*", quoted, etag) for t in value.split(","))

    modified = modified.replace(microsecond=0)  # HTTP dates have whole seconds
    if "if-match" in headers:
        if not matches(headers["if-match"]):
            return 412
    elif _date(headers.get("if-unmodified-since")) and modified > _date(headers["if-unmodified-since"]):
        return 412
    if "if-none-match" in headers:
        return 304 if matches(headers["if-none-match"]) else None
    since = _date(headers.get("if-modified-since"))
    if since and modified <= since:
        return 304
    return None


def write_precondition(headers: dict[str, str], current_etag: str | None) -> bool:
    """True when a conditional PUT must fail (412): If-Match needs the object with that
    ETag, If-None-Match (`*` or ETags) needs it absent or different."""
    def matches(value: str) -> bool:
        return current_etag is not None and any(t.strip().strip('"') in ("*", current_etag) for t in value.split(","))

    if "if-match" in headers and not matches(headers["if-match"]):
        return True
    return "if-none-match" in headers and matches(headers["if-none-match"])


def copy_precondition(headers: dict[str, str], etag: str, modified: datetime) -> bool:
    """True when the x-amz-copy-source-if-* conditions stop a copy (412). As S3: a true
    if-match wins over a false if-unmodified-since, a false if-none-match over if-modified-since."""
    prefix = "x-amz-copy-source-"
    mapped = {k[len(prefix):]: v for k, v in headers.items() if k.startswith(prefix + "if-")}
    if not mapped:
        return False
    return precondition(mapped, etag, modified) is not None


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None  # an unparseable date is ignored, as HTTP says

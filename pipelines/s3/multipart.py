"""Multipart uploads: parts spooled to disk under one directory, joined on Complete.

An upload lives only in this gateway process (as in pachd, where parts sit in a
scratch repo until Complete); Complete streams the parts, in order, into ONE
`backend.put`, so the repo sees a single commit.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable

from pipelines.s3 import errors

UPLOAD_TTL = 24 * 3600  # an upload neither completed nor aborted for a day is dropped (client gone)
MIN_PART = 5 << 20  # S3's minimum size of every part but the last
MAX_PART_NUMBER = 10000
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Part:
    number: int
    size: int
    etag: str  # md5 hex, as S3 gives for a part
    modified: datetime


@dataclass
class Upload:
    id: str
    bucket: str
    key: str
    dir: Path
    parts: dict[int, Part] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    meta: tuple[tuple[str, str], ...] = ()  # kept from CreateMultipartUpload for the object
    initiated: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


@dataclass(frozen=True)
class Completed:
    """What a Complete answered, so a retried Complete (its reply was lost) gets it again."""
    bucket: str
    key: str
    etag: str
    version: str
    done: float


class Uploads:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="pachmedia-s3-parts-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self._uploads: dict[str, Upload] = {}
        self._completed: dict[str, Completed] = {}
        self._lock = threading.Lock()

    def create(self, bucket: str, key: str, meta: tuple[tuple[str, str], ...] = ()) -> Upload:
        self.sweep(UPLOAD_TTL)
        up = Upload(uuid.uuid4().hex, bucket, key, self.root / uuid.uuid4().hex, meta=meta)
        up.dir.mkdir()
        with self._lock:
            self._uploads[up.id] = up
        return up

    def get(self, upload_id: str, bucket: str, key: str) -> Upload:
        up = self._uploads.get(upload_id) if _UPLOAD_ID.match(upload_id or "") else None
        if up is None or up.bucket != bucket or up.key != key:
            raise errors.no_such_upload(upload_id)
        return up

    def in_bucket(self, bucket: str) -> list[Upload]:
        """Uploads under way in a bucket, by key then start."""
        with self._lock:
            return sorted((u for u in self._uploads.values() if u.bucket == bucket), key=lambda u: (u.key, u.started))

    def completed(self, upload_id: str, bucket: str, key: str) -> Completed | None:
        done = self._completed.get(upload_id)
        return done if done and (done.bucket, done.key) == (bucket, key) else None

    def finish(self, up: Upload, etag: str, version: str) -> None:
        now = time.monotonic()
        with self._lock:
            for old in [i for i, c in self._completed.items() if now - c.done > UPLOAD_TTL]:
                del self._completed[old]
            self._completed[up.id] = Completed(up.bucket, up.key, etag, version, now)
        self.remove(up)

    def put_part(self, up: Upload, number: int, write: Callable[[BinaryIO], tuple[int, str]]) -> Part:
        """`write(file)` copies the body into the part file and returns (size, md5 hex)."""
        if not 1 <= number <= MAX_PART_NUMBER:
            raise errors.invalid_argument(f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive")
        tmp = up.dir / f"{number}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as f:
                size, md5 = write(f)
            tmp.replace(up.dir / str(number))  # a retried part replaces the earlier one whole
        finally:
            tmp.unlink(missing_ok=True)
        part = Part(number, size, md5, datetime.now(timezone.utc))
        with self._lock:
            up.parts[number] = part
        return part

    def plan(self, up: Upload, requested: list[tuple[int, str]]) -> tuple[list[Path], list[Part]]:
        """Check a Complete request against the parts received; (files in order, the parts)."""
        numbers = [n for n, _ in requested]
        if numbers != sorted(set(numbers)):
            raise errors.invalid_part_order()
        for i, (n, etag) in enumerate(requested):
            part = up.parts.get(n)
            if part is None or (etag and etag != part.etag):
                raise errors.invalid_part(f"part {n} was not uploaded or its ETag does not match")
            if i < len(requested) - 1 and part.size < MIN_PART:
                raise errors.entity_too_small()
        return [up.dir / str(n) for n in numbers], [up.parts[n] for n in numbers]

    def sweep(self, max_age: float) -> int:
        """Drop uploads older than `max_age` seconds; returns how many."""
        now = time.monotonic()
        with self._lock:
            old = [u for u in self._uploads.values() if now - u.started > max_age]
        for u in old:
            self.remove(u)
        return len(old)

    def remove(self, up: Upload) -> None:
        with self._lock:
            self._uploads.pop(up.id, None)
        shutil.rmtree(up.dir, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def multipart_etag(parts: list[Part]) -> str:
    """S3's ETag of a multipart object: MD5 of the parts' binary MD5s, a dash, the count."""
    return hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts)).hexdigest() + f"-{len(parts)}"


class ConcatReader:
    """The part files read back to back as one stream (nothing held in memory)."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths = list(paths)
        self._file: BinaryIO | None = None

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while n < 0 or len(out) < n:
            if self._file is None:
                if not self._paths:
                    break
                self._file = open(self._paths.pop(0), "rb")
            data = self._file.read(-1 if n < 0 else n - len(out))
            if not data:
                self._file.close()
                self._file = None
                continue
            out += data
        return bytes(out)

    def close(self) -> None:
        if self._file:
            self._file.close()
            self._file = None

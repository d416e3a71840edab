"""Content-addressed object store: sha256 -> objects/ab/cdef...

Writes go to a temp file, are fsynced, then renamed, so an object either exists whole
or not at all; adding an object we already have costs a hash and nothing else.
Objects are made read-only: datums get them linked into their /pfs.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, oid: str) -> Path:
        return self.root / oid[:2] / oid[2:]

    def has(self, oid: str) -> bool:
        return self.path(oid).is_file()

    def add_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Copy a stream in, hashing as it goes (constant memory). Returns (sha256, size)."""
        h = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            oid = h.hexdigest()
            self._place(Path(tmp), oid)
            return oid, size
        finally:
            Path(tmp).unlink(missing_ok=True)

    def add_file(self, src: Path) -> tuple[str, int]:
        with open(src, "rb") as f:
            return self.add_stream(f)

    def add_bytes(self, data: bytes) -> tuple[str, int]:
        import io
        return self.add_stream(io.BytesIO(data))

    def _place(self, tmp: Path, oid: str) -> None:
        dest = self.path(oid)
        if dest.exists():
            return
        dest.parent.mkdir(exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)

    def open(self, oid: str) -> BinaryIO:
        return open(self.path(oid), "rb")

    def link(self, oid: str, dest: Path) -> None:
        """Expose an object at dest (a datum's /pfs): a hard link, else a copy."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.path(oid), dest)
        except OSError:
            shutil.copyfile(self.path(oid), dest)
            os.chmod(dest, 0o444)

    def verify(self, oid: str) -> bool:
        """True when the object's bytes still hash to its name."""
        h = hashlib.sha256()
        try:
            with self.open(oid) as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
        except OSError:
            return False
        return h.hexdigest() == oid

    def all_ids(self):
        for sub in sorted(self.root.iterdir()):
            if len(sub.name) == 2 and sub.is_dir():
                for p in sorted(sub.iterdir()):
                    yield sub.name + p.name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Content-addressed object store: sha256 -> objects/ab/cdef...

Writes go to a temp file, are fsynced, then renamed, so an object either exists whole
or not at all; adding an object we already have costs a hash and nothing else.
Objects are made read-only (0400: the home is its owner's alone, see db.private_home),
and never handed out by name: a datum's /pfs gets its own copy (a reflink where the
filesystem can share blocks copy-on-write, else a streamed copy), so a stage writing to
its input (root ignores the read-only mode) cannot change a committed object.

Writers and the collector of unreferenced objects (`fsck --gc`) share `<root>/lock`
(flock): a put holds it shared from its first object until its commit names them, gc
holds it exclusive, so gc never deletes a temp file being written or an object whose
file row is not written yet.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from pipelines.errors import StoreBusy

CHUNK = 1 << 20
FICLONE = 0x40049409  # linux/fs.h _IOW(0x94, 9, int): share extents copy-on-write


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def writing(self):
        """Held (shared) by a put from its first object until a commit row names them."""
        with open(self.root / "lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_SH)
            yield

    @contextmanager
    def collecting(self, wait: float = 10.0):
        """Held (exclusive) by gc: no put is between writing an object and naming it."""
        with open(self.root / "lock", "a") as f:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StoreBusy(f"a put is writing to {self.root}; run fsck --gc again when it "
                                        "has finished") from None
                    time.sleep(0.05)
            yield

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
        except FileNotFoundError as e:
            if e.filename != tmp and not str(e.filename or "").startswith(str(self.root)):
                raise
            raise StoreBusy(f"a file being written to the object store vanished ({e.filename}): was "
                            "`fsck --gc` run at the same time by a pachmedia without the store lock? "
                            "Nothing was committed; put again") from None
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
        os.chmod(tmp, 0o400)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)

    def open(self, oid: str) -> BinaryIO:
        return open(self.path(oid), "rb")

    def materialize(self, oid: str, dest: Path) -> str:
        """A private, read-only copy of an object at dest (a datum's /pfs) that cannot
        alias the store: a reflink (FICLONE) where the filesystem shares blocks
        copy-on-write, else a streamed copy (copy_file_range, constant memory).
        Returns "reflink" or "copy"."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path(oid), "rb") as src, open(dest, "xb") as out:
            how = "reflink" if _reflink(src, out) else _copy(src, out)
        os.chmod(dest, 0o400)
        return how

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


def _reflink(src: BinaryIO, out: BinaryIO) -> bool:
    try:
        fcntl.ioctl(out.fileno(), FICLONE, src.fileno())
        return True
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS,
                       errno.EPERM, errno.EBADF, errno.ENOTSUP):
            return False
        raise


def _copy(src: BinaryIO, out: BinaryIO) -> str:
    """Stream src into out in the kernel where possible; read/write chunks otherwise."""
    size = os.fstat(src.fileno()).st_size
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src.fileno(), out.fileno(), min(size - done, 1 << 30))
            if n == 0:
                break
            done += n
        return "copy"
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    src.seek(done)
    out.seek(done)
    while chunk := src.read(CHUNK):
        out.write(chunk)
    return "copy"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

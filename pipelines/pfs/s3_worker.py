"""The storage behind a datum's S3 gateway (pachd's WorkerDriver, src/server/pfs/s3/driver.go):
each `s3` input is a bucket named after the input, reading exactly the commit the job reads;
with `s3Out`, the bucket `out` takes the datum's outputs. Nothing else exists.

As in pachd, input buckets are read-only and `out` is write-only (listing it is empty, reading
it is NoSuchKey). pachd writes `out` into the job's output commit; here a write lands in the
try's own output folder, so the datum's outputs go through the same collection, commit and
lineage as /pfs/out's. That folder is written by the engine, outside the sandbox: every path is
opened one segment at a time without following links (a folder mode datum could plant one), and
no object may be larger than the datum's file size limit (the rlimit the engine is not under).
"""
from __future__ import annotations

import errno
import hashlib
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pipelines.pfs.s3_driver import StoreReader
from pipelines.s3.backend import BucketNotFound, CommitRef, InvalidKey, ObjectInfo, ReadOnlyRepo, RepoRef, TooLarge, check_key

if TYPE_CHECKING:
    from pipelines.pfs.store import Store

PROJECT = "default"
BRANCH = "master"          # a one-part bucket name reads as `master` of the default project
OUT = "out"
_CHUNK = 1 << 20
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


class WorkerBackend(StoreReader):
    """`inputs`: bucket (the input's name) -> (repo, commit id; "" for a branch with no commit).
    `out`: the folder the `out` bucket writes into (None: no s3Out)."""

    def __init__(self, store: "Store", inputs: dict[str, tuple[str, str]], out: Path | None, file_size: int) -> None:
        super().__init__(store)
        self.inputs = dict(inputs)
        self.out = out
        self.file_size = file_size
        self.started = datetime.now(timezone.utc)

    # --- reads ------------------------------------------------------------------------
    def list_repos(self) -> list[RepoRef]:
        repos = [RepoRef(PROJECT, name, (BRANCH,), _dt(self.s.repo(repo)["created"]), False)
                 for name, (repo, _) in self.inputs.items()]
        if self.out is not None:
            repos.append(RepoRef(PROJECT, OUT, (BRANCH,), self.started, True))
        return repos

    def resolve(self, project: str, repo: str, branch: str, commit: str | None) -> CommitRef:
        if project != PROJECT or branch != BRANCH or commit:
            raise BucketNotFound(f"bucket {branch}.{repo}.{project} is not served to this datum")
        if repo == OUT and self.out is not None:
            return CommitRef(PROJECT, OUT, BRANCH, "", self.started)  # write-only: nothing to read
        if repo not in self.inputs:
            raise BucketNotFound(f"bucket {repo} is not served to this datum")
        source, cid = self.inputs[repo]
        if not cid:
            return CommitRef(PROJECT, source, BRANCH, "", self.started)
        return CommitRef(PROJECT, source, BRANCH, cid, _dt(self.s.commit(source, cid).finished or time.time()))

    # --- writes: into the try's output folder ------------------------------------------
    def _out_dir(self, repo: str) -> Path:
        if repo != OUT or self.out is None:
            raise ReadOnlyRepo(f"bucket {repo} is an input: read-only")
        return self.out

    def put(self, project: str, repo: str, branch: str, key: str, stream: BinaryIO, size: int | None, *,
            meta=(), md5: str | None = None, etag: str | None = None) -> ObjectInfo:
        root = self._out_dir(repo)
        key = check_key(key)
        if size is not None and size > self.file_size:
            raise TooLarge(f"{size} bytes is over the datum's file size limit of {self.file_size} bytes "
                           "(resourceLimits.disk)")
        *folders, name = key.split("/")
        parent = _open_folders(root, folders, create=True)
        tmp = f".{name}.{os.getpid()}.{time.monotonic_ns()}.part"
        try:
            sums, written = (hashlib.md5(), hashlib.sha256()), 0
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                         dir_fd=parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    for chunk in iter(lambda: stream.read(_CHUNK), b""):
                        written += len(chunk)
                        if written > self.file_size:
                            raise TooLarge(f"over the datum's file size limit of {self.file_size} bytes "
                                           "(resourceLimits.disk)")
                        for h in sums:
                            h.update(chunk)
                        f.write(chunk)
                os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)  # a link at `name` is replaced, never followed
            except BaseException:
                _unlink(parent, tmp)
                raise
        except IsADirectoryError:
            raise InvalidKey(f"invalid key {key!r}: a folder of that name holds other objects") from None
        finally:
            os.close(parent)
        return ObjectInfo(key, written, etag or sums[0].hexdigest(), datetime.now(timezone.utc),
                          sha256=sums[1].hexdigest())

    def delete(self, project: str, repo: str, branch: str, keys: list[str]) -> None:
        root = self._out_dir(repo)
        for key in (check_key(k) for k in keys):
            *folders, name = key.split("/")
            try:
                parent = _open_folders(root, folders, create=False)
            except (FileNotFoundError, InvalidKey):
                continue  # S3: deleting what is not there succeeds
            try:
                _unlink(parent, name)
            finally:
                os.close(parent)

    def create_bucket(self, project: str, repo: str, branch: str) -> None:
        raise ReadOnlyRepo("a datum's gateway makes no buckets")

    def delete_bucket(self, project: str, repo: str, branch: str) -> None:
        raise ReadOnlyRepo("a datum's gateway deletes no buckets")


def _open_folders(root: Path, folders: list[str], *, create: bool) -> int:
    """A descriptor of root/folders..., each opened without following a link (made if missing
    when `create`); a file or a link on the way is InvalidKey."""
    fd = os.open(root, _DIR)
    try:
        for i, part in enumerate(folders):
            if create:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                nxt = os.open(part, _DIR, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ENOTDIR, errno.ELOOP):
                    raise InvalidKey(f"invalid key: {'/'.join(folders[:i + 1])} is an object, not a folder") from None
                raise
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def _unlink(parent: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=parent)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        pass

"""The S3 storage driver: `StoreBackend` implements the gateway's `S3Backend` on the
versioned store (a PutObject is a commit; the scheduler's `Background` runs the DAG on it)."""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import BinaryIO, Iterator

from pipelines.engine import Engine
from pipelines.errors import InvalidName, NotFound, UsageError
from pipelines.s3.backend import (BucketNotFound, CommitNotFound, CommitRef, InvalidKey, ObjectInfo, ReadOnlyRepo, RepoRef, check_key)

PROJECT = "default"
_PAGE = 1000


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


class StoreBackend:
    def __init__(self, engine: Engine, on_write=None) -> None:
        self.e = engine
        self.s = engine.store
        self.on_write = on_write or (lambda: None)
        self._branch_locks: dict[tuple[str, str], threading.RLock] = {}
        self._locks_lock = threading.Lock()

    def _branch_lock(self, repo: str, branch: str) -> threading.RLock:
        """Held by a DeleteObject(s) from checking which keys exist to committing their
        removal, so two deletes of one key racing in this gateway both succeed, as S3's
        do (concurrent puts need no lock: Engine.put_files commits on the head as it is)."""
        with self._locks_lock:
            return self._branch_locks.setdefault((repo, branch), threading.RLock())

    def list_repos(self) -> list[RepoRef]:
        out = []
        for r in self.s.repos():
            branches = tuple(b["name"] for b in self.s.branches(r["name"]))
            if r["type"] == "user" and "master" not in branches:
                branches += ("master",)  # an input repo takes its first write on master
            out.append(RepoRef(PROJECT, r["name"], branches, _dt(r["created"]), r["type"] == "user"))
        return out

    def _repo(self, project: str, repo: str):
        if project != PROJECT:
            raise BucketNotFound(f"project {project!r} not found (the embedded engine has only {PROJECT!r})")
        try:
            return self.s.repo(repo)
        except NotFound as e:
            raise BucketNotFound(str(e)) from None

    def resolve(self, project: str, repo: str, branch: str, commit: str | None) -> CommitRef:
        r = self._repo(project, repo)
        if commit:
            try:
                c = self.s.commit(repo, commit)
            except NotFound as e:
                raise CommitNotFound(str(e)) from None
            if c.finished is None:
                raise CommitNotFound(f"commit {repo}@{commit} is not finished")
            return CommitRef(project, repo, branch, c.id, _dt(c.finished))
        head = self.s.head(repo, branch)
        if head is None:
            if r["type"] == "user" and branch == "master":
                return CommitRef(project, repo, branch, "", _dt(r["created"]))  # empty until the first put
            raise BucketNotFound(f"branch {repo}@{branch} not found")
        c = self.s.commit(repo, head)
        return CommitRef(project, repo, branch, c.id, _dt(c.finished))

    def list_objects(self, ref: CommitRef, prefix: str, start_after: str) -> Iterator[ObjectInfo]:
        if not ref.id:
            return
        # keys sort by UTF-8 bytes; SQLite's BINARY collation on paths is the same order
        if start_after >= prefix:
            after, inclusive = "/" + start_after, False
        else:
            after, inclusive = "/" + prefix, True
        lo = "/" + prefix
        while True:
            rows = self.s.files_page(ref.repo, ref.id, after, inclusive=inclusive, limit=_PAGE)
            for r in rows:
                if not r.path.startswith(lo):
                    return
                yield ObjectInfo(r.path[1:], r.size, r.hash, ref.finished)
            if len(rows) < _PAGE:
                return
            after, inclusive = rows[-1].path, False

    def stat(self, ref: CommitRef, key: str) -> ObjectInfo | None:
        if not ref.id:
            return None
        f = self.s.file(ref.repo, ref.id, "/" + key)
        return ObjectInfo(key, f.size, f.hash, ref.finished) if f else None

    def open(self, ref: CommitRef, key: str) -> BinaryIO:
        f = self.s.file(ref.repo, ref.id, "/" + key) if ref.id else None
        if f is None:
            raise KeyError(key)
        return self.s.objects.open(f.hash)

    def _write(self, project: str, repo: str, branch: str, items, deletes) -> None:
        r = self._repo(project, repo)
        if r["type"] != "user":
            raise ReadOnlyRepo(f"{repo} is the output of pipeline {repo}: only input repos take writes")
        try:
            c = self.e.put_files(repo, branch, items, deletes=deletes, description="s3 gateway")
        except InvalidName as e:
            raise InvalidKey(str(e)) from None
        except UsageError as e:
            raise ReadOnlyRepo(str(e)) from None
        self.on_write()
        return c

    def put(self, project: str, repo: str, branch: str, key: str, stream: BinaryIO, size: int | None) -> ObjectInfo:
        key = check_key(key)
        body = _Exact(stream, size, key) if size is not None else stream
        c = self._write(project, repo, branch, [("/" + key, body)], ())
        f = self.s.file(repo, c.id, "/" + key)
        return ObjectInfo(key, f.size, f.hash, _dt(c.finished), version=c.id)

    def delete(self, project: str, repo: str, branch: str, keys: list[str]) -> None:
        keys = [check_key(k) for k in keys]
        with self._branch_lock(repo, branch):  # what is there and its removal: one step
            head = self.s.head(repo, branch)
            present = [k for k in keys if head and self.s.file(repo, head, "/" + k)]
            if present:  # S3: deleting what is not there succeeds and changes nothing
                self._write(project, repo, branch, [], ["/" + k for k in present])


class _Exact:
    """A body that must be exactly `size` bytes: a short or long one raises before the
    commit finishes, so nothing is committed."""

    def __init__(self, stream: BinaryIO, size: int, key: str) -> None:
        self.stream, self.left, self.key, self.size = stream, size, key, size

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n if n is not None and n >= 0 else -1)
        self.left -= len(data)
        if self.left < 0 or (not data and self.left > 0):
            raise ValueError(f"put {self.key}: body is not the {self.size} bytes announced")
        return data

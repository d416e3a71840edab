"""The S3 storage driver: `StoreBackend` implements the gateway's `S3Backend` on the
versioned store (a PutObject is a commit; the scheduler's `Background` runs the DAG on it).
`StoreReader` is its read side (objects of a commit), shared with a datum's gateway
(`pfs/s3_worker.py`)."""
from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, BinaryIO, Iterator

from pipelines.errors import InvalidName, NotFound, UsageError
from pipelines.pps.spec import pfs_nodes
from pipelines.s3.backend import (BucketExists, BucketNotEmpty, BucketNotFound, CommitNotFound, CommitRef, InvalidBucket,
                         InvalidKey, ObjectInfo, ReadOnlyRepo, RepoRef, check_key)

if TYPE_CHECKING:
    from pipelines.engine import Engine
    from pipelines.pfs.store import Store

PROJECT = "default"
_PAGE = 1000


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


class StoreReader:
    """The objects of a commit, read from the store (files only, keys in byte order)."""

    def __init__(self, store: "Store") -> None:
        self.s = store

    def _info(self, ref: CommitRef, row) -> ObjectInfo:
        etag = row["etag"] or self.s.object_md5(row["hash"])
        # files from a home older than per-file times: the commit read is the best known
        modified = _dt(row["changed_at"]) if row["changed_at"] else ref.finished
        meta = tuple(json.loads(row["meta"]).items()) if row["meta"] else ()
        return ObjectInfo(row["path"][1:], row["size"], etag, modified, sha256=row["hash"], meta=meta)

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
            rows = self.s.object_rows(ref.repo, ref.id, after=after, inclusive=inclusive, limit=_PAGE)
            for r in rows:
                if not r["path"].startswith(lo):
                    return
                yield self._info(ref, r)
            if len(rows) < _PAGE:
                return
            after, inclusive = rows[-1]["path"], False

    def stat(self, ref: CommitRef, key: str) -> ObjectInfo | None:
        if not ref.id:
            return None
        rows = self.s.object_rows(ref.repo, ref.id, path="/" + key)
        return self._info(ref, rows[0]) if rows else None

    def open(self, ref: CommitRef, key: str) -> BinaryIO:
        f = self.s.file(ref.repo, ref.id, "/" + key) if ref.id else None
        if f is None:
            raise KeyError(key)
        return self.s.objects.open(f.hash)


class StoreBackend(StoreReader):
    def __init__(self, engine: "Engine", on_write=None) -> None:
        super().__init__(engine.store)
        self.e = engine
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
        return [RepoRef(PROJECT, r["name"], self._branches(r), _dt(r["created"]), r["type"] == "user")
                for r in self.s.repos()]

    def _branches(self, r) -> tuple[str, ...]:
        branches = tuple(b["name"] for b in self.s.branches(r["name"]))
        if r["type"] == "user" and not branches and not self.s.commits(r["name"], limit=1):
            branches = ("master",)  # a new input repo takes its first write on master
        return branches

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
        if branch not in self._branches(r):
            raise BucketNotFound(f"branch {repo}@{branch} not found")
        head = self.s.head(repo, branch)
        if head is None:  # a branch with no commit yet: empty
            return CommitRef(project, repo, branch, "", _dt(r["created"]))
        c = self.s.commit(repo, head)
        return CommitRef(project, repo, branch, c.id, _dt(c.finished))

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

    def put(self, project: str, repo: str, branch: str, key: str, stream: BinaryIO, size: int | None, *,
            meta=(), md5: str | None = None, etag: str | None = None) -> ObjectInfo:
        key = check_key(key)
        self._require_branch(project, repo, branch)
        body = _Exact(stream, size, key) if size is not None else stream
        attrs = {"md5": md5, "etag": etag, "meta": json.dumps(dict(meta), sort_keys=True) if meta else None}
        c = self._write(project, repo, branch, [("/" + key, body, attrs)], ())
        ref = CommitRef(project, repo, branch, c.id, _dt(c.finished))
        return replace(self.stat(ref, key), version=c.id)

    def delete(self, project: str, repo: str, branch: str, keys: list[str]) -> None:
        keys = [check_key(k) for k in keys]
        self._require_branch(project, repo, branch)
        with self._branch_lock(repo, branch):  # what is there and its removal: one step
            head = self.s.head(repo, branch)
            present = [k for k in keys if head and self.s.file(repo, head, "/" + k)]
            if present:  # S3: deleting what is not there succeeds and changes nothing
                self._write(project, repo, branch, [], ["/" + k for k in present])

    def _require_branch(self, project: str, repo: str, branch: str) -> None:
        self.resolve(project, repo, branch, None)  # BucketNotFound for a deleted or unknown branch

    # pachd's meaning: CreateBucket makes the repo (if needed) and the branch; DeleteBucket
    # removes an empty branch (and the repo, when that leaves it with no branch and no commit).
    def create_bucket(self, project: str, repo: str, branch: str) -> None:
        if project != PROJECT:
            raise BucketNotFound(f"project {project!r} not found (the embedded engine has only {PROJECT!r})")
        try:
            r = self.s.repo(repo)
        except NotFound:
            try:
                self.s.create_repo(repo)
            except InvalidName as e:
                raise InvalidBucket(str(e)) from None
            r = self.s.repo(repo)
        if r["type"] != "user":
            raise BucketExists(f"{repo} is the output of pipeline {repo}")
        if not self.s.create_branch(repo, branch):
            raise BucketExists(f"branch {repo}@{branch} exists")

    def delete_bucket(self, project: str, repo: str, branch: str) -> None:
        ref = self.resolve(project, repo, branch, None)
        if self._repo(project, repo)["type"] != "user":
            raise ReadOnlyRepo(f"{repo} is the output of pipeline {repo}: delete the pipeline instead")
        if ref.id and self.s.has_files(repo, ref.id):
            raise BucketNotEmpty(f"branch {repo}@{branch} has files")
        readers = [p["name"] for p in self.e.jobs.pipelines()
                   if any(n.get("repo") == repo for n in pfs_nodes(p["spec"].get("input") or {}))]
        if readers:
            raise BucketNotEmpty(f"pipeline {readers[0]} reads {repo}: it stays")
        self.s.delete_branch(repo, branch)
        self.s.delete_unused_repo(repo)


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

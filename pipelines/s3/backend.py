"""The storage interface behind the S3 gateway, and an in-memory backend for tests.

The engine's versioned store implements `S3Backend`; the gateway never sees SQLite,
objects or trees. Keys are S3 keys: file paths without the leading '/'.

Contract (what the gateway relies on):
- `list_repos()`: every repo the gateway may show, with its branches. Input repos are
  `writable`; pipeline outputs are not (writes answer 400 WriteToOutputBranch, as pachd).
- `resolve(project, repo, branch, commit)`: the head commit of a branch, or the given
  commit id (`versionId` or a `commit.branch.repo` bucket). Raises `BucketNotFound`
  (unknown project/repo/branch) or `CommitNotFound` (unknown commit id).
- `list_objects(ref, prefix, start_after)`: files only (no directories), keys sorted
  by byte order (UTF-8), starting strictly after `start_after`; lazily, since the
  gateway stops after max-keys.
- `stat(ref, key)` / `open(ref, key)`: `None` / `KeyError` when absent; `open` gives a
  seekable binary stream (Range reads seek).
- `put(...)` and `delete(...)`: each is ONE commit on the branch. `put` reads `stream`
  to its end (never holding it whole in memory) and `size` is the exact length when
  known; `meta` (HTTP metadata, canonical header names) is kept with the file and given
  back by stat/list; `md5` is the content's MD5 when the caller has it, `etag` a
  multipart ETag (`<md5>-<parts>`). `delete` ignores keys that do not exist (S3 semantics).
- `create_bucket` makes the repo (an input repo) and the branch, or raises `BucketExists`;
  `delete_bucket` removes an empty branch, or raises `BucketNotEmpty` / `ReadOnlyRepo`.
- ObjectInfo.etag is the S3 ETag (MD5, or `<md5>-<parts>`), `sha256` the content hash
  (pachd's ETag), `last_modified` the commit that last changed the file.
- Keys form a file tree, as in PFS: whether a put of `a/b/c` over a file `a/b` replaces it
  or is refused is the backend's choice (the gateway passes either outcome on).
- Unsafe keys (a '.' or '..' segment, control characters, backslash, a segment over
  255 bytes; `pipelines.pfs.names` decides) raise `InvalidKey`; writes to a read-only repo
  raise `ReadOnlyRepo`; an object larger than the backend takes raises `TooLarge`.
"""
from __future__ import annotations

import hashlib
import io
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import BinaryIO, Iterator, Protocol

from pipelines.errors import InvalidName, NotFound, PachmediaError
from pipelines.pfs.names import normalize_path


class InvalidKey(InvalidName, ValueError):
    """An unsafe object key (the message names the rule it breaks)."""


class BucketNotFound(NotFound):
    """No such project, repo or branch."""


class CommitNotFound(NotFound):
    """No such commit in that repo."""


class ReadOnlyRepo(PachmediaError):
    """A write to a pipeline's output repo."""


class InvalidBucket(InvalidName, ValueError):
    """A bucket name the store cannot take as a repo name."""


class BucketExists(PachmediaError):
    """CreateBucket of a branch that is there already."""


class BucketNotEmpty(PachmediaError):
    """DeleteBucket of a branch that has files (or that a pipeline reads)."""


class TooLarge(PachmediaError):
    """An object over the size the backend takes (a datum's file size limit)."""


@dataclass(frozen=True)
class RepoRef:
    project: str
    repo: str
    branches: tuple[str, ...]
    created: datetime
    writable: bool  # input repos are writable, pipeline outputs read-only


@dataclass(frozen=True)
class CommitRef:
    project: str
    repo: str
    branch: str | None
    id: str
    finished: datetime  # Last-Modified of every object read through this ref


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str  # unquoted S3 ETag: the content's MD5, or `<md5 of part md5s>-<parts>`
    last_modified: datetime
    version: str = ""  # optional: the commit id a put/copy made (answered as x-amz-version-id, as pachd)
    sha256: str = ""  # the content hash (pachd's ETag), answered in the x-pachmedia-sha256 header
    meta: tuple[tuple[str, str], ...] = ()  # HTTP metadata kept with the file (Content-Type, x-amz-meta-*)


class S3Backend(Protocol):
    def list_repos(self) -> list[RepoRef]: ...

    def resolve(self, project: str, repo: str, branch: str, commit: str | None) -> CommitRef: ...

    def list_objects(self, ref: CommitRef, prefix: str, start_after: str) -> Iterator[ObjectInfo]: ...

    def stat(self, ref: CommitRef, key: str) -> ObjectInfo | None: ...

    def open(self, ref: CommitRef, key: str) -> BinaryIO: ...

    def put(self, project: str, repo: str, branch: str, key: str, stream: BinaryIO, size: int | None, *,
            meta: tuple[tuple[str, str], ...] = (), md5: str | None = None, etag: str | None = None) -> ObjectInfo: ...

    def delete(self, project: str, repo: str, branch: str, keys: list[str]) -> None: ...

    def create_bucket(self, project: str, repo: str, branch: str) -> None: ...

    def delete_bucket(self, project: str, repo: str, branch: str) -> None: ...


def check_key(key: str) -> str:
    """The key as a safe relative path ('a//b' -> 'a/b'), or InvalidKey."""
    if not key or key.endswith("/"):
        raise InvalidKey(f"invalid key {key!r}: an object key must name a file")
    try:
        return normalize_path(key)[1:]
    except InvalidName as e:
        raise InvalidKey(str(e)) from None


# --- in-memory backend (tests) -------------------------------------------------------

@dataclass
class _Commit:
    id: str
    files: dict[str, tuple[bytes, str, tuple, str, datetime]]  # key -> (content, sha256, meta, etag, changed)
    finished: datetime


@dataclass
class _Repo:
    project: str
    name: str
    writable: bool
    created: datetime
    branches: dict[str, list[_Commit]] = field(default_factory=dict)  # newest last


class MemoryBackend:
    """`S3Backend` over dicts; enough of the store's behaviour to test the protocol."""

    def __init__(self) -> None:
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._lock = threading.Lock()

    def create_repo(self, repo: str, *, project: str = "default", branches: tuple[str, ...] = ("master",),
                    writable: bool = True) -> None:
        r = _Repo(project, repo, writable, _now())
        for b in branches:
            r.branches[b] = [_Commit(uuid.uuid4().hex, {}, r.created)]
        self._repos[(project, repo)] = r

    def commit_files(self, repo: str, files: dict[str, bytes], *, project: str = "default",
                     branch: str = "master") -> str:
        """Seed content (also into read-only repos, as a pipeline would); returns the commit id."""
        with self._lock:
            r = self._repos[(project, repo)]
            head = r.branches[branch][-1]
            new = dict(head.files)
            c = self._append(r, branch, new)
            new.update({check_key(k): (v, hashlib.sha256(v).hexdigest(), (), hashlib.md5(v).hexdigest(), c.finished)
                        for k, v in files.items()})
            return c.id

    # S3Backend
    def list_repos(self) -> list[RepoRef]:
        return [RepoRef(r.project, r.name, tuple(r.branches), r.created, r.writable)
                for r in self._repos.values()]

    def resolve(self, project: str, repo: str, branch: str, commit: str | None) -> CommitRef:
        r = self._repos.get((project, repo))
        if r is None or branch not in r.branches:
            raise BucketNotFound(f"branch {branch} of repo {project}/{repo} not found")
        c = self._find(r, branch, commit)
        return CommitRef(project, repo, branch, c.id, c.finished)

    def list_objects(self, ref: CommitRef, prefix: str, start_after: str) -> Iterator[ObjectInfo]:
        c = self._commit(ref)
        for key in sorted(c.files, key=lambda k: k.encode()):
            if key.startswith(prefix) and key.encode() > start_after.encode():
                yield self._info(c, key)

    def stat(self, ref: CommitRef, key: str) -> ObjectInfo | None:
        c = self._commit(ref)
        return self._info(c, key) if key in c.files else None

    @staticmethod
    def _info(c: _Commit, key: str) -> ObjectInfo:
        content, sha, meta, etag, changed = c.files[key]
        return ObjectInfo(key, len(content), etag, changed, sha256=sha, meta=meta)

    def open(self, ref: CommitRef, key: str) -> BinaryIO:
        return io.BytesIO(self._commit(ref).files[key][0])

    def put(self, project: str, repo: str, branch: str, key: str, stream: BinaryIO, size: int | None, *,
            meta: tuple[tuple[str, str], ...] = (), md5: str | None = None, etag: str | None = None) -> ObjectInfo:
        key = check_key(key)
        # Bounded reads, as the contract asks (the content itself is kept in memory: a test backend).
        content = b"".join(iter(lambda: stream.read(1 << 20), b""))
        if size is not None and len(content) != size:
            raise ValueError(f"put {key}: got {len(content)} bytes, expected {size}")
        sha = hashlib.sha256(content).hexdigest()
        etag = etag or hashlib.md5(content).hexdigest()
        with self._lock:
            r = self._writable(project, repo, branch)
            files = dict(r.branches[branch][-1].files)
            c = self._append(r, branch, files)
            old = files.get(key)
            same = old is not None and old[1:4] == (sha, tuple(meta), etag)  # unchanged: keeps its time
            files[key] = (content, sha, tuple(meta), etag, old[4] if same else c.finished)
        return replace(self._info(c, key), version=c.id)

    def create_bucket(self, project: str, repo: str, branch: str) -> None:
        with self._lock:
            r = self._repos.get((project, repo))
            if r is None:
                self.create_repo(repo, project=project, branches=(branch,))
            elif branch in r.branches:
                raise BucketExists(f"branch {branch} of {project}/{repo} exists")
            else:
                r.branches[branch] = [_Commit(uuid.uuid4().hex, {}, _now())]

    def delete_bucket(self, project: str, repo: str, branch: str) -> None:
        with self._lock:
            r = self._writable(project, repo, branch)
            if r.branches[branch][-1].files:
                raise BucketNotEmpty(f"branch {branch} of {project}/{repo} has files")
            del r.branches[branch]
            if not r.branches:
                del self._repos[(project, repo)]

    def delete(self, project: str, repo: str, branch: str, keys: list[str]) -> None:
        keys = [check_key(k) for k in keys]
        with self._lock:
            r = self._writable(project, repo, branch)
            files = dict(r.branches[branch][-1].files)
            for k in keys:
                files.pop(k, None)
            self._append(r, branch, files)

    # helpers
    def _writable(self, project: str, repo: str, branch: str) -> _Repo:
        r = self._repos.get((project, repo))
        if r is None or branch not in r.branches:
            raise BucketNotFound(f"branch {branch} of repo {project}/{repo} not found")
        if not r.writable:
            raise ReadOnlyRepo(f"{project}/{repo} is a pipeline output; it cannot be written")
        return r

    def _append(self, r: _Repo, branch: str, files: dict) -> _Commit:
        c = _Commit(uuid.uuid4().hex, files, _now())
        r.branches[branch].append(c)
        return c

    def _find(self, r: _Repo, branch: str, commit: str | None) -> _Commit:
        if commit is None:
            return r.branches[branch][-1]
        for commits in r.branches.values():
            for c in commits:
                if c.id == commit:
                    return c
        raise CommitNotFound(f"commit {commit} not found in {r.project}/{r.name}")

    def _commit(self, ref: CommitRef) -> _Commit:
        return self._find(self._repos[(ref.project, ref.repo)], ref.branch or "", ref.id)


def _now() -> datetime:
    return datetime.now(timezone.utc)

"""What the gateway relies on from an `S3Backend`, checked through the interface only.

Every test runs against both backends: MemoryBackend (the protocol tests' fixture) and
the engine's StoreBackend (SQLite + object files, what `pachmedia s3 serve` runs). To
add another, give `s3_backend` a param returning Target(backend, project, repo, branch)
for a writable repo whose branch has no files.

`store_backend` and `seed_output` live in tests/fixtures/s3.py (shared with the fuzz and paging tests).
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import pytest

from tests.fixtures.s3 import store_backend

from pipelines.s3.backend import BucketNotFound, CommitNotFound, InvalidKey, MemoryBackend, S3Backend

pytestmark = pytest.mark.unit


@dataclass
class Target:
    backend: S3Backend
    project: str
    repo: str
    branch: str

    def put(self, key: str, data: bytes):
        return self.backend.put(self.project, self.repo, self.branch, key, BoundedReader(data), len(data))

    def head(self):
        return self.backend.resolve(self.project, self.repo, self.branch, None)


class BoundedReader(io.RawIOBase):
    """A stream that refuses unbounded reads: backends must stream, not slurp."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        assert n is not None and 0 <= n <= 64 << 20, f"unbounded read({n}): read in pieces"
        return self._buf.read(n)


@pytest.fixture(params=["memory", "store"])
def s3_backend(request, tmp_path):
    if request.param == "memory":
        b = MemoryBackend()
        b.create_repo("media")
        yield Target(b, "default", "media", "master")
        return
    e, b = store_backend(tmp_path / "home", inputs=("data",))  # "media" takes flat names only (engine policy)
    yield Target(b, "default", "data", "master")
    e.close()


def test_repo_is_listed_writable(s3_backend):
    t = s3_backend
    repo = next(r for r in t.backend.list_repos() if (r.project, r.repo) == (t.project, t.repo))
    assert t.branch in repo.branches and repo.writable


@pytest.mark.parametrize("where", ["project", "repo", "branch"])
def test_unknown_bucket(s3_backend, where):
    t = s3_backend
    args = {"project": t.project, "repo": t.repo, "branch": t.branch, "commit": None}
    args[where] = "nosuch-" + where
    with pytest.raises(BucketNotFound):
        t.backend.resolve(**args)


def test_unknown_commit(s3_backend):
    t = s3_backend
    with pytest.raises(CommitNotFound):
        t.backend.resolve(t.project, t.repo, t.branch, "f" * 32)


def test_put_stat_open(s3_backend):
    t = s3_backend
    data = bytes(range(256)) * 5000
    info = t.put("a/b.bin", data)
    assert (info.key, info.size, info.etag) == ("a/b.bin", len(data), hashlib.md5(data).hexdigest())
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    ref = t.head()
    st = t.backend.stat(ref, "a/b.bin")
    assert (st.key, st.size, st.etag, st.last_modified) == ("a/b.bin", len(data), info.etag, ref.finished)
    assert t.backend.stat(ref, "a/b") is None and t.backend.stat(ref, "a") is None  # directories are not objects
    f = t.backend.open(ref, "a/b.bin")
    try:
        f.seek(1000)
        assert f.read(10) == data[1000:1010]
    finally:
        f.close()


def test_each_write_is_a_commit_and_old_commits_do_not_change(s3_backend):
    t = s3_backend
    t.put("x", b"one")
    first = t.head()
    t.put("x", b"two")
    second = t.head()
    assert first.id != second.id
    assert t.backend.open(t.backend.resolve(t.project, t.repo, t.branch, first.id), "x").read() == b"one"
    assert t.backend.open(second, "x").read() == b"two"
    t.backend.delete(t.project, t.repo, t.branch, ["x", "never-existed"])
    assert t.backend.stat(t.head(), "x") is None
    assert t.backend.stat(second, "x") is not None


def test_delete_several_keys_is_one_commit(s3_backend):
    t = s3_backend
    for k in ("d/1", "d/2", "d/3"):
        t.put(k, k.encode())
    before = t.head().id
    t.backend.delete(t.project, t.repo, t.branch, ["d/1", "d/2"])
    after = t.head()
    assert after.id != before
    assert [o.key for o in t.backend.list_objects(after, "d/", "")] == ["d/3"]


def test_list_objects_order_prefix_start_after(s3_backend):
    t = s3_backend
    keys = ["b", "a/z", "a/b", "a-b", "é", "z", "a/c/d", "A"]  # a file tree: no key is another's directory
    for k in keys:
        t.put(k, b"")
    ref = t.head()
    listing = t.backend.list_objects(ref, "", "")
    assert iter(listing) is listing  # lazy: the gateway stops after max-keys
    assert [o.key for o in listing] == sorted(keys, key=str.encode)
    assert [o.key for o in t.backend.list_objects(ref, "a/", "")] == ["a/b", "a/c/d", "a/z"]
    assert [o.key for o in t.backend.list_objects(ref, "a/", "a/b")] == ["a/c/d", "a/z"]
    assert [o.key for o in t.backend.list_objects(ref, "", "a/z")] == ["b", "z", "é"]
    assert all(o.last_modified <= ref.finished for o in t.backend.list_objects(ref, "", ""))


def test_last_modified_is_the_commit_that_changed_the_file(s3_backend):
    t = s3_backend
    first = t.put("kept.txt", b"1")
    t.put("other.txt", b"2")
    again = t.put("kept.txt", b"1")  # the same bytes and metadata: not a change (sync tools skip it)
    t.put("other.txt", b"3")
    by_key = {o.key: o for o in t.backend.list_objects(t.head(), "", "")}
    assert by_key["kept.txt"].last_modified == again.last_modified == first.last_modified
    assert by_key["other.txt"].last_modified == t.head().finished > first.last_modified


@pytest.mark.parametrize("key", ["a/../b", "./a", "a\x00b", "a\nb", "x" * 256 + "/y", "dir/"])
def test_unsafe_keys(s3_backend, key):
    t = s3_backend
    with pytest.raises(InvalidKey):
        t.put(key, b"x")
    with pytest.raises(InvalidKey):
        t.backend.delete(t.project, t.repo, t.branch, [key])

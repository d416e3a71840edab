"""The store's S3 columns: per-file metadata, ETag, the commit that changed each file, MD5s
kept per object, buckets as branches; and a home made before those columns migrates."""
from __future__ import annotations

import hashlib
import io
import json
import sqlite3

import pytest

from pipelines.pfs.store import Store
from tests.fixtures.s3 import store_backend

pytestmark = pytest.mark.unit

OLD_FILES = """CREATE TABLE files(
  repo TEXT NOT NULL, commit_id TEXT NOT NULL, path TEXT NOT NULL, hash TEXT NOT NULL,
  size INTEGER NOT NULL, job TEXT, datum TEXT, PRIMARY KEY(repo, commit_id, path)) WITHOUT ROWID"""


def test_a_home_from_before_the_columns_migrates(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    db = sqlite3.connect(home / "meta.db")
    db.execute(OLD_FILES)
    db.execute("INSERT INTO files VALUES('media','c1','/old.mp4','ab',3,NULL,NULL)")
    db.commit()
    db.close()
    s = Store(home)
    cols = {r["name"] for r in s.q("PRAGMA table_info(files)")}
    assert {"etag", "meta", "changed"} <= cols
    row = s.q1("SELECT path, hash, etag, meta, changed FROM files")
    assert (row["path"], row["hash"], row["etag"], row["meta"], row["changed"]) == ("/old.mp4", "ab", None, None, None)
    s.close()
    Store(home).close()  # opening again: nothing left to add


def test_changed_follows_the_commit_that_changed_each_file(tmp_path):
    e, backend = store_backend(tmp_path / "home")
    try:
        a = e.put_files("media", "master", [("/a.txt", io.BytesIO(b"a"))])
        b = e.put_files("media", "master", [("/b.txt", io.BytesIO(b"b"))])
        same = e.put_files("media", "master", [("/a.txt", io.BytesIO(b"a"))])  # identical: not a change
        meta = e.put_files("media", "master", [("/b.txt", io.BytesIO(b"b"), {"meta": json.dumps({"x": "1"})})])
        rows = {r["path"]: r for r in e.store.object_rows("media", meta.id, after="", inclusive=True)}
        assert rows["/a.txt"]["changed_at"] == a.finished != same.finished
        assert rows["/b.txt"]["changed_at"] == meta.finished != b.finished  # new metadata is a change
    finally:
        e.close()


def test_md5_is_kept_per_object_and_computed_once(tmp_path, monkeypatch):
    e, _ = store_backend(tmp_path / "home")
    try:
        c = e.put_files("media", "master", [("/x.bin", io.BytesIO(b"x" * 1000))])
        oid = e.store.file("media", c.id, "/x.bin").hash
        assert e.store.object_md5(oid) == hashlib.md5(b"x" * 1000).hexdigest()

        def no_second_read(_oid):
            raise AssertionError("the MD5 was computed again")
        monkeypatch.setattr(e.store.objects, "open", no_second_read)
        assert e.store.object_md5(oid) == hashlib.md5(b"x" * 1000).hexdigest()
    finally:
        e.close()


def test_buckets_are_branches(tmp_path):
    e, backend = store_backend(tmp_path / "home", inputs=())
    try:
        backend.create_bucket("default", "newrepo", "dev")
        assert [r.branches for r in backend.list_repos() if r.repo == "newrepo"] == [("dev",)]
        backend.delete_bucket("default", "newrepo", "dev")
        assert not [r for r in backend.list_repos() if r.repo == "newrepo"]  # never written: gone
    finally:
        e.close()

"""The store's SQLite layer: the schema, opening (pragmas, migrations of older homes), the
re-entrant transaction, and the home's privacy. Only pfs/store.py (with its mixins) and
pps/jobstore.py use it."""
from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.pfs.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS repos(
  name TEXT PRIMARY KEY, type TEXT NOT NULL, created REAL NOT NULL, description TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS branches(
  repo TEXT NOT NULL, name TEXT NOT NULL, head TEXT, PRIMARY KEY(repo, name));
CREATE TABLE IF NOT EXISTS commits(
  repo TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, branch TEXT NOT NULL, parent TEXT,
  origin TEXT NOT NULL, started REAL NOT NULL, finished REAL, error TEXT,
  description TEXT NOT NULL DEFAULT '', PRIMARY KEY(repo, id));
CREATE INDEX IF NOT EXISTS commits_by_id ON commits(id);
CREATE TABLE IF NOT EXISTS provenance(
  repo TEXT NOT NULL, id TEXT NOT NULL, input_repo TEXT NOT NULL, input_branch TEXT NOT NULL,
  input_commit TEXT NOT NULL, PRIMARY KEY(repo, id, input_repo, input_branch));
CREATE TABLE IF NOT EXISTS files(
  repo TEXT NOT NULL, commit_id TEXT NOT NULL, path TEXT NOT NULL, hash TEXT NOT NULL,
  size INTEGER NOT NULL, job TEXT, datum TEXT, PRIMARY KEY(repo, commit_id, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS object_md5(hash TEXT PRIMARY KEY, md5 TEXT NOT NULL) WITHOUT ROWID;
"""
# Per-file columns the S3 gateway needs, added to homes made before them (all NULL there):
# etag: a multipart upload's `<md5 of part md5s>-<parts>` (NULL: the content's MD5 is the ETag);
# meta: the object's HTTP metadata as JSON (Content-Type, x-amz-meta-*, ...);
# changed: the id of the commit that last changed this file (set when its commit finishes).
FILE_COLUMNS = ("etag", "meta", "changed")


def open_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA case_sensitive_like=ON")  # '/A/%' must never match '/a/b'
    db.executescript(SCHEMA)
    return db


def migrate(db: sqlite3.Connection) -> None:
    """Columns added since a home was made (inside the caller's transaction)."""
    have = {r["name"] for r in db.execute("PRAGMA table_info(files)")}
    for col in FILE_COLUMNS:
        if col not in have:
            db.execute(f"ALTER TABLE files ADD COLUMN {col} TEXT")
    have = {r["name"] for r in db.execute("PRAGMA table_info(branches)")}
    for col, kind in (("trigger", "TEXT"), ("created", "REAL")):  # homes made before triggers
        if col not in have:
            db.execute(f"ALTER TABLE branches ADD COLUMN {col} {kind}")


def private_home(home: Path) -> None:
    """Make `home` private to its owner before anything is read or written there: 0700, and
    this process's umask drops group/other bits, so whatever any part of pachmedia writes
    there (metadata, objects, logs, datum sandboxes) is 0600/0700 whatever the caller's umask.
    A home found open to others (made under umask 022 by an older pachmedia, or chmod-ed) has
    its group/other bits dropped from everything in it, once; a private one costs one stat."""
    os.umask(os.umask(0o077) | 0o077)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(home.stat().st_mode)
    if not mode & 0o077:
        return
    for root, dirs, files in os.walk(home):
        for name in dirs + files:
            p = os.path.join(root, name)
            st = os.lstat(p)
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
                os.chmod(p, stat.S_IMODE(st.st_mode) & ~0o077)
    os.chmod(home, mode & ~0o077)  # last: until everything in it is private, it stays "to be tightened"


class Tx:
    """Re-entrant transaction: BEGIN IMMEDIATE at the outermost level only."""

    def __init__(self, store: "Store") -> None:
        self.s = store

    def __enter__(self):
        self.s.lock.acquire()
        depth = getattr(self.s, "_depth", 0)
        try:
            if depth == 0:
                self.s.db.execute("BEGIN IMMEDIATE")
            self.s._depth = depth + 1
        except BaseException:
            # BEGIN may wait up to 30 s for another process's write; Ctrl-C (or SIGTERM, raised as
            # an interrupt) lands when it returns, before __exit__ can run: undo it here, or the
            # lock stays held and the interrupted run's other jobs never finish their commits
            if depth == 0 and self.s.db.in_transaction:
                self.s.db.execute("ROLLBACK")
            self.s.lock.release()
            raise
        return self.s.db

    def __exit__(self, exc_type, exc, tb):
        self.s._depth -= 1
        try:
            if self.s._depth == 0:
                self.s.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.s.lock.release()
        return False

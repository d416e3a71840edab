"""The versioned store: repos, branches, commits and file trees in SQLite, bytes in the
content-addressed object store.

Pachyderm 2.x semantics kept here:
- a commit's id is its commit set's (global) id: the user commit and every output
  commit it causes downstream share one id (`repo@<id>` names each);
- a commit is open until finished; a branch head only ever points at a finished commit,
  and finishing (files, provenance, head move) is one SQLite transaction, so a killed
  process never leaves a half-written commit visible;
- objects are written (and fsynced) before any row names them.

The home holds every upload, the metadata and the gateway's keys: it is its owner's
alone (private_home).

`Store` is one object over one database; its methods are grouped by concern: repos,
branches and integrity here, commits in store_commits.py, file trees in store_files.py.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable

from pipelines.errors import NotFound, PachmediaError
from pipelines.pfs.db import Tx, migrate, open_db, private_home
from pipelines.pfs.objects import ObjectStore
from pipelines.pfs.store_commits import Commit, CommitOps, new_id
from pipelines.pfs.store_files import FileOps, FileRow


class Store(CommitOps, FileOps):
    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        private_home(self.home)
        self.objects = ObjectStore(self.home / "objects")
        self.lock = threading.RLock()
        self.db = open_db(self.home / "meta.db")
        with self.tx():
            migrate(self.db)

    def close(self) -> None:
        self.db.close()

    # -- transactions --------------------------------------------------------------
    def tx(self):
        return Tx(self)

    def q(self, sql: str, args: Iterable = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.db.execute(sql, tuple(args)).fetchall()

    def q1(self, sql: str, args: Iterable = ()) -> sqlite3.Row | None:
        with self.lock:
            return self.db.execute(sql, tuple(args)).fetchone()

    def next_seq(self) -> int:
        self.db.execute("INSERT INTO counters(name, value) VALUES('seq', 1) "
                        "ON CONFLICT(name) DO UPDATE SET value = value + 1")
        return self.db.execute("SELECT value FROM counters WHERE name='seq'").fetchone()[0]

    # -- repos and branches -----------------------------------------------------------
    def create_repo(self, name: str, type: str = "user", description: str = "") -> None:
        from pipelines.pfs.names import check_repo_name
        check_repo_name(name)
        with self.tx():
            self.db.execute("INSERT OR IGNORE INTO repos(name, type, created, description) VALUES(?,?,?,?)",
                            (name, type, time.time(), description))

    def describe_repo(self, name: str, description: str) -> None:
        self.repo(name)
        with self.tx():
            self.db.execute("UPDATE repos SET description=? WHERE name=?", (description, name))

    def drop_repo(self, name: str) -> None:
        """A repo and everything in it (its objects stay until `fsck --gc`)."""
        with self.tx():
            for table, col in (("files", "repo"), ("provenance", "repo"), ("commits", "repo"), ("branches", "repo"),
                               ("repos", "name")):
                self.db.execute(f"DELETE FROM {table} WHERE {col}=?", (name,))

    def repos(self) -> list[sqlite3.Row]:
        return self.q("SELECT * FROM repos ORDER BY created, name")

    def repo(self, name: str) -> sqlite3.Row:
        row = self.q1("SELECT * FROM repos WHERE name=?", (name,))
        if row is None:
            known = ", ".join(r["name"] for r in self.repos()) or "none"
            raise NotFound(f"repo {name!r} not found (repos: {known})")
        return row

    def has_repo(self, name: str) -> bool:
        return self.q1("SELECT 1 FROM repos WHERE name=?", (name,)) is not None

    def delete_unused_repo(self, name: str) -> bool:
        """Remove a repo that has no branch and never had a commit; False if it has either."""
        with self.tx():
            if self.db.execute("SELECT 1 FROM branches WHERE repo=? UNION ALL SELECT 1 FROM commits WHERE repo=?",
                               (name, name)).fetchone():
                return False
            return self.db.execute("DELETE FROM repos WHERE name=?", (name,)).rowcount == 1

    def head(self, repo: str, branch: str = "master") -> str | None:
        row = self.q1("SELECT head FROM branches WHERE repo=? AND name=?", (repo, branch))
        return row["head"] if row else None

    def branches(self, repo: str) -> list[sqlite3.Row]:
        return self.q("SELECT * FROM branches WHERE repo=? ORDER BY name", (repo,))

    def has_branch(self, repo: str, branch: str) -> bool:
        return self.q1("SELECT 1 FROM branches WHERE repo=? AND name=?", (repo, branch)) is not None

    def set_head(self, repo: str, branch: str, commit: str) -> None:
        """Point a branch at a finished commit of its repo (a trigger's move)."""
        with self.tx():
            self.db.execute("UPDATE branches SET head=? WHERE repo=? AND name=?", (commit, repo, branch))

    def triggers(self, repo: str) -> list[tuple[str, dict, str | None, float]]:
        """(branch, trigger, head, created) of every branch of repo that has a trigger."""
        return [(r["name"], json.loads(r["trigger"]), r["head"], r["created"] or 0.0) for r in self.q(
            "SELECT * FROM branches WHERE repo=? AND trigger IS NOT NULL ORDER BY name", (repo,))]

    def branch_heads(self) -> dict[tuple[str, str], str]:
        """(repo, branch) -> head of every input repo's branch: what a commit set records."""
        return {(r["repo"], r["name"]): r["head"] for r in self.q(
            "SELECT b.repo, b.name, b.head FROM branches b JOIN repos r ON r.name=b.repo "
            "WHERE r.type='user' AND b.head IS NOT NULL")}

    def create_branch(self, repo: str, name: str, *, trigger: dict | None = None) -> bool:
        """An empty branch (no head until its first commit or a trigger moves it); False when
        it exists. With `trigger`, the branch follows another as pachd's CreateBranch sets it."""
        self.repo(repo)
        with self.tx():
            made = self.db.execute("INSERT OR IGNORE INTO branches(repo, name, head, created) VALUES(?,?,NULL,?)",
                                   (repo, name, time.time())).rowcount == 1
            if trigger is not None:
                self.db.execute("UPDATE branches SET trigger=? WHERE repo=? AND name=?",
                                (json.dumps(trigger, sort_keys=True), repo, name))
            return made

    def delete_branch(self, repo: str, name: str) -> None:
        """The branch only: its commits stay (pachd's DeleteBranch)."""
        with self.tx():
            self.db.execute("DELETE FROM branches WHERE repo=? AND name=?", (repo, name))

    # -- integrity (fsck) -----------------------------------------------------------------
    def referenced_objects(self) -> set[str]:
        """Every object a commit's file or a recorded datum output names."""
        refs = {r["hash"] for r in self.q("SELECT DISTINCT hash FROM files")}
        return refs | {r["hash"] for r in self.q("SELECT DISTINCT hash FROM datum_outputs")}

    def dangling_heads(self) -> list[tuple[str, str, str]]:
        """(repo, branch, head) of branches whose head is missing or unfinished."""
        return [(r["repo"], r["name"], r["head"]) for r in self.q(
            "SELECT b.repo, b.name, b.head FROM branches b LEFT JOIN commits c ON c.repo=b.repo AND c.id=b.head "
            "WHERE b.head IS NOT NULL AND (c.id IS NULL OR c.finished IS NULL)")]

    def commit_count(self) -> int:
        return self.q1("SELECT COUNT(*) AS n FROM commits")["n"]

    def outputs_without_datum(self) -> list[tuple[str, str, str]]:
        """(repo, job, datum) of output files naming a datum the job store never recorded."""
        return [(r["repo"], r["job"], r["datum"]) for r in self.q(
            "SELECT DISTINCT f.repo, f.job, f.datum FROM files f LEFT JOIN datums d "
            "ON d.pipeline=f.repo AND d.job=f.job AND d.id=f.datum WHERE f.job IS NOT NULL AND d.id IS NULL")]


__all__ = ["Store", "Commit", "FileRow", "new_id", "PachmediaError"]

"""The commits of the store (a mixin of `Store`): opening, finishing atomically (provenance,
the head move), dropping, reading and resolving references (`branch`, an id or its prefix,
`branch^`, `branch~N`)."""
from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from typing import Iterable

from pipelines.errors import NotFound, UsageError


@dataclass(frozen=True)
class Commit:
    repo: str
    id: str
    branch: str
    parent: str | None
    origin: str           # USER | AUTO (Pachyderm's CommitOrigin)
    started: float
    finished: float | None
    error: str | None
    description: str
    seq: int
    provenance: tuple[tuple[str, str, str], ...] = field(default=())  # (repo, branch, id)


def new_id() -> str:
    return uuid.uuid4().hex


class CommitOps:
    def start_commit(self, repo: str, branch: str = "master", *, id: str | None = None,
                     origin: str = "USER", description: str = "", copy_parent: bool = True,
                     started: float | None = None) -> Commit:
        """Open a commit on branch (parent = the head). With copy_parent the new tree
        starts as the parent's (user commits); output commits start empty."""
        self.repo(repo)
        id = id or new_id()
        with self.tx():
            parent = self.head(repo, branch)
            seq = self.next_seq()
            self.db.execute(
                "INSERT INTO commits(repo, id, seq, branch, parent, origin, started, description) "
                "VALUES(?,?,?,?,?,?,?,?)", (repo, id, seq, branch, parent, origin, started or time.time(), description))
            self.db.execute("INSERT OR IGNORE INTO branches(repo, name, head, created) VALUES(?,?,NULL,?)",
                            (repo, branch, time.time()))
            if parent and copy_parent:
                self.db.execute(
                    "INSERT INTO files(repo, commit_id, path, hash, size, job, datum, etag, meta, changed) "
                    "SELECT repo, ?, path, hash, size, job, datum, etag, meta, changed FROM files "
                    "WHERE repo=? AND commit_id=?", (id, repo, parent))
        return self.commit(repo, id)

    def finish_commit(self, repo: str, id: str, *, error: str | None = None,
                      provenance: Iterable[tuple[str, str, str]] = (), move_head: bool = True) -> Commit:
        """Finish atomically: provenance, finished time, and the branch head move."""
        c = self._require_open(repo, id)
        with self.tx():
            for in_repo, in_branch, in_commit in provenance:
                self.db.execute("INSERT OR REPLACE INTO provenance VALUES(?,?,?,?,?)",
                                (repo, id, in_repo, in_branch, in_commit))
            self.db.execute("UPDATE commits SET finished=?, error=? WHERE repo=? AND id=?",
                            (time.time(), error, repo, id))
            # a file the same as in the parent keeps the commit that changed it; others get this one
            # (NULL stays NULL for files from a home made before this column: readers fall back)
            same = ("FROM files p WHERE p.repo=files.repo AND p.commit_id=? AND p.path=files.path "
                    "AND p.hash=files.hash AND p.etag IS files.etag AND p.meta IS files.meta")
            self.db.execute(f"UPDATE files SET changed = CASE WHEN EXISTS(SELECT 1 {same}) "
                            f"THEN (SELECT p.changed {same}) ELSE ? END WHERE repo=? AND commit_id=? AND changed IS NULL",
                            (c.parent or "", c.parent or "", id, repo, id))
            if move_head:
                self.db.execute("UPDATE branches SET head=? WHERE repo=? AND name=?", (id, repo, c.branch))
        return self.commit(repo, id)

    def drop_commit(self, repo: str, id: str) -> None:
        """Forget an open commit (a put that never finished)."""
        with self.tx():
            self.db.execute("DELETE FROM files WHERE repo=? AND commit_id=?", (repo, id))
            self.db.execute("DELETE FROM provenance WHERE repo=? AND id=?", (repo, id))
            self.db.execute("DELETE FROM commits WHERE repo=? AND id=? AND finished IS NULL", (repo, id))

    def open_commits(self, origin: str | None = None) -> list[Commit]:
        sql = "SELECT * FROM commits WHERE finished IS NULL"
        args: tuple = ()
        if origin:
            sql += " AND origin=?"
            args = (origin,)
        return [self._commit(r) for r in self.q(sql + " ORDER BY seq", args)]

    def commit(self, repo: str, id: str) -> Commit:
        row = self.q1("SELECT * FROM commits WHERE repo=? AND id=?", (repo, id))
        if row is None:
            raise NotFound(f"commit {repo}@{id} not found")
        return self._commit(row)

    def resolve(self, repo: str, ref: str | None) -> Commit:
        """A branch name, a commit id (or unique prefix of 6+), `branch^`/`branch~N` ancestry."""
        self.repo(repo)
        ref = ref or "master"
        base, up = ref, 0
        for sep in ("^", "~"):
            if sep in ref:
                base, _, n = ref.partition(sep)
                up = int(n or 1) if sep == "~" else ref.count("^")
                base = base.rstrip("^")
                break
        head = self.head(repo, base)
        if head is None:
            rows = self.q("SELECT id FROM commits WHERE repo=? AND id LIKE ?", (repo, base + "%")) \
                if len(base) >= 6 and all(c in "0123456789abcdef" for c in base) else []
            if len(rows) != 1:
                if self.q1("SELECT 1 FROM branches WHERE repo=? AND name=?", (repo, base)):
                    raise NotFound(f"branch {repo}@{base} has no finished commit yet")
                raise NotFound(f"no branch or commit {base!r} in repo {repo!r}"
                               + (" (ambiguous prefix)" if len(rows) > 1 else ""))
            head = rows[0]["id"]
        c = self.commit(repo, head)
        for _ in range(up):
            if not c.parent:
                raise NotFound(f"{repo}@{ref}: no such ancestor")
            c = self.commit(repo, c.parent)
        return c

    def commits(self, repo: str, branch: str | None = None, limit: int | None = None) -> list[Commit]:
        sql = "SELECT * FROM commits WHERE repo=?"
        args: list = [repo]
        if branch:
            sql += " AND branch=?"
            args.append(branch)
        sql += " ORDER BY seq DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._commit(r) for r in self.q(sql, args)]

    def children(self, repo: str, id: str) -> list[tuple[str, str]]:
        """(id, branch) of the commits whose parent is this one, oldest first."""
        return [(r["id"], r["branch"]) for r in self.q(
            "SELECT id, branch FROM commits WHERE repo=? AND parent=? ORDER BY seq", (repo, id))]

    def commit_set(self, id: str) -> list[Commit]:
        """Every commit of one commit set (pachd's global id), oldest first."""
        return [self._commit(r) for r in self.q("SELECT * FROM commits WHERE id=? ORDER BY seq", (id,))]

    def finished_commit(self, repo: str, id: str) -> Commit | None:
        """That commit if it exists and is finished (a job's own commit in its set)."""
        row = self.q1("SELECT * FROM commits WHERE repo=? AND id=? AND finished IS NOT NULL", (repo, id))
        return self._commit(row) if row else None

    def latest_good_commit(self, repo: str, branch: str, max_seq: int) -> Commit | None:
        """The newest finished, error-free commit of repo@branch not newer than max_seq."""
        row = self.q1("SELECT * FROM commits WHERE repo=? AND branch=? AND finished IS NOT NULL "
                      "AND error IS NULL AND seq<=? ORDER BY seq DESC LIMIT 1", (repo, branch, max_seq))
        return self._commit(row) if row else None

    def _commit(self, row: sqlite3.Row) -> Commit:
        prov = tuple((r["input_repo"], r["input_branch"], r["input_commit"]) for r in self.q(
            "SELECT * FROM provenance WHERE repo=? AND id=? ORDER BY input_repo", (row["repo"], row["id"])))
        return Commit(row["repo"], row["id"], row["branch"], row["parent"], row["origin"], row["started"],
                      row["finished"], row["error"], row["description"], row["seq"], prov)

    def _require_open(self, repo: str, id: str) -> Commit:
        c = self.commit(repo, id)
        if c.finished is not None:
            raise UsageError(f"commit {repo}@{id} is finished; start a new commit to change files")
        return c

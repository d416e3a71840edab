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
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from pipelines.errors import NotFound, PachmediaError, UsageError
from pipelines.pfs.db import Tx, migrate, open_db, private_home
from pipelines.pfs.objects import ObjectStore

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


@dataclass(frozen=True)
class FileRow:
    path: str
    hash: str
    size: int
    job: str | None = None      # the job whose datum wrote it (None: a user put it)
    datum: str | None = None


def new_id() -> str:
    return uuid.uuid4().hex


class Store:
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

    def head(self, repo: str, branch: str = "master") -> str | None:
        row = self.q1("SELECT head FROM branches WHERE repo=? AND name=?", (repo, branch))
        return row["head"] if row else None

    def branches(self, repo: str) -> list[sqlite3.Row]:
        return self.q("SELECT * FROM branches WHERE repo=? ORDER BY name", (repo,))

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

    # -- commits ------------------------------------------------------------------------
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

    def put_file(self, repo: str, id: str, path: str, oid: str, size: int,
                 job: str | None = None, datum: str | None = None, *,
                 etag: str | None = None, meta: str | None = None) -> None:
        self._require_open(repo, id)
        with self.tx():
            # a file replaces a directory of the same name and vice versa (no file/dir clash)
            self.db.execute("DELETE FROM files WHERE repo=? AND commit_id=? AND path LIKE ? ESCAPE '\\'",
                            (repo, id, _like_prefix(path)))
            self._delete_ancestors_as_files(repo, id, path)
            self.db.execute("INSERT OR REPLACE INTO files(repo, commit_id, path, hash, size, job, datum, etag, meta) "
                            "VALUES(?,?,?,?,?,?,?,?,?)", (repo, id, path, oid, size, job, datum, etag, meta))

    def _delete_ancestors_as_files(self, repo: str, id: str, path: str) -> None:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            self.db.execute("DELETE FROM files WHERE repo=? AND commit_id=? AND path=?",
                            (repo, id, "/" + "/".join(parts[:i])))

    def delete_path(self, repo: str, id: str, path: str) -> int:
        """Delete a file, or a directory and everything under it. Returns how many files."""
        self._require_open(repo, id)
        with self.tx():
            if path == "/":
                cur = self.db.execute("DELETE FROM files WHERE repo=? AND commit_id=?", (repo, id))
            else:
                cur = self.db.execute(
                    "DELETE FROM files WHERE repo=? AND commit_id=? AND (path=? OR path LIKE ? ESCAPE '\\')",
                    (repo, id, path, _like_prefix(path)))
            return cur.rowcount

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

    def has_repo(self, name: str) -> bool:
        return self.q1("SELECT 1 FROM repos WHERE name=?", (name,)) is not None

    def has_branch(self, repo: str, branch: str) -> bool:
        return self.q1("SELECT 1 FROM branches WHERE repo=? AND name=?", (repo, branch)) is not None

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

    # -- files --------------------------------------------------------------------------
    def files(self, repo: str, id: str, prefix: str = "/") -> list[FileRow]:
        """Every file at or under prefix, sorted by path."""
        if prefix in ("", "/"):
            rows = self.q("SELECT path, hash, size, job, datum FROM files WHERE repo=? AND commit_id=? "
                          "ORDER BY path", (repo, id))
        else:
            rows = self.q("SELECT path, hash, size, job, datum FROM files WHERE repo=? AND commit_id=? "
                          "AND (path=? OR path LIKE ? ESCAPE '\\') ORDER BY path",
                          (repo, id, prefix, _like_prefix(prefix)))
        return [FileRow(r["path"], r["hash"], r["size"], r["job"], r["datum"]) for r in rows]

    def file(self, repo: str, id: str, path: str) -> FileRow | None:
        r = self.q1("SELECT path, hash, size, job, datum FROM files WHERE repo=? AND commit_id=? AND path=?",
                    (repo, id, path))
        return FileRow(r["path"], r["hash"], r["size"], r["job"], r["datum"]) if r else None

    def object_md5(self, oid: str) -> str:
        """The MD5 of an object (S3 clients check ETags against it), computed once and kept."""
        row = self.q1("SELECT md5 FROM object_md5 WHERE hash=?", (oid,))
        if row:
            return row["md5"]
        h = hashlib.md5()
        with self.objects.open(oid) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        self.remember_md5(oid, h.hexdigest())
        return h.hexdigest()

    def remember_md5(self, oid: str, md5: str) -> None:
        with self.tx():
            self.db.execute("INSERT OR IGNORE INTO object_md5(hash, md5) VALUES(?,?)", (oid, md5))

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

    def delete_unused_repo(self, name: str) -> bool:
        """Remove a repo that has no branch and never had a commit; False if it has either."""
        with self.tx():
            if self.db.execute("SELECT 1 FROM branches WHERE repo=? UNION ALL SELECT 1 FROM commits WHERE repo=?",
                               (name, name)).fetchone():
                return False
            return self.db.execute("DELETE FROM repos WHERE name=?", (name,)).rowcount == 1

    def commit_size(self, repo: str, id: str) -> int:
        r = self.q1("SELECT COALESCE(SUM(size), 0) AS s FROM files WHERE repo=? AND commit_id=?", (repo, id))
        return int(r["s"])

    def files_page(self, repo: str, id: str, after: str, *, inclusive: bool, limit: int) -> list[FileRow]:
        """Up to `limit` files with path > after (>= when inclusive), in path order (paging)."""
        op = ">=" if inclusive else ">"
        rows = self.q(f"SELECT path, hash, size, job, datum FROM files WHERE repo=? AND commit_id=? AND path {op} ? "
                      f"ORDER BY path LIMIT {int(limit)}", (repo, id, after))
        return [FileRow(r["path"], r["hash"], r["size"], r["job"], r["datum"]) for r in rows]

    def object_rows(self, repo: str, id: str, *, path: str | None = None, after: str = "", inclusive: bool = False,
                    limit: int = 1000) -> list[sqlite3.Row]:
        """The S3 driver's view of files: path, hash, size, etag, meta and `changed_at` (when the
        commit that last changed the file finished; NULL for files older than that column).
        One path, or up to `limit` paths after `after` in path order."""
        sql = ("SELECT f.path, f.hash, f.size, f.etag, f.meta, c.finished AS changed_at FROM files f "
               "LEFT JOIN commits c ON c.repo=f.repo AND c.id=f.changed WHERE f.repo=? AND f.commit_id=? AND ")
        if path is not None:
            return self.q(sql + "f.path=?", (repo, id, path))
        return self.q(sql + f"f.path {'>=' if inclusive else '>'} ? ORDER BY f.path LIMIT {int(limit)}",
                      (repo, id, after))

    def has_files(self, repo: str, id: str) -> bool:
        return self.q1("SELECT 1 FROM files WHERE repo=? AND commit_id=? LIMIT 1", (repo, id)) is not None

    def write_job_files(self, repo: str, id: str, rows: Iterable[tuple[str, str, int, str, str]]) -> None:
        """A job's output files (path, hash, size, source job, datum) into its open commit."""
        with self.tx():
            self._require_open(repo, id)
            self.db.executemany(
                "INSERT OR REPLACE INTO files(repo, commit_id, path, hash, size, job, datum) VALUES(?,?,?,?,?,?,?)",
                [(repo, id, p, h, n, src, d) for p, h, n, src, d in rows])

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

    def iter_all_files(self) -> Iterator[sqlite3.Row]:
        with self.lock:
            rows = self.db.execute("SELECT repo, commit_id, path, hash, size FROM files").fetchall()
        yield from rows


def _like_prefix(path: str) -> str:
    esc = path.rstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return esc + "/%"


__all__ = ["Store", "Commit", "FileRow", "new_id", "PachmediaError"]

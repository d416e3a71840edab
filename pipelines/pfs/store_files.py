"""The file trees of the store (a mixin of `Store`): writing into an open commit, listing and
paging a commit's files, objects' MD5s for the S3 driver."""
from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from typing import Iterable, Iterator


@dataclass(frozen=True)
class FileRow:
    path: str
    hash: str
    size: int
    job: str | None = None      # the job whose datum wrote it (None: a user put it)
    datum: str | None = None


class FileOps:
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

    def write_job_files(self, repo: str, id: str, rows: Iterable[tuple[str, str, int, str, str]]) -> None:
        """A job's output files (path, hash, size, source job, datum) into its open commit."""
        with self.tx():
            self._require_open(repo, id)
            self.db.executemany(
                "INSERT OR REPLACE INTO files(repo, commit_id, path, hash, size, job, datum) VALUES(?,?,?,?,?,?,?)",
                [(repo, id, p, h, n, src, d) for p, h, n, src, d in rows])

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

    def commit_size(self, repo: str, id: str) -> int:
        r = self.q1("SELECT COALESCE(SUM(size), 0) AS s FROM files WHERE repo=? AND commit_id=?", (repo, id))
        return int(r["s"])

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

    def iter_all_files(self) -> Iterator[sqlite3.Row]:
        with self.lock:
            rows = self.db.execute("SELECT repo, commit_id, path, hash, size FROM files").fetchall()
        yield from rows


def _like_prefix(path: str) -> str:
    esc = path.rstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return esc + "/%"

"""Open commits: StartCommit .. ModifyFile .. FinishCommit.

pachd keeps a commit open while files are written to it; the engine makes a commit in one
transaction (a put is never half visible). So an open commit lives here: its id is fixed
at StartCommit, what ModifyFile writes is spooled to disk, and FinishCommit hands it all
to the engine as one put under that id, on the branch head as it is then (a put that
landed meanwhile through S3 or the CLI is kept, as the engine keeps concurrent puts).
An open commit is this server's alone: the CLI does not see it, and a restart of the
server drops it (pachd would keep it open)."""
from __future__ import annotations

import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.pachd import status


@dataclass
class Staged:
    repo: str
    branch: str
    id: str
    parent: str | None
    started: float
    description: str
    dir: Path
    puts: dict[str, tuple[str, object]] = field(default_factory=dict)  # path -> ("spool", Path) | ("object", oid)
    deletes: list[str] = field(default_factory=list)                  # removed from the head at finish
    lock: threading.RLock = field(default_factory=threading.RLock)
    # what protojson.commit_info reads from a store.Commit
    origin: str = "USER"
    finished: float | None = None
    error: str | None = None
    seq: int = 0
    provenance: tuple = ()


class OpenCommits:
    def __init__(self, engine, root: Path) -> None:
        self.e = engine
        self.root = Path(root)
        shutil.rmtree(self.root, ignore_errors=True)  # spools of a server that stopped with commits open
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str], Staged] = {}

    def get(self, repo: str, id: str) -> Staged | None:
        return self._open.get((repo, id))

    def on_branch(self, repo: str, branch: str) -> Staged | None:
        return next((s for s in list(self._open.values()) if s.repo == repo and s.branch == branch), None)

    def all(self, repo: str | None = None) -> list[Staged]:
        return [s for s in list(self._open.values()) if repo is None or s.repo == repo]

    def start(self, repo: str, branch: str, description: str = "") -> Staged:
        with self._lock:
            busy = self.on_branch(repo, branch)
            if busy:  # pachd's linkParent: a new commit needs a finished parent
                raise status.unknown(f"create commit: parent commit {status.commit_str(repo, busy.id)} "
                                     "has not been finished")
            id = uuid.uuid4().hex
            s = Staged(repo, branch, id, self.e.store.head(repo, branch), time.time(), description, self.root / id)
            s.dir.mkdir()
            self._open[(repo, id)] = s
            return s

    # -- ModifyFile's three operations ------------------------------------------------------
    def delete(self, s: Staged, path: str) -> None:
        with s.lock:
            for p in [p for p in s.puts if p == path or p.startswith(path.rstrip("/") + "/") or path == "/"]:
                self._drop(s.puts.pop(p))
            s.deletes.append(path)

    def append(self, s: Staged, path: str, data: bytes) -> None:
        """AddFile: bytes added to the file as the commit has it (the SDK deletes first to overwrite)."""
        path = self.e.check_path(s.repo, path)
        with s.lock:
            kind, src = s.puts.get(path, (None, None))
            if kind != "spool":
                spool = s.dir / uuid.uuid4().hex
                with open(spool, "wb") as out:
                    oid = src if kind == "object" else self._in_head(s, path)
                    if oid:
                        with self.e.store.objects.open(oid) as f:
                            shutil.copyfileobj(f, out, 1 << 20)
                s.puts[path] = ("spool", spool)
            if data:
                with open(s.puts[path][1], "ab") as out:
                    out.write(data)

    def copy(self, s: Staged, dst: str, files: list[tuple[str, str]], append: bool) -> None:
        """CopyFile: `files` are (suffix, object id): "" for a file copied to dst itself, "/x/y"
        for what is under a copied directory."""
        with s.lock:
            for suffix, oid in files:
                path = self.e.check_path(s.repo, dst.rstrip("/") + suffix if suffix else dst)
                if append:
                    with self.e.store.objects.open(oid) as f:
                        self.append(s, path, f.read())
                else:
                    self._drop(s.puts.get(path))
                    s.puts[path] = ("object", oid)

    def _in_head(self, s: Staged, path: str) -> str | None:
        if any(path == d or path.startswith(d.rstrip("/") + "/") for d in s.deletes):
            return None
        head = self.e.store.head(s.repo, s.branch)
        f = self.e.store.file(s.repo, head, path) if head else None
        return f.hash if f else None

    @staticmethod
    def _drop(entry) -> None:
        if entry and entry[0] == "spool":
            Path(entry[1]).unlink(missing_ok=True)

    # -- the end of an open commit ------------------------------------------------------------
    def finish(self, s: Staged, description: str = ""):
        with s.lock:
            if self._open.get((s.repo, s.id)) is not s:
                raise status.commit_finished(s.repo, s.id)
            try:
                streams = []
                items = []
                for path, (kind, src) in sorted(s.puts.items()):
                    if kind == "spool":
                        items.append((path, Path(src)))
                    else:
                        streams.append(self.e.store.objects.open(src))
                        items.append((path, streams[-1]))
                head = self.e.store.head(s.repo, s.branch)
                # deleting what the head lacks is no error in pachd (the SDK deletes before every put)
                deletes = [d for d in dict.fromkeys(s.deletes) if head and self.e.store.files(s.repo, head, d)]
                return self.e.put_files(s.repo, s.branch, items, deletes=deletes, id=s.id,
                                        description=description or s.description)
            finally:
                for f in streams:
                    f.close()
                self.discard(s)

    def discard(self, s: Staged) -> None:
        with self._lock:
            self._open.pop((s.repo, s.id), None)
        shutil.rmtree(s.dir, ignore_errors=True)

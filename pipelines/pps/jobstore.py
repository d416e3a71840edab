"""Pipelines, jobs and datums as the engine records them (same SQLite as the store).

The fields follow Pachyderm's PipelineInfo / JobInfo / DatumInfo; `--raw` builds the
messages themselves from them (pipelines/protojson.py). A datum row is written as soon as the datum finishes: a killed engine
resumes a job without redoing finished datums.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable

from pipelines.errors import NotFound
from pipelines.pfs.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS pipelines(
  name TEXT PRIMARY KEY, spec TEXT NOT NULL, salt TEXT NOT NULL, version INTEGER NOT NULL,
  created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS commit_sets(
  id TEXT PRIMARY KEY, seq INTEGER NOT NULL, cause TEXT NOT NULL, pipeline TEXT,
  created REAL NOT NULL, done INTEGER NOT NULL DEFAULT 0, force TEXT, branches TEXT, heads TEXT);
CREATE TABLE IF NOT EXISTS jobs(
  pipeline TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, started REAL, finished REAL,
  salt TEXT NOT NULL, spec_version INTEGER NOT NULL, inputs TEXT NOT NULL, reason TEXT,
  total INTEGER NOT NULL DEFAULT 0, set_seq INTEGER NOT NULL, PRIMARY KEY(pipeline, id));
CREATE TABLE IF NOT EXISTS datums(
  pipeline TEXT NOT NULL, job TEXT NOT NULL, id TEXT NOT NULL, hash TEXT NOT NULL, state TEXT NOT NULL,
  inputs TEXT NOT NULL, source_job TEXT NOT NULL, started REAL, finished REAL, reason TEXT,
  why TEXT, tries INTEGER NOT NULL DEFAULT 0, bytes_in INTEGER NOT NULL DEFAULT 0, pgid INTEGER,
  PRIMARY KEY(pipeline, job, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS datum_outputs(
  pipeline TEXT NOT NULL, job TEXT NOT NULL, datum TEXT NOT NULL, path TEXT NOT NULL, hash TEXT NOT NULL,
  size INTEGER NOT NULL, PRIMARY KEY(pipeline, job, datum, path)) WITHOUT ROWID;
"""

# Pachyderm's enums, as --raw prints them.
JOB_STATES = ("JOB_CREATED", "JOB_RUNNING", "JOB_SUCCESS", "JOB_FAILURE", "JOB_UNRUNNABLE", "JOB_KILLED")
DATUM_STATES = ("STARTING", "SUCCESS", "SKIPPED", "FAILED", "RECOVERED")
DONE_DATUM_STATES = ("SUCCESS", "SKIPPED", "RECOVERED")   # finished within its job (a resume keeps them)
# What a later job may skip: Pachyderm's skippableDatum (src/server/worker/pipeline/transform/
# worker.go) wants the same hash with State_PROCESSED; a SKIPPED row here is a datum whose
# source job processed it. RECOVERED (errCmd made up for a failure) runs again next time.
SKIPPABLE_DATUM_STATES = ("SUCCESS", "SKIPPED")
DATUM_COLUMNS = ("pipeline, job, id, hash, state, inputs, source_job, started, finished, reason, why, tries, "
                 "bytes_in")


@dataclass(frozen=True)
class JobInfo:
    pipeline: str
    id: str
    state: str
    started: float | None
    finished: float | None
    salt: str
    spec_version: int
    inputs: list[dict]            # [{"name","repo","branch","commit"}]
    reason: str | None
    total: int
    counts: dict[str, int] = field(default_factory=dict)   # datum state -> n
    bytes_in: int = 0

    @property
    def done(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("SUCCESS", "SKIPPED", "FAILED", "RECOVERED"))


@dataclass(frozen=True)
class DatumInfo:
    pipeline: str
    job: str
    id: str
    hash: str
    state: str
    inputs: list[dict]            # [{"name","repo","branch","commit","path","files":[{"path","hash","size"}]}]
    source_job: str               # the job whose run produced this datum's outputs
    started: float | None
    finished: float | None
    reason: str | None
    why: dict | None
    tries: int
    bytes_in: int
    pgid: int | None = None       # a STARTING datum's process group (ended on resume if still alive)


class JobStore:
    def __init__(self, store: Store) -> None:
        self.s = store
        self.s.db.executescript(SCHEMA)
        cols = {r["name"] for r in self.s.db.execute("PRAGMA table_info(datums)")}
        if "pgid" not in cols:  # homes made before datums recorded their process group
            self.s.db.execute("ALTER TABLE datums ADD COLUMN pgid INTEGER")
        if "stopped" not in {r["name"] for r in self.s.db.execute("PRAGMA table_info(pipelines)")}:
            self.s.db.execute("ALTER TABLE pipelines ADD COLUMN stopped INTEGER NOT NULL DEFAULT 0")
        cols = {r["name"] for r in self.s.db.execute("PRAGMA table_info(commit_sets)")}
        for col in ("branches", "heads"):  # homes made before commit sets named their branches
            if col not in cols:
                self.s.db.execute(f"ALTER TABLE commit_sets ADD COLUMN {col} TEXT")

    # -- the DAG's version (pipelines/upgrade.py) ------------------------------------------
    def dag_version(self) -> int:
        """The version of pachmedia's DAG this home was made or upgraded to (0: none recorded)."""
        r = self.s.q1("SELECT value FROM counters WHERE name='dag_version'")
        return int(r["value"]) if r else 0

    def set_dag_version(self, version: int) -> None:
        with self.s.tx():
            self.s.db.execute("INSERT INTO counters(name, value) VALUES('dag_version', ?) "
                              "ON CONFLICT(name) DO UPDATE SET value=excluded.value", (version,))

    # -- pipelines --------------------------------------------------------------------
    def put_pipeline(self, name: str, spec: dict, *, reprocess: bool = False) -> tuple[str, int]:
        """Create or update. The salt is the spec's `salt` (or a new one) at creation; an
        update keeps it unless reprocess, which makes a new one (pachd's initializePipelineInfo)."""
        text = json.dumps(spec, sort_keys=True)
        with self.s.tx():
            row = self.s.db.execute("SELECT * FROM pipelines WHERE name=?", (name,)).fetchone()
            now = time.time()
            if row is None:
                salt = uuid.uuid4().hex if reprocess or not spec.get("salt") else spec["salt"]
                self.s.db.execute("INSERT INTO pipelines(name, spec, salt, version, created, updated) "
                                  "VALUES(?,?,?,?,?,?)", (name, text, salt, 1, now, now))
                return "created", 1
            if row["spec"] == text and not reprocess:
                return "unchanged", row["version"]
            salt = uuid.uuid4().hex if reprocess else row["salt"]
            self.s.db.execute("UPDATE pipelines SET spec=?, salt=?, version=version+1, updated=? WHERE name=?",
                              (text, salt, now, name))
            return "updated", row["version"] + 1

    def pipelines(self) -> list[dict]:
        return [dict(r) | {"spec": json.loads(r["spec"])} for r in self.s.q("SELECT * FROM pipelines ORDER BY created")]

    def pipeline(self, name: str) -> dict:
        r = self.s.q1("SELECT * FROM pipelines WHERE name=?", (name,))
        if r is None:
            known = ", ".join(p["name"] for p in self.pipelines()) or "none"
            raise NotFound(f"pipeline {name!r} not found (pipelines: {known})")
        return dict(r) | {"spec": json.loads(r["spec"])}

    def set_stopped(self, name: str, stopped: bool) -> bool:
        """Stop or start a pipeline; returns whether it was stopped before."""
        with self.s.tx():
            was = bool(self.pipeline(name)["stopped"])
            self.s.db.execute("UPDATE pipelines SET stopped=? WHERE name=?", (int(stopped), name))
        return was

    def drop_pipeline(self, name: str) -> None:
        with self.s.tx():
            for table in ("datum_outputs", "datums", "jobs"):
                self.s.db.execute(f"DELETE FROM {table} WHERE pipeline=?", (name,))
            self.s.db.execute("DELETE FROM pipelines WHERE name=?", (name,))

    # -- commit sets (what the engine still has to process) -------------------------------
    def add_commit_set(self, id: str, seq: int, cause: str, pipeline: str | None = None,
                       force: dict | None = None, *, branches: list[tuple[str, str]] = (),
                       heads: dict[tuple[str, str], str] | None = None) -> None:
        """A commit set to process: `branches` are the (repo, branch) it changed (a user
        commit's, a trigger's move), `heads` the input repos' branch heads as they were
        when it was made (what its jobs read where the set has no commit of its own)."""
        with self.s.tx():
            self.s.db.execute(
                "INSERT OR IGNORE INTO commit_sets(id, seq, cause, pipeline, created, force, branches, heads) "
                "VALUES(?,?,?,?,?,?,?,?)",
                (id, seq, cause, pipeline, time.time(), json.dumps(force) if force else None,
                 json.dumps([list(b) for b in branches]),
                 json.dumps({f"{r}@{b}": c for (r, b), c in heads.items()}) if heads is not None else None))

    def pending_sets(self) -> list[dict]:
        return [_commit_set(r) for r in self.s.q("SELECT * FROM commit_sets WHERE done=0 ORDER BY seq")]

    def next_pending_set(self) -> dict | None:
        r = self.s.q1("SELECT * FROM commit_sets WHERE done=0 ORDER BY seq LIMIT 1")
        return _commit_set(r) if r else None

    def commit_set_info(self, id: str) -> dict | None:
        r = self.s.q1("SELECT * FROM commit_sets WHERE id=?", (id,))
        return dict(r) if r else None

    def mark_set_done(self, id: str) -> None:
        with self.s.tx():
            self.s.db.execute("UPDATE commit_sets SET done=1 WHERE id=?", (id,))

    # -- jobs -----------------------------------------------------------------------------
    def create_job(self, pipeline: str, id: str, salt: str, spec_version: int, inputs: list[dict],
                   set_seq: int) -> None:
        with self.s.tx():
            self.s.db.execute(
                "INSERT OR IGNORE INTO jobs(pipeline, id, state, started, salt, spec_version, inputs, set_seq) "
                "VALUES(?,?,?,?,?,?,?,?)",
                (pipeline, id, "JOB_CREATED", time.time(), salt, spec_version, json.dumps(inputs), set_seq))

    def set_job(self, pipeline: str, id: str, **fields: Any) -> None:
        cols = ", ".join(f"{k}=?" for k in fields)
        with self.s.tx():
            self.s.db.execute(f"UPDATE jobs SET {cols} WHERE pipeline=? AND id=?", (*fields.values(), pipeline, id))

    def job(self, pipeline: str, id: str) -> JobInfo:
        r = self.s.q1("SELECT * FROM jobs WHERE pipeline=? AND id=?", (pipeline, id))
        if r is None:
            rows = self.s.q("SELECT * FROM jobs WHERE pipeline=? AND id LIKE ?", (pipeline, id + "%"))
            if len(rows) != 1:
                raise NotFound(f"job {pipeline}@{id} not found")
            r = rows[0]
        return self._job(r)

    def finished_since(self, t: float) -> list[JobInfo]:
        """Jobs that finished at or after t, oldest commit set first (what another run did)."""
        return [self._job(r) for r in self.s.q("SELECT * FROM jobs WHERE finished>=? ORDER BY set_seq, pipeline",
                                                (t,))]

    def jobs(self, pipeline: str | None = None, id: str | None = None, limit: int | None = None) -> list[JobInfo]:
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if pipeline:
            sql += " AND pipeline=?"
            args.append(pipeline)
        if id:
            sql += " AND id LIKE ?"
            args.append(id + "%")
        sql += " ORDER BY set_seq DESC, started DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._job(r) for r in self.s.q(sql, args)]

    def previous_job_of(self, pipeline: str, job_id: str) -> JobInfo | None:
        """previous_job for a recorded job: the one whose datums it skipped against."""
        r = self.s.q1("SELECT set_seq FROM jobs WHERE pipeline=? AND id=?", (pipeline, job_id))
        return self.previous_job(pipeline, r["set_seq"]) if r else None

    def previous_job(self, pipeline: str, set_seq: int) -> JobInfo | None:
        """The job whose datums a new job skips against: the latest earlier job that ran."""
        r = self.s.q1("SELECT * FROM jobs WHERE pipeline=? AND set_seq<? AND state IN ('JOB_SUCCESS','JOB_FAILURE') "
                      "ORDER BY set_seq DESC LIMIT 1", (pipeline, set_seq))
        return self._job(r) if r else None

    def _job(self, r) -> JobInfo:
        counts = {row["state"]: row["n"] for row in self.s.q(
            "SELECT state, COUNT(*) AS n FROM datums WHERE pipeline=? AND job=? GROUP BY state",
            (r["pipeline"], r["id"]))}
        b = self.s.q1("SELECT COALESCE(SUM(bytes_in),0) AS b FROM datums WHERE pipeline=? AND job=? "
                      "AND state!='SKIPPED'", (r["pipeline"], r["id"]))["b"]
        return JobInfo(r["pipeline"], r["id"], r["state"], r["started"], r["finished"], r["salt"],
                       r["spec_version"], json.loads(r["inputs"]), r["reason"], r["total"], counts, int(b))

    # -- datums -------------------------------------------------------------------------
    def record_datum(self, pipeline: str, job: str, id: str, hash: str, state: str, inputs: list[dict],
                     source_job: str, *, started: float | None = None, finished: float | None = None,
                     reason: str | None = None, why: dict | None = None, tries: int = 0, bytes_in: int = 0,
                     outputs: Iterable[tuple[str, str, int]] = ()) -> None:
        with self.s.tx():
            self.s.db.execute("DELETE FROM datum_outputs WHERE pipeline=? AND job=? AND datum=?", (pipeline, job, id))
            self.s.db.execute(
                f"INSERT OR REPLACE INTO datums({DATUM_COLUMNS}) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (pipeline, job, id, hash, state, json.dumps(inputs), source_job, started, finished, reason,
                 json.dumps(why) if why else None, tries, bytes_in))
            self.s.db.executemany("INSERT INTO datum_outputs VALUES(?,?,?,?,?,?)",
                                  [(pipeline, job, id, p, h, n) for p, h, n in outputs])

    def record_skipped(self, pipeline: str, job: str, rows: list[tuple[str, str, list[dict], str]]) -> None:
        """Skipped datums (id, hash, inputs, source job) in one transaction: an unchanged
        re-run costs one commit to the database, not one per datum."""
        now = time.time()
        with self.s.tx():
            self.s.db.executemany(
                f"INSERT OR REPLACE INTO datums({DATUM_COLUMNS}) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(pipeline, job, id, h, "SKIPPED", json.dumps(inputs), src, now, now, None, None, 0, 0)
                 for id, h, inputs, src in rows])

    def set_datum_pgid(self, pipeline: str, job: str, id: str, pgid: int) -> None:
        """A STARTING datum's process group, so a successor of a killed engine can end it."""
        with self.s.tx():
            self.s.db.execute("UPDATE datums SET pgid=? WHERE pipeline=? AND job=? AND id=? AND state='STARTING'",
                              (pgid, pipeline, job, id))

    def datums(self, pipeline: str, job: str, state: str | None = None) -> list[DatumInfo]:
        sql, args = "SELECT * FROM datums WHERE pipeline=? AND job=?", [pipeline, job]
        if state:
            sql += " AND state=?"
            args.append(state)
        return [self._datum(r) for r in self.s.q(sql + " ORDER BY started, id", args)]

    def datum(self, pipeline: str, job: str, id: str) -> DatumInfo:
        rows = self.s.q("SELECT * FROM datums WHERE pipeline=? AND job=? AND id LIKE ?", (pipeline, job, id + "%"))
        if len(rows) != 1:
            raise NotFound(f"datum {id} not found in job {pipeline}@{job}"
                           + (" (ambiguous prefix)" if rows else ""))
        return self._datum(rows[0])

    def datum_outputs(self, pipeline: str, job: str, datum: str) -> list[tuple[str, str, int]]:
        return [(r["path"], r["hash"], r["size"]) for r in self.s.q(
            "SELECT path, hash, size FROM datum_outputs WHERE pipeline=? AND job=? AND datum=? ORDER BY path",
            (pipeline, job, datum))]

    def _datum(self, r) -> DatumInfo:
        return DatumInfo(r["pipeline"], r["job"], r["id"], r["hash"], r["state"], json.loads(r["inputs"]),
                         r["source_job"], r["started"], r["finished"], r["reason"],
                         json.loads(r["why"]) if r["why"] else None, r["tries"], r["bytes_in"], r["pgid"])


def _commit_set(r) -> dict:
    """A commit set row; `branches`/`heads` are None for sets recorded before they were kept."""
    heads = json.loads(r["heads"]) if r["heads"] else None
    return dict(r) | {"force": json.loads(r["force"]) if r["force"] else None,
                      "branches": [tuple(b) for b in json.loads(r["branches"])] if r["branches"] else None,
                      "heads": {tuple(k.rsplit("@", 1)): v for k, v in heads.items()} if heads is not None else None}

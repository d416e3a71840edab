"""The embedded engine's facade: the one object the CLI, the S3 gateway and tests talk to.

Each verb delegates (as DVC's `Repo` does): files and commits to the store (pfs/), pipelines
and jobs to the job store and executor (pps/), processing to the scheduler. Work is
queued as commit sets (Pachyderm's global ids): each finished user commit, pipeline
creation or reprocess request is one.
"""
from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import BinaryIO, Iterable

from pipelines import SPECS_DIR
from pipelines.errors import NotFound, PachmediaError, UsageError
from pipelines.pps.executor import JobExecutor
from pipelines.pps.spec import pfs_inputs
from pipelines.pps.workspace import Workspace
from pipelines.scheduler import Scheduler
from pipelines.services import Services
from pipelines.pps.jobstore import JobInfo, JobStore
from pipelines.app import DAG_VERSION, FLAT_REPOS, INPUT_REPOS, SETTINGS_FILES
from pipelines.pfs.names import check_upload_name, normalize_path
from pipelines.pfs.store import Commit, Store, new_id



def default_home() -> Path:
    return Path(os.environ.get("PACHMEDIA_HOME") or Path.home() / ".pachmedia")


class Engine:
    def __init__(self, home: Path | None = None, *, specs_dir: Path = SPECS_DIR, init: bool = True) -> None:
        self.home = Path(home or default_home())
        self.store = Store(self.home)
        self.jobs = JobStore(self.store)
        self.specs_dir = specs_dir
        self.workspace = Workspace(self.home)
        self.services = Services(self.home)
        self.scheduler = Scheduler(self)
        from pipelines import upgrade
        upgrade.refuse_newer(self.jobs)
        self._recover_open_user_commits()
        self.upgraded: list[str] = []  # what opening this home changed (one line each)
        if init and not self.store.repos():
            self.init()
        elif init:
            self.upgraded = self.upgrade()

    def close(self) -> None:
        self.services.stop()
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- setup ----------------------------------------------------------------------------
    def init(self) -> list[str]:
        """Fresh home: the input repos, every pipeline in specs/, default settings."""
        from stages.common import DEFAULTS_DIR
        done = []
        for name, desc in INPUT_REPOS.items():
            self.store.create_repo(name, "user", desc)
            done.append(f"created repo {name}")
        files = {f"/{k}.json": DEFAULTS_DIR / f"{k}.json" for k in SETTINGS_FILES
                 if (DEFAULTS_DIR / f"{k}.json").is_file()}
        if files and self.store.head("settings") is None:
            c = self.put_files("settings", "master", [(p, src) for p, src in files.items()],
                               description="default settings")
            self.jobs.mark_set_done(c.id)  # no pipeline exists yet: nothing downstream of it
            done.append(f"committed default settings settings@{c.id}")
        from pipelines.pps.spec import dag_order
        specs = self.load_specs()
        for name in dag_order(specs):  # a pipeline's input repos exist before it
            done.append(f"{self.create_pipeline(specs[name])[0]} pipeline {name}")
        self.jobs.set_dag_version(DAG_VERSION)
        return done

    def upgrade(self) -> list[str]:
        """A home an earlier version made: what pachmedia's DAG gained since, added (pipelines/upgrade.py)."""
        from pipelines.upgrade import upgrade
        return upgrade(self)

    def load_specs(self) -> dict[str, dict]:
        from pipelines.pps.spec import load_specs
        return load_specs(self.specs_dir)

    def dag_order(self) -> list[str]:
        from pipelines.pps.spec import dag_order
        return dag_order({p["name"]: p["spec"] for p in self.jobs.pipelines()})

    def create_pipeline(self, spec: dict, *, reprocess: bool = False, update: bool = True) -> tuple[str, int]:
        from pipelines.pps.create import create_pipeline
        return create_pipeline(self.store, self.jobs, self.scheduler, spec, reprocess=reprocess, update=update)

    def dry_run_datums(self, spec: dict):
        """The datums a spec would get on the current heads of its inputs (`list datum -f`)."""
        from pipelines.pps.create import dry_run_datums
        return dry_run_datums(self.store, spec)

    def executor(self) -> JobExecutor:
        return JobExecutor(self.store, self.jobs, self.workspace, self.services)

    # -- writing input repos --------------------------------------------------------------
    def check_writable(self, repo: str) -> None:
        if self.store.repo(repo)["type"] != "user":
            raise UsageError(f"repo {repo!r} is the output of pipeline {repo!r}: only input repos "
                             f"({', '.join(r['name'] for r in self.store.repos() if r['type'] == 'user')}) take writes")

    def check_path(self, repo: str, path: str) -> str:
        path = normalize_path(path)
        if repo in FLAT_REPOS:
            check_upload_name(path)
        return path

    def put_files(self, repo: str, branch: str, items: Iterable[tuple[str, Path | BinaryIO]], *,
                  description: str = "", deletes: Iterable[str] = (), id: str | None = None) -> Commit:
        """One commit: every (path, file or stream[, attrs]) put, every path in deletes removed.
        `attrs` (the S3 gateway's): {"etag", "meta", "md5"} kept per file (see pfs/db.FILE_COLUMNS).
        Names are all checked before anything is written; a failure drops the commit.
        `id`: the commit's id when it was announced before it was made (pachd's StartCommit)."""
        self.check_writable(repo)
        items = [(self.check_path(repo, p), src, rest[0] if rest else {}) for p, src, *rest in items]
        deletes = [normalize_path(p) for p in deletes]
        with self.store.objects.writing():  # fsck --gc waits: these objects are not named yet
            return self._put_files(repo, branch, items, description, deletes, id)

    def _put_files(self, repo: str, branch: str, items, description: str, deletes, id: str | None = None) -> Commit:
        """Objects are written first; the commit is then made in one transaction, from the
        head as it is at that moment: two puts to one branch at once (CLI, S3, autorun, any
        process) each land on top of the other, as in pachd, and none is lost."""
        started = time.time()
        try:
            staged = []
            for path, src, attrs in items:
                if isinstance(src, (str, Path)):
                    oid, size = self.store.objects.add_file(Path(src))
                else:
                    oid, size = self.store.objects.add_stream(src)
                if attrs.get("md5"):
                    self.store.remember_md5(oid, attrs["md5"])
                staged.append((path, oid, size, attrs))
            with self.store.tx():
                c = self.store.start_commit(repo, branch, id=id, description=description, started=started)
                for path in deletes:
                    if not self.store.delete_path(repo, c.id, path):
                        raise NotFound(f"{repo}@{branch}:{path}: no such file or directory")
                for path, oid, size, attrs in staged:
                    self.store.put_file(repo, c.id, path, oid, size, etag=attrs.get("etag"), meta=attrs.get("meta"))
                c = self.store.finish_commit(repo, c.id)
                self.scheduler.committed(c)
            return c
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise PachmediaError(f"no space left on the device holding {self.home} while writing to "
                                     f"{repo}@{branch}: nothing was committed; free space and put again") from None
            raise

    def delete_files(self, repo: str, branch: str, paths: Iterable[str]) -> Commit:
        return self.put_files(repo, branch, [], deletes=paths)

    def _recover_open_user_commits(self) -> None:
        """An open user commit (from a store written before puts became one transaction) never
        became visible; drop it."""
        for c in self.store.open_commits(origin="USER"):
            self.store.drop_commit(c.repo, c.id)

    # -- running (the scheduler) -------------------------------------------------------
    def run(self, *, show_progress: bool = True, on_job=None, wait: bool = False, on_wait=None,
            slots: int | None = None) -> list[JobInfo]:
        """Process every pending commit set, resuming unfinished jobs first (scheduler.run)."""
        return self.scheduler.run(show_progress=show_progress, on_job=on_job, wait=wait, on_wait=on_wait, slots=slots)

    def run_lock(self):
        return self.scheduler.lock()

    def running(self) -> bool:
        return self.scheduler.running()

    def request_reprocess(self, pipeline: str, *, paths: list[str] = (), datum_ids: list[str] = (),
                          failed: bool = False) -> tuple[str, list[str]]:
        """Queue a commit set that re-runs the chosen datums of `pipeline` (and, through
        their outputs, the datums downstream that read them). Returns (set id, datum ids)."""
        last = self.jobs.jobs(pipeline=pipeline, limit=1)
        if not last:
            raise NotFound(f"pipeline {pipeline!r} has no job yet: nothing to reprocess")
        datums = self.jobs.datums(pipeline, last[0].id)
        chosen: set[str] = set()
        for spec in paths:
            repo, sep, path = spec.partition(":")
            if not sep:
                raise UsageError(f"--path takes repo:/path (e.g. media:/x.mp4), not {spec!r}")
            hits = {d.id for d in datums for i in d.inputs if i["repo"] == repo
                    for f in i["files"] if f["path"] == path or f["path"].startswith(path.rstrip("/") + "/")}
            if not hits:
                raise NotFound(f"no datum of {pipeline}@{last[0].id[:12]} reads {spec}")
            chosen |= hits
        for prefix in datum_ids:
            hits = {d.id for d in datums if d.id.startswith(prefix)}
            if len(hits) != 1:
                raise NotFound(f"datum {prefix!r} {'is ambiguous' if hits else 'not found'} in {pipeline}@{last[0].id[:12]}")
            chosen |= hits
        if failed:
            chosen |= {d.id for d in datums if d.state == "FAILED"}
        if not chosen:
            raise UsageError("nothing chosen: give --path repo:/path, --datum ID or --failed"
                             + (" (the last job has no failed datum)" if failed else ""))
        id = new_id()
        self.scheduler.queue(id, f"reprocess {pipeline}", pipeline=pipeline, force={pipeline: sorted(chosen)})
        return id, sorted(chosen)

    # -- a pipeline's life (pachd's stop, start and delete pipeline) --------------------------
    def pipeline_stopped(self, name: str) -> bool:
        return bool(self.jobs.pipeline(name)["stopped"])

    def stop_pipeline(self, name: str) -> None:
        """The scheduler gives a stopped pipeline no jobs (pachd: PIPELINE_PAUSED)."""
        self.jobs.set_stopped(name, True)

    def start_pipeline(self, name: str) -> None:
        """Running again: one commit set for it on the heads as they are, so what changed while
        it was stopped is processed (the rest is skipped as usual)."""
        with self.store.tx():
            if self.jobs.set_stopped(name, False):
                self.scheduler.queue(new_id(), f"pipeline {name} started", pipeline=name)

    def delete_pipeline(self, name: str, *, keep_repo: bool = False, force: bool = False) -> None:
        """The pipeline, its jobs and datums and, unless keep_repo, its output repo. One that
        another pipeline reads from stays, unless force."""
        readers = [p["name"] for p in self.jobs.pipelines()
                   if p["name"] != name and any(i["repo"] == name for i in pfs_inputs(p["spec"]["input"]))]
        if readers and not force:
            raise UsageError(f"cannot delete pipeline {name}: pipeline(s) {', '.join(readers)} read its output "
                             "(delete them first)")
        with self.store.tx():
            self.jobs.drop_pipeline(name)
            if not keep_repo:
                self.store.drop_repo(name)

    def delete_repo(self, name: str, *, force: bool = False) -> None:
        """An input repo and its commits: not a pipeline's output (delete the pipeline) nor,
        unless force, one a pipeline reads."""
        if self.store.repo(name)["type"] != "user":
            raise UsageError(f"repo {name} is the output of pipeline {name}: delete the pipeline instead")
        readers = [p["name"] for p in self.jobs.pipelines() if any(i["repo"] == name for i in pfs_inputs(p["spec"]["input"]))]
        if readers and not force:
            raise UsageError(f"cannot delete repo {name}: pipeline(s) {', '.join(readers)} read it (delete them first)")
        self.store.drop_repo(name)

    def describe_repo(self, name: str, description: str) -> None:
        self.store.describe_repo(name, description)

    def pending(self) -> list[dict]:
        return self.jobs.pending_sets()

    # -- where datums work and log --------------------------------------------------------
    def log_path(self, pipeline: str, job: str, datum: str) -> Path:
        return self.workspace.log_path(pipeline, job, datum)

    def stderr_path(self, pipeline: str, job: str, datum: str) -> Path:
        return self.workspace.stderr_path(pipeline, job, datum)

    # -- reading ----------------------------------------------------------------------------
    def resolve(self, repo: str, ref: str | None) -> Commit:
        return self.store.resolve(repo, ref)


    # pfs: repos, branches, commits, files
    def create_repo(self, name: str, description: str = "") -> None:
        self.store.create_repo(name, "user", description)

    def list_repos(self):
        return self.store.repos()

    def inspect_repo(self, name: str):
        return self.store.repo(name)

    def list_branches(self, repo: str):
        return self.store.branches(repo)

    def head(self, repo: str, branch: str = "master") -> str | None:
        return self.store.head(repo, branch)

    def list_commits(self, repo: str, branch: str | None = None, limit: int | None = None) -> list[Commit]:
        return self.store.commits(repo, branch, limit)

    def child_commits(self, repo: str, id: str) -> list[tuple[str, str]]:
        return self.store.children(repo, id)

    def commit_size(self, repo: str, id: str) -> int:
        return self.store.commit_size(repo, id)

    def list_files(self, repo: str, commit: str, prefix: str = "/"):
        return self.store.files(repo, commit, prefix)

    def inspect_file(self, repo: str, commit: str, path: str):
        return self.store.file(repo, commit, path)

    def open_object(self, oid: str):
        """A stored file's bytes, by its hash (verified as read)."""
        return self.store.objects.open(oid)

    # pps: pipelines, jobs, datums
    def list_pipelines(self) -> list[dict]:
        return self.jobs.pipelines()

    def inspect_pipeline(self, name: str) -> dict:
        return self.jobs.pipeline(name)

    def list_jobs(self, **filters) -> list[JobInfo]:
        """pipeline=, id= (a prefix), limit=, as the job store takes them."""
        return self.jobs.jobs(**filters)

    def previous_job(self, pipeline: str, job_id: str) -> JobInfo | None:
        return self.jobs.previous_job_of(pipeline, job_id)

    def list_datums(self, pipeline: str, job_id: str, state: str | None = None):
        return self.jobs.datums(pipeline, job_id, state=state)

    def inspect_datum(self, pipeline: str, job_id: str, datum_id: str):
        return self.jobs.datum(pipeline, job_id, datum_id)

    def datum_outputs(self, pipeline: str, job_id: str, datum_id: str):
        return self.jobs.datum_outputs(pipeline, job_id, datum_id)

    def commit_set_info(self, id: str):
        return self.jobs.commit_set_info(id)

"""The one place processing is scheduled: pending commit sets, in order, each giving a job
to every pipeline downstream of what changed (Pachyderm's global ids: the job's output
commit shares the set's id).

Three ways in, one loop: `Scheduler.run` (the `run` verb, `wait commit`), `Background`
(a thread in a long-running process: `s3 serve`, `play`), and `spawn_run` (a detached
`pachmedia run` after a CLI write). The run lock keeps one loop per home at a time,
across processes.
"""
from __future__ import annotations

import fcntl
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from pipelines.errors import NotFound, PachmediaError, RunLocked
from pipelines.pfs.store import Commit
from pipelines.pps.jobstore import JobInfo
from pipelines.pps.spec import pfs_inputs

if TYPE_CHECKING:
    from pipelines.engine import Engine


class Scheduler:
    def __init__(self, engine: "Engine") -> None:
        self.e = engine
        self.store = engine.store
        self.jobs = engine.jobs
        self.lock_path = engine.home / "run.lock"

    @contextmanager
    def lock(self):
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunLocked(f"another pachmedia is running jobs in {self.e.home} (run.lock)") from None
            yield

    def running(self) -> bool:
        """Whether some process holds the run lock now (a JOB_RUNNING job with no run
        holding it was stopped: Ctrl-C or a kill, and the next `run` resumes it)."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    def run(self, *, show_progress: bool = True, on_job: Callable[[JobInfo], None] | None = None) -> list[JobInfo]:
        """Process every pending commit set, resuming unfinished jobs first."""
        done: list[JobInfo] = []
        with self.lock():
            order = self.e.dag_order()
            executor = self.e.executor()
            for cs in self.jobs.pending_sets():
                forced_files: set[tuple[str, str]] = set()
                for pipeline in order:
                    job = self._job_for(pipeline, cs)
                    if job is None or job.state not in ("JOB_CREATED", "JOB_RUNNING"):
                        continue
                    forced = set((cs.get("force") or {}).get(pipeline, []))
                    job = executor.execute(pipeline, job.id, forced=forced, forced_files=forced_files,
                                           show_progress=show_progress)
                    done.append(job)
                    if on_job:
                        on_job(job)
                self.jobs.mark_set_done(cs["id"])
        return done

    def _job_for(self, pipeline: str, cs: dict) -> JobInfo | None:
        """The job of `pipeline` in commit set `cs`, created if the set touches its inputs."""
        try:
            return self.jobs.job(pipeline, cs["id"])
        except NotFound:
            pass
        p = self.jobs.pipeline(pipeline)
        if p["stopped"]:
            return None  # a stopped pipeline gets no job; starting it queues one on the heads then
        inputs, touched, broken = [], cs.get("pipeline") == pipeline, None
        for i in pfs_inputs(p["spec"]["input"]):
            commit = self._input_commit(i["repo"], i["branch"], cs)
            if commit and commit.id == cs["id"]:
                touched = True
                if commit.error:
                    broken = f"input commit {i['repo']}@{commit.id} failed: {commit.error}"
            inputs.append({"name": i["name"], "repo": i["repo"], "branch": i["branch"],
                           "commit": commit.id if commit else None})
        if not touched:
            return None
        with self.store.tx():
            self.jobs.create_job(pipeline, cs["id"], p["salt"], p["version"], inputs, cs["seq"])
            self.store.start_commit(pipeline, "master", id=cs["id"], origin="AUTO", copy_parent=False,
                                    description=f"job {cs['id']}")
        if broken:
            with self.store.tx():
                self.store.finish_commit(pipeline, cs["id"], error=f"unrunnable: {broken}", move_head=False)
                self.jobs.set_job(pipeline, cs["id"], state="JOB_UNRUNNABLE", reason=broken, finished=time.time())
        return self.jobs.job(pipeline, cs["id"])

    def _input_commit(self, repo: str, branch: str, cs: dict) -> Commit | None:
        """The commit of repo@branch a job in set cs reads: the set's own commit there if
        any; for input repos the latest one not newer than the set; for pipeline outputs
        the head (earlier sets are all processed before this one)."""
        own = self.store.finished_commit(repo, cs["id"])
        if own:
            return own
        if self.store.repo(repo)["type"] == "user":
            return self.store.latest_good_commit(repo, branch, cs["seq"])
        head = self.store.head(repo, branch)
        return self.store.commit(repo, head) if head else None


class Background:
    """Runs pending work after each write, in a thread of a long-running process, one run
    at a time (the run lock also keeps out other processes)."""

    def __init__(self, engine: "Engine", log=sys.stderr) -> None:
        self.e = engine
        self.log = log
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="pachmedia-scheduler", daemon=True)

    def start(self) -> "Background":
        self.thread.start()
        self._wake.set()  # pick up anything committed before the server started
        return self

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                for j in self.e.run(show_progress=False):
                    print(f"autorun: {j.pipeline}@{j.id[:12]} {j.state} ({j.done}/{j.total})"
                          + (f": {j.reason}" if j.reason else ""), file=self.log, flush=True)
            except PachmediaError as e:
                print(f"autorun: {e}; retrying in 5s", file=self.log, flush=True)
                self._stop.wait(5)
                self._wake.set()


def spawn_run(home: Path) -> Path:
    """Start a detached `pachmedia run` on this home (as pachd would process a new commit);
    returns its log. A run already in progress turns it away, and picks the commit up."""
    log = home / "logs" / "autorun.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        subprocess.Popen([sys.executable, "-m", "pipelines.cli", "--home", str(home), "run", "-q"],
                         stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)
    return log

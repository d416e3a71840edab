"""The one place processing is scheduled: pending commit sets, in order, each giving a job
to every pipeline downstream of what changed (Pachyderm's global ids: the job's output
commit shares the set's id). In a set, a pipeline's job starts once the pipelines it reads
are settled there; independent ones run side by side, each job in a thread of its own, their
datums sharing the run's one pool of slots (pps/slots.py). The main thread only schedules:
it creates jobs, calls `on_job`, and turns Ctrl-C/SIGTERM into one cancel of that pool.

Commit sets are kept per branch as pachd keeps them: a set records the branches it changed
(a user commit's, a trigger's move) and the input repos' heads when it was made. A
pipeline gets a job in a set only if it reads one of those branches, or the output branch
of a pipeline that got one (branch provenance), so a commit on rb@dev starts nothing in a
pipeline reading rb@master; each job reads its inputs as they were when the set was made.

Three ways in, one loop: `Scheduler.run` (the `run` verb, `wait commit`), `Background`
(a thread in a long-running process: `s3 serve`, `play`, `serve`; it also makes cron
ticks), and `spawn_run` (a detached `pachmedia run` after a CLI write). The run lock keeps
one loop per home at a time, across processes; a run drains until nothing is pending and
looks again after letting go of the lock, so no commit is left waiting.
"""
from __future__ import annotations

import fcntl
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait as wait_for
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from pipelines.errors import Interrupted, NotFound, PachmediaError, RunLocked
from pipelines.pfs import triggers
from pipelines.pfs.store import Commit, new_id
from pipelines.pps.jobstore import JobInfo
from pipelines.pps.slots import Claim, Slots, priority_of
from pipelines.pps.spec import input_repos, output_branch, pfs_inputs

if TYPE_CHECKING:
    from pipelines.engine import Engine


class Scheduler:
    def __init__(self, engine: "Engine") -> None:
        self.e = engine
        self.store = engine.store
        self.jobs = engine.jobs
        self.lock_path = engine.home / "run.lock"
        from pipelines.pps.ticks import Ticker
        self.ticker = Ticker(engine, self)

    # -- queueing -----------------------------------------------------------------------
    def queue(self, id: str, cause: str, *, seq: int | None = None, pipeline: str | None = None,
              force: dict | None = None, branches: list[tuple[str, str]] = ()) -> None:
        """Record a commit set to process, with the input heads as they are now."""
        with self.store.tx():
            self.jobs.add_commit_set(id, seq if seq is not None else self.store.next_seq(), cause, pipeline, force,
                                     branches=branches, heads=self.store.branch_heads())

    def committed(self, c: Commit) -> None:
        """A user commit finished (call inside its transaction): its set, then the trigger
        branches it moves, each its own set (pachd fires triggers when a commit finishes)."""
        self.queue(c.id, f"commit {c.repo}@{c.id}", seq=c.seq, branches=[(c.repo, c.branch)])
        for b in triggers.fire(self.store, c.repo, c.branch):
            self.queue(new_id(), f"trigger {c.repo}@{b} moved to {c.id}", branches=[(c.repo, b)])

    # -- the run lock -----------------------------------------------------------------------
    @contextmanager
    def lock(self, wait: bool = False):
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise RunLocked(f"another pachmedia is running jobs in {self.e.home} (run.lock)") from None
            yield

    def running(self) -> bool:
        """Whether some process holds the run lock now (a JOB_RUNNING job with no run
        holding it was stopped: Ctrl-C or a kill, and the next `run` resumes it)."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    # -- running ----------------------------------------------------------------------------
    def run(self, *, show_progress: bool = True, on_job: Callable[[JobInfo], None] | None = None,
            wait: bool = False, on_wait: Callable[[], None] | None = None, slots: int | None = None) -> list[JobInfo]:
        """Process pending commit sets until none is left, resuming unfinished jobs first.
        With `wait`, a run in progress elsewhere is waited for (on_wait is told) and the
        jobs it finished meanwhile are returned too; without, it raises RunLocked. `slots`:
        datums at once over all jobs (default PACHMEDIA_SLOTS or the cores; 1 is serial)."""
        done: list[JobInfo] = []
        if wait and self.running():
            if on_wait:
                on_wait()
            since = time.time()
            with self.lock(wait=True):
                done += self.jobs.finished_since(since)
                done += self._drain(show_progress, on_job, slots)
        else:
            with self.lock():
                done += self._drain(show_progress, on_job, slots)
        # A commit made while the lock was held had its own run turned away: look again now
        # that it is free (if another run took it meanwhile, that one processes it).
        while self.jobs.next_pending_set() is not None:
            try:
                with self.lock():
                    done += self._drain(show_progress, on_job, slots)
            except RunLocked:
                break
        return done

    def _drain(self, show_progress: bool, on_job, slots: int | None = None) -> list[JobInfo]:
        done: list[JobInfo] = []
        executor = self.e.executor()
        pool = Slots(slots)
        with _terminate_as_interrupt():
            while (cs := self.jobs.next_pending_set()) is not None:
                done += self._run_set(cs, executor, pool, show_progress, on_job)
                self.jobs.mark_set_done(cs["id"])
        return done

    def _run_set(self, cs: dict, executor, pool: Slots, show_progress: bool, on_job) -> list[JobInfo]:
        """The jobs of one commit set: each pipeline's as soon as the pipelines it reads are
        settled in this set (their jobs finished, or they got none), independent ones side
        by side (one at a time, in DAG order, when the pool is serial). A job sees the
        files its upstream jobs' forced datums wrote (reprocess propagates downstream)."""
        order = self.e.dag_order()  # per set: another process may have added pipelines
        specs = {p: self.jobs.pipeline(p)["spec"] for p in order}
        upstream = {p: {r for r in input_repos(specs[p]["input"]) if r in specs and r != p} for p in order}
        force = cs.get("force") or {}
        settled: set[str] = set()
        forced_out: dict[str, set[tuple[str, str]]] = {}
        running: dict[Future, tuple[str, Claim]] = {}
        done: list[JobInfo] = []
        threads = ThreadPoolExecutor(max_workers=max(1, len(order)), thread_name_prefix="job")
        try:
            while len(settled) < len(order):
                self._dispatch(cs, order, specs, upstream, force, settled, forced_out, running, executor, pool,
                               threads, show_progress)
                if not running:
                    continue  # only settled ones were found: look again
                finished, _ = wait_for(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    pipeline, claim = running.pop(fut)
                    claim.leave()
                    settled.add(pipeline)
                    job = fut.result()
                    done.append(job)
                    if on_job:
                        on_job(job)
        except KeyboardInterrupt:
            killed = pool.cancel()
            jobs = [p for p, _ in running.values()]
            wait_for(running)
            queued = sum(c.not_started for _, c in running.values())
            raise Interrupted(f"interrupted: {len(jobs)} job(s) of commit set {cs['id'][:12]} stopped "
                              f"({', '.join(jobs)}), {queued} datum(s) not started and {killed} killed; "
                              "`pachmedia run` resumes them") from None
        except BaseException:
            wait_for(running)  # a fault of the engine's own: the other jobs end first
            raise
        finally:
            threads.shutdown(wait=True)
        return sorted(done, key=lambda j: order.index(j.pipeline))  # as `run` lists them: DAG order

    def _dispatch(self, cs, order, specs, upstream, force, settled, forced_out, running, executor, pool,
                  threads, show_progress) -> None:
        """Start every job whose upstream pipelines are settled (in the main thread: jobs
        and their output commits are created here, in DAG order). All of them join the pool
        before any starts, so each datum's nice sees every job it runs beside."""
        busy = {p for p, _ in running.values()}
        ready = []
        for n, pipeline in enumerate(order):
            if pipeline in settled or pipeline in busy or not upstream[pipeline] <= settled:
                continue
            if pool.serial and (running or ready):
                break
            job = self._job_for(pipeline, cs)
            if job is None or job.state not in ("JOB_CREATED", "JOB_RUNNING"):
                settled.add(pipeline)
                continue
            ready.append((pipeline, job, pool.enter(pipeline, priority_of(specs[pipeline]), n)))
        for pipeline, job, claim in ready:
            seen = frozenset().union(*(forced_out.get(u, ()) for u in upstream[pipeline]))
            forced_out[pipeline] = set()
            fut = threads.submit(executor.execute, pipeline, job.id, forced=set(force.get(pipeline, [])),
                                 forced_files=seen, forced_out=forced_out[pipeline], show_progress=show_progress,
                                 claim=claim)
            running[fut] = (pipeline, claim)

    # -- which pipelines a commit set reaches, and what their jobs read -------------------
    def _job_for(self, pipeline: str, cs: dict) -> JobInfo | None:
        """The job of `pipeline` in commit set `cs`, created if the set reaches it: the set
        changed a branch it reads (unless that input says propagationSpec never), or it is
        the set of the pipeline's own creation/update/reprocess."""
        try:
            return self.jobs.job(pipeline, cs["id"])
        except NotFound:
            pass
        p = self.jobs.pipeline(pipeline)
        if p["stopped"]:
            return None  # a stopped pipeline gets no job; starting it queues one on the heads then
        if p["created"] > cs["created"] and cs.get("pipeline") != pipeline:
            return None  # made before the pipeline existed: pachd propagated it to nothing here
        origin = self._origin_branches(cs)
        inputs, touched, broken = [], cs.get("pipeline") == pipeline, None
        for i in pfs_inputs(p["spec"]["input"]):
            commit, in_set = self._input_commit(i["repo"], i["branch"], cs, origin)
            if in_set and not (i.get("propagationSpec") or {}).get("never"):
                touched = True
                if commit and commit.error:
                    broken = f"input commit {i['repo']}@{commit.id} failed: {commit.error}"
            inputs.append({"name": i["name"], "repo": i["repo"], "branch": i["branch"],
                           "commit": commit.id if commit else None})
        if not touched:
            return None
        with self.store.tx():
            self.jobs.create_job(pipeline, cs["id"], p["salt"], p["version"], inputs, cs["seq"])
            self.store.start_commit(pipeline, output_branch(p["spec"]), id=cs["id"], origin="AUTO",
                                    copy_parent=False, description=f"job {cs['id']}")
        if broken:
            with self.store.tx():
                self.store.finish_commit(pipeline, cs["id"], error=f"unrunnable: {broken}", move_head=False)
                self.jobs.set_job(pipeline, cs["id"], state="JOB_UNRUNNABLE", reason=broken, finished=time.time())
        return self.jobs.job(pipeline, cs["id"])

    def _origin_branches(self, cs: dict) -> set[tuple[str, str]]:
        if cs.get("branches") is not None:
            return set(cs["branches"])
        # a set recorded before sets named their branches: its user commits' branches
        return {(c.repo, c.branch) for c in self.store.commit_set(cs["id"]) if c.origin == "USER"}

    def _input_commit(self, repo: str, branch: str, cs: dict,
                      origin: set[tuple[str, str]]) -> tuple[Commit | None, bool]:
        """(the commit of repo@branch a job in set cs reads, whether the set changed it)."""
        heads = cs.get("heads")
        if (repo, branch) in origin:
            id = heads.get((repo, branch)) if heads is not None else cs["id"]
            return (self.store.commit(repo, id) if id else None), True
        own = self.store.finished_commit(repo, cs["id"])
        if own and own.branch == branch:  # an upstream pipeline's output in this set
            return own, True
        if self.store.repo(repo)["type"] == "user":
            if heads is not None:
                id = heads.get((repo, branch))
                return (self.store.commit(repo, id) if id else None), False
            return self.store.latest_good_commit(repo, branch, cs["seq"]), False
        head = self.store.head(repo, branch)  # earlier sets are all processed before this one
        return (self.store.commit(repo, head) if head else None), False


class Background:
    """The scheduler in a thread of a long-running process (`s3 serve`, `play`, `serve`):
    makes the cron ticks that are due and runs pending work, after each `poke` (a write)
    and whenever the next tick is due. This is the one entry point such a process calls."""

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
            self._wake.wait(self.e.scheduler.ticker.seconds_to_next() or 60)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.e.scheduler.ticker.tick()
                for j in self.e.run(show_progress=False):
                    print(f"scheduler: {j.pipeline}@{j.id[:12]} {j.state} ({j.done}/{j.total})"
                          + (f": {j.reason}" if j.reason else ""), file=self.log, flush=True)
            except RunLocked:  # another process runs jobs (and drains); look again soon
                self._stop.wait(5)
                self._wake.set()
            except PachmediaError as e:
                print(f"scheduler: {e}; retrying in 5s", file=self.log, flush=True)
                self._stop.wait(5)
                self._wake.set()


class _terminate_as_interrupt:
    """SIGTERM stops a run as Ctrl-C does (in the main thread, where signals arrive; in a
    server's scheduler thread a no-op: the server stops it)."""

    def __enter__(self):
        self.old = None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGTERM, _raise_interrupt)
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)
        return False


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def spawn_run(home: Path) -> Path:
    """Start a detached `pachmedia run` on this home (as pachd would process a new commit);
    returns its log. A run already in progress turns it away, and picks the commit up."""
    log = home / "logs" / "autorun.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        subprocess.Popen([sys.executable, "-m", "pipelines.cli", "--home", str(home), "run", "-q", "--background"],
                         stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)
    return log

"""Jobs: run what the plan (pps/plan.py) says, then assemble the output commit.

The output commit holds exactly the outputs of the current datums (a skipped datum's
carried over from the job that made them), so a deleted input drops that datum's
outputs.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.errors import Interrupted, NotFound
from pipelines.pps.datums import Datum, FileEntry, InputCommit, datums as iterate_datums
from pipelines.pps.jobstore import JobInfo
from pipelines.pps.plan import Decision, datum_inputs, decide, duplicate_paths
from pipelines.pps.spec import pfs_inputs, runnable_input
from pipelines.progress import Bar
from pipelines.pps.workspace import Workspace
from pipelines.pps.sandbox import TryDirs, limits_for
from pipelines.pps.process import kill_orphan
from pipelines.pps.runner import DatumRun, parse_duration, prepare_sandbox, run_datum
from pipelines.pps.s3_sidecar import s3_job
from pipelines.pps.slots import Claim, Slots, priority_of

if TYPE_CHECKING:
    from pipelines.pfs.store import Store
    from pipelines.pps.jobstore import JobStore
    from pipelines.services import Services


def input_resolver(store: "Store", inputs: list[dict]):
    """The one datum resolver: pfs input -> its commit's file listing, for inputs given as
    [{name, repo, branch, commit}] (a job's, or a dry run's heads); each listed once."""
    commits = {i["name"]: i for i in inputs}
    cache: dict[str, InputCommit] = {}

    def resolve(pfs: dict) -> InputCommit:
        name = pfs.get("name") or pfs["repo"]
        if name not in cache:
            i = commits[name]
            files = () if not i["commit"] else tuple(
                FileEntry(f.path, f.hash, f.size) for f in store.files(i["repo"], i["commit"]))
            cache[name] = InputCommit(i["repo"], i["branch"], i["commit"] or "", files)
        return cache[name]
    return resolve


class JobExecutor:
    """Runs jobs: given the store, the job store, where datums work and log, and the
    services their transforms ask for (never the Engine)."""

    def __init__(self, store: "Store", jobs: "JobStore", workspace: Workspace, services: "Services") -> None:
        self.s = store
        self.js = jobs
        self.ws = workspace
        self.services = services

    def resolver(self, job: JobInfo):
        return input_resolver(self.s, job.inputs)

    def execute(self, pipeline: str, job_id: str, *, forced: set[str] | None = None,
                forced_files: frozenset[tuple[str, str]] | set = frozenset(), forced_out: set | None = None,
                show_progress: bool = True, claim: Claim | None = None) -> JobInfo:
        """Run a job. `forced` datum ids (and datums reading any of `forced_files`, the
        (repo, path) pairs reprocessed upstream datums wrote) run even if unchanged; the
        paths this job's forced datums write are added to `forced_out`. `claim`: the job's
        place in the run's slot pool (without one, a pool of its own)."""
        job = self.js.job(pipeline, job_id)
        spec = self.js.pipeline(pipeline)["spec"]
        own = claim is None
        if own:
            claim = Slots().enter(pipeline, priority_of(spec))
        try:
            return self._execute(pipeline, job, spec, set(forced or ()), forced_files, forced_out, show_progress,
                                 claim)
        finally:
            if own:
                claim.leave()

    def _execute(self, pipeline: str, job: JobInfo, spec: dict, forced: set[str], forced_files, forced_out,
                 show_progress: bool, claim: Claim) -> JobInfo:
        job_id = job.id
        datums = iterate_datums(runnable_input(spec["input"]), self.resolver(job))
        if forced_files:
            forced |= {d.id for d in datums if any((i.repo, f.path) in forced_files
                                                   for i in d.inputs for f in i.files)}
        prev_job = self.js.previous_job_of(pipeline, job.id)
        previous = self.js.datums(pipeline, prev_job.id) if prev_job else []
        done_here = {d.id: d for d in self.js.datums(pipeline, job_id)}
        for d in done_here.values():  # a killed engine's datums may still be running: end them first
            if d.state == "STARTING" and d.pgid:
                kill_orphan(d.pgid, job_id, d.id, self.sandbox(pipeline, job_id, d.id))
        no_skip = "every_job" if spec.get("reprocessSpec") == "every_job" else "s3Out" if spec.get("s3Out") else None
        decisions = decide(datums, job.salt, previous, prev_job.salt if prev_job else None,
                           done_here, forced, no_skip=no_skip)
        self.js.set_job(pipeline, job_id, state="JOB_RUNNING", total=len(decisions))
        self.js.record_skipped(pipeline, job_id, [(d.datum.id, d.hash, datum_inputs(d.datum), d.source_job)
                                                  for d in decisions if d.action == "skip" and not d.adopt])
        for d in decisions:  # a datum recorded before ids were pachd's: its outputs under the new id
            if d.adopt:
                now = time.time()
                self.js.record_datum(pipeline, job_id, d.datum.id, d.hash, "SKIPPED", datum_inputs(d.datum), job_id,
                                     started=now, finished=now,
                                     outputs=self.js.datum_outputs(pipeline, d.source_job, d.adopt))
        to_run = [d for d in decisions if d.action == "run"]
        timeout = parse_duration(spec.get("jobTimeout"))
        deadline = (job.started or time.time()) + timeout if timeout else None
        if not self._run_all(pipeline, job, spec, to_run, show_progress, claim, deadline):
            return self._kill(pipeline, job_id, f"job timed out after {timeout:g}s (jobTimeout)")
        if forced_out is not None:
            for dec in to_run:
                if dec.datum.id in forced:
                    forced_out |= {(pipeline, p) for p, _, _ in self.js.datum_outputs(pipeline, job_id, dec.datum.id)}
        return self._finish(pipeline, job_id, decisions)

    def datum_run(self, pipeline: str, job_id: str, spec: dict, d: Datum, sandbox: Path,
                  extra_env: dict[str, str]) -> DatumRun:
        """How one datum runs: the same for a job and for `debug datum`."""
        modes = {i["name"]: i for i in pfs_inputs(spec["input"])}
        files = [(dest, f) for dest, f in d.mounts() if not modes.get(dest.split("/", 1)[0], {}).get("s3")]
        mounts = [(dest, "" if modes.get(dest.split("/", 1)[0], {}).get("emptyFiles") else f.hash)
                  for dest, f in files]  # an s3 input is read through the gateway, never mounted
        return DatumRun(pipeline, job_id, d.id, spec["transform"], mounts,
                        d.env("/pfs"), sandbox, self.ws.log_path(pipeline, job_id, d.id),
                        tries=int(spec.get("datumTries") or 3), timeout=parse_duration(spec.get("datumTimeout")),
                        extra_env=extra_env, limits=limits_for(spec, os.cpu_count() or 1),
                        sources={dest: (f.hash, f.size) for dest, f in files}, s3=s3_job(self.s, spec, d.inputs))

    def lay_out(self, run: DatumRun) -> TryDirs:
        """A datum's /pfs laid out in its folder, as a try sees it (for `debug datum`)."""
        return prepare_sandbox(run, self.s.objects)

    def sandbox(self, pipeline: str, job_id: str, datum_id: str) -> Path:
        """Where a datum's tries are laid out (each in a fresh try<N>-<token> folder)."""
        return self.ws.datum_dir(pipeline, job_id, datum_id)

    def find_datum(self, pipeline: str, job_id: str, datum_id: str) -> tuple[dict, Datum]:
        """Rebuild a recorded datum exactly (mounts and env) from its job's inputs."""
        job = self.js.job(pipeline, job_id)
        info = self.js.datum(pipeline, job.id, datum_id)
        spec = self.js.pipeline(pipeline)["spec"]
        for d in iterate_datums(runnable_input(spec["input"]), self.resolver(job)):
            if d.id == info.id:
                return spec, d
        raise NotFound(f"datum {datum_id} is not among the datums of {pipeline}@{job.id}")

    def _run_all(self, pipeline: str, job: JobInfo, spec: dict, to_run: list[Decision], show: bool,
                 claim: Claim, deadline: float | None = None) -> bool:
        """Run the datums, each in a slot of the run's pool, at most `parallelismSpec` (and
        the pool's size) at a time. When the run is cancelled (SIGINT/SIGTERM: Slots.cancel)
        queued datums do not start and running ones are killed (their process groups) and
        left STARTING, so the job stays resumable; Interrupted is raised. At `deadline`
        (jobTimeout) the same happens to this job alone and False is returned: the job is
        to be killed."""
        if deadline is not None and time.time() >= deadline:
            return False
        if not to_run:
            return True
        parallel = min(max(1, int((spec.get("parallelismSpec") or {}).get("constant") or 1)), claim.pool.n)
        extra_env = self.services.env_for(spec["transform"])
        bar = Bar(len(to_run), f"{pipeline}@{job.id[:8]}") if show else None
        progress: dict[str, float] = {}
        queue, lock = deque(to_run), threading.Lock()

        def one(dec: Decision):
            d = dec.datum
            run = self.datum_run(pipeline, job.id, spec, d, self.sandbox(pipeline, job.id, d.id), extra_env)
            run.limits = replace(run.limits, nice=claim.nice())
            self.js.record_datum(pipeline, job.id, d.id, dec.hash, "STARTING", datum_inputs(d), job.id,
                                 started=time.time(), why=dec.why)

            def on_progress(f: float) -> None:
                with lock:
                    progress[d.id] = f
                    shown = " ".join(f"{k[:6]} {v:.0%}" for k, v in list(progress.items())[:3])
                if bar:
                    bar.note(shown)

            def on_start(pgid: int) -> None:
                self.js.set_datum_pgid(pipeline, job.id, d.id, pgid)
                claim.started(d.id, pgid)
            try:
                res = run_datum(run, self.s.objects, job.id, on_progress, on_start=on_start, cancel=claim.stop)
            finally:
                claim.ended(d.id)
                with lock:
                    progress.pop(d.id, None)
            self.js.record_datum(pipeline, job.id, d.id, dec.hash, res.state, datum_inputs(d), job.id,
                                 started=res.started, finished=res.finished, reason=res.reason, why=dec.why,
                                 tries=res.tries, bytes_in=sum(f.size for i in d.inputs if not i.s3 for f in i.files),
                                 outputs=res.outputs)
            if bar:
                bar.advance(1, "" if res.state == "SUCCESS" else f"{res.state.lower()}: {res.reason or ''}"[:60])

        def worker() -> None:
            with claim.slot() as held:
                while held:
                    with lock:
                        if not queue:
                            return
                        dec = queue.popleft()
                    if not held.renew():  # stopped while waiting: the datum stays queued
                        with lock:
                            queue.appendleft(dec)
                        return
                    try:
                        one(dec)
                    except Interrupted:
                        return

        timed_out = threading.Event()

        def time_out() -> None:
            timed_out.set()
            claim.stop_job()
        timer = threading.Timer(max(0.0, deadline - time.time()), time_out) if deadline else None
        if timer:
            timer.daemon = True
            timer.start()
        try:
            with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix=f"{pipeline}-datum") as pool:
                for fut in [pool.submit(worker) for _ in range(parallel)]:
                    fut.result()  # a fault of the engine's own (not a datum's) is raised here
        finally:
            if timer:
                timer.cancel()
            if bar:
                bar.close()
        claim.not_started = len(queue)
        if claim.pool.cancelled.is_set():
            raise Interrupted(f"job {pipeline}@{job.id} stopped with {len(queue)} datum(s) not started")
        return not timed_out.is_set()

    def _kill(self, pipeline: str, job_id: str, reason: str) -> JobInfo:
        """End a job as pachd's StopJob does (JOB_KILLED): its commit finished with the
        reason as error, the branch head left where it was."""
        job = self.js.job(pipeline, job_id)
        with self.s.tx():
            prov = [(i["repo"], i["branch"], i["commit"]) for i in job.inputs if i["commit"]]
            self.s.finish_commit(pipeline, job_id, error=reason, provenance=prov, move_head=False)
            self.js.set_job(pipeline, job_id, state="JOB_KILLED", finished=time.time(), reason=reason)
        return self.js.job(pipeline, job_id)

    def _finish(self, pipeline: str, job_id: str, decisions: list[Decision]) -> JobInfo:
        states = {d.id: d for d in self.js.datums(pipeline, job_id)}
        failed = [d for d in states.values() if d.state == "FAILED"]
        outputs = []
        for dec in decisions:
            info = states.get(dec.datum.id)
            if info and info.state in ("SUCCESS", "SKIPPED"):
                outputs.append((dec.datum.id, self.js.datum_outputs(pipeline, info.source_job, dec.datum.id),
                                info.source_job))
        reason = None
        if failed:
            first = failed[0]
            reason = f"{len(failed)} datum(s) failed; first {first.id[:12]}: {first.reason or 'unknown'}"
        dup = duplicate_paths([(d, files) for d, files, _ in outputs])
        if dup:
            reason = dup
        job = self.js.job(pipeline, job_id)
        with self.s.tx():
            crash_point("finish-commit")  # tests: a kill in the middle of the commit's transaction
            if not dup:  # a failed job's commit keeps what its good datums made (inspectable by id)
                self.s.write_job_files(pipeline, job_id, [(p, h, n, src, d) for d, files, src in outputs
                                                          for p, h, n in files])
            crash_point("finish-commit-files")  # the files written, the commit not finished
            prov = [(i["repo"], i["branch"], i["commit"]) for i in job.inputs if i["commit"]]
            self.s.finish_commit(pipeline, job_id, error=reason, provenance=prov, move_head=not reason)
            crash_point("finish-commit-head")  # the head moved, the job's state not yet written
            self.js.set_job(pipeline, job_id, state="JOB_FAILURE" if reason else "JOB_SUCCESS",
                            finished=time.time(), reason=reason)
        return self.js.job(pipeline, job_id)


def crash_point(name: str) -> None:
    """Fault injection for tests: PACHMEDIA_TEST_CRASH_AT=<name> SIGKILLs this process there."""
    if os.environ.get("PACHMEDIA_TEST_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)

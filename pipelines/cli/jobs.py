"""run, list | inspect job, logs."""
from __future__ import annotations

import argparse
import json
import sys
import time

from pipelines import protojson as shapes
from pipelines.errors import RunLocked, UsageError

from pipelines.pps.jobstore import JOB_STATES
from pipelines.cli.base import Command
from pipelines.cli.fmt import add_raw, ago, duration, engine, job_counts, job_ref, raw, size, table


def run(args) -> int:
    if args.slots is not None and args.slots < 1:
        raise UsageError(f"--slots {args.slots}: give 1 or more (1 runs one job at a time)")
    with engine(args) as e:
        if args.reprocess:
            if not (args.path or args.datum or args.failed):
                raise UsageError("--reprocess PIPELINE needs --path repo:/path, --datum ID or --failed")
            id, chosen = e.request_reprocess(args.reprocess, paths=args.path or [], datum_ids=args.datum or [],
                                             failed=args.failed)
            print(f"reprocessing {len(chosen)} datum(s) of {args.reprocess} as commit set {id}", file=sys.stderr)
        elif args.path or args.datum or args.failed:
            raise UsageError("--path, --datum and --failed go with --reprocess PIPELINE")
        pending = e.pending()
        if not pending:
            print("nothing to do: every commit has been processed")
            return 0
        print(f"{len(pending)} commit set(s) to process", file=sys.stderr)
        try:
            jobs = e.run(show_progress=not args.quiet, wait=not args.background, slots=args.slots,
                         on_wait=lambda: print("another pachmedia is running jobs in this home: waiting for it, "
                                               "then processing what is left", file=sys.stderr))
        except RunLocked:  # --background: the run in progress drains what is pending
            print("another pachmedia is running jobs: it processes these too", file=sys.stderr)
            return 0
        failed = [j for j in jobs if j.state != "JOB_SUCCESS"]
        for j in jobs:
            print(f"{j.pipeline}@{j.id[:12]}  {j.state:12} {job_counts(j)}  {duration(j.started, j.finished)}"
                  + (f"\n    reason: {j.reason}" if j.reason else ""))
        return 1 if failed else 0


def _state(j, stopped: bool) -> str:
    """The job's state, its failed count, and whether a JOB_RUNNING job is really running
    (no run holding the lock: it was stopped by Ctrl-C or a kill)."""
    text = j.state + (f" ({j.counts.get('FAILED')} failed)" if j.counts.get("FAILED") else "")
    return text + " (stopped)" if stopped and j.state == "JOB_RUNNING" else text


def _progress(j) -> str:
    if j.total == 0:
        return "-"
    return f"{j.done}/{j.total}" + (f" ({j.counts.get('SKIPPED', 0)} skipped)" if j.counts.get("SKIPPED") else "")


def _eta(j) -> str:
    import time
    if j.state != "JOB_RUNNING" or not j.started or j.done == 0:
        return "-"
    rate = (time.time() - j.started) / j.done
    return f"{rate * (j.total - j.done):.0f}s"


def _history_floor(arg: str, version: int) -> int:
    """pachctl's --history: none (the current version's jobs), all (-1), or N versions back."""
    if arg in ("all", "-1"):
        return 0
    if arg == "none":
        return version
    try:
        n = int(arg)
    except ValueError:
        raise UsageError(f"--history takes none, all or a number of versions back, not {arg!r}") from None
    return max(version - n, 0)


def _input_commits(e, specs: list[str]) -> set[tuple[str, str]]:
    out = set()
    for spec in specs:
        repo, sep, ref = spec.partition("@")
        if not sep or not ref:
            raise UsageError(f"--input takes repo@branch-or-commit, not {spec!r}")
        out.add((repo, e.resolve(repo, ref).id))
    return out


def list_job(args) -> int:
    with engine(args) as e:
        pipeline, _, id = (args.target or "").partition("@")
        pipeline = pipeline or args.pipeline
        if pipeline:
            e.inspect_pipeline(pipeline)  # NotFound lists the pipelines there are
        jobs = e.list_jobs(pipeline=pipeline, id=id or None)
        pipelines = {p["name"]: p for p in e.list_pipelines()}
        versions = {name: p["version"] for name, p in pipelines.items()}
        if not id:
            jobs = [j for j in jobs if j.spec_version >= _history_floor(args.history, versions.get(j.pipeline, 0))]
        states = {("JOB_" + s.upper()).replace("JOB_JOB_", "JOB_") for s in args.state or []}
        if states - set(JOB_STATES):
            raise UsageError(f"--state: unknown state {sorted(states - set(JOB_STATES))[0]} "
                             f"(one of {', '.join(s[4:].lower() for s in JOB_STATES)})")
        if states:
            jobs = [j for j in jobs if j.state in states]
        if args.input:
            wanted = _input_commits(e, args.input)
            jobs = [j for j in jobs if wanted <= {(i["repo"], i["commit"]) for i in j.inputs}]
        jobs = jobs[:args.number] if args.number else jobs
        if args.raw:
            raw([shapes.job_info(j, pipelines[j.pipeline]["spec"] if j.pipeline in pipelines else None)
                 for j in jobs])
            return 0
        stopped = any(j.state == "JOB_RUNNING" for j in jobs) and not e.running()
        table(["PIPELINE", "ID", "STARTED", "DURATION", "PROGRESS", "DL", "ETA", "STATE"],
              [[j.pipeline, j.id, ago(j.started), duration(j.started, j.finished or time.time()), _progress(j),
                size(j.bytes_in), "-" if stopped else _eta(j), _state(j, stopped)] for j in jobs])
        if stopped:
            print("stopped: no `pachmedia run` is processing; the next one resumes the JOB_RUNNING job(s)",
                  file=sys.stderr)
    return 0


def inspect_job(args) -> int:
    with engine(args) as e:
        pipeline, j = job_ref(e, args.target, verb="inspect job", need_job=True)
        if args.raw:
            raw(shapes.job_info(j, e.inspect_pipeline(pipeline)["spec"]))
            return 0
        c = j.counts
        state = _state(j, j.state == "JOB_RUNNING" and not e.running())
        print(f"ID: {j.id}\nPipeline: {j.pipeline}\nState: {state}\nStarted: {ago(j.started)}\n"
              f"Duration: {duration(j.started, j.finished)}\nReason: {j.reason or ''}\n"
              f"Processed: {c.get('SUCCESS', 0)}\nFailed: {c.get('FAILED', 0)}\nSkipped: {c.get('SKIPPED', 0)}\n"
              f"Recovered: {c.get('RECOVERED', 0)}\nTotal: {j.total}\nData Downloaded: {size(j.bytes_in)}\n"
              f"Salt: {j.salt}\nPipeline Version: {j.spec_version}")
        for i in j.inputs:
            print(f"Input: {i['name']} = {i['repo']}@{i['commit'] or '<none>'} (branch {i['branch']})")
    return 0


def _master_lines(j) -> list[str]:
    """What a Pachyderm pipeline master logs about a job: its state and counts."""
    return [f"job {j.id} {j.state}: {job_counts(j)}" + (f"; reason: {j.reason}" if j.reason else "")]


def logs(args) -> int:
    if args.pipeline and args.job:
        raise UsageError("only one of --pipeline or --job should be given (--job takes pipeline@job)")
    if not (args.pipeline or args.job):
        raise UsageError("logs needs --pipeline PIPELINE or --job PIPELINE@JOB")
    if args.master and not args.pipeline:
        raise UsageError("--master needs --pipeline")
    with engine(args) as e:
        pipeline, job = job_ref(e, args.job or args.pipeline, verb="logs --job", need_job=bool(args.job))
        out: list[tuple[str, str, str]] = []  # (job, datum, line)
        if args.master:
            out = [(job.id, "", line) for line in _master_lines(job)]
        else:
            datums = [e.inspect_datum(pipeline, job.id, args.datum)] if args.datum else e.list_datums(pipeline, job.id)
            for d in datums:
                if d.state == "SKIPPED":
                    continue
                path = e.log_path(pipeline, d.source_job, d.id)
                if path.exists():
                    out += [(d.source_job, d.id, line) for line in path.read_text(errors="replace").splitlines()]
        if args.tail:
            out = out[-args.tail:]
        for job_id, datum_id, line in out:
            if args.raw:
                print(json.dumps(shapes.log_message(pipeline, job_id, datum_id, line)))
            else:
                print(f"[{datum_id[:12]}] {line}" if datum_id else line)
    return 0


def _run_args(p) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("--background", action="store_true", help=argparse.SUPPRESS)  # a spawned run: never waits
    p.add_argument("--reprocess", metavar="PIPELINE", help="re-run chosen datums of this pipeline (and what "
                   "depends on them) though their inputs did not change")
    p.add_argument("--path", action="append", metavar="REPO:/PATH", help="datums reading this input file")
    p.add_argument("--datum", action="append", metavar="ID", help="this datum (id or prefix)")
    p.add_argument("--failed", action="store_true", help="every datum that failed in the last job")
    p.add_argument("--slots", type=int, metavar="N", help="datums at once over all jobs (default: PACHMEDIA_SLOTS, "
                   "else the cores; 1 runs one job at a time, in DAG order)")


def _list_args(p) -> None:
    p.add_argument("target", nargs="?", metavar="[pipeline[@job]]")
    p.add_argument("-p", "--pipeline", help="only this pipeline's jobs")
    p.add_argument("-i", "--input", action="append", metavar="REPO@BRANCH-OR-COMMIT",
                   help="only jobs that read this input commit (repeatable)")
    p.add_argument("--state", action="append", metavar="STATE",
                   help="only jobs in this state (created, running, success, failure, unrunnable, killed); repeatable")
    p.add_argument("--history", default="none", help="jobs of earlier pipeline versions too: none (default), "
                   "all, or a number of versions back")
    p.add_argument("-n", "--number", type=int, default=50,
                   help="at most this many (default 50; a pachmedia extension, pachctl pages instead)")
    add_raw(p)


def _inspect_args(p) -> None:
    p.add_argument("target", metavar="pipeline@job")
    add_raw(p)


def _logs_args(p) -> None:
    p.add_argument("-p", "--pipeline", help="logs of this pipeline's latest job")
    p.add_argument("-j", "--job", metavar="PIPELINE@JOB", help="logs of this job (id or a unique prefix)")
    p.add_argument("--datum", help="only this datum (id or a unique prefix)")
    p.add_argument("--master", action="store_true", help="the pipeline master's lines (job state and counts) "
                   "instead of user code's; needs --pipeline")
    p.add_argument("-t", "--tail", type=int, default=0, metavar="N", help="only the last N lines (pachctl 2.12 "
                   "refuses --tail and points to --since; here it works)")
    p.add_argument("--raw", action="store_true", help="one pps.LogMessage (JSON) per line")


COMMANDS = [
    Command("run", None, "Process every pending commit (resuming any interrupted job), or re-run chosen "
            "datums with --reprocess.", _run_args, run),
    Command("list", "job", "List jobs with progress (datums done/total, bytes, ETA).", _list_args, list_job),
    Command("inspect", "job", "Show a job's state, counts and input commits.", _inspect_args, inspect_job),
    Command("logs", None, "Print the stdout/stderr of a pipeline's datums.", _logs_args, logs),
]

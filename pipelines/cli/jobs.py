"""run, list | inspect job, logs."""
from __future__ import annotations

import sys
import time

from ..errors import UsageError
from .base import Command
from .fmt import add_raw, ago, duration, engine, raw, size, table


def run(args) -> int:
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
        jobs = e.run(show_progress=not args.quiet)
        failed = [j for j in jobs if j.state != "JOB_SUCCESS"]
        for j in jobs:
            c = j.counts
            print(f"{j.pipeline}@{j.id[:12]}  {j.state:12} processed {c.get('SUCCESS', 0)}, skipped "
                  f"{c.get('SKIPPED', 0)}, failed {c.get('FAILED', 0)} of {j.total}  {duration(j.started, j.finished)}"
                  + (f"\n    reason: {j.reason}" if j.reason else ""))
        return 1 if failed else 0


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


def list_job(args) -> int:
    with engine(args) as e:
        pipeline, _, id = (args.target or "").partition("@")
        jobs = e.jobs.jobs(pipeline=pipeline or args.pipeline, id=id or None, limit=args.number)
        if args.raw:
            raw([j.to_dict() for j in jobs])
            return 0
        table(["PIPELINE", "ID", "STARTED", "DURATION", "PROGRESS", "DL", "ETA", "STATE"],
              [[j.pipeline, j.id, ago(j.started), duration(j.started, j.finished or time.time()), _progress(j),
                size(j.bytes_in),
                _eta(j), j.state + (f" ({j.counts.get('FAILED')} failed)" if j.counts.get("FAILED") else "")]
               for j in jobs])
    return 0


def inspect_job(args) -> int:
    pipeline, _, id = args.target.partition("@")
    if not id:
        raise UsageError("inspect job takes pipeline@job")
    with engine(args) as e:
        j = e.jobs.job(pipeline, id)
        if args.raw:
            raw(j.to_dict())
            return 0
        c = j.counts
        print(f"ID: {j.id}\nPipeline: {j.pipeline}\nState: {j.state}\nStarted: {ago(j.started)}\n"
              f"Duration: {duration(j.started, j.finished)}\nReason: {j.reason or ''}\n"
              f"Processed: {c.get('SUCCESS', 0)}\nFailed: {c.get('FAILED', 0)}\nSkipped: {c.get('SKIPPED', 0)}\n"
              f"Recovered: {c.get('RECOVERED', 0)}\nTotal: {j.total}\nData Downloaded: {size(j.bytes_in)}\n"
              f"Salt: {j.salt}\nPipeline Version: {j.spec_version}")
        for i in j.inputs:
            print(f"Input: {i['name']} = {i['repo']}@{i['commit'] or '<none>'} (branch {i['branch']})")
    return 0


def logs(args) -> int:
    with engine(args) as e:
        jobs = [e.jobs.job(args.pipeline, args.job)] if args.job else e.jobs.jobs(pipeline=args.pipeline, limit=1)
        if not jobs:
            raise UsageError(f"pipeline {args.pipeline} has no jobs yet")
        for j in jobs:
            datums = [e.jobs.datum(args.pipeline, j.id, args.datum)] if args.datum else e.jobs.datums(args.pipeline, j.id)
            for d in datums:
                if d.state == "SKIPPED":
                    continue
                path = e.log_path(args.pipeline, d.source_job, d.id)
                if path.exists():
                    for line in path.read_text(errors="replace").splitlines():
                        print(f"[{d.id[:12]}] {line}")
    return 0


def _run_args(p) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("--reprocess", metavar="PIPELINE", help="re-run chosen datums of this pipeline (and what "
                   "depends on them) though their inputs did not change")
    p.add_argument("--path", action="append", metavar="REPO:/PATH", help="datums reading this input file")
    p.add_argument("--datum", action="append", metavar="ID", help="this datum (id or prefix)")
    p.add_argument("--failed", action="store_true", help="every datum that failed in the last job")


def _list_args(p) -> None:
    p.add_argument("target", nargs="?", metavar="[pipeline[@job]]")
    p.add_argument("-p", "--pipeline", help="only this pipeline's jobs")
    p.add_argument("-n", "--number", type=int, default=50)
    add_raw(p)


def _inspect_args(p) -> None:
    p.add_argument("target", metavar="pipeline@job")
    add_raw(p)


def _logs_args(p) -> None:
    p.add_argument("-p", "--pipeline", required=True)
    p.add_argument("--job", help="job id (default: the latest)")
    p.add_argument("--datum", help="datum id (or prefix)")


COMMANDS = [
    Command("run", None, "Process every pending commit (resuming any interrupted job), or re-run chosen "
            "datums with --reprocess.", _run_args, run),
    Command("list", "job", "List jobs with progress (datums done/total, bytes, ETA).", _list_args, list_job),
    Command("inspect", "job", "Show a job's state, counts and input commits.", _inspect_args, inspect_job),
    Command("logs", None, "Print the stdout/stderr of a pipeline's datums.", _logs_args, logs),
]

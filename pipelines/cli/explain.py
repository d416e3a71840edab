"""explain pipeline@job — why each datum ran: new, changed (which input), settings,
salt/spec change, retry or reprocess; and how many were skipped."""
from __future__ import annotations

from ..errors import UsageError
from ..explain_summary import line, summarize
from .base import Command
from .fmt import add_raw, engine, raw


def explain(args) -> int:
    pipeline, _, job_id = args.target.partition("@")
    with engine(args) as e:
        jobs = [e.jobs.job(pipeline, job_id)] if job_id else e.jobs.jobs(pipeline=pipeline, limit=1)
        if not jobs:
            raise UsageError(f"pipeline {pipeline} has no jobs yet")
        j = jobs[0]
        s = summarize(e.jobs.datums(pipeline, j.id))
        if args.raw:
            raw({"job": {"pipeline": {"name": pipeline}, "id": j.id}} | s)
        else:
            cause = e.jobs.commit_set_info(j.id)
            print(f"{pipeline}@{j.id}: {line(s)}" + (f"  [{cause['cause']}]" if cause else ""))
    return 0


def _args(p) -> None:
    p.add_argument("target", metavar="pipeline[@job]")
    add_raw(p, "pachmedia's own summary (no Pachyderm message)")


COMMANDS = [Command("explain", None, "Why a job's datums ran: new, changed inputs, settings, "
                    "salt or spec change, retries; and how many were skipped.", _args, explain)]

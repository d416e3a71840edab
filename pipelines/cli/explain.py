"""explain pipeline@job — why each datum ran: new, changed (which input), settings,
salt/spec change, retry or reprocess; and how many were skipped."""
from __future__ import annotations

from collections import Counter

from ..errors import UsageError
from .base import Command
from .fmt import add_raw, engine, raw


def summarize(datums) -> dict:
    reasons: Counter = Counter()
    detail: dict[str, list[str]] = {}
    for d in datums:
        if d.state == "SKIPPED":
            reasons["skipped"] += 1
            continue
        why = d.why or {"reason": "resumed"}
        r = why["reason"]
        reasons[r] += 1
        if r == "new":
            items = [p for p in why.get("inputs", []) if not p.startswith("settings:")][:1] or why.get("inputs", [])[:1]
        else:
            items = why.get("inputs", []) + why.get("removed", [])
        detail.setdefault(r, []).extend(items)
        if d.state == "FAILED":
            reasons["failed"] += 1
    return {"counts": dict(reasons), "inputs": {k: sorted(set(v)) for k, v in detail.items()}}


def line(summary: dict) -> str:
    c, ins = summary["counts"], summary["inputs"]

    def part(key: str, label: str) -> str:
        n = c.get(key, 0)
        names = ins.get(key) or []
        shown = f" ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})" if names and n else ""
        return f"{n} {label}{shown}"
    parts = [part("new", "new"), part("changed", "changed")]
    for key, label in (("salt", "salt change"), ("pipeline", "pipeline change"), ("retry", "retried"),
                       ("reprocess", "reprocessed"), ("resumed", "resumed")):
        if c.get(key):
            parts.append(part(key, label))
    parts.append(f"{c.get('skipped', 0)} skipped")
    if c.get("failed"):
        parts.append(f"{c['failed']} failed")
    return ", ".join(parts)


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
    add_raw(p)


COMMANDS = [Command("explain", None, "Why a job's datums ran: new, changed inputs, settings, "
                    "salt or spec change, retries; and how many were skipped.", _args, explain)]

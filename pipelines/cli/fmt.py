"""Shared output helpers: pachctl-like tables, sizes, ages, --raw JSON."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from pipelines.engine import Engine
from pipelines.errors import NotFound, UsageError


def engine(args) -> Engine:
    e = Engine(Path(args.home) if getattr(args, "home", None) else None)
    for line in e.upgraded:  # a home an earlier version made: say what opening it added
        print(line, file=sys.stderr)
    return e


def add_raw(p, message: str | None = None) -> None:
    """--raw; `message` names what is printed when it is not one of Pachyderm's messages."""
    p.add_argument("--raw", action="store_true", help=f"JSON on stdout: {message}" if message else
                   "JSON on stdout, in Pachyderm 2.12's message shapes (protojson)")


def job_ref(e: Engine, target: str | None, *, verb: str, need_job: bool = False):
    """`pipeline[@job]` as pachctl takes it (a job id or a unique prefix of it), resolved
    once to (pipeline, JobInfo): every command that takes P@<job> uses this, so a
    prefix means the same job everywhere. Without @job: the pipeline's latest job."""
    pipeline, sep, prefix = (target or "").partition("@")
    if not pipeline or (need_job and not prefix):
        raise UsageError(f"{verb} takes pipeline@job" + ("" if need_job else " (or a pipeline: its latest job)"))
    e.inspect_pipeline(pipeline)  # NotFound lists the pipelines there are
    if not sep:
        jobs = e.list_jobs(pipeline=pipeline, limit=1)
        if not jobs:
            raise NotFound(f"pipeline {pipeline} has no jobs yet")
        return pipeline, jobs[0]
    if not prefix:
        raise UsageError(f"{verb}: no job id after {pipeline}@")
    if "%" in prefix or "_" in prefix:  # ids are hex; these would be LIKE wildcards
        raise NotFound(f"job {pipeline}@{prefix} not found")
    hits = e.list_jobs(pipeline=pipeline, id=prefix, limit=2)
    exact = [j for j in hits if j.id == prefix]
    if exact or len(hits) == 1:
        return pipeline, (exact or hits)[0]
    raise NotFound(f"job {pipeline}@{prefix} " + ("is ambiguous: give more of its id" if hits else
                                                   f"not found (`pachmedia list job -p {pipeline}` lists them)"))


def raw(objs) -> None:
    if isinstance(objs, list):
        for o in objs:
            print(json.dumps(o, indent=2))
    else:
        print(json.dumps(objs, indent=2))


def table(headers: list[str], rows: list[list]) -> None:
    rows = [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    print(line(headers))
    for r in rows:
        print(line(r))


def size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.3g}{unit}"
        n /= 1024
    return str(n)


def ago(t: float | None) -> str:
    if not t:
        return "-"
    d = time.time() - t
    for unit, sec in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if d >= sec:
            n = int(d // sec)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return f"{int(d)} seconds ago"


def duration(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    d = b - a
    return f"{d:.1f}s" if d < 120 else f"{d / 60:.1f}m"


def err(msg: str) -> None:
    print(msg, file=sys.stderr)


def job_counts(j) -> str:
    """A job's datum counts as pachctl's pipeline master logs them."""
    c = j.counts
    return (f"processed {c.get('SUCCESS', 0)}, skipped {c.get('SKIPPED', 0)}, failed {c.get('FAILED', 0)}, "
            f"recovered {c.get('RECOVERED', 0)} of {j.total}")

"""explain pipeline@job — why each datum ran: new, changed (which input), settings,
salt/spec change, retry or reprocess; and how many were skipped."""
from __future__ import annotations

from pipelines.pps.explain import line, summarize
from pipelines.cli.base import Command
from pipelines.cli.fmt import add_raw, engine, job_ref, raw


def removed_datums(e, pipeline: str, j, datums) -> list[list[str]]:
    """Datums of the previous job (the one this job skipped against) that this job does
    not have, each as the input files that are gone ("repo:/path"; all its files when
    none is, e.g. after a glob change)."""
    prev = e.previous_job(pipeline, j.id)
    if prev is None:
        return []
    here = {d.id for d in datums}
    present = {f"{i['repo']}:{f['path']}" for d in datums for i in d.inputs for f in i["files"]}
    out = []
    for d in e.list_datums(pipeline, prev.id):
        if d.id in here:
            continue
        files = sorted(f"{i['repo']}:{f['path']}" for i in d.inputs for f in i["files"])
        out.append([f for f in files if f not in present] or files)
    return out


def explain(args) -> int:
    with engine(args) as e:
        pipeline, j = job_ref(e, args.target, verb="explain")
        datums = e.list_datums(pipeline, j.id)
        s = summarize(datums, removed_datums(e, pipeline, j, datums))
        if args.raw:
            raw({"job": {"pipeline": {"name": pipeline}, "id": j.id}} | s)
        else:
            cause = e.commit_set_info(j.id)
            print(f"{pipeline}@{j.id}: {line(s)}" + (f"  [{cause['cause']}]" if cause else ""))
    return 0


def _args(p) -> None:
    p.add_argument("target", metavar="pipeline[@job]")
    add_raw(p, "pachmedia's own summary (no Pachyderm message)")


COMMANDS = [Command("explain", None, "Why a job's datums ran: new, changed inputs, settings, "
                    "salt or spec change, retries; and how many were skipped.", _args, explain)]

"""list | inspect datum: each datum's state, inputs, time and (failed) reason."""
from __future__ import annotations

from pipelines import protojson as shapes
from pipelines.errors import UsageError
from pipelines.pps.spec import load_spec
from pipelines.cli.base import Command
from pipelines.cli.fmt import add_raw, duration, engine, job_ref, raw, table


def _inputs_text(d) -> str:
    parts = []
    for i in d.inputs:
        files = i["files"]
        h = files[0]["hash"][:8] if len(files) == 1 else f"{len(files)} files"
        parts.append(f"{i['repo']}:{i['path']} ({h})")
    return ", ".join(parts)


def why_text(why: dict) -> str:
    """A datum's recorded reason for running, in words."""
    r = why.get("reason", "?")
    names = lambda key: ", ".join(why.get(key) or [])
    if r == "new":
        return f"new datum ({names('inputs')})" if why.get("inputs") else "new datum"
    if r == "changed":
        parts = [f"changed {names('inputs')}"] if why.get("inputs") else []
        parts += [f"removed {names('removed')}"] if why.get("removed") else []
        return "input " + "; ".join(parts) if parts else "inputs changed"
    if r == "retry":
        return "retry: it failed in the previous job" + (f" ({why['previous']})" if why.get("previous") else "")
    return {"salt": "the pipeline's salt changed (update pipeline --reprocess)",
            "pipeline": "the pipeline changed (new version)",
            "reprocess": "asked for: run --reprocess",
            "resumed": "resumed an interrupted job"}.get(r, r)


def list_datum(args) -> int:
    with engine(args) as e:
        if args.file:  # dry run: the datums a spec would get on the current heads
            return _dry_run(e, args)
        if not args.target:
            raise UsageError("list datum takes pipeline@job (or -f spec.json for a dry run)")
        pipeline, job = job_ref(e, args.target, verb="list datum")
        datums = e.list_datums(pipeline, job.id, state=args.state.upper() if args.state else None)
        if args.raw:
            raw([shapes.datum_info(d, e.datum_outputs(pipeline, d.source_job, d.id)) for d in datums])
            return 0
        table(["ID", "STATE", "INPUTS", "TIME", "REASON"],
              [[d.id[:16], d.state, _inputs_text(d)[:90], duration(d.started, d.finished) if d.state != "SKIPPED" else "-",
                (d.reason or "")[:120]] for d in datums])
    return 0


def _dry_run(e, args) -> int:
    spec = load_spec(args.file)
    ds = e.dry_run_datums(spec)
    if args.raw:
        raw([shapes.planned_datum(spec["pipeline"]["name"], d.id, d.inputs) for d in ds])
    else:
        table(["ID", "FILES"], [[d.id[:16], ", ".join(f"{i.name}:{i.path}" for i in d.inputs)] for d in ds])
        print(f"{len(ds)} datum(s)")
    return 0


def inspect_datum(args) -> int:
    with engine(args) as e:
        pipeline, job = job_ref(e, args.target, verb="inspect datum", need_job=True)
        d = e.inspect_datum(pipeline, job.id, args.datum)
        outputs = e.datum_outputs(pipeline, d.source_job, d.id)
        if args.raw:
            raw(shapes.datum_info(d, outputs))
            return 0
        print(f"ID: {d.id}\nJob: {pipeline}@{d.job}\nState: {d.state}\nHash: {d.hash}\nTries: {d.tries}\n"
              f"Time: {duration(d.started, d.finished)}\nOutputs made by job: {d.source_job}")
        if d.why:
            print(f"Why it ran: {why_text(d.why)}")
        if d.reason:
            print(f"Reason: {d.reason}")
        print("Inputs:")
        for i in d.inputs:
            for f in i["files"]:
                print(f"  {i['name']}: {i['repo']}@{i['commit']}:{f['path']}  sha256:{f['hash'][:16]}  {f['size']} B")
        print("Outputs:")
        for p, h, n in outputs:
            print(f"  {p}  sha256:{h[:16]}  {n} B")
        err = e.stderr_path(pipeline, d.source_job, d.id)
        if d.state == "FAILED" and err.exists():
            print(f"Stderr ({err}):")
            print("\n".join("  " + line for line in err.read_text(errors="replace").splitlines()[-20:]))
        log = e.log_path(pipeline, d.source_job, d.id)
        if log.exists():
            print(f"Logs ({log}):")
            print("\n".join("  " + line for line in log.read_text(errors="replace").splitlines()[-40:]))
    return 0


def _list_args(p) -> None:
    p.add_argument("target", nargs="?", metavar="pipeline@job")
    p.add_argument("-f", "--file", help="dry run: the datums this spec would get on the current heads")
    p.add_argument("--state", help="only datums in this state (success, skipped, failed, recovered); "
                   "a pachmedia extension: pachctl's list datum has no --state")
    add_raw(p)


def _inspect_args(p) -> None:
    p.add_argument("target", metavar="pipeline@job")
    p.add_argument("datum", help="datum id (or a unique prefix)")
    add_raw(p)


COMMANDS = [
    Command("list", "datum", "List a job's datums: state, inputs, time, reason.", _list_args, list_datum),
    Command("inspect", "datum", "Show a datum's inputs, outputs, logs and stats.", _inspect_args, inspect_datum),
]

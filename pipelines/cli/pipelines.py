"""create | update | list | inspect pipeline."""
from __future__ import annotations

import json
import os

from pipelines import protojson as shapes
from pipelines.pps.fields import cluster_notes
from pipelines.pps.spec import load_manifest
from pipelines.scheduler import spawn_run
from pipelines.cli.base import Command
from pipelines.cli.fmt import add_raw, ago, engine, raw, table


def create_pipeline(args, update: bool = False) -> int:
    """Every spec in the file, in order, as pachctl: `create` fails on a name in use,
    `update` updates (and creates what is missing)."""
    specs = load_manifest(args.file)
    with engine(args) as e:
        for spec in specs:
            action, version = e.create_pipeline(spec, reprocess=args.reprocess, update=update)
            print(f"{action} pipeline {spec['pipeline']['name']} (version {version})")
            for note in cluster_notes(spec):
                print(f"  note: {note}")
        if e.pending():
            if args.no_run or os.environ.get("PACHMEDIA_NO_AUTORUN"):
                print("Process it with `pachmedia run`.")
            else:  # as pachd, a new pipeline's job starts without being asked
                log = spawn_run(e.home)
                print(f"Processing in the background: `pachmedia list job` to follow (log: {log}).")
    return 0


def update_pipeline(args) -> int:
    return create_pipeline(args, update=True)


def list_pipeline(args) -> int:
    with engine(args) as e:
        rows = e.list_pipelines()
        if args.raw:
            raw([shapes.pipeline_info(p, _last_state(e, p["name"])) for p in rows])
            return 0
        out = []
        for p in rows:
            last = e.list_jobs(pipeline=p["name"], limit=1)
            state = last[0].state if last else "-"
            out.append([p["name"], p["version"], _input_text(p["spec"]["input"]), ago(p["created"]), state,
                        p["spec"].get("description", "")[:50]])
        table(["NAME", "VERSION", "INPUT", "CREATED", "LAST JOB", "DESCRIPTION"], out)
    return 0


def _last_state(e, name: str) -> str | None:
    last = e.list_jobs(pipeline=name, limit=1)
    return last[0].state if last else None


def _input_text(node: dict) -> str:
    if "pfs" in node:
        return f"{node['pfs'].get('name', node['pfs']['repo'])}:{node['pfs']['glob']}"
    for key, sym in (("cross", " ⨯ "), ("union", " ∪ "), ("join", " ⋈ "), ("group", " ⊔ ")):
        if key in node:
            return "(" + sym.join(_input_text(c) for c in node[key]) + ")"
    return "?"


def inspect_pipeline(args) -> int:
    with engine(args) as e:
        p = e.inspect_pipeline(args.pipeline)
        if args.raw:
            raw(shapes.pipeline_info(p, _last_state(e, p["name"])))
        else:
            print(f"Name: {p['name']}\nVersion: {p['version']}\nSalt: {p['salt']}\nCreated: {ago(p['created'])}\n"
                  f"Input: {_input_text(p['spec']['input'])}\nSpec:")
            print(json.dumps(p["spec"], indent=2))
    return 0


def _create_args(p) -> None:
    p.add_argument("-f", "--file", required=True, help="pipeline spec(s): JSON or YAML, one or several, as pachctl "
                   "reads them (- for stdin)")
    p.add_argument("--reprocess", action="store_true", help="new salt: re-run every datum")
    p.add_argument("--no-run", action="store_true", help="do not start processing (`pachmedia run` does)")


def _inspect_args(p) -> None:
    p.add_argument("pipeline")
    add_raw(p)


COMMANDS = [
    Command("create", "pipeline", "Create pipelines from a spec file (a name in use is an error).", _create_args,
            create_pipeline),
    Command("update", "pipeline", "Update (or create) pipelines from a spec file.", _create_args, update_pipeline),
    Command("list", "pipeline", "List pipelines.", add_raw, list_pipeline),
    Command("inspect", "pipeline", "Show a pipeline's spec, version and salt.", _inspect_args, inspect_pipeline),
]

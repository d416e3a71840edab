"""create | update | list | inspect pipeline."""
from __future__ import annotations

import json

from pipelines import protojson as shapes
from pipelines.pps.spec import load_spec
from pipelines.cli.base import Command
from pipelines.cli.fmt import add_raw, ago, engine, raw, table


def create_pipeline(args) -> int:
    spec = load_spec(args.file)
    with engine(args) as e:
        action, version = e.create_pipeline(spec, reprocess=args.reprocess)
        print(f"{action} pipeline {spec['pipeline']['name']} (version {version})"
              + ("; run `pachmedia run` to process its inputs" if action != "unchanged" else ""))
    return 0


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
    p.add_argument("-f", "--file", required=True, help="pipeline spec (JSON), as for pachctl")
    p.add_argument("--reprocess", action="store_true", help="new salt: re-run every datum")


def _inspect_args(p) -> None:
    p.add_argument("pipeline")
    add_raw(p)


COMMANDS = [
    Command("create", "pipeline", "Create (or update) a pipeline from a spec file.", _create_args, create_pipeline),
    Command("update", "pipeline", "Update a pipeline from a spec file.", _create_args, create_pipeline),
    Command("list", "pipeline", "List pipelines.", add_raw, list_pipeline),
    Command("inspect", "pipeline", "Show a pipeline's spec, version and salt.", _inspect_args, inspect_pipeline),
]

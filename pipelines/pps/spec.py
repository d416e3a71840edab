"""Pipeline specs: loading, strict validation (structure from Pachyderm's own message
definitions, see spec_schema; semantics the engine relies on), and the DAG order."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Iterator

from pipelines.errors import SpecError
from pipelines.pps.globs import GlobError, compile_glob, template_groups
from pipelines.pps.sandbox import limits_for
from pipelines.pps.spec_schema import check_structure


def load_spec(path: str | Path) -> dict:
    p = Path(path)
    try:
        spec = json.loads(p.read_text())
    except FileNotFoundError:
        raise SpecError(f"{p}: no such spec file") from None
    except ValueError as e:
        raise SpecError(f"{p}: not valid JSON ({e})") from None
    validate_spec(spec)
    return spec


def load_specs(directory: str | Path) -> dict[str, dict]:
    d = Path(directory)
    specs = {}
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        s = load_spec(p)
        specs[s["pipeline"]["name"]] = s
    return specs


NAME = re.compile(r"^[a-zA-Z0-9_-]{1,63}$")
INPUT_KINDS = ("pfs", "cross", "union", "join", "group", "cron")


def validate_spec(spec: dict) -> None:
    """Raise SpecError naming the key path if pachctl would refuse the spec, or if it
    uses something the embedded engine cannot run."""
    if not isinstance(spec, dict):
        raise SpecError("a pipeline spec is a JSON object")
    check_structure(spec)
    name = (spec.get("pipeline") or {}).get("name")
    if not name:
        raise SpecError("pipeline.name: required")
    if not NAME.match(name):
        raise SpecError(f"pipeline.name: {name!r} is not a valid name (letters, digits, '_' and '-', at most 63)")
    cmd = (spec.get("transform") or {}).get("cmd")
    if not cmd:
        raise SpecError("transform.cmd: required (the program a datum runs)")
    if "input" not in spec:
        raise SpecError("input: required")
    check_input(spec["input"], "input")
    limits_for(spec, 1)  # resourceLimits' quantities: they become every datum's rlimits


def check_input(node: dict, path: str) -> None:
    kinds = [k for k in INPUT_KINDS if k in node]
    if len(kinds) != 1:
        raise SpecError(f"{path}: exactly one of {', '.join(INPUT_KINDS)} (found {', '.join(kinds) or 'none'})")
    kind = kinds[0]
    if kind == "cron":
        raise SpecError(f"{path}.cron: cron inputs are not supported by the embedded engine")
    if kind == "pfs":
        pfs = node["pfs"]
        if not pfs.get("repo"):
            raise SpecError(f"{path}.pfs.repo: required")
        if not isinstance(pfs.get("glob"), str) or not pfs["glob"]:  # pachd cleans it: "*" is "/*"
            raise SpecError(f"{path}.pfs.glob: required (got {pfs.get('glob')!r})")
        try:
            rx = compile_glob(pfs["glob"])
        except GlobError as e:
            raise SpecError(f"{path}.pfs.glob: {e}") from None
        for key in ("joinOn", "groupBy"):
            try:
                wanted = max(template_groups(str(pfs.get(key) or "")), default=0)
            except GlobError as e:
                raise SpecError(f"{path}.pfs.{key}: {e}") from None
            if wanted > rx.groups:
                raise SpecError(f"{path}.pfs.{key}: {pfs[key]!r} uses capture group ${wanted} but the glob "
                                f"{pfs['glob']!r} has {rx.groups}")
        return
    children = node[kind]
    if not children:
        raise SpecError(f"{path}.{kind}: needs at least one input")
    for i, child in enumerate(children):
        where = f"{path}.{kind}[{i}]"
        check_input(child, where)
        if kind in ("join", "group") and "pfs" in child:
            key = "joinOn" if kind == "join" else "groupBy"
            if not child["pfs"].get(key):
                raise SpecError(f"{where}.pfs.{key}: required for an input of a {kind}")
    names = [c["pfs"].get("name") or c["pfs"]["repo"] for c in children if "pfs" in c]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SpecError(f"{path}.{kind}: two inputs are named {sorted(dup)[0]!r}; give one a \"name\"")


COMBINATORS = ("cross", "union", "join", "group")


def pfs_nodes(node: dict) -> Iterator[dict]:
    """The one walker of an input tree: every pfs input as written, depth first."""
    if "pfs" in node:
        yield node["pfs"]
    for key in COMBINATORS:
        for child in node.get(key) or []:
            yield from pfs_nodes(child)


def map_pfs(node: dict, f: Callable[[dict], dict]) -> dict:
    """A copy of an input tree with every pfs input replaced by f(pfs)."""
    if "pfs" in node:
        return {**node, "pfs": f(dict(node["pfs"]))}
    return {k: ([map_pfs(c, f) for c in v] if k in COMBINATORS else v) for k, v in node.items()}


def pfs_with_defaults(pfs: dict) -> dict:
    """A pfs input as Pachyderm fills it in: name defaults to the repo, branch to master."""
    return {"name": pfs["repo"], "branch": "master"} | pfs


def pfs_inputs(node: dict) -> Iterator[dict]:
    """Every pfs input in an input tree, depth first, with Pachyderm's defaults."""
    return (pfs_with_defaults(p) for p in pfs_nodes(node))


def input_repos(node: dict) -> list[str]:
    return [p["repo"] for p in pfs_nodes(node)]


def dag_order(specs: dict[str, dict]) -> list[str]:
    """Pipelines in an order where every pipeline comes after the ones it reads; the
    ones that do not depend on each other in the order their consumer lists them as
    inputs (the catalog lists preview, transcode, labels: a preview plays before the
    ladder is made, the ladder before the labels)."""
    order, state = [], {}

    def visit(n: str, path: tuple[str, ...]) -> None:
        if state.get(n) == "done":
            return
        if state.get(n) == "visiting":
            raise SpecError(f"pipelines form a cycle: {' -> '.join(path + (n,))}")
        state[n] = "visiting"
        for r in dict.fromkeys(input_repos(specs[n]["input"])):
            if r in specs:
                visit(r, path + (n,))
        state[n] = "done"
        order.append(n)
    for n in sorted(specs):
        visit(n, ())
    return order

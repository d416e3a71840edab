"""Pipeline specs: loading, validation, and the DAG order."""
from __future__ import annotations

import json
from pathlib import Path

from .errors import SpecError


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


def validate_spec(spec: dict) -> None:
    if not isinstance(spec, dict):
        raise SpecError("a pipeline spec is a JSON object")
    name = (spec.get("pipeline") or {}).get("name")
    if not name:
        raise SpecError("pipeline.name: required")
    if "transform" not in spec:
        raise SpecError("transform: required")
    if "input" not in spec:
        raise SpecError("input: required")


def input_repos(node: dict) -> list[str]:
    if "pfs" in node:
        return [node["pfs"]["repo"]]
    return [r for k in ("cross", "union", "join", "group") for c in node.get(k) or [] for r in input_repos(c)]


def dag_order(specs: dict[str, dict]) -> list[str]:
    """Pipelines in an order where every pipeline comes after the ones it reads."""
    order, state = [], {}

    def visit(n: str, path: tuple[str, ...]) -> None:
        if state.get(n) == "done":
            return
        if state.get(n) == "visiting":
            raise SpecError(f"pipelines form a cycle: {' -> '.join(path + (n,))}")
        state[n] = "visiting"
        for r in sorted(set(input_repos(specs[n]["input"]))):
            if r in specs:
                visit(r, path + (n,))
        state[n] = "done"
        order.append(n)
    for n in sorted(specs):
        visit(n, ())
    return order

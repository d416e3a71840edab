"""Pipeline specs: loading (pps/manifest.py: as pachctl reads files), strict validation
(structure from Pachyderm's own message definitions, see spec_schema; pachd's own rules;
the fields the engine refuses, see pps/fields.py), the effective spec, and the DAG order."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Iterator

from pipelines.errors import SpecError
from pipelines.pfs import triggers
from pipelines.pps import cron
from pipelines.pps.fields import refuse_unsupported
from pipelines.pps.globs import GlobError, clean, compile_glob, template_groups
from pipelines.pps.manifest import read_manifest
from pipelines.pps.sandbox import limits_for
from pipelines.pps.slots import priority_of
from pipelines.pps.spec_schema import normalize


def load_manifest(path: str | Path, *, engine: bool = True) -> list[dict]:
    """Every spec in a file as pachctl reads it (JSON or YAML, one or several), each
    validated and in its effective form (see validate_spec)."""
    specs = read_manifest(path)
    out = []
    for i, spec in enumerate(specs):
        try:
            out.append(validate_spec(spec, engine=engine))
        except SpecError as e:
            raise SpecError(f"{path}" + (f" (spec {i + 1} of {len(specs)})" if len(specs) > 1 else "")
                            + f": {e}") from None
    return out


def load_spec(path: str | Path, *, engine: bool = True) -> dict:
    """The one spec of a file (a file with several is for create/update pipeline)."""
    specs = load_manifest(path, engine=engine)
    if len(specs) != 1:
        raise SpecError(f"{path}: holds {len(specs)} specs; give a file with one")
    return specs[0]


def load_specs(directory: str | Path, *, engine: bool = True) -> dict[str, dict]:
    d = Path(directory)
    specs = {}
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        for s in load_manifest(p, engine=engine):
            specs[s["pipeline"]["name"]] = s
    return specs


NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$")
INPUT_KINDS = ("pfs", "cross", "union", "join", "group", "cron")
DEFAULT_PROJECT = "default"
REPROCESS_SPECS = ("until_success", "every_job")
RESERVED_INPUT_NAMES = ("out", ".env")  # pachd: /pfs/out and the datum's env file


def validate_spec(spec: dict, *, engine: bool = False) -> dict:
    """Raise SpecError naming the key path if pachctl/pachd would refuse the spec, and
    (with `engine`) if it sets what the embedded engine refuses: a project other than
    default, a refused field (pps/fields.py). Returns the effective spec: camelCase keys,
    globs cleaned and trigger branches named as pachd's setInputDefaults does; what the
    engine stores and runs."""
    if not isinstance(spec, dict):
        raise SpecError("a pipeline spec is a JSON object")
    spec = normalize(spec)
    name = (spec.get("pipeline") or {}).get("name")
    if not name:
        raise SpecError("pipeline.name: required")
    if not NAME.match(name):
        raise SpecError(f"pipeline.name: {name!r} is not a valid name (starts with a letter or digit; letters, "
                        "digits, '_' and '-', at most 63)")
    if engine:
        _check_project(spec["pipeline"].get("project"), "pipeline.project")
    # before the input checks: a spout has no input, and should hear it is refused for being one
    refuse_unsupported({k: v for k, v in spec.items() if k != "input"}, pachd_only=not engine)
    if not (spec.get("transform") or {}).get("cmd"):
        raise SpecError("transform.cmd: required (the program a datum runs)")
    if spec.get("reprocessSpec") and spec["reprocessSpec"] not in REPROCESS_SPECS:
        raise SpecError(f"reprocessSpec: must be one of 'until_success' or 'every_job' (got {spec['reprocessSpec']!r})")
    for key in ("podSpec", "podPatch"):
        if spec.get(key):
            try:
                json.loads(spec[key])
            except ValueError:
                raise SpecError(f"{key}: malformed {key[0].upper() + key[1:]} (not valid JSON)") from None
    if "input" not in spec:
        if spec.get("spout") is not None:
            return spec  # pachd: a spout has no input (and this engine refused it above)
        raise SpecError("input: required")
    check_input(spec["input"], "input", engine)
    limits_for(spec, 1)  # resourceLimits' quantities: they become every datum's rlimits
    priority_of(spec)  # the annotation that orders datums for free slots
    check_names(spec["input"], set(), "input")
    refuse_unsupported(spec, pachd_only=not engine)  # after pachd's rules: pachd's reason comes first
    spec["input"] = _fill_defaults(name, spec["input"])
    return spec


def _check_project(project: dict | str | None, where: str) -> None:
    """pipeline.project is a Project message; an input's project is its name (a string)."""
    name = project.get("name") if isinstance(project, dict) else project
    if name not in (None, "", DEFAULT_PROJECT):
        where = f"{where}.name" if isinstance(project, dict) else where
        raise SpecError(f"{where}: {name!r}: the embedded engine has one project, {DEFAULT_PROJECT!r}")


def check_input(node: dict, path: str, engine: bool = False) -> None:
    if not isinstance(node, dict):
        raise SpecError(f"{path}: expected an object")
    kinds = [k for k in INPUT_KINDS if node.get(k) is not None]
    if len(kinds) != 1:
        raise SpecError(f"{path}: exactly one of {', '.join(INPUT_KINDS)} (found {', '.join(kinds) or 'none'})")
    kind = kinds[0]
    if kind == "cron":
        _check_cron(node["cron"], f"{path}.cron", engine)
        return
    if kind == "pfs":
        _check_pfs(node["pfs"], f"{path}.pfs", engine)
        return
    children = node[kind]
    if not children:
        raise SpecError(f"{path}.{kind}: needs at least one input")
    for i, child in enumerate(children):
        check_input(child, f"{path}.{kind}[{i}]", engine)
    if kind in ("join", "group", "union") and any(p.get("s3") for c in children for p in pfs_nodes(c)):
        raise SpecError(f"{path}.{kind}: S3 inputs in {kind} expressions are not supported (pachd refuses them)")


def _check_pfs(pfs: dict, where: str, engine: bool) -> None:
    if not pfs.get("repo"):
        raise SpecError(f"{where}.repo: required (input must specify a repo)")
    if engine:
        _check_project(pfs.get("project"), f"{where}.project")
    if engine and pfs.get("repoType") not in (None, "", "user"):
        raise SpecError(f"{where}.repoType: {pfs['repoType']!r}: only user repos can be read here")
    if pfs["repo"] == "out" and not pfs.get("name"):
        raise SpecError(f"{where}.name: required for a repo named \"out\" (pachd already makes /pfs/out)")
    if not pfs.get("glob") and not pfs.get("s3"):
        raise SpecError(f"{where}.glob: required (input must specify a glob)")
    if pfs.get("s3"):
        if not pfs.get("glob") or clean(pfs["glob"]) != "/":  # pachd: no default glob, even for s3
            raise SpecError(f"{where}.glob: inputs that set 's3' to 'true' must also set 'glob', to \"/\", as the "
                            "S3 gateway is only able to expose data at the commit level")
        for key in ("lazy", "emptyFiles"):
            if pfs.get(key):
                raise SpecError(f"{where}.{key}: input cannot specify both 's3' and '{key}', as 's3' requires input "
                                "data to be accessed via Pachyderm's S3 gateway rather than the file system")
    try:
        rx = compile_glob(pfs.get("glob") or "/")
    except GlobError as e:
        raise SpecError(f"{where}.glob: {e}") from None
    for key in ("joinOn", "groupBy"):
        try:
            wanted = max(template_groups(str(pfs.get(key) or "")), default=0)
        except GlobError as e:
            raise SpecError(f"{where}.{key}: {e}") from None
        if wanted > rx.groups:
            raise SpecError(f"{where}.{key}: {pfs[key]!r} uses capture group ${wanted} but the glob "
                            f"{pfs['glob']!r} has {rx.groups}")
    if pfs.get("trigger"):
        triggers.check(pfs["trigger"], f"{where}.trigger")


def _check_cron(c: dict, where: str, engine: bool) -> None:
    if not c.get("name"):
        raise SpecError(f"{where}.name: required (input must specify a name)")
    if engine:
        _check_project(c.get("project"), f"{where}.project")
    try:
        cron.parse(c.get("spec") or "")
    except cron.CronError as e:
        raise SpecError(f"{where}.spec: error parsing cron-spec: {e}") from None


def input_name(node: dict) -> str | None:
    if "pfs" in node:
        return node["pfs"].get("name") or node["pfs"]["repo"]
    if "cron" in node:
        return node["cron"]["name"]
    return None


def check_names(node: dict, names: set[str], path: str) -> None:
    """pachd's ppsutil.ValidateNames: an input name appears once, except that the inputs
    of a union may share one (a union's datums come from one input at a time)."""
    own = input_name(node)
    if own is not None:
        if own in RESERVED_INPUT_NAMES:
            raise SpecError(f"{path}: input cannot be named {own}")
        if own in names:
            raise SpecError(f"{path}: name \"{own}\" was used more than once; give one input a \"name\"")
        names.add(own)
        return
    for kind in COMBINATORS:
        children = node.get(kind) or []
        if kind == "union":
            seen_in_union: set[str] = set()
            for i, child in enumerate(children):
                branch = set(names)
                check_names(child, branch, f"{path}.union[{i}]")
                seen_in_union |= branch
            names |= seen_in_union
        else:
            for i, child in enumerate(children):
                check_names(child, names, f"{path}.{kind}[{i}]")


def _fill_defaults(pipeline: str, node: dict) -> dict:
    """Globs cleaned; a triggered input without a branch reads `<pipeline>-trigger-<n>`
    (n counts per repo, from 1) that follows `trigger.branch` (default master); a cron
    input's repo defaults to `<pipeline>_<name>`: pachd's setInputDefaults."""
    counts: dict[str, int] = {}
    node = _map_cron(node, lambda c: {"repo": f"{pipeline}_{c['name']}"} | c)

    def fill(p: dict) -> dict:
        if p.get("glob"):
            p["glob"] = clean(p["glob"])
        if p.get("trigger"):
            if not p.get("branch"):
                counts[p["repo"]] = counts.get(p["repo"], 0) + 1
                p["branch"] = f"{pipeline}-trigger-{counts[p['repo']]}"
            p["trigger"] = {"branch": "master"} | {k: v for k, v in p["trigger"].items() if v}
        return p
    return map_pfs(node, fill)


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


def _map_cron(node: dict, f: Callable[[dict], dict]) -> dict:
    if "cron" in node:
        return {**node, "cron": f(dict(node["cron"]))}
    return {k: ([_map_cron(c, f) for c in v] if k in COMBINATORS else v) for k, v in node.items()}


def runnable_input(node: dict) -> dict:
    """The input tree datums come from: a cron input is its tick repo's master with glob
    `/*`, as pachd's createCron makes it."""
    if "cron" in node:
        c = node["cron"]
        return {"pfs": {"name": c["name"], "repo": c["repo"], "branch": "master", "glob": "/*"}}
    return {k: ([runnable_input(c) for c in v] if k in COMBINATORS else v) for k, v in node.items()}


def cron_inputs(node: dict) -> Iterator[dict]:
    if "cron" in node:
        yield node["cron"]
    for key in COMBINATORS:
        for child in node.get(key) or []:
            yield from cron_inputs(child)


def output_branch(spec: dict) -> str:
    return spec.get("outputBranch") or "master"


def pfs_with_defaults(pfs: dict) -> dict:
    """A pfs input as Pachyderm fills it in: name defaults to the repo, branch to master."""
    return {"name": pfs["repo"], "branch": "master"} | pfs


def pfs_inputs(node: dict) -> Iterator[dict]:
    """Every pfs input in an input tree (cron inputs as their tick repos), depth first,
    with Pachyderm's defaults."""
    return (pfs_with_defaults(p) for p in pfs_nodes(runnable_input(node)))


def input_repos(node: dict) -> list[str]:
    return [p["repo"] for p in pfs_nodes(runnable_input(node))]


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

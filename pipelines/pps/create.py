"""create/update pipeline as pachd's CreatePipelineInTransaction does it, on the embedded
store: validate (the effective spec), refuse a name in use, make the cron tick repos, the
input branches a pipeline reads (with their triggers) and its output branch, record the
pipeline, and queue the commit set that runs it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.errors import UsageError
from pipelines.pfs.store import new_id
from pipelines.pps.datums import datums as iterate_datums
from pipelines.pps.executor import input_resolver
from pipelines.pps.spec import (DEFAULT_PROJECT, cron_inputs, output_branch, pfs_inputs, pfs_nodes, runnable_input,
                                validate_spec)

if TYPE_CHECKING:
    from pipelines.pfs.store import Store
    from pipelines.pps.jobstore import JobStore
    from pipelines.scheduler import Scheduler


class PipelineExists(UsageError):
    """create pipeline on a name in use (pachd's ErrPipelineAlreadyExists)."""


def create_pipeline(store: "Store", jobs: "JobStore", scheduler: "Scheduler", spec: dict, *,
                    reprocess: bool = False, update: bool = True) -> tuple[str, int]:
    """Returns (created | updated | unchanged, version). With update=False an existing
    pipeline is an error, as `pachctl create pipeline` (a spec's own `update` wins)."""
    spec = validate_spec(spec, engine=True)
    name = spec["pipeline"]["name"]
    update = bool(spec.pop("update", update))
    reprocess = bool(spec.pop("reprocess", reprocess))
    exists = any(p["name"] == name for p in jobs.pipelines())
    if exists and not update:
        raise PipelineExists(f'pipeline "{DEFAULT_PROJECT}/{name}" already exists (use `update pipeline`)')
    if not exists and store.has_repo(name):
        raise UsageError(f'pipeline "{name}" cannot be created because a repo with the same name already exists')
    crons = {c["repo"] for c in cron_inputs(spec["input"])}
    for p in pfs_inputs(spec["input"]):
        if p["repo"] not in crons:
            store.repo(p["repo"])  # inputs must exist (NotFound names the repo)
    with store.tx():
        for repo in sorted(crons):
            store.create_repo(repo, "user", f"Cron tick repo for pipeline {name}.")
        for p in pfs_nodes(runnable_input(spec["input"])):
            store.create_branch(p["repo"], p.get("branch") or "master", trigger=p.get("trigger"))
        action, version = jobs.put_pipeline(name, spec, reprocess=reprocess)
        store.create_repo(name, "pipeline", spec.get("description", ""))
        _open_output_branch(store, name, spec)
        if action != "unchanged" and dry_run_datums(store, spec):
            scheduler.queue(new_id(), f"pipeline {name} {action}", pipeline=name)
    return action, version


def _open_output_branch(store: "Store", name: str, spec: dict) -> None:
    """pachd makes the output branch at create pipeline, headed by an empty commit, so
    `name@<outputBranch>` (and its S3 bucket) exists before any job."""
    branch = output_branch(spec)
    if store.head(name, branch):
        return
    c = store.start_commit(name, branch, origin="AUTO", copy_parent=False,
                           description=f"output branch of pipeline {name}")
    prov = []
    for p in pfs_inputs(spec["input"]):
        head = store.head(p["repo"], p["branch"])
        if head and (p["repo"], p["branch"], head) not in prov:
            prov.append((p["repo"], p["branch"], head))
    store.finish_commit(name, c.id, provenance=prov)


def dry_run_datums(store: "Store", spec: dict):
    """The datums a spec would get on the current heads of its inputs (`list datum -f`)."""
    inputs = [{"name": i["name"], "repo": i["repo"], "branch": i["branch"],
               "commit": store.head(i["repo"], i["branch"]) if store.has_repo(i["repo"]) else None}
              for i in pfs_inputs(spec["input"])]
    return iterate_datums(runnable_input(spec["input"]), input_resolver(store, inputs))

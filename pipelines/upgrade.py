"""A home written by an earlier version of pachmedia's DAG, brought up to date when it is
opened (or refused with one clear line when a newer pachmedia wrote it).

A home records the DAG version it was made or last upgraded to (app.DAG_VERSION; none
recorded: 0). Each step below adds what that version brought to pachmedia's own DAG, and
only to it: a home without pachmedia's pipelines, or whose pipeline of that name is not
pachmedia's spec, is left as it is (a user's own pipelines are never touched). Each step is
idempotent, and the version is recorded last, so a step cut short is done again. Nothing
done is reprocessed beyond what the new pipeline needs: the settings file added is read by
no existing pipeline, so their jobs skip every datum.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pipelines.app import DAG_VERSION
from pipelines.errors import PachmediaError
from pipelines.pps.spec import COMBINATORS, pfs_nodes, validate_spec

if TYPE_CHECKING:
    from pipelines.engine import Engine
    from pipelines.pps.jobstore import JobStore

# The pipelines every home pachmedia made has had (init, demo).
OWN_PIPELINES = ("scan", "probe", "transcode", "labels", "catalog")


def refuse_newer(jobs: "JobStore") -> None:
    version = jobs.dag_version()
    if version > DAG_VERSION:
        raise PachmediaError(f"this home was written by a newer pachmedia (its DAG is version {version}, this "
                             f"pachmedia knows up to {DAG_VERSION}): open it with that version or a later one")


def upgrade(e: "Engine") -> list[str]:
    """Bring the home's DAG to DAG_VERSION; one line per step that changed something."""
    if e.jobs.dag_version() >= DAG_VERSION:
        return []
    with e.store.tx():  # one process upgrades; another opening the home meanwhile waits, then finds it done
        if e.jobs.dag_version() >= DAG_VERSION:
            return []
        lines = [line for line in [_add_preview(e)] if line]
        e.jobs.set_dag_version(DAG_VERSION)
    return lines


def _add_preview(e: "Engine") -> str | None:
    """Version 1: the preview pipeline (one fast rendition ahead of the ladder), its settings
    file, and the catalog's join of it."""
    names = {p["name"] for p in e.jobs.pipelines()}
    if not set(OWN_PIPELINES) <= names or "preview" in names or e.store.has_repo("preview") \
            or not e.store.has_repo("settings"):
        return None
    specs = e.load_specs()
    if "preview" not in specs:
        return None
    added = ["pipeline preview"]
    head = e.store.head("settings")
    if head is None or e.store.file("settings", head, "/preview.json") is None:  # only this step's file
        from stages.common import DEFAULTS_DIR
        e.put_files("settings", "master", [("/preview.json", DEFAULTS_DIR / "preview.json")],
                    description="default settings of the preview pipeline (a newer pachmedia's)")
        added.append("settings/preview.json")
    e.create_pipeline(specs["preview"])
    catalog = e.jobs.pipeline("catalog")["spec"]
    if "catalog" in specs and _same(catalog, _without_repo(specs["catalog"], "preview")):
        e.create_pipeline(specs["catalog"])
        added.append("the catalog's join of it")
        note = ""
    else:
        note = "; catalog left as it is (not pachmedia's spec): its records will not list previews"
    return (f"upgraded this home (made before pachmedia's preview): added {', '.join(added)}{note}; "
            "the next run makes the previews of what is there")


def _without_repo(spec: dict, repo: str) -> dict:
    """The spec with the join/cross/union member reading `repo` left out (its earlier form)."""
    spec = json.loads(json.dumps(spec))

    def drop(node: dict) -> dict:
        for kind in COMBINATORS:
            if kind in node:
                node[kind] = [drop(c) for c in node[kind] if not any(p.get("repo") == repo for p in pfs_nodes(c))]
        return node
    spec["input"] = drop(spec["input"])
    return spec


def _same(a: dict, b: dict) -> bool:
    """Two specs mean the same pipeline (descriptions aside), as the engine validates them now."""
    def effective(s: dict) -> str:
        s = validate_spec({k: v for k, v in s.items() if k != "description"}, engine=True)
        return json.dumps(s, sort_keys=True)
    return effective(a) == effective(b)

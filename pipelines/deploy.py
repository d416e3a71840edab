"""Deploy to a real Pachyderm with pachyderm-sdk: project, input repos, default settings,
and every pipeline in DAG order, from the same specs the embedded engine runs, strictly
validated first. Idempotent: a pipeline whose spec is unchanged is left alone."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import SPECS_DIR
from .engine import INPUT_REPOS, SETTINGS_FILES
from .errors import ServiceError, SpecError
from .images import with_images
from .spec import dag_order, load_specs


@dataclass(frozen=True)
class Change:
    kind: str      # project | repo | settings | pipeline
    name: str
    action: str    # created | updated | unchanged | committed

    def __str__(self) -> str:
        return f"{self.action} {self.kind} {self.name}"


def for_project(spec: dict, project: str) -> dict:
    """The spec with its pipeline and every pfs input in `project`."""
    spec = json.loads(json.dumps(spec))
    spec["pipeline"]["project"] = {"name": project}

    def walk(node: dict) -> None:
        if "pfs" in node:
            node["pfs"]["project"] = project
        for k in ("cross", "union", "join", "group"):
            for child in node.get(k) or []:
                walk(child)
    walk(spec["input"])
    return spec


def canonical(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def plan(specs: dict[str, dict], deployed: dict[str, str | None], reprocess: bool = False) -> list[Change]:
    """Pure: what deploy does to each pipeline given the deployed user specs (JSON or None)."""
    out = []
    for name in dag_order(specs):
        old = deployed.get(name)
        if old is None:
            out.append(Change("pipeline", name, "created"))
        elif reprocess or canonical(json.loads(old)) != canonical(specs[name]):
            out.append(Change("pipeline", name, "updated"))
        else:
            out.append(Change("pipeline", name, "unchanged"))
    return out


def connect(address: str, timeout: float = 10.0):
    import grpc
    from pachyderm_sdk import Client
    try:
        client = Client.from_pachd_address(address)
        grpc.channel_ready_future(client._channel).result(timeout=timeout)
        client.get_version()
        return client
    except ValueError as e:
        raise ServiceError(f"bad pachd address {address!r}: {e}") from None
    except grpc.FutureTimeoutError:
        raise ServiceError(f"cannot reach pachd at {address}: no connection within {timeout:g}s "
                           "(is it running? `pachctl port-forward`, or the NodePort 30650)") from None
    except (grpc.RpcError, OSError) as e:
        detail = e.details() if isinstance(e, grpc.RpcError) else str(e)
        raise ServiceError(f"cannot reach pachd at {address}: {detail}") from None


def deploy(address: str, project: str = "default", specs_dir: Path = SPECS_DIR, *, reprocess: bool = False,
           dry_run: bool = False, image_prefix: str | None = None,
           say: Callable[[str], None] = print) -> list[Change]:
    import grpc
    from pachyderm_sdk.api import pfs, pps
    specs = {n: for_project(with_images(s, image_prefix), project) for n, s in load_specs(specs_dir).items()}
    client = connect(address)
    changes: list[Change] = []
    proj = pfs.Project(name=project)
    try:
        if not client.pfs.project_exists(proj):
            changes.append(Change("project", project, "created"))
            if not dry_run:
                client.pfs.create_project(project=proj, description="pachmedia")
        for repo, desc in INPUT_REPOS.items():
            r = pfs.Repo(name=repo, project=proj, type="user")
            if not client.pfs.repo_exists(r):
                changes.append(Change("repo", repo, "created"))
                if not dry_run:
                    client.pfs.create_repo(repo=r, description=desc)
        changes += _settings(client, proj, dry_run)
        deployed = {}
        for name in specs:
            try:
                info = client.pps.inspect_pipeline(pipeline=pps.Pipeline(name=name, project=proj), details=True)
                deployed[name] = info.user_spec_json or None
            except grpc.RpcError:
                deployed[name] = None
        for ch in plan(specs, deployed, reprocess):
            changes.append(ch)
            if ch.action != "unchanged" and not dry_run:
                try:
                    client.pps.create_pipeline_v2(create_pipeline_request_json=json.dumps(specs[ch.name]),
                                                  update=ch.action == "updated", reprocess=reprocess)
                except grpc.RpcError as e:
                    raise SpecError(f"pachd refused pipeline {ch.name}: {e.details()}") from None
    except grpc.RpcError as e:
        raise ServiceError(f"pachd at {address}: {e.details()}") from None
    for ch in changes:
        say(("would be " if dry_run else "") + str(ch))
    return changes


def _settings(client, proj, dry_run: bool) -> list[Change]:
    """Commit default settings files that the settings repo does not have yet."""
    from pachyderm_sdk.api import pfs
    from stages.common import DEFAULTS_DIR
    branch = pfs.Branch(repo=pfs.Repo(name="settings", project=proj, type="user"), name="master")
    missing = []
    for kind in SETTINGS_FILES:
        path = f"/{kind}.json"
        exists = False
        try:
            exists = client.pfs.path_exists(file=pfs.File(commit=pfs.Commit(branch=branch), path=path))
        except Exception:  # no commit on the branch yet
            exists = False
        if not exists:
            missing.append(path)
    if missing and not dry_run:
        with client.pfs.commit(branch=branch) as c:
            for path in missing:
                with open(DEFAULTS_DIR / path.lstrip("/"), "rb") as f:
                    c.put_file_from_file(path=path, file=f)
    return [Change("settings", p, "committed") for p in missing]

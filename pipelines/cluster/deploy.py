"""Deploy to a real Pachyderm with pachyderm-sdk: project, input repos, default settings,
and every pipeline in DAG order, from the same specs the embedded engine runs, strictly
validated first. Idempotent: a pipeline whose spec is unchanged is left alone.

Specs are validated as pachd validates them (the schema, pachd's own rules), not at the
embedded engine's strength: the cluster decides what it runs. A field the embedded engine
refuses (pps/fields.py) gets a note under its pipeline's line instead, so the user knows
that spec deploys but would not run on this machine."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipelines import SPECS_DIR
from pipelines.app import INPUT_REPOS, SETTINGS_FILES
from pipelines.errors import ServiceError, SpecError
from pipelines.cluster.images import with_images
from pipelines.pps.fields import engine_refusals
from pipelines.pps.spec import dag_order, load_specs, map_pfs


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
    spec["input"] = map_pfs(spec["input"], lambda p: p | {"project": project})
    return spec


def canonical(spec: dict | str) -> str:
    """A spec as pachd compares it: parsed into the CreatePipelineRequest message, so key
    order, int64-as-string ("3" vs 3) and defaults pachd writes back do not count."""
    from pachyderm_sdk.api import pps
    text = spec if isinstance(spec, str) else json.dumps(spec)
    return json.dumps(pps.CreatePipelineRequest().from_json(text).to_dict(), sort_keys=True, separators=(",", ":"))


def plan(specs: dict[str, dict], deployed: dict[str, str | None], reprocess: bool = False) -> list[Change]:
    """Pure: what deploy does to each pipeline given the deployed user specs (JSON or None)."""
    out = []
    for name in dag_order(specs):
        old = deployed.get(name)
        if old is None:
            out.append(Change("pipeline", name, "created"))
        elif reprocess or canonical(old) != canonical(specs[name]):
            out.append(Change("pipeline", name, "updated"))
        else:
            out.append(Change("pipeline", name, "unchanged"))
    return out


def engine_notes(specs: dict[str, dict]) -> dict[str, list[str]]:
    """Pure: per pipeline, one line per field the embedded engine refuses (pachd accepts it)."""
    return {name: [f"note: pipeline {name}: {where}: the embedded engine refuses it ({why}); pachd accepts it"
                   for where, why in engine_refusals(spec)] for name, spec in specs.items()}


def _wait_for_channel(channel, timeout: float) -> str:
    """READY, TRANSIENT_FAILURE (refused, no route, bad name: known within a second) or
    TIMEOUT (a black-holed address) -- not channel_ready_future, which retries a refused
    connection with backoff until the whole timeout has passed."""
    import threading

    import grpc
    done, last = threading.Event(), []

    def seen(state) -> None:
        last.append(state)
        if state in (grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.TRANSIENT_FAILURE):
            done.set()
    channel.subscribe(seen, try_to_connect=True)
    try:
        done.wait(timeout)
    finally:
        channel.unsubscribe(seen)
    return last[-1].name if done.is_set() else "TIMEOUT"


def connect(address: str, timeout: float = 10.0):
    import grpc
    from pachyderm_sdk import Client
    try:
        client = Client.from_pachd_address(address)
    except ValueError as e:
        raise ServiceError(f"bad pachd address {address!r}: {e}") from None
    state = _wait_for_channel(client._channel, timeout)
    if state != "READY":
        client._channel.close()  # else grpc's connectivity poller keeps the interpreter from exiting
    if state == "TIMEOUT":
        raise ServiceError(f"cannot reach pachd at {address}: no connection within {timeout:g}s "
                           "(is it running? `pachctl port-forward`, or the NodePort 30650)")
    if state != "READY":
        raise ServiceError(f"cannot reach pachd at {address}: connection failed "
                           "(is it running? `pachctl port-forward`, or the NodePort 30650)")
    try:
        client.get_version()
    except (grpc.RpcError, OSError) as e:
        detail = e.details() if isinstance(e, grpc.RpcError) else str(e)
        raise ServiceError(f"cannot reach pachd at {address}: {detail}") from None
    return client


def deploy(address: str | None, project: str = "default", specs_dir: Path = SPECS_DIR, *, reprocess: bool = False,
           dry_run: bool = False, image_prefix: str | None = None,
           say: Callable[[str], None] = print) -> list[Change]:
    """Make the cluster match the specs, saying each change as it is made (so a failure
    half-way still shows what was done), with a note per field the embedded engine would
    refuse. `dry_run` changes nothing: against a cluster, pachd itself checks each updated
    pipeline (CreatePipelineV2 dry_run); with no address it plans against an empty cluster."""
    specs = {n: for_project(with_images(s, image_prefix), project)
             for n, s in load_specs(specs_dir, engine=False).items()}  # as pachd validates: the cluster decides
    notes = engine_notes(specs)
    changes: list[Change] = []

    def change(ch: Change) -> None:
        changes.append(ch)
        say(("would be " if dry_run else "") + str(ch))
        for line in notes.get(ch.name, []) if ch.kind == "pipeline" else []:
            say(line)
    if address is None:
        if not dry_run:
            raise ServiceError("no pachd address: give --pachd grpc://HOST:30650 (or set PACHD_ADDRESS)")
        say("no pachd given: planning against an empty cluster (specs validated as pachd validates them)")
        for ch in [Change("project", project, "created")] + [Change("repo", r, "created") for r in INPUT_REPOS] \
                + [Change("settings", f"/{k}.json", "committed") for k in SETTINGS_FILES] + plan(specs, {}):
            change(ch)
        return changes
    client = connect(address)
    try:
        _apply(client, address, project, specs, reprocess, dry_run, change)
    finally:
        client._channel.close()  # an open channel's __del__ can hang the interpreter's exit (grpc 1.85)
    return changes


def _apply(client, address: str, project: str, specs: dict[str, dict], reprocess: bool, dry_run: bool,
           change: Callable[[Change], None]) -> None:
    import grpc
    from pachyderm_sdk.api import pfs, pps
    proj = pfs.Project(name=project)
    try:
        if not client.pfs.project_exists(proj):
            if not dry_run:
                client.pfs.create_project(project=proj, description="pachmedia")
            change(Change("project", project, "created"))
        for repo, desc in INPUT_REPOS.items():
            r = pfs.Repo(name=repo, project=proj, type="user")
            if not client.pfs.repo_exists(r):
                if not dry_run:
                    client.pfs.create_repo(repo=r, description=desc)
                change(Change("repo", repo, "created"))
        for ch in _settings(client, proj, dry_run):
            change(ch)
        deployed = {}
        for name in specs:
            try:
                info = client.pps.inspect_pipeline(pipeline=pps.Pipeline(name=name, project=proj), details=True)
                deployed[name] = info.user_spec_json or None
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND and "not found" not in (e.details() or ""):
                    raise
                deployed[name] = None
        for ch in plan(specs, deployed, reprocess):
            # a dry run lets pachd check updates; a new pipeline's input repos may not exist yet
            if ch.action == "updated" or (ch.action == "created" and not dry_run):
                try:
                    client.pps.create_pipeline_v2(create_pipeline_request_json=json.dumps(specs[ch.name]),
                                                  dry_run=dry_run, update=ch.action == "updated",
                                                  reprocess=reprocess)
                except grpc.RpcError as e:
                    raise SpecError(f"pachd refused pipeline {ch.name}: {e.details()}") from None
            change(ch)
    except grpc.RpcError as e:
        raise ServiceError(f"pachd at {address}: {e.details()}") from None


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

"""deploy's pure planning, project rewriting, and a clear error for an unreachable pachd."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from pipelines import SPECS_DIR
from pipelines.cluster.deploy import connect, deploy, for_project, plan
from pipelines.errors import ServiceError, SpecError
from pipelines.pps.fields import FIELDS
from pipelines.pps.spec import load_specs, validate_spec
from tests.fixtures.pachd import serving

pytestmark = pytest.mark.media

SPECS = load_specs(SPECS_DIR)


def test_plan_creates_updates_and_leaves_alone():
    deployed = {"scan": json.dumps(SPECS["scan"]), "probe": json.dumps(SPECS["probe"] | {"datumTries": 9})}
    got = {c.name: c.action for c in plan(SPECS, deployed)}
    assert got == {"scan": "unchanged", "probe": "updated", "preview": "created", "labels": "created",
                   "transcode": "created", "catalog": "created"}
    assert [c.name for c in plan(SPECS, {})] == ["scan", "probe", "preview", "transcode", "labels", "catalog"]
    assert {c.action for c in plan(SPECS, {n: json.dumps(s) for n, s in SPECS.items()}, reprocess=True)} == {"updated"}


def test_key_order_does_not_count_as_a_change():
    reordered = json.dumps(dict(reversed(list(SPECS["scan"].items()))))
    assert [c.action for c in plan({"scan": SPECS["scan"]}, {"scan": reordered})] == ["unchanged"]


def test_for_project_moves_pipeline_and_inputs_and_stays_valid():
    spec = for_project(SPECS["probe"], "media-team")
    validate_spec(spec)
    assert spec["pipeline"]["project"] == {"name": "media-team"}
    assert "media-team" in json.dumps(spec["input"]) and SPECS["probe"]["pipeline"]["project"]["name"] == "default"


def test_pachd_writing_numbers_as_strings_is_not_a_change():
    # pachd hands back user_spec_json in protojson: int64 as strings, its own key order
    echoed = json.loads(json.dumps(SPECS["scan"]))
    echoed["datumTries"] = str(echoed["datumTries"])
    echoed["parallelismSpec"]["constant"] = "1"
    assert [c.action for c in plan({"scan": SPECS["scan"]}, {"scan": json.dumps(echoed)})] == ["unchanged"]


def cluster_scan(folder, transform: dict | None = None, **fields) -> "os.PathLike":
    """A specs folder holding scan's spec with `fields` added (and `transform` merged into its transform)."""
    spec = json.loads((SPECS_DIR / "scan.json").read_text()) | fields
    spec["transform"] |= transform or {}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scan.json").write_text(json.dumps(spec))
    return folder


def test_deploy_validates_as_pachd_and_notes_each_field_the_engine_refuses(tmp_path):
    """A spec meant for a cluster (egress, Kubernetes secrets) deploys: the cluster decides, and
    each field the embedded engine would refuse gets a note naming its key path."""
    specs = cluster_scan(tmp_path / "specs", egress={"URL": "s3://bucket/dir"},
                         transform={"secrets": [{"name": "clamd-key", "envVar": "KEY", "key": "k"}]})
    lines: list[str] = []
    changes = deploy(None, specs_dir=specs, dry_run=True, say=lines.append)
    assert [(c.kind, c.name, c.action) for c in changes if c.kind == "pipeline"] == [("pipeline", "scan", "created")]
    at = lines.index("would be created pipeline scan")
    why = {k: FIELDS[m][k.split(".")[-1]].note for m, k in (("Transform", "transform.secrets"),
                                                             ("CreatePipelineRequest", "egress"))}
    assert lines[at + 1:] == [f"note: pipeline scan: {k}: the embedded engine refuses it ({why[k]}); pachd accepts it"
                              for k in ("transform.secrets", "egress")]  # in the spec's order
    assert not any(ln.startswith("note:") for ln in lines[:at])


@pytest.mark.parametrize("fields,message", [
    pytest.param({"tfJob": {"tfJob": "{}"}}, "tfJob: pachd itself refuses it", id="pachd-refuses-tfJob"),
    pytest.param({"datumTimeout": "1h"}, "datumTimeout", id="duration-not-protojson"),
    pytest.param({"transfrom": {}}, "transfrom: unknown key", id="unknown-key"),
])
def test_deploy_still_refuses_what_pachd_refuses(tmp_path, fields, message):
    with pytest.raises(SpecError, match=message):
        deploy(None, specs_dir=cluster_scan(tmp_path / "specs", **fields), dry_run=True, say=lambda line: None)


def test_the_pachd_decides_a_dry_run_of_an_update(tmp_path):
    """Against a pachd (the local one: the embedded engine behind pachd's API), a spec with a
    field it refuses reaches it and is refused by it, named as pachd's answer."""
    with serving(tmp_path / "pachd-home", "--empty") as server:
        deploy(server.address, specs_dir=cluster_scan(tmp_path / "plain"), say=lambda line: None)
        lines: list[str] = []
        with pytest.raises(SpecError, match=r"^pachd refused pipeline scan: .*egress"):
            deploy(server.address, specs_dir=cluster_scan(tmp_path / "egress", egress={"URL": "s3://bucket/dir"}),
                   dry_run=True, say=lines.append)
        assert not any("pipeline" in ln for ln in lines)  # refused before it was reported as would-be updated


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed once we leave: nothing listens there


def test_refused_pachd_is_one_clear_error_not_a_timeout():
    port = _closed_port()
    with pytest.raises(ServiceError) as err:
        connect(f"grpc://127.0.0.1:{port}", timeout=60)
    # refused is known at once: the error is "connection failed", not the timeout's message
    assert str(err.value).startswith(f"cannot reach pachd at grpc://127.0.0.1:{port}: connection failed")
    with pytest.raises(ServiceError, match="bad pachd address"):
        connect("ftp://nowhere")


def test_silent_pachd_times_out_with_the_timeout_named():
    # a socket that accepts TCP but never speaks HTTP/2: what a black-holed address looks like
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        with pytest.raises(ServiceError, match=r"no connection within 1s"):
            connect(f"grpc://127.0.0.1:{s.getsockname()[1]}", timeout=1)


def _deploy_cli(*args: str, tmp_path) -> subprocess.CompletedProcess:
    env = os.environ | {"PACHMEDIA_HOME": str(tmp_path / "home")}
    env.pop("PACHD_ADDRESS", None)
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "deploy", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_cli_unreachable_pachd_exits_1_with_one_line(tmp_path):
    # _deploy_cli's timeout fails the test if the process does not exit (a grpc thread holding it)
    r = _deploy_cli("--pachd", f"grpc://127.0.0.1:{_closed_port()}", tmp_path=tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: cannot reach pachd at")


def test_cli_dry_run_without_pachd_plans_against_an_empty_cluster(tmp_path):
    r = _deploy_cli("--dry-run", "--project", "team", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("no pachd given")
    assert "would be created project team" in lines
    assert [ln.split()[-1] for ln in lines if " pipeline " in ln] == ["scan", "probe", "preview", "transcode", "labels", "catalog"]
    no_address = _deploy_cli(tmp_path=tmp_path)
    assert no_address.returncode == 2 and "--pachd" in no_address.stderr

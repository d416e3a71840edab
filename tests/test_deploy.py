"""deploy's pure planning, project rewriting, and a clear error for an unreachable pachd."""
from __future__ import annotations

import json
import socket
import time

import pytest

from pipelines import SPECS_DIR
from pipelines.deploy import canonical, connect, for_project, plan
from pipelines.errors import ServiceError
from pipelines.spec import load_specs, validate_spec

SPECS = load_specs(SPECS_DIR)


def test_plan_creates_updates_and_leaves_alone():
    deployed = {"scan": json.dumps(SPECS["scan"]), "probe": json.dumps(SPECS["probe"] | {"datumTries": 9})}
    got = {c.name: c.action for c in plan(SPECS, deployed)}
    assert got == {"scan": "unchanged", "probe": "updated", "labels": "created", "transcode": "created",
                   "catalog": "created"}
    assert [c.name for c in plan(SPECS, {})] == ["scan", "probe", "labels", "transcode", "catalog"]
    assert {c.action for c in plan(SPECS, {n: json.dumps(s) for n, s in SPECS.items()}, reprocess=True)} == {"updated"}


def test_key_order_does_not_count_as_a_change():
    reordered = json.dumps(dict(reversed(list(SPECS["scan"].items()))))
    assert [c.action for c in plan({"scan": SPECS["scan"]}, {"scan": reordered})] == ["unchanged"]


def test_for_project_moves_pipeline_and_inputs_and_stays_valid():
    spec = for_project(SPECS["probe"], "media-team")
    validate_spec(spec)
    assert spec["pipeline"]["project"] == {"name": "media-team"}
    assert "media-team" in canonical(spec["input"]) and SPECS["probe"]["pipeline"]["project"]["name"] == "default"


def test_unreachable_pachd_is_one_clear_error_fast():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: nothing listens there
    t = time.monotonic()
    with pytest.raises(ServiceError) as err:
        connect(f"grpc://127.0.0.1:{port}", timeout=3)
    assert time.monotonic() - t < 10
    assert str(err.value).startswith(f"cannot reach pachd at grpc://127.0.0.1:{port}")
    with pytest.raises(ServiceError, match="bad pachd address"):
        connect("ftp://nowhere")

"""No upload can stop the others, as a property: valid files of every kind (video, audio, each
still format) mutated, truncated, spliced and given headers that lie about their sizes never
fail a stage (a datum) and never fail a job; each gets a record, and a good upload committed
beside them reaches the catalog `ready`.

Two levels: the stages in-process on one mutated file at a time (many examples, cheap), and
the whole DAG on the embedded engine with several mutated files and a good one in one commit
(few examples: each runs every pipeline). The `slow` variants run more examples. All are
derandomized (tests/fixtures/fuzz.py): CI runs the same cases every time and a failure
reproduces; PACHMEDIA_FUZZ_RANDOM=1 draws fresh ones."""
from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipelines.engine import Engine
from stages import catalog, labels, probe, transcode
from stages.common import Progress, content_or_record, default_settings
from stages.core import records
from tests.fixtures.fuzz import DERANDOMIZE
from tests.fixtures.hostile import make_corpus, mutation_strategy

pytestmark = pytest.mark.media

POLICY = default_settings("policy")
TRANSCODE = default_settings("transcode") | {"rungs": [{"height": 240, "maxrate_kbps": 400}]}
LABELS = default_settings("labels")
QUICK = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck))
THOROUGH = settings(max_examples=40, deadline=None, derandomize=DERANDOMIZE, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, bytes]:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def through_the_stages(path: Path, out: Path) -> str:
    """probe, then transcode and labels if it is valid, then the catalog record, each as its
    program would run (a rejection is a record); returns the catalog status. Any exception
    here is what would fail a datum."""
    rec = probe.probe_file(path, POLICY)
    records.validate("probe", rec)
    made = {}
    if rec["status"] == "valid":
        for stage, work, cfg in (("transcode", transcode.transcode, TRANSCODE), ("labels", labels.label, LABELS)):
            result = content_or_record(stage, out / stage, path.name,
                                       lambda: work(path, rec, cfg, out / stage, Progress()))
            records.validate("rejection" if result.get("status") == "rejected" else stage, result)
            made[stage] = result
    scan = {"verdict": "clean", "sha256": rec["sha256"], "name": path.name}
    cat = catalog.build_record(path.name, scan, rec, made.get("transcode"), made.get("labels"), [], {}, None,
                               records.utc_now())
    records.validate("catalog", cat)
    return cat["status"]


def stage_property(corpus, data):
    name, blob = data.draw(mutation_strategy(corpus), label="upload")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m" / f"upload{Path(name).suffix}"
        path.parent.mkdir()
        path.write_bytes(blob)
        status = through_the_stages(path, Path(d) / "out")
    event(f"{Path(name).suffix} -> {status}")  # --hypothesis-show-statistics: what the examples became
    assert status in ("ready", "rejected")


@QUICK
@given(data=st.data())
def test_no_stage_fails_on_a_mutated_upload(corpus, data):
    stage_property(corpus, data)


@pytest.mark.slow
@THOROUGH
@given(data=st.data())
def test_no_stage_fails_on_a_mutated_upload_thoroughly(corpus, data):
    stage_property(corpus, data)


# --- the whole DAG -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def dag(tmp_path_factory, corpus):
    """One engine for every example (each commit adds new names, so only they are processed),
    with a one-rung ladder to keep transcodes short."""
    d = tmp_path_factory.mktemp("fuzz-dag")
    e = Engine(d / "home")
    (d / "transcode.json").write_text(json.dumps(TRANSCODE))
    e.put_files("settings", "master", [("/transcode.json", d / "transcode.json")])
    e.run(show_progress=False)
    yield e, d, itertools.count()
    e.close()


def catalog_by_name(e: Engine) -> dict[str, dict]:
    out = {}
    for f in e.store.files("catalog", e.store.head("catalog")):
        with e.store.objects.open(f.hash) as fh:
            rec = json.loads(fh.read())
        out[rec["name"]] = rec
    return out


def dag_property(dag, corpus, data):
    e, d, counter = dag
    n = next(counter)
    uploads = data.draw(st.lists(mutation_strategy(corpus), min_size=2, max_size=3), label="uploads")
    folder = d / f"commit-{n}"
    folder.mkdir()
    items = []
    for i, (name, blob) in enumerate(uploads):
        path = folder / f"x{n}-{i}{Path(name).suffix}"
        path.write_bytes(blob)
        items.append((f"/{path.name}", path))
    good = folder / f"good-{n}.png"
    good.write_bytes(corpus["still.png"])
    items.append((f"/{good.name}", good))
    e.put_files("media", "master", items)
    jobs = e.run(show_progress=False)
    assert [(j.pipeline, j.state) for j in jobs if j.state != "JOB_SUCCESS"] == []
    found = catalog_by_name(e)
    for path, _ in items:
        assert path[1:] in found, f"{path} has no catalog record"
    assert found[good.name]["status"] == "ready", found[good.name]


@settings(max_examples=2, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_uploads_never_fail_a_job_and_a_good_one_is_ready(dag, corpus, data):
    dag_property(dag, corpus, data)


@pytest.mark.slow
@settings(max_examples=5, deadline=None, derandomize=DERANDOMIZE, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_uploads_never_fail_a_job_thoroughly(dag, corpus, data):
    dag_property(dag, corpus, data)

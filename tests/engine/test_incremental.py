"""Pachyderm's incremental semantics on the embedded engine: skip, reprocess on change,
delete, duplicate paths, retries, failure, settings-only re-runs, lineage."""
from __future__ import annotations

import pytest

from pipelines.errors import InvalidName, NotFound, UsageError
from pipelines.pps.lineage import trace

from .helpers import counts, logged, new_engine, pfs, put, sh_spec, tree

pytestmark = pytest.mark.unit

COPY = 'cp "$in" /pfs/out/"$(basename "$in")".out'


@pytest.fixture
def eng(tmp_path):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("copy", pfs("in", "/*"), COPY))
    yield e
    e.close()


def test_first_run_processes_every_datum_then_nothing(eng, tmp_path):
    put(eng, "in", {"/a": b"A", "/b": b"B", "/c": b"C"}, tmp_path / "s")
    jobs = eng.run(show_progress=False)
    assert [(j.pipeline, counts(j)) for j in jobs] == [("copy", (3, 0, 0))]
    assert tree(eng, "copy") == {"/a.out": b"A", "/b.out": b"B", "/c.out": b"C"}
    assert eng.run(show_progress=False) == []


def test_new_changed_and_deleted_inputs(eng, tmp_path):
    put(eng, "in", {"/a": b"A", "/b": b"B", "/c": b"C"}, tmp_path / "s")
    eng.run(show_progress=False)
    put(eng, "in", {"/d": b"D"}, tmp_path / "s")
    [job] = eng.run(show_progress=False)
    assert counts(job) == (1, 3, 0)
    put(eng, "in", {"/a": b"A2"}, tmp_path / "s")
    [job] = eng.run(show_progress=False)
    assert counts(job) == (1, 3, 0)
    why = {d.id: d.why for d in eng.jobs.datums("copy", job.id, state="SUCCESS")}
    assert list(why.values()) == [{"reason": "changed", "inputs": ["in:/a"], "removed": []}]
    put(eng, "in", {}, tmp_path / "s", deletes=["/b"])
    [job] = eng.run(show_progress=False)
    assert counts(job) == (0, 3, 0)
    assert tree(eng, "copy") == {"/a.out": b"A2", "/c.out": b"C", "/d.out": b"D"}


def test_same_content_under_a_new_name_is_a_new_datum(eng, tmp_path):
    put(eng, "in", {"/a": b"same"}, tmp_path / "s")
    eng.run(show_progress=False)
    put(eng, "in", {"/b": b"same"}, tmp_path / "s")
    [job] = eng.run(show_progress=False)
    assert counts(job) == (1, 1, 0)


def test_two_datums_writing_one_path_fail_the_job(tmp_path):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("clash", pfs("in", "/*"), "echo x > /pfs/out/same"))
    put(e, "in", {"/a": b"A", "/b": b"B"}, tmp_path / "s")
    [job] = e.run(show_progress=False)
    assert job.state == "JOB_FAILURE"
    assert job.reason.startswith("duplicate path output by different datums (/same from ")
    assert e.store.head("clash") != job.id and tree(e, "clash") == {}  # nothing half-made became visible


def test_failed_datum_fails_job_keeps_previous_head_and_retries_next_time(tmp_path):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("picky", pfs("in", "/*"),
                              'grep -q bad "$in" && { echo "refusing $in" >&2; exit 3; }; cp "$in" /pfs/out/'))
    put(e, "in", {"/a": b"good"}, tmp_path / "s")
    e.run(show_progress=False)
    good_head = e.store.head("picky")
    put(e, "in", {"/b": b"bad"}, tmp_path / "s")
    [job] = e.run(show_progress=False)
    assert job.state == "JOB_FAILURE" and counts(job) == (0, 1, 1)
    assert "exit status 3" in job.reason and "refusing" in job.reason
    assert e.store.head("picky") == good_head
    put(e, "in", {"/b": b"fixed"}, tmp_path / "s")
    [job] = e.run(show_progress=False)
    assert job.state == "JOB_SUCCESS" and counts(job) == (1, 1, 0)


def test_datum_tries_retry_a_flaky_datum(tmp_path, monkeypatch):
    monkeypatch.setenv("PACHMEDIA_SANDBOX", "folder")  # no namespaces: the marker on the host outlives a try
    marker = tmp_path / "tried"
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("flaky", pfs("in", "/*"),
                              f'if [ ! -e {marker} ]; then touch {marker}; exit 1; fi; cp "$in" /pfs/out/',
                              datumTries=2))
    put(e, "in", {"/a": b"A"}, tmp_path / "s")
    [job] = e.run(show_progress=False)
    assert job.state == "JOB_SUCCESS"
    [d] = e.jobs.datums("flaky", job.id)
    assert d.tries == 2


def test_settings_commit_reruns_only_the_pipeline_reading_that_file(tmp_path):
    e = new_engine(tmp_path, "media", "settings")
    put(e, "settings", {"/a.json": b"1", "/b.json": b"1"}, tmp_path / "s")
    for name, f in (("usesa", "/a.json"), ("usesb", "/b.json")):
        e.create_pipeline(sh_spec(name, {"cross": [pfs("media", "/*"), pfs("settings", f)]},
                                  'cat "$media" "$settings" > /pfs/out/"$(basename "$media")"'))
    put(e, "media", {"/x": b"X", "/y": b"Y"}, tmp_path / "s")
    e.run(show_progress=False)
    put(e, "settings", {"/a.json": b"2"}, tmp_path / "s")
    jobs = {j.pipeline: counts(j) for j in e.run(show_progress=False)}
    assert jobs == {"usesa": (2, 0, 0), "usesb": (0, 2, 0)}
    assert tree(e, "usesa") == {"/x": b"X2", "/y": b"Y2"}


def test_chained_pipelines_share_the_commit_set_and_trace_lineage(tmp_path):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("first", pfs("in", "/*"), COPY))
    e.create_pipeline(sh_spec("second", pfs("first", "/*"), 'cp "$first" /pfs/out/"$(basename "$first")".2'))
    cid = put(e, "in", {"/a": b"A"}, tmp_path / "s")
    jobs = e.run(show_progress=False)
    assert [(j.pipeline, j.id) for j in jobs] == [("first", cid), ("second", cid)]
    node = trace(e, "second", cid, "/a.out.2")
    [src] = node.sources()
    assert (src.repo, src.commit, src.path) == ("in", cid, "/a")
    assert node.inputs[0].repo == "first" and node.inputs[0].path == "/a.out"


def test_unsafe_names_are_refused_before_anything_is_committed(tmp_path):
    e = new_engine(tmp_path, "media")
    for bad in ("/../x", "/a\nb", "/a\x00b", "/" + "n" * 256, "/dir/x.mp4"):
        with pytest.raises(InvalidName):
            put(e, "media", {bad: b"x"}, tmp_path / "s")
    assert e.store.commits("media") == []


def test_output_repos_refuse_writes_and_unknown_repos_are_named(eng, tmp_path):
    with pytest.raises(UsageError, match="output of pipeline"):
        put(eng, "copy", {"/x": b"x"}, tmp_path / "s")
    with pytest.raises(NotFound, match="repo 'nope' not found"):
        put(eng, "nope", {"/x": b"x"}, tmp_path / "s")


def test_parallelism_spec_runs_datums_side_by_side(tmp_path):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("wide", pfs("in", "/*"), 'sleep 0.6; cp "$in" /pfs/out/',
                              parallelismSpec={"constant": 3}))
    put(e, "in", {f"/f{i}": b"x" for i in range(3)}, tmp_path / "s")
    [job] = e.run(show_progress=False, slots=3)  # the run's slots cap every job (default: the cores)
    spans = sorted((d.started, d.finished) for d in e.jobs.datums("wide", job.id))
    assert all(spans[i + 1][0] < spans[i][1] for i in range(2)), spans  # each started before the last ended
    assert job.finished - job.started < 1.7


def test_a_recovered_datum_is_not_skipped_by_the_next_job(tmp_path):
    """Pachyderm's skippableDatum (src/server/worker/pipeline/transform/worker.go) skips
    only a datum the parent job PROCESSED: one errCmd recovered runs again."""
    e = new_engine(tmp_path, "in")
    spec = sh_spec("lenient", pfs("in", "/*"), 'echo "RAN $in"; grep -q bad "$in" && exit 3; cp "$in" /pfs/out/')
    spec["transform"]["errCmd"] = ["true"]
    e.create_pipeline(spec)
    put(e, "in", {"/good": b"good", "/bad": b"bad"}, tmp_path / "s")
    [job] = e.run(show_progress=False)
    assert job.state == "JOB_SUCCESS" and job.counts.get("RECOVERED") == 1
    put(e, "in", {"/new": b"new"}, tmp_path / "s")
    [job] = e.run(show_progress=False)
    assert counts(job) == (1, 1, 0) and job.counts.get("RECOVERED") == 1
    [again] = e.jobs.datums("lenient", job.id, state="RECOVERED")
    assert again.why["reason"] == "retry"
    assert [line.rsplit("/", 1)[1] for line in logged(e.home, "lenient", "RAN")].count("bad") == 2

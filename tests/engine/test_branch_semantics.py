"""Branches and commit sets as pachd keeps them, on the embedded engine: input `branch`,
`outputBranch`, triggers, propagationSpec never, salt, reprocessSpec, jobTimeout, and
create vs update pipeline."""
from __future__ import annotations

import io

import pytest

from pipelines.errors import UsageError
from pipelines.pps.create import PipelineExists

from .helpers import counts, new_engine, pfs, sh_spec, tree

pytestmark = pytest.mark.unit

COPY = 'for d in /pfs/*; do [ "$d" = /pfs/out ] || cp -r "$d"/. /pfs/out/; done'


def put(e, repo: str, branch: str, files: dict[str, bytes]) -> str:
    return e.put_files(repo, branch, [(p, io.BytesIO(b)) for p, b in files.items()]).id


def jobs_of(e) -> list[tuple[str, str]]:
    return [(j.pipeline, j.state) for j in e.run(show_progress=False)]


@pytest.fixture
def eng(tmp_path):
    e = new_engine(tmp_path, "rb")
    yield e
    e.close()


def test_a_commit_on_another_branch_starts_no_job_and_is_never_read(eng):
    eng.create_pipeline(sh_spec("m", pfs("rb", "/", branch="master"), COPY))
    eng.create_pipeline(sh_spec("d", pfs("rb", "/", branch="dev"), COPY))
    put(eng, "rb", "master", {"/x": b"on master"})
    assert jobs_of(eng) == [("m", "JOB_SUCCESS")]
    dev = put(eng, "rb", "dev", {"/y": b"on dev"})
    [job] = eng.run(show_progress=False)
    assert (job.pipeline, job.id) == ("d", dev)
    assert job.inputs == [{"name": "rb", "repo": "rb", "branch": "dev", "commit": dev}]
    assert tree(eng, "m") == {"/x": b"on master"} and tree(eng, "d") == {"/y": b"on dev"}


def test_a_job_reads_the_heads_as_they_were_when_its_commit_set_was_made(eng):
    eng.create_pipeline(sh_spec("m", pfs("rb", "/"), COPY))
    first = put(eng, "rb", "master", {"/a": b"1"})
    put(eng, "rb", "master", {"/a": b"2"})
    j1, j2 = eng.run(show_progress=False)
    assert j1.inputs[0]["commit"] == first
    assert tree(eng, "m", first) == {"/a": b"1"} and tree(eng, "m") == {"/a": b"2"}


def test_jobs_commit_to_the_output_branch_and_downstream_reads_the_branch_it_names(eng):
    eng.create_pipeline(sh_spec("up", pfs("rb", "/"), COPY, outputBranch="staging"))
    eng.create_pipeline(sh_spec("on_master", pfs("up", "/", name="in"), COPY))
    eng.create_pipeline(sh_spec("on_staging", pfs("up", "/", name="in", branch="staging"), COPY))
    c = put(eng, "rb", "master", {"/f": b"F"})
    assert jobs_of(eng) == [("up", "JOB_SUCCESS"), ("on_staging", "JOB_SUCCESS")]
    assert eng.store.commit("up", c).branch == "staging" and eng.store.head("up", "staging") == c
    assert tree(eng, "up", "staging") == {"/f": b"F"}
    assert eng.store.head("up", "master") is None, "nothing was committed on up@master"
    assert tree(eng, "on_staging") == {"/f": b"F"}


def test_an_input_branch_is_made_at_create_pipeline(eng):
    eng.create_pipeline(sh_spec("d", pfs("rb", "/", branch="feature"), COPY))
    assert eng.store.has_branch("rb", "feature") and eng.store.head("rb", "feature") is None


def test_propagation_never_starts_no_job_but_the_next_job_reads_its_head(tmp_path):
    e = new_engine(tmp_path, "data", "config")
    spec = sh_spec("p", {"cross": [pfs("data", "/*"), pfs("config", "/", propagationSpec={"never": True})]},
                   'cat /pfs/config/c > /pfs/out/$(basename "$data")')
    put(e, "config", "master", {"/c": b"v1"})
    e.create_pipeline(spec)
    put(e, "data", "master", {"/a": b""})
    assert jobs_of(e) == [("p", "JOB_SUCCESS")]
    put(e, "config", "master", {"/c": b"v2"})
    assert jobs_of(e) == []
    put(e, "data", "master", {"/b": b""})
    e.run(show_progress=False)
    assert tree(e, "p") == {"/a": b"v2", "/b": b"v2"}
    e.close()


@pytest.mark.parametrize("trigger,puts,moves", [
    pytest.param({"commits": 2}, [b"a", b"b", b"c", b"d"], [False, True, False, True], id="every-2-commits"),
    pytest.param({"size": "10B"}, [b"12345", b"1234567", b"1"], [False, True, False], id="size"),
    pytest.param({"size": "10B", "commits": 2, "all": True}, [b"123456789012", b"1", b"1"], [False, True, False],
                 id="all"),
])
def test_a_trigger_branch_follows_master_when_the_condition_holds(eng, trigger, puts, moves):
    eng.create_pipeline(sh_spec("t", pfs("rb", "/", trigger=trigger), "ls /pfs/rb > /pfs/out/seen"))
    assert eng.jobs.pipeline("t")["spec"]["input"]["pfs"]["branch"] == "t-trigger-1"
    for i, (data, moved) in enumerate(zip(puts, moves)):
        c = put(eng, "rb", "master", {f"/f{i}": data})
        assert (eng.store.head("rb", "t-trigger-1") == c) is moved, i
        jobs = eng.run(show_progress=False)
        assert [j.pipeline for j in jobs] == (["t"] if moved else [])
        if moved:
            assert jobs[0].inputs[0] | {} == {"name": "rb", "repo": "rb", "branch": "t-trigger-1", "commit": c}
            assert jobs[0].id != c, "a trigger's move is a commit set of its own"


def test_an_explicit_salt_is_kept_and_an_update_keeps_the_old_salt(eng):
    eng.create_pipeline(sh_spec("s", pfs("rb", "/"), COPY, salt="pepper"))
    assert eng.jobs.pipeline("s")["salt"] == "pepper"
    eng.create_pipeline(sh_spec("s", pfs("rb", "/"), COPY + " # v2", salt="other"))
    assert eng.jobs.pipeline("s")["salt"] == "pepper", "pachd keeps the salt on update unless reprocess"
    eng.create_pipeline(sh_spec("s", pfs("rb", "/"), COPY + " # v3"), reprocess=True)
    assert eng.jobs.pipeline("s")["salt"] not in ("pepper", "other")


@pytest.mark.parametrize("reprocess_spec,second", [
    pytest.param("until_success", (1, 1, 0), id="until_success"),
    pytest.param("every_job", (2, 0, 0), id="every_job"),
])
def test_reprocess_spec(eng, reprocess_spec, second):
    eng.create_pipeline(sh_spec("r", pfs("rb", "/*"), 'cp "$rb" /pfs/out/', reprocessSpec=reprocess_spec))
    put(eng, "rb", "master", {"/a": b"A"})
    eng.run(show_progress=False)
    put(eng, "rb", "master", {"/b": b"B"})
    [job] = eng.run(show_progress=False)
    assert counts(job) == second
    assert tree(eng, "r") == {"/a": b"A", "/b": b"B"}


def test_job_timeout_kills_the_job(eng):
    eng.create_pipeline(sh_spec("slow", pfs("rb", "/*"), "sleep 30", jobTimeout="1s"))
    c = put(eng, "rb", "master", {"/a": b"A"})
    [job] = eng.run(show_progress=False)
    assert job.state == "JOB_KILLED" and "jobTimeout" in job.reason
    assert eng.store.commit("slow", c).error and eng.store.head("slow") != c


def test_create_on_a_name_in_use_fails_as_pachd_and_update_updates(eng):
    eng.create_pipeline(sh_spec("p", pfs("rb", "/"), COPY), update=False)
    with pytest.raises(PipelineExists, match='pipeline "default/p" already exists'):
        eng.create_pipeline(sh_spec("p", pfs("rb", "/"), COPY + " # v2"), update=False)
    assert eng.create_pipeline(sh_spec("p", pfs("rb", "/"), COPY + " # v2"), update=True) == ("updated", 2)
    assert eng.create_pipeline(sh_spec("p", pfs("rb", "/"), COPY + " # v3", update=True), update=False)[0] == "updated"


def test_a_pipeline_cannot_take_an_input_repos_name(eng):
    with pytest.raises(UsageError, match='pipeline "rb" cannot be created because a repo with the same name'):
        eng.create_pipeline(sh_spec("rb", pfs("rb", "/"), COPY))

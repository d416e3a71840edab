"""How a datum runs, as Pachyderm's worker runs it (src/server/worker/driver, datum): tries
and errCmd, acceptReturnCode, workingDir, emptyFiles, lazy, and the output tree's rules."""
from __future__ import annotations

import io

import pytest

from .helpers import new_engine, pfs, tree
from .helpers import sh_spec as _sh_spec

pytestmark = pytest.mark.unit


def sh_spec(name: str, input: dict, script: str, transform_extra: dict | None = None, **extra) -> dict:
    spec = _sh_spec(name, input, script, **extra)
    spec["transform"].update(transform_extra or {})
    return spec


def put(e, repo: str, files: dict[str, bytes]) -> str:
    return e.put_files(repo, "master", [(p, io.BytesIO(b)) for p, b in files.items()]).id


@pytest.fixture(params=["auto", "folder"])
def mode(request, monkeypatch):
    """Each datum test in the sandbox (where this machine has one) and in plain folders."""
    monkeypatch.setenv("PACHMEDIA_SANDBOX", request.param)
    return request.param


@pytest.fixture
def eng(tmp_path, mode):
    e = new_engine(tmp_path, "in")
    put(e, "in", {"/a": b"A"})
    yield e
    e.close()


def one_datum(e, spec: dict):
    e.create_pipeline(spec)
    [job] = e.run(show_progress=False)
    [d] = e.jobs.datums(spec["pipeline"]["name"], job.id)
    return job, d


@pytest.mark.parametrize("script,accept,state", [
    pytest.param("echo ok > /pfs/out/x; exit 3", [3], "SUCCESS", id="accepted-code"),
    pytest.param("echo ok > /pfs/out/x; exit 3", [4], "FAILED", id="other-code"),
    pytest.param("echo ok > /pfs/out/x; exit 0", [3], "SUCCESS", id="zero-still-success"),
])
def test_accept_return_code(eng, script, accept, state):
    job, d = one_datum(eng, sh_spec("p", pfs("in", "/*"), script, transform_extra={"acceptReturnCode": accept}))
    assert d.state == state
    assert (tree(eng, "p") == {"/x": b"ok\n"}) is (state == "SUCCESS")


def test_err_cmd_runs_after_each_failed_try_with_err_stdin_rewritten_and_the_datum_ends_recovered(eng):
    spec = sh_spec("p", pfs("in", "/*"), "exit 1", datumTries=3, transform_extra={
        "errCmd": ["sh"], "errStdin": ["echo recovering; cat /pfs/in/a; echo", "exit 0"]})
    job, d = one_datum(eng, spec)
    assert d.state == "RECOVERED" and d.tries == 3
    log = eng.log_path("p", job.id, d.id).read_text()
    assert log.count("recovering\nA\n") == 3, "errCmd ran after each of the 3 tries, reading /pfs/in/a"
    assert job.state == "JOB_SUCCESS", "a recovered datum does not fail its job (pachd counts it recovered)"
    assert tree(eng, "p") == {}


def test_a_failing_err_cmd_leaves_the_datum_failed(eng):
    job, d = one_datum(eng, sh_spec("p", pfs("in", "/*"), "exit 1", datumTries=2,
                                    transform_extra={"errCmd": ["sh", "-c", "exit 5"]}))
    assert d.state == "FAILED" and job.state == "JOB_FAILURE"


def test_err_cmd_exit_code_accepted_by_accept_return_code_recovers(eng):
    job, d = one_datum(eng, sh_spec("p", pfs("in", "/*"), "exit 1", datumTries=1, transform_extra={
        "errCmd": ["sh", "-c", "exit 7"], "acceptReturnCode": [7]}))
    assert d.state == "RECOVERED"


@pytest.mark.parametrize("working_dir,expected", [
    pytest.param("/pfs/in", b"a\n", id="pfs-path"),
    pytest.param("/pfs", b"in\nout\n", id="pfs-root"),
])
def test_working_dir(eng, working_dir, expected):
    one_datum(eng, sh_spec("p", pfs("in", "/*"), "ls > /pfs/out/listing", transform_extra={"workingDir": working_dir}))
    assert tree(eng, "p") == {"/listing": expected}


def test_a_working_dir_that_does_not_exist_fails_the_datum_saying_so(eng):
    job, d = one_datum(eng, sh_spec("p", pfs("in", "/*"), "true", transform_extra={"workingDir": "/no/such/dir"}))
    assert d.state == "FAILED" and "/no/such/dir" in d.reason


def test_empty_files_are_empty_and_a_symlink_to_one_outputs_the_real_file(eng):
    one_datum(eng, sh_spec("p", pfs("in", "/*", emptyFiles=True),
                           'wc -c < /pfs/in/a > /pfs/out/size; ln -s /pfs/in/a /pfs/out/copy'))
    assert tree(eng, "p") == {"/size": b"0\n", "/copy": b"A"}


def test_lazy_files_have_the_same_bytes(eng):
    one_datum(eng, sh_spec("p", pfs("in", "/*", lazy=True), 'cp /pfs/in/a /pfs/out/a'))
    assert tree(eng, "p") == {"/a": b"A"}


def test_a_symlink_out_of_the_datum_is_refused(eng):
    job, d = one_datum(eng, sh_spec("p", pfs("in", "/*"), 'ln -s /etc/passwd /pfs/out/x'))
    assert d.state == "FAILED" and "datum wrote a symlink x" in d.reason


def test_a_file_and_a_directory_at_one_path_fail_the_job_with_pachds_message(tmp_path):
    e = new_engine(tmp_path, "in")
    put(e, "in", {"/1": b"", "/2": b""})
    spec = sh_spec("p", pfs("in", "/*"),
                   'if [ "$(basename $in)" = 1 ]; then echo f > /pfs/out/x; else mkdir /pfs/out/x; echo g > /pfs/out/x/y; fi')
    e.create_pipeline(spec)
    [job] = e.run(show_progress=False)
    assert job.state == "JOB_FAILURE" and job.reason == "file / directory path collision (/x/y)"
    e.close()

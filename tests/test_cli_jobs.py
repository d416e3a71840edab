"""pipeline@job everywhere: a job-id prefix names the same job in list, inspect, debug,
explain and logs; pachctl's list job filters; datums explained in words."""
from __future__ import annotations

import pytest

from pipelines.cli import main
from pipelines.engine import Engine
from tests.engine.helpers import new_engine, pfs, put, sh_spec

pytestmark = pytest.mark.media


def cli(capsys, home, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["--home", str(home), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def home(tmp_path):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("copy", pfs("in", "/*"), 'grep -q bad "$in" && exit 4; cp "$in" /pfs/out/'))
    first = put(e, "in", {"/a": b"alpha", "/b": b"beta"}, tmp_path / "s")
    e.run(show_progress=False)
    h = e.home
    e.close()
    return {"home": h, "first": first, "tmp": tmp_path}


def _datum(home, path: str):
    e = Engine(home["home"], init=False)
    try:
        [d] = [d for d in e.jobs.datums("copy", home["first"]) if d.inputs[0]["files"][0]["path"] == path]
        return d
    finally:
        e.close()


def test_a_job_prefix_names_the_job_in_inspect_and_debug_datum(capsys, home):
    d = _datum(home, "/a")
    prefix = home["first"][:7]
    rc, out, err = cli(capsys, home["home"], "inspect", "datum", f"copy@{prefix}", d.id[:10])
    assert rc == 0, err
    assert f"ID: {d.id}" in out and f"Job: copy@{home['first']}" in out
    rc, out, err = cli(capsys, home["home"], "debug", "datum", f"copy@{prefix}", d.id[:10],
                       "--dir", str(home["tmp"] / "dbg"))
    assert rc == 0, err
    assert f"PACH_JOB_ID={home['first']}" in out and f"PACH_JOB_ID={prefix} " not in out
    assert f"of copy@{home['first']}" in out
    rc, out, _ = cli(capsys, home["home"], "list", "datum", f"copy@{prefix}")
    assert rc == 0 and d.id[:16] in out
    rc, out, _ = cli(capsys, home["home"], "explain", f"copy@{prefix}")
    assert rc == 0 and out.startswith(f"copy@{home['first']}: 2 new")


NOT_FOUND, USAGE = 1, 2


@pytest.mark.parametrize("args,code,message", [
    pytest.param(["list", "datum", "nopipe"], NOT_FOUND, "error: pipeline 'nopipe' not found (pipelines: copy)",
                 id="list"),
    pytest.param(["inspect", "datum", "nopipe@abc", "d"], NOT_FOUND, "error: pipeline 'nopipe' not found",
                 id="inspect"),
    pytest.param(["debug", "datum", "nopipe@abc", "d"], NOT_FOUND, "error: pipeline 'nopipe' not found", id="debug"),
    pytest.param(["list", "datum", "copy@ffffff"], NOT_FOUND, "error: job copy@ffffff not found", id="no-such-job"),
    pytest.param(["inspect", "datum", "copy", "d"], USAGE, "error: inspect datum takes pipeline@job", id="no-job"),
    pytest.param(["logs", "-p", "copy", "-j", "copy@x"], USAGE, "error: only one of --pipeline or --job",
                 id="logs-both"),
    pytest.param(["list", "job", "--state", "exploded"], USAGE, "error: --state: unknown state JOB_EXPLODED",
                 id="state"),
])
def test_wrong_targets_get_one_clear_line(capsys, home, args, code, message):
    rc, out, err = cli(capsys, home["home"], *args)
    assert rc == code and out == ""
    assert err.startswith(message) and len(err.strip().splitlines()) == 1, err


def test_a_pipeline_without_jobs_says_so(capsys, home):
    e = Engine(home["home"], init=False)
    e.store.create_repo("empty")
    e.create_pipeline(sh_spec("idle", pfs("empty", "/*"), "true"))
    e.close()
    rc, _, err = cli(capsys, home["home"], "list", "datum", "idle")
    assert rc == NOT_FOUND and err.strip() == "error: pipeline idle has no jobs yet"


def test_inspect_datum_says_why_it_ran_in_words(capsys, home):
    e = Engine(home["home"], init=False)
    put(e, "in", {"/a": b"alpha two"}, home["tmp"] / "s2")
    e.run(show_progress=False)
    [j] = e.jobs.jobs(pipeline="copy", limit=1)
    e.close()
    d = _datum(home, "/a")
    rc, out, _ = cli(capsys, home["home"], "inspect", "datum", f"copy@{home['first']}", d.id)
    assert "Why it ran: new datum (in:/a)" in out
    rc, out, _ = cli(capsys, home["home"], "inspect", "datum", f"copy@{j.id}", d.id)
    assert rc == 0 and "Why it ran: input changed in:/a" in out and "{" not in out.split("Why it ran:")[1].split("\n")[0]


def test_explain_after_a_delete_names_what_was_removed(capsys, home):
    e = Engine(home["home"], init=False)
    e.delete_files("in", "master", ["/a"])
    e.run(show_progress=False)
    e.close()
    rc, out, _ = cli(capsys, home["home"], "explain", "copy")
    assert rc == 0 and "0 new, 0 changed, 1 removed (in:/a), 1 skipped" in out
    rc, out, _ = cli(capsys, home["home"], "explain", f"copy@{home['first']}")
    assert "removed" not in out  # the first job had no previous job


def test_list_job_filters_as_pachctl(capsys, home):
    e = Engine(home["home"], init=False)
    second = put(e, "in", {"/bad": b"bad"}, home["tmp"] / "s2")
    e.run(show_progress=False)
    e.close()
    ids = lambda out: {line.split()[1] for line in out.splitlines()[1:]}
    rc, out, _ = cli(capsys, home["home"], "list", "job", "--state", "failure")
    assert rc == 0 and ids(out) == {second}
    rc, out, _ = cli(capsys, home["home"], "list", "job", "--state", "success", "--state", "JOB_FAILURE")
    assert ids(out) == {home["first"], second}
    rc, out, _ = cli(capsys, home["home"], "list", "job", "-i", f"in@{home['first']}")
    assert ids(out) == {home["first"]}
    rc, out, _ = cli(capsys, home["home"], "list", "job", "-p", "copy", "-i", "in@master")
    assert ids(out) == {second}

    # --history: by default only the current pipeline version's jobs, as pachctl
    e = Engine(home["home"], init=False)
    e.create_pipeline(sh_spec("copy", pfs("in", "/*"), 'cp "$in" /pfs/out/'))
    e.close()
    rc, out, _ = cli(capsys, home["home"], "list", "job", "-p", "copy")
    assert ids(out) == set()
    rc, out, _ = cli(capsys, home["home"], "list", "job", "-p", "copy", "--history", "all")
    assert ids(out) == {home["first"], second}
    rc, out, _ = cli(capsys, home["home"], "list", "job", "-p", "copy", "--history", "1")
    assert ids(out) == {home["first"], second}


def test_a_running_job_nobody_runs_shows_as_stopped(capsys, home):
    e = Engine(home["home"], init=False)
    e.jobs.set_job("copy", home["first"], state="JOB_RUNNING")  # as a Ctrl-C'd run leaves it
    try:
        rc, out, err = cli(capsys, home["home"], "list", "job")
        assert rc == 0 and "JOB_RUNNING (stopped)" in out and "next one resumes" in err
        rc, out, _ = cli(capsys, home["home"], "inspect", "job", f"copy@{home['first'][:8]}")
        assert "State: JOB_RUNNING (stopped)" in out
        with e.run_lock():  # a run holds the lock: it is running
            rc, out, err = cli(capsys, home["home"], "list", "job")
        assert "JOB_RUNNING" in out and "stopped" not in out + err
    finally:
        e.close()


def test_inspect_datum_shows_a_failed_datums_stderr_alone(capsys, home):
    e = Engine(home["home"], init=False)
    e.create_pipeline(sh_spec("loud", pfs("in", "/*"), 'echo "to stdout"; echo "to stderr" >&2; exit 1'))
    e.run(show_progress=False)
    [j] = e.jobs.jobs(pipeline="loud", limit=1)
    d = e.jobs.datums("loud", j.id, state="FAILED")[0]
    e.close()
    rc, out, _ = cli(capsys, home["home"], "inspect", "datum", f"loud@{j.id}", d.id)
    stderr, log = out.split("Stderr (")[1].split("Logs (")
    assert rc == 0 and "to stderr" in stderr and "to stdout" not in stderr and "--- try" not in stderr
    assert "to stdout" in log

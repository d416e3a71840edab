"""See, explain, redo and debug datums through the CLI, as a user would."""
from __future__ import annotations

import json
import subprocess
import sys

from pipelines.engine import Engine
from pipelines.pps.process import stderr_path

from .helpers import new_engine, pfs, put, sh_spec

import pytest

pytestmark = pytest.mark.media


def cli(home, *args):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120)


def setup_failing(tmp_path):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("picky", pfs("in", "/*"),
                              'grep -q bad "$in" && { echo "cannot take $(basename $in)" >&2; exit 7; }; '
                              'cp "$in" /pfs/out/'))
    cid = put(e, "in", {"/good": b"good", "/bad": b"bad"}, tmp_path / "s")
    home = e.home
    e.close()
    return home, cid


def test_wait_commit_fails_when_a_datum_failed_and_list_datum_says_why(tmp_path):
    home, cid = setup_failing(tmp_path)
    r = cli(home, "wait", "commit", f"in@{cid}", "-q")
    assert r.returncode == 1
    assert "did not succeed: picky (JOB_FAILURE)" in r.stderr
    r = cli(home, "list", "datum", f"picky@{cid}", "--state", "failed")
    assert r.returncode == 0 and "FAILED" in r.stdout and "cannot take bad" in r.stdout
    raw = json.loads(cli(home, "list", "datum", f"picky@{cid}", "--raw").stdout.replace("}\n{", "},{").join("[]"))
    assert sorted(d["state"] for d in raw) == ["FAILED", "SUCCESS"]
    assert all(d["datum"]["job"]["id"] == cid for d in raw)


def test_debug_datum_reproduces_the_failure_outside_the_engine(tmp_path):
    home, cid = setup_failing(tmp_path)
    cli(home, "run", "-q")
    e = Engine(home, init=False)
    [bad] = e.jobs.datums("picky", cid, state="FAILED")
    e.close()
    r = cli(home, "debug", "datum", f"picky@{cid}", bad.id[:12], "--dir", str(tmp_path / "dbg"))
    assert r.returncode == 0 and "sh -c" in r.stdout and "in=" in r.stdout
    assert (tmp_path / "dbg/pfs/in/bad").read_bytes() == b"bad"
    r = cli(home, "debug", "datum", f"picky@{cid}", bad.id[:12], "--dir", str(tmp_path / "dbg"), "--run")
    assert r.returncode == 7 and "cannot take bad" in r.stderr


def test_reprocess_failed_and_explain(tmp_path):
    home, cid = setup_failing(tmp_path)
    cli(home, "run", "-q")
    r = cli(home, "explain", f"picky@{cid}")
    assert "2 new (in:/bad, in:/good)" in r.stdout and "1 failed" in r.stdout
    r = cli(home, "run", "--reprocess", "picky", "--failed", "-q")
    assert r.returncode == 1 and "processed 0, skipped 1, failed 1" in r.stdout
    e = Engine(home, init=False)
    put(e, "in", {"/new": b"fresh"}, tmp_path / "s2")
    e.close()
    cli(home, "run", "-q")
    out = cli(home, "explain", "picky").stdout
    assert "1 new (in:/new)" in out and "1 retried" in out and "1 skipped" in out


def test_list_job_shows_progress_and_inspect_shows_inputs(tmp_path):
    home, cid = setup_failing(tmp_path)
    cli(home, "run", "-q")
    r = cli(home, "list", "job")
    assert "picky" in r.stdout and "2/2" in r.stdout and "JOB_FAILURE (1 failed)" in r.stdout
    r = cli(home, "inspect", "job", f"picky@{cid}")
    assert f"Input: in = in@{cid}" in r.stdout


def test_a_failed_datums_reason_is_its_stderr_and_logs_show_both_streams(tmp_path):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("noisy", pfs("in", "/*"),
                              'for i in 1 2 3 4 5; do echo "progress $i"; done; echo "real problem" >&2; '
                              'echo "more chatter"; exit 3'))
    cid = put(e, "in", {"/x": b"x"}, tmp_path / "s")
    [job] = e.run(show_progress=False)
    [d] = e.jobs.datums("noisy", job.id)
    assert d.state == "FAILED"
    assert d.reason == "exit status 3: real problem", d.reason
    log = e.log_path("noisy", cid, d.id).read_text()  # what `logs` prints: both streams, in one file
    assert "progress 5" in log and "real problem" in log and "more chatter" in log
    assert stderr_path(e.log_path("noisy", cid, d.id)).read_text() == "real problem\n"
    assert e.stderr_path("noisy", cid, d.id).read_text() == "real problem\n"
    e.close()

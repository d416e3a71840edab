"""kill -9 the engine mid-job: nothing half-made is visible, and a restart finishes
the job without redoing the datums that had finished."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from pipelines.engine import Engine
from pipelines.pfs.fsck import fsck

from .helpers import counts, logged, new_engine, pfs, put, sh_spec, start_cli, tree

pytestmark = pytest.mark.media


def test_kill_during_job_then_resume(tmp_path):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("slow", pfs("in", "/*"), 'echo "RAN $in"; sleep 0.4; cp "$in" /pfs/out/'))
    put(e, "in", {f"/f{i}": str(i).encode() for i in range(8)}, tmp_path / "s")
    home = e.home
    e.close()

    proc = start_cli(home, "run", "-q", stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline and len(logged(home, "slow", "RAN")) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    started_before = len(logged(home, "slow", "RAN"))
    assert 3 <= started_before < 8

    e = Engine(home, init=False)
    [job] = e.jobs.jobs(pipeline="slow")
    assert e.store.head("slow") != job.id and tree(e, "slow") == {}, "a killed job's commit must not be visible"
    assert fsck(e).ok
    e.close()

    out = start_cli(home, "run", "-q", stderr=subprocess.STDOUT).communicate(timeout=120)[0]
    assert "JOB_SUCCESS" in out, out
    e = Engine(home, init=False)
    [job] = e.jobs.jobs(pipeline="slow")
    assert counts(job) == (8, 0, 0)
    assert tree(e, "slow") == {f"/f{i}": str(i).encode() for i in range(8)}
    # datums that had finished were not run again: at most the in-flight ones re-ran
    total_runs = len(logged(home, "slow", "RAN"))
    assert total_runs <= 8 + 1, total_runs
    assert fsck(e).ok
    e.close()


def test_kill_during_put_leaves_no_commit(tmp_path):
    e = new_engine(tmp_path, "in")
    home = e.home
    e.close()
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(400 << 20)  # sparse: fast to make, slow enough to hash and copy
    proc = start_cli(home, "put", "file", "in@master:/big", "-f", str(big), "--no-run",
                     stderr=subprocess.STDOUT)
    tmp = home / "objects" / "tmp"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not any(p.stat().st_size for p in tmp.iterdir()):
        time.sleep(0.01)  # until the put is mid-object: bytes are landing, no commit exists yet
    assert proc.poll() is None, "the put finished before it could be killed"
    assert any(tmp.iterdir())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    e = Engine(home, init=False)
    assert e.store.commits("in") == []
    assert e.store.head("in") is None
    assert fsck(e).ok
    e.close()


@pytest.mark.parametrize("point", ["finish-commit", "finish-commit-files", "finish-commit-head"])
def test_kill_inside_the_output_commit_transaction(tmp_path, point):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("copy", pfs("in", "/*"), 'cp "$in" /pfs/out/'))
    put(e, "in", {"/a": b"A", "/b": b"B"}, tmp_path / "s")
    home = e.home
    e.close()
    proc = start_cli(home, "run", "-q", env=os.environ | {"PACHMEDIA_TEST_CRASH_AT": point},
                     stderr=subprocess.STDOUT)
    proc.communicate(timeout=60)
    assert proc.returncode == -9
    e = Engine(home, init=False)
    [job] = e.jobs.jobs(pipeline="copy")
    assert e.store.head("copy") != job.id and tree(e, "copy") == {}  # still the branch's empty first commit
    assert job.state == "JOB_RUNNING" and counts(job) == (2, 0, 0)  # its datums were done and recorded
    assert e.store.files("copy", job.id) == []  # the half-written commit rolled back
    assert e.store.commit("copy", job.id).finished is None
    assert fsck(e).ok
    e.close()
    out = start_cli(home, "run", "-q", stderr=subprocess.STDOUT).communicate(timeout=60)[0]
    assert "JOB_SUCCESS" in out, out
    e = Engine(home, init=False)
    assert tree(e, "copy") == {"/a": b"A", "/b": b"B"}
    assert counts(e.jobs.jobs(pipeline="copy")[0]) == (2, 0, 0)  # resumed, not re-run
    e.close()

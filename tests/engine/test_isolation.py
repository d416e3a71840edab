"""A datum cannot reach the store, and a run that is stopped leaves nothing behind:
inputs are read-only in the sandbox and private copies without it; a sandboxed datum dies
with its engine, and datums a kill -9'd engine left running (no sandbox) are ended before
their job resumes; Ctrl-C / SIGTERM stop a run cleanly. (What else the sandbox keeps from a
datum: test_sandbox.py.)"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from pipelines.engine import Engine
from pipelines.pfs.fsck import fsck
from pipelines.pfs.objects import ObjectStore
from pipelines.pps.process import group_members

from .helpers import counts, datum_processes, logged, new_engine, pfs, put, sh_spec, start_cli, tree

pytestmark = pytest.mark.media


def _wait_for(cond, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


FOLDER = os.environ | {"PACHMEDIA_SANDBOX": "folder"}  # datums without namespaces: they see the test's files


@pytest.mark.parametrize("mode, seen", [("bwrap", b"original bytes\n"), ("folder", b"original bytes\ntampered\n")])
def test_a_stage_writing_to_its_input_cannot_change_the_committed_upload(tmp_path, monkeypatch, mode, seen):
    monkeypatch.setenv("PACHMEDIA_SANDBOX", mode)
    e = new_engine(tmp_path, "in")
    # as root the read-only mode does not stop this: only a read-only mount or a private copy does
    e.create_pipeline(sh_spec("vandal", pfs("in", "/*"), 'chmod u+w "$in" 2>/dev/null; echo tampered >> "$in"; '
                                                         'cp "$in" /pfs/out/'))
    cid = put(e, "in", {"/clip": b"original bytes\n"}, tmp_path / "s")
    [job] = e.run(show_progress=False)
    assert job.state == "JOB_SUCCESS", job.reason
    assert tree(e, "vandal") == {"/clip": seen}  # in the sandbox the write failed; without, it hit a copy
    assert tree(e, "in", cid) == {"/clip": b"original bytes\n"}
    assert fsck(e).ok, fsck(e).problems
    home = e.home
    e.close()
    got = subprocess.run([sys.executable, "-m", "pipelines.cli", "--home", str(home), "get", "file", "in@master:/clip"],
                         capture_output=True, timeout=60)
    assert got.returncode == 0 and got.stdout == b"original bytes\n", got.stderr


def test_materialize_is_a_private_read_only_copy(tmp_path):
    objects = ObjectStore(tmp_path / "objects")
    oid, _ = objects.add_bytes(b"x" * 3_000_000)
    dest = tmp_path / "pfs" / "in" / "x"
    how = objects.materialize(oid, dest)
    assert how in ("reflink", "copy")
    assert dest.read_bytes() == b"x" * 3_000_000
    assert os.stat(dest).st_ino != os.stat(objects.path(oid)).st_ino
    assert oct(os.stat(dest).st_mode & 0o777) == oct(0o400)  # read-only, and its owner's alone
    os.chmod(dest, 0o644)
    with open(dest, "r+b") as f:
        f.write(b"y")
    assert objects.verify(oid)


def test_kill_9_engine_then_resume_ends_the_orphaned_datum_and_completes(tmp_path):
    """Without the sandbox a datum outlives a killed engine (its own session): the next run ends it."""
    marker = tmp_path / "first-try"
    e = new_engine(tmp_path, "in")
    # the first run of the datum sleeps (long enough to outlive its engine); later runs are quick
    e.create_pipeline(sh_spec("slow", pfs("in", "/*"),
                              f'if [ ! -e {marker} ]; then touch {marker}; sleep 120; echo late > /pfs/out/late; fi; '
                              'cp "$in" /pfs/out/'))
    put(e, "in", {"/a": b"A"}, tmp_path / "s")
    home = e.home
    e.close()
    proc = start_cli(home, "run", "-q", env=FOLDER)

    def recorded_pgid():
        with Engine(home, init=False) as e2:
            rows = [d for j in e2.jobs.jobs(pipeline="slow") for d in e2.jobs.datums("slow", j.id)]
        return rows[0].pgid if rows and rows[0].state == "STARTING" else None
    _wait_for(lambda: marker.exists() and recorded_pgid(), what="the datum to start")
    pgid = recorded_pgid()
    _wait_for(lambda: group_members(pgid), what="the datum's process group")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert group_members(pgid), "the datum should have outlived its engine (own session)"

    out, err = start_cli(home, "run", "-q", env=FOLDER).communicate(timeout=120)
    assert "JOB_SUCCESS" in out, out + err
    assert group_members(pgid) == [], "the orphaned datum must be ended before its job resumes"
    with Engine(home, init=False) as e:
        [job] = e.jobs.jobs(pipeline="slow")
        assert counts(job) == (1, 0, 0)
        assert tree(e, "slow") == {"/a": b"A"}  # nothing from the orphan ("late")
        assert fsck(e).ok


@pytest.mark.parametrize("how", ["kill -9 the engine", "interrupt the run"])
def test_a_sandboxed_datum_dies_with_its_engine(tmp_path, how):
    """In the sandbox (bwrap --die-with-parent, a pid namespace) nothing of a datum outlives
    its engine, whether the engine is killed or interrupted; the datum's children included."""
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("slow", pfs("in", "/*"), 'sleep 300 & echo "STARTED $PACH_DATUM_ID"; sleep 300'))
    put(e, "in", {"/a": b"A"}, tmp_path / "s")
    home = e.home
    e.close()
    proc = start_cli(home, "run", "-q")
    _wait_for(lambda: logged(home, "slow", "STARTED"), what="the datum to start")
    datum = logged(home, "slow", "STARTED")[0].split()[1]
    _wait_for(lambda: len(datum_processes(datum)) >= 2, what="the datum's processes")
    proc.send_signal(signal.SIGKILL if how.startswith("kill") else signal.SIGINT)
    proc.communicate(timeout=30)
    _wait_for(lambda: datum_processes(datum) == [], timeout=30, what="every process of the datum to end")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupting_a_run_cancels_queued_datums_and_leaves_the_job_resumable(tmp_path, sig):
    ran, quick = tmp_path / "ran.log", tmp_path / "quick"
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("slow", pfs("in", "/*"),
                              f'echo "$$ $in" >> {ran}; [ -e {quick} ] || sleep 30; cp "$in" /pfs/out/'))
    put(e, "in", {f"/f{i}": str(i).encode() for i in range(4)}, tmp_path / "s")
    home = e.home
    e.close()
    proc = start_cli(home, "run", "-q", env=FOLDER)  # the datums read `quick` and append to `ran` on the host
    _wait_for(lambda: ran.exists() and ran.read_text().strip(), what="the first datum to start")
    with Engine(home, init=False) as e:
        assert e.running()
    pid = int(ran.read_text().split()[0])
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=25)  # the datum sleeps 30 s: returning before proves it was stopped
    assert proc.returncode == 130, (out, err)
    lines = [line for line in err.splitlines() if line.strip() and "commit set(s) to process" not in line]
    assert len(lines) == 1 and "interrupted" in lines[0] and "resumes" in lines[0], err
    assert len(ran.read_text().splitlines()) == 1, "queued datums must not start after the interrupt"
    assert group_members(pid) == [], "the running datum's process group must be killed"
    with Engine(home, init=False) as e:
        [job] = e.jobs.jobs(pipeline="slow")
        assert job.state == "JOB_RUNNING" and counts(job) == (0, 0, 0)
        assert not e.running(), "no run holds the lock: the job is stopped, not running"
        assert e.store.head("slow") != job.id and tree(e, "slow") == {}
        assert e.pending(), "the commit set stays pending: the next run resumes it"
    quick.touch()
    out, err = start_cli(home, "run", "-q", env=FOLDER).communicate(timeout=60)
    assert "JOB_SUCCESS" in out, out + err
    with Engine(home, init=False) as e:
        assert tree(e, "slow") == {f"/f{i}": str(i).encode() for i in range(4)}
        assert fsck(e).ok


def test_kill_orphan_leaves_a_process_group_that_is_not_ours(tmp_path):
    from pipelines.pps.process import kill_orphan
    other = subprocess.Popen(["sleep", "30"], start_new_session=True, cwd=tmp_path)
    try:
        assert not kill_orphan(other.pid, "job", "datum", tmp_path / "sandbox")
        assert other.poll() is None, "someone else's group (reused id) must not be killed"
        mine = subprocess.Popen(["sleep", "30"], start_new_session=True, env=os.environ | {
            "PACH_JOB_ID": "job", "PACH_DATUM_ID": "datum"})
        assert kill_orphan(mine.pid, "job", "datum")
        assert mine.wait(5) == -signal.SIGKILL
    finally:
        other.kill()
        other.wait()

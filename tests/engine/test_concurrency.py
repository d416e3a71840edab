"""Independent work side by side (scheduler + pps/slots.py) on the real engine: the jobs of
one commit set run as soon as what they read is finished, independent ones concurrently,
with the same outputs, datums and provenance as a serial run; reprocess still forces
downstream; an interrupt stops every running job resumably. Overlap and order are proved
from the datum and job times the job store recorded, never from wall-clock budgets."""
from __future__ import annotations

import os
import signal
import time

import pytest

from pipelines.engine import Engine
from pipelines.pfs.fsck import fsck
from pipelines.pps.process import group_members

from .helpers import counts, logged, new_engine, pfs, put, sh_spec, start_cli, tree

pytestmark = pytest.mark.media

FOLDER = os.environ | {"PACHMEDIA_SANDBOX": "folder"}
FILES = {f"/f{i}": f"{i}".encode() for i in range(3)}


def dag(e: Engine, work: str = "sleep 0.4") -> None:
    """in -> up -> (left, right: independent) -> both (reads left and right)."""
    e.create_pipeline(sh_spec("up", pfs("in", "/*"), 'cp "$in" /pfs/out/'))
    for side in ("left", "right"):
        e.create_pipeline(sh_spec(side, pfs("up", "/*"), f'echo "RAN $up"; {work}; '
                                  f'tr 0-9 a-j < "$up" > "/pfs/out/$(basename "$up").{side}"'))
    e.create_pipeline(sh_spec("both", {"cross": [pfs("left", "/"), pfs("right", "/")]},
                              'cat /pfs/left/* /pfs/right/* > /pfs/out/all'))


def spans(e: Engine, pipeline: str, job_id: str) -> list[tuple[float, float]]:
    return [(d.started, d.finished) for d in e.jobs.datums(pipeline, job_id) if d.state == "SUCCESS"]


def snapshot(e: Engine) -> dict:
    """Per output repo: the head's files (path -> hash), its provenance's input repos and
    branches, and each datum (ids are hashes of input names and contents: equal across homes)
    with its state and outputs."""
    out = {}
    for p in e.dag_order():
        head = e.store.commit(p, e.store.head(p))
        [job] = [j for j in e.jobs.jobs(pipeline=p) if j.id == head.id]
        out[p] = ({f.path: f.hash for f in e.store.files(p, head.id)},
                  sorted((r, b) for r, b, _ in head.provenance),
                  {d.id: (d.state, tuple(e.jobs.datum_outputs(p, job.id, d.id))) for d in e.jobs.datums(p, job.id)})
    return out


def test_independent_pipelines_overlap_and_downstream_waits_for_upstream(tmp_path):
    e = new_engine(tmp_path, "in")
    dag(e)
    put(e, "in", FILES, tmp_path / "s")
    jobs = {j.pipeline: j for j in e.run(show_progress=False, slots=3)}
    assert {p: j.state for p, j in jobs.items()} == dict.fromkeys(("up", "left", "right", "both"), "JOB_SUCCESS")
    left, right = spans(e, "left", jobs["left"].id), spans(e, "right", jobs["right"].id)
    assert any(a0 < b1 and b0 < a1 for a0, a1 in left for b0, b1 in right), (left, right)
    for down, ups in (("left", ["up"]), ("right", ["up"]), ("both", ["left", "right"])):
        first = min(s for s, _ in spans(e, down, jobs[down].id))
        for up in ups:
            assert jobs[up].finished <= jobs[down].started <= first, (down, up)
            assert max(f for _, f in spans(e, up, jobs[up].id)) <= jobs[down].started
    e.close()


def test_outputs_datums_and_provenance_are_those_of_a_serial_run(tmp_path):
    got = {}
    for slots in (1, 3):
        e = new_engine(tmp_path / f"slots{slots}", "in")
        dag(e, work="true")
        put(e, "in", FILES, tmp_path / f"s{slots}")
        e.run(show_progress=False, slots=slots)
        put(e, "in", {"/f1": b"changed", "/f9": b"9"}, tmp_path / f"s{slots}", deletes=["/f0"])
        e.run(show_progress=False, slots=slots)
        got[slots] = snapshot(e)
        assert fsck(e).ok
        e.close()
    assert got[1]["both"][0] and got[1] == got[3]


def test_serial_slots_run_one_job_at_a_time_in_dag_order(tmp_path):
    e = new_engine(tmp_path, "in")
    dag(e, work="true")
    put(e, "in", FILES, tmp_path / "s")
    jobs = e.run(show_progress=False, slots=1)
    assert [j.pipeline for j in jobs] == e.dag_order()
    assert all(a.finished <= b.started for a, b in zip(jobs, jobs[1:]))
    e.close()


def test_reprocess_forces_every_downstream_reader_of_what_it_rewrote(tmp_path):
    e = new_engine(tmp_path, "in")
    dag(e, work="true")
    put(e, "in", FILES, tmp_path / "s")
    e.run(show_progress=False)
    e.request_reprocess("up", paths=["in:/f1"])
    jobs = {j.pipeline: j for j in e.run(show_progress=False, slots=3)}
    assert counts(jobs["up"]) == (1, 2, 0)
    for side in ("left", "right"):  # both readers of up's rewritten /f1, side by side
        assert counts(jobs[side]) == (1, 2, 0), side
        [ran] = e.jobs.datums(side, jobs[side].id, state="SUCCESS")
        assert [f["path"] for i in ran.inputs for f in i["files"]] == ["/f1"]
    assert counts(jobs["both"]) == (1, 0, 0)  # reads what left and right rewrote
    e.close()


def test_a_datum_of_lower_priority_runs_niced_while_a_higher_job_runs(tmp_path):
    e = new_engine(tmp_path, "in")
    show = 'echo "NICE $(nice)"; echo "GROUP $(cut -d" " -f3 /proc/self/autogroup)"; cp "$in" /pfs/out/'
    e.create_pipeline(sh_spec("hi", pfs("in", "/*"), show, metadata={"annotations": {"pachmedia.io/priority": "1"}}))
    e.create_pipeline(sh_spec("lo", pfs("in", "/*"), show))
    put(e, "in", {"/a": b"A"}, tmp_path / "s")
    e.run(show_progress=False, slots=2)
    base = os.nice(0)  # the engine's own (tests may run niced): datums inherit it
    assert logged(e.home, "hi", "NICE") == [f"NICE {base}"]
    assert logged(e.home, "lo", "NICE") == [f"NICE {min(19, base + 10)}"]
    # each datum is a session of its own: with autogroups the session's nice is what counts
    if os.path.exists("/proc/self/autogroup"):
        assert (logged(e.home, "hi", "GROUP"), logged(e.home, "lo", "GROUP")) == (["GROUP 0"], ["GROUP 10"])
    e.close()


def _wait_for(cond, timeout: float = 60, what: str = "") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupting_concurrent_jobs_leaves_all_resumable(tmp_path, sig):
    ran, quick = tmp_path / "ran.log", tmp_path / "quick"
    e = new_engine(tmp_path, "in")
    dag(e, work=f'echo "$$" >> {ran}; [ -e {quick} ] || sleep 30')
    put(e, "in", {f"/f{i}": f"{i}".encode() for i in range(4)}, tmp_path / "s")
    home = e.home
    e.close()
    proc = start_cli(home, "run", "-q", env=FOLDER | {"PACHMEDIA_SLOTS": "2"})
    _wait_for(lambda: ran.exists() and len(ran.read_text().split()) >= 2, what="a datum of left and of right")
    pids = [int(p) for p in ran.read_text().split()]
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=25)  # datums sleep 30 s: returning before proves they were stopped
    assert proc.returncode == 130, (out, err)
    lines = [line for line in err.splitlines() if line.strip() and "commit set(s) to process" not in line]
    assert len(lines) == 1 and "interrupted" in lines[0] and "resumes" in lines[0], err
    assert "left" in lines[0] and "right" in lines[0] and "2 killed" in lines[0], lines[0]
    assert len(ran.read_text().split()) == 2, "queued datums must not start after the interrupt"
    assert all(group_members(pid) == [] for pid in pids), "every running datum's group must be killed"
    with Engine(home, init=False) as e:
        for side in ("left", "right"):
            [job] = e.jobs.jobs(pipeline=side)
            assert job.state == "JOB_RUNNING" and counts(job) == (0, 0, 0)
            assert [d.state for d in e.jobs.datums(side, job.id)] == ["STARTING"]
            assert e.store.head(side) != job.id
        assert e.jobs.jobs(pipeline="both") == [] and e.pending()
    quick.touch()
    out, err = start_cli(home, "run", "-q", env=FOLDER).communicate(timeout=120)
    assert out.count("JOB_SUCCESS") == 3, out + err  # left, right, both (up had finished)
    with Engine(home, init=False) as e:
        assert tree(e, "left") == {f"/f{i}.left": "abcd"[i].encode() for i in range(4)}
        assert tree(e, "both") == {"/all": b"abcdabcd"}
        assert fsck(e).ok


def test_one_jobs_timeout_kills_that_job_alone(tmp_path):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("stuck", pfs("in", "/*"), 'sleep 30; cp "$in" /pfs/out/', jobTimeout="1s"))
    e.create_pipeline(sh_spec("fine", pfs("in", "/*"), 'sleep 0.8; cp "$in" /pfs/out/'))
    put(e, "in", {"/a": b"A", "/b": b"B"}, tmp_path / "s")
    jobs = {j.pipeline: j for j in e.run(show_progress=False, slots=2)}
    assert jobs["stuck"].state == "JOB_KILLED" and "jobTimeout" in jobs["stuck"].reason
    assert jobs["fine"].state == "JOB_SUCCESS" and tree(e, "fine") == {"/a": b"A", "/b": b"B"}
    assert min(s for s, _ in spans(e, "fine", jobs["fine"].id)) < jobs["stuck"].finished  # side by side
    assert [d.state for d in e.jobs.datums("stuck", jobs["stuck"].id)] == ["STARTING"]  # one started, one never
    e.close()


def test_kill_9_during_concurrent_jobs_then_resume_gives_the_same_outputs(tmp_path):
    e = new_engine(tmp_path, "in")
    dag(e, work="sleep 1")
    put(e, "in", {f"/f{i}": f"{i}".encode() for i in range(4)}, tmp_path / "s")
    home = e.home
    e.close()
    proc = start_cli(home, "run", "-q", env=os.environ | {"PACHMEDIA_SLOTS": "2"})
    _wait_for(lambda: logged(home, "left", "RAN") and logged(home, "right", "RAN"), what="left and right to run")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    with Engine(home, init=False) as e:
        for side in ("left", "right"):
            [job] = e.jobs.jobs(pipeline=side)
            assert job.state == "JOB_RUNNING" and e.store.head(side) != job.id and tree(e, side) == {}
        assert fsck(e).ok
    out, err = start_cli(home, "run", "-q").communicate(timeout=120)
    assert out.count("JOB_SUCCESS") == 3, out + err
    with Engine(home, init=False) as e:
        assert tree(e, "right") == {f"/f{i}.right": "abcd"[i].encode() for i in range(4)}
        assert tree(e, "both") == {"/all": b"abcdabcd"}
        assert fsck(e).ok

"""One scheduler: a run drains until nothing is pending, a commit landing as a run ends is
not stranded, `pachmedia run` during another run waits for it and reports what it did,
and cron inputs/triggers tick (Ticker.tick, what long-running processes call)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from .helpers import new_engine, pfs, sh_spec, start_cli, tree

pytestmark = pytest.mark.media

COPY = 'cp "$in" /pfs/out/'


def put(e, repo: str, files: dict[str, bytes], branch: str = "master") -> str:
    return e.put_files(repo, branch, [(p, io.BytesIO(b)) for p, b in files.items()]).id


@pytest.fixture
def eng(tmp_path):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("copy", pfs("in", "/*"), COPY))
    yield e
    e.close()


def test_a_run_keeps_going_until_nothing_is_pending(eng):
    put(eng, "in", {"/a": b"A"})
    later = iter([{"/b": b"B"}, {"/c": b"C"}])

    def on_job(job):  # commits landing while the run is busy
        files = next(later, None)
        if files:
            put(eng, "in", files)
    jobs = eng.run(show_progress=False, on_job=on_job)
    assert len(jobs) == 3 and eng.pending() == []
    assert tree(eng, "copy") == {"/a": b"A", "/b": b"B", "/c": b"C"}


def test_a_commit_landing_as_a_run_ends_is_not_stranded(eng, monkeypatch):
    """The commit's own background run is turned away by the lock; the ending run looks
    again once it lets go of the lock."""
    put(eng, "in", {"/a": b"A"})
    drain = eng.scheduler._drain
    calls = []

    def drain_then_commit(*args):
        done = drain(*args)
        if not calls:
            calls.append(put(eng, "in", {"/late": b"L"}))
            turned_away = subprocess.run([sys.executable, "-m", "pipelines.cli", "--home", str(eng.home), "run", "-q",
                                          "--background"], capture_output=True, text=True)
            assert turned_away.returncode == 0 and "another pachmedia is running jobs" in turned_away.stderr
        return done
    monkeypatch.setattr(eng.scheduler, "_drain", drain_then_commit)
    jobs = eng.run(show_progress=False)
    assert [j.id for j in jobs][-1] == calls[0] and eng.pending() == []
    assert tree(eng, "copy") == {"/a": b"A", "/late": b"L"}


def test_run_during_another_run_waits_for_it_and_reports_what_it_did(tmp_path):
    e = new_engine(tmp_path, "in")
    gate = tmp_path / "gate"
    e.create_pipeline(sh_spec("slow", pfs("in", "/*"), f'while [ ! -e {gate} ]; do sleep 0.05; done; {COPY}'))
    put(e, "in", {"/a": b"A"})
    e.close()
    home = tmp_path / "home"
    folder = os.environ | {"PACHMEDIA_SANDBOX": "folder"}  # the gate is a host file: no namespaces here
    first = start_cli(home, "run", "-q", env=folder)
    with new_engine(tmp_path) as watcher:
        deadline = time.monotonic() + 60
        while not watcher.running():  # the first run has the lock (and waits at the gate)
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
    second = start_cli(home, "run", "-q", env=folder)
    assert "waiting for it" in second.stderr.readline() + second.stderr.readline()
    gate.touch()
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0
    assert "slow@" in out and "JOB_SUCCESS" in out, out
    assert first.wait(timeout=120) == 0


def at(base: str, **delta) -> datetime:
    return datetime.fromisoformat(base).replace(tzinfo=timezone.utc) + timedelta(**delta)


@pytest.mark.parametrize("overwrite,files", [
    pytest.param(False, ["/2024-01-01T00:01:00Z", "/2024-01-01T00:02:00Z", "/2024-01-01T00:03:00Z"], id="ticks-add"),
    pytest.param(True, ["/2024-01-01T00:03:00Z"], id="overwrite"),
])
def test_cron_ticks_are_commits_to_the_tick_repo(tmp_path, overwrite, files):
    e = new_engine(tmp_path)
    e.create_pipeline(sh_spec("c", {"cron": {"name": "tick", "spec": "@every 60s", "overwrite": overwrite,
                                             "start": "2024-01-01T00:00:00Z"}}, 'cp "$tick" /pfs/out/'))
    assert e.store.repo("c_tick")["type"] == "user"
    assert e.scheduler.ticker.tick(at("2024-01-01T00:03:30")) == 3
    assert sorted(tree(e, "c_tick")) == files
    assert e.scheduler.ticker.tick(at("2024-01-01T00:03:50")) == 0, "counted from the newest tick file"
    jobs = e.run(show_progress=False)
    assert len(jobs) == 3 and all(j.state == "JOB_SUCCESS" for j in jobs)
    assert sorted(tree(e, "c")) == files, "each job sees the tick files of its commit"
    e.close()


def test_a_cron_trigger_moves_its_branch_on_schedule(eng):
    eng.create_pipeline(sh_spec("t", pfs("in", "/", trigger={"cronSpec": "@every 60s"}), "ls /pfs/in > /pfs/out/seen"))
    c = put(eng, "in", {"/a": b"A"})
    assert eng.store.head("in", "t-trigger-1") is None
    now = datetime.now(timezone.utc)
    assert eng.scheduler.ticker.tick(now + timedelta(seconds=90)) == 1
    assert eng.store.head("in", "t-trigger-1") == c
    assert eng.scheduler.ticker.tick(now + timedelta(seconds=100)) == 0
    ran = {j.pipeline for j in eng.run(show_progress=False)}
    assert ran == {"copy", "t"}
    assert tree(eng, "t") == {"/seen": b"a\n"}


def test_the_background_scheduler_of_a_long_running_process_ticks_cron_inputs(tmp_path):
    """What `s3 serve`, `play` and `serve` start: ticks are committed and processed on their own."""
    import io as _io
    from pipelines.scheduler import Background
    e = new_engine(tmp_path)
    e.create_pipeline(sh_spec("c", {"cron": {"name": "tick", "spec": "@every 1s", "overwrite": True}},
                              'cp "$tick" /pfs/out/'))
    log = _io.StringIO()
    bg = Background(e, log=log).start()
    try:
        deadline = time.monotonic() + 60
        while not any(j.state == "JOB_SUCCESS" for j in e.jobs.jobs(pipeline="c")):
            assert time.monotonic() < deadline, log.getvalue()
            time.sleep(0.1)
    finally:
        bg.stop()
    [name] = tree(e, "c")
    assert datetime.strptime(name, "/%Y-%m-%dT%H:%M:%SZ"), "the output is the tick file"
    e.close()

"""Faults: ffmpeg killed mid-encode (the datum is retried and the job completes), clamd
dying mid-stream (never a clean verdict), a corrupted object (fsck names it), gc racing
a put, a full disk under a job's datums, and unsafe or unusual names at put."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pipelines.engine import Engine
from pipelines.errors import InvalidName
from pipelines.pfs.fsck import fsck
from pipelines.services.clamd_daemon import ClamdService
from stages.core import records
from tests.fixtures.media import make_video

pytestmark = pytest.mark.media

ROOT = Path(__file__).resolve().parent.parent


def test_ffmpeg_killed_mid_encode_is_retried_and_the_job_completes(tmp_path, monkeypatch):
    marker = tmp_path / "killed-once"
    wrapper = tmp_path / "ffmpeg"
    # the first encode (the one with -progress) is killed by SIGKILL as it starts
    wrapper.write_text(f"""#!/bin/sh
case "$*" in *-progress*) if [ ! -e {marker} ]; then touch {marker}; kill -9 $$; fi;; esac
exec /usr/bin/ffmpeg "$@"
""")
    wrapper.chmod(0o755)
    # the wrapper's marker must outlive a try on the host (datums without namespaces), and the
    # wrapper reaches the stage through the spec's env (a datum inherits no other variable)
    monkeypatch.setenv("PACHMEDIA_SANDBOX", "folder")
    with Engine(tmp_path / "home") as e:
        spec = e.load_specs()["transcode"]
        spec["transform"]["env"] = {**(spec["transform"].get("env") or {}), "PACHMEDIA_FFMPEG": str(wrapper)}
        e.create_pipeline(spec)
        clip = make_video(tmp_path / "clip.mp4", seconds=4, size="640x360")
        e.put_files("media", "master", [("/clip.mp4", clip)])
        jobs = {j.pipeline: j for j in e.run(show_progress=False)}
        assert marker.exists()
        t = jobs["transcode"]
        assert t.state == "JOB_SUCCESS", t.reason
        [d] = e.jobs.datums("transcode", t.id)
        assert d.tries == 2
        assert jobs["catalog"].state == "JOB_SUCCESS"
        assert e.store.file("transcode", e.store.head("transcode"), "/clip.mp4/hls/master.m3u8")
        assert fsck(e).ok


def test_clamd_dying_mid_stream_is_never_clean(tmp_path):
    svc = ClamdService(tmp_path / "clamd")
    addr = svc.start()
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(300):
            f.write(os.urandom(1 << 20))
    killer = threading.Timer(0.3, lambda: os.killpg(svc.proc.pid, signal.SIGKILL))
    killer.start()
    try:
        r = subprocess.run([sys.executable, "-m", "stages.scan", "--media", str(big), "--out", str(tmp_path / "out"),
                            "--clamd", addr], capture_output=True, text=True, cwd=ROOT, timeout=120)
    finally:
        killer.cancel()
        svc.stop()
    clean = list((tmp_path / "out").glob("clean/*.json"))
    assert not clean, "a scan cut short must never be clean"
    if r.returncode == 0:
        [rec] = list((tmp_path / "out").glob("unscanned/*.json"))
        assert records.read_json(rec)["reason"] in ("stream_broken", "scan_error")
    else:
        assert "clamd" in r.stderr


def test_fsck_finds_a_corrupted_object(tmp_path):
    with Engine(tmp_path / "home", init=False) as e:
        e.store.create_repo("in")
        src = tmp_path / "x"
        src.write_bytes(b"precious bytes")
        c = e.put_files("in", "master", [("/x", src)])
        assert fsck(e).ok
        obj = e.store.objects.path(e.store.file("in", c.id, "/x").hash)
        os.chmod(obj, 0o644)
        obj.write_bytes(b"precious bytez")
        report = fsck(e)
        assert not report.ok and "corrupt object" in report.problems[0]


def test_gc_drops_only_unreferenced_objects(tmp_path):
    from pipelines.pfs.fsck import gc
    with Engine(tmp_path / "home", init=False) as e:
        e.store.create_repo("in")
        src = tmp_path / "x"
        src.write_bytes(b"kept")
        c = e.put_files("in", "master", [("/x", src)])
        orphan, _ = e.store.objects.add_bytes(b"left by an interrupted put")
        assert fsck(e).orphans == 1
        assert gc(e) == (1, len(b"left by an interrupted put"))
        assert not e.store.objects.has(orphan) and e.store.objects.has(e.store.file("in", c.id, "/x").hash)
        report = fsck(e)
        assert report.ok and report.orphans == 0


@pytest.mark.parametrize("name,ok", [
    pytest.param("видео интервью.mp4", True, id="unicode"),
    pytest.param("clip (final) [v2] #1 & more.mp4", True, id="punctuation"),
    pytest.param("-rf.mp4", True, id="leading-dash"),
    pytest.param("a" * 236 + ".mp4", True, id="240-bytes"),  # MAX_NAME_BYTES: room left for `<name>.json`
    pytest.param("a" * 237 + ".mp4", False, id="241-bytes"),
    pytest.param("é" * 128 + ".mp4", False, id="over-255-bytes-utf8"),
    pytest.param("../escape.mp4", False, id="dotdot"),
    pytest.param("new\nline.mp4", False, id="newline"),
    pytest.param("nul\x00.mp4", False, id="nul"),
    pytest.param("back\\slash.mp4", False, id="backslash"),
    pytest.param("dir/clip.mp4", False, id="separator"),
])
def test_upload_names(tmp_path, name, ok):
    with Engine(tmp_path / "home", init=False) as e:
        e.store.create_repo("media")
        src = tmp_path / "src"
        src.write_bytes(b"x")
        if ok:
            c = e.put_files("media", "master", [(f"/{name}", src)])
            assert [f.path for f in e.store.files("media", c.id)] == [f"/{name}"]
        else:
            with pytest.raises(InvalidName) as err:
                e.put_files("media", "master", [(f"/{name}", src)])
            assert "unsafe file name" in str(err.value)
            assert e.store.commits("media") == []


class _HeldStream:
    """A stream that gives one chunk, then waits (a put in flight) until released."""

    def __init__(self) -> None:
        self.started, self.release, self.sent = threading.Event(), threading.Event(), 0

    def read(self, n: int = -1) -> bytes:
        if self.sent == 0:
            self.sent = 1
            return b"first chunk "
        self.started.set()
        self.release.wait(30)
        if self.sent == 1:
            self.sent = 2
            return b"and the rest"
        return b""


def test_gc_waits_for_a_put_in_flight_and_spares_its_objects(tmp_path):
    from pipelines.pfs.fsck import gc
    with Engine(tmp_path / "home", init=False) as e:
        e.store.create_repo("in")
        stream, result = _HeldStream(), {}

        def put():
            try:
                result["commit"] = e.put_files("in", "master", [("/x", stream)])
            except Exception as err:  # noqa: BLE001 - the test reports it
                result["error"] = err
        putter = threading.Thread(target=put)
        putter.start()
        assert stream.started.wait(10)
        assert list(e.store.objects.tmp.iterdir()), "the put's temp object exists"
        collector = threading.Thread(target=lambda: result.setdefault("gc", gc(e)))
        collector.start()
        collector.join(0.5)
        assert collector.is_alive(), "gc must wait while a put holds the store lock"
        stream.release.set()
        putter.join(10)
        collector.join(10)
        assert "error" not in result, result.get("error")
        assert result["gc"] == (0, 0)
        c = result["commit"]
        with e.store.objects.open(e.store.file("in", c.id, "/x").hash) as f:
            assert f.read() == b"first chunk and the rest"
        assert fsck(e).ok


def test_a_temp_object_removed_under_a_put_is_a_clear_error(tmp_path):
    from pipelines.errors import StoreBusy

    class Vanishing:
        """Gives one chunk, then removes the temp file under it, as an unlocked gc did."""
        reads = 0

        def read(self, n=-1):
            self.reads += 1
            if self.reads == 1:
                return b"data"
            for p in e.store.objects.tmp.iterdir():
                p.unlink()
            return b""

    with Engine(tmp_path / "home", init=False) as e:
        e.store.create_repo("in")
        with pytest.raises(StoreBusy, match="vanished.*Nothing was committed"):
            e.put_files("in", "master", [("/x", Vanishing())])
        assert e.store.commits("in") == []


@pytest.fixture
def small_work_dir(tmp_path):
    """An engine whose datum sandboxes sit on a 4 MB tmpfs (the store stays on the big disk)."""
    from tests.engine.helpers import new_engine
    e = new_engine(tmp_path, "in")
    e.workspace.work_dir.mkdir(parents=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(e.workspace.work_dir)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        e.close()
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip()}): disk-full needs root")
    yield e
    e.close()
    subprocess.run(["umount", "-l", str(e.workspace.work_dir)], check=False)


def test_disk_full_during_a_job_fails_the_datum_clearly_and_a_rerun_completes(tmp_path, small_work_dir):
    from tests.engine.helpers import pfs, put, sh_spec, tree
    e = small_work_dir
    ballast = e.workspace.work_dir / "ballast"
    with open(ballast, "wb") as f:
        f.write(b"\0" * (3 << 20))  # 3 of the 4 MB taken by something else
    e.create_pipeline(sh_spec("fill", pfs("in", "/*"), 'head -c 2000000 /dev/zero > /pfs/out/big && cp "$in" /pfs/out/'))
    cid = put(e, "in", {"/a": b"A"}, tmp_path / "s")
    [job] = e.run(show_progress=False)
    assert job.state == "JOB_FAILURE"
    [d] = e.jobs.datums("fill", job.id)
    assert d.state == "FAILED" and "No space left on device" in d.reason, d.reason
    assert e.store.head("fill") != job.id and tree(e, "fill") == {}, "a failed job moves no head"
    assert e.store.files("fill", cid) == [], "nothing half-written in the job's commit"
    assert fsck(e).ok
    assert not list(e.workspace.work_dir.rglob("big")), "the failed datum's sandbox is cleared"
    ballast.unlink()  # space freed
    e.request_reprocess("fill", failed=True)
    jobs = e.run(show_progress=False)
    assert [j.state for j in jobs] == ["JOB_SUCCESS"], [j.reason for j in jobs]
    assert tree(e, "fill") == {"/a": b"A", "/big": b"\0" * 2000000}
    assert fsck(e).ok

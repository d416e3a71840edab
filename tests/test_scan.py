"""scan: verdicts from a real clamd for clean, infected (plain, archived, packed),
too-large and encrypted files; clamd down fails the datum and writes nothing."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from pipelines.services import clamd_daemon as service
from pipelines.services.signatures import (EICAR, TESTFILES, build_signature_db, db_version, read_header,
                                           signatures)
from stages.core import records
from stages.io.clamd_client import StreamResult
from stages.core.verdicts import decide_verdict
from stages.scan import scan_file

pytestmark = pytest.mark.media

ROOT = Path(__file__).resolve().parent.parent


def run_scan(media: Path, out: Path, address: str, settings: dict | None = None, tmp: Path | None = None):
    args = [sys.executable, "-m", "stages.scan", "--media", str(media), "--out", str(out), "--clamd", address]
    if settings is not None:
        sp = (tmp or out.parent) / "scan.json"
        sp.write_text(json.dumps(settings))
        args += ["--settings", str(sp)]
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=120)


def verdict(out: Path, name: str) -> dict:
    [path] = list(out.glob(f"*/{name}.json"))
    rec = records.read_json(path)
    records.validate("scan", rec)
    assert path.parent.name == rec["verdict"]
    return rec


@pytest.mark.parametrize("reply,error,size,limit,sent,expected", [
    pytest.param("stream: OK", None, 10, 100, 10, ("clean", None), id="ok"),
    pytest.param("stream: Eicar-Test-Signature FOUND", None, 68, 100, 68, ("infected", None), id="found"),
    pytest.param("INSTREAM size limit exceeded. ERROR", None, 10, 100, 4, ("unscanned", "too_large"), id="clamd-limit"),
    pytest.param("stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND", None, 10, 100, 10,
                 ("unscanned", "limits_exceeded"), id="exceeds-max"),
    pytest.param("stream: Heuristics.Limits.Exceeded.MaxScanSize FOUND", None, 10, 100, 10,
                 ("unscanned", "limits_exceeded"), id="exceeds-scan-size"),
    pytest.param("stream: Heuristics.Encrypted.Zip FOUND", None, 10, 100, 10, ("unscanned", "encrypted"), id="encrypted"),
    pytest.param(None, "connection closed before a reply", 10, 100, 10, ("unscanned", "stream_broken"), id="reset"),
    pytest.param("stream: OK", None, 101, 100, 0, ("unscanned", "too_large"), id="over-our-limit"),
    pytest.param("UNKNOWN COMMAND", None, 10, 100, 10, ("unscanned", "scan_error"), id="garbage"),
    pytest.param("stream: lstat() failed: No such file. ERROR", None, 10, 100, 10, ("unscanned", "scan_error"), id="error"),
    # OK vouches for what clamd received, nothing more
    pytest.param("stream: OK", None, 10, 100, 9, ("unscanned", "incomplete_stream"), id="ok-short-read"),
    pytest.param("stream: OK", None, 10, 100, 0, ("unscanned", "incomplete_stream"), id="ok-nothing-sent"),
    pytest.param("stream: OK", None, 10, 100, 11, ("unscanned", "incomplete_stream"), id="ok-file-grew"),
    pytest.param("stream: OK", None, 0, 100, 0, ("clean", None), id="ok-empty-file"),
    pytest.param("stream: Eicar-Test-Signature FOUND", None, 68, 100, 40, ("infected", None), id="found-in-a-part"),
])
def test_decide_verdict(reply, error, size, limit, sent, expected):
    d = decide_verdict(reply, error, size, limit, sent)
    assert (d["verdict"], d.get("reason")) == expected
    if d["verdict"] != "clean":
        assert d["message"]


class _ShortReadClamd:
    """A clamd adapter whose stream stopped one byte short yet was answered OK."""
    def instream(self, path, chunk):
        data = path.read_bytes()
        return StreamResult("stream: OK", None, hashlib.sha256(data).hexdigest(), len(data) - 1)


def test_scan_file_passes_what_was_sent_to_the_verdict(tmp_path):
    media = tmp_path / "clip.mp4"
    media.write_bytes(b"x" * 1000)
    rec = scan_file(media, _ShortReadClamd(), {"max_bytes": 4096, "chunk_bytes": 4096}, "ClamAV 1.4.6/1/x")
    records.validate("scan", rec)
    assert rec["verdict"] == "unscanned" and rec["reason"] == "incomplete_stream", rec
    assert "999 of the file's 1000 bytes" in rec["message"]


def test_clean_infected_and_archived(tmp_path, clamd, sample_mp4):
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(sample_mp4, media / "clip.mp4")
    (media / "eicar.mp4").write_bytes(EICAR)
    with zipfile.ZipFile(media / "eicar.zip", "w") as z:
        z.writestr("inner/readme.txt", EICAR)
    # deflated among other text, so the EICAR bytes are not in the upload: found only by unpacking
    with zipfile.ZipFile(media / "eicar-deflated.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("notes/readme.txt", b"meeting notes\n" * 200 + EICAR + b"\n" + b"more notes\n" * 200)
    assert EICAR not in (media / "eicar-deflated.zip").read_bytes()
    shutil.copy(TESTFILES / "clam.exe", media / "clam.exe")
    shutil.copy(TESTFILES / "clam.tar.gz", media / "clam.tar.gz")
    shutil.copy(TESTFILES / "clam-upx.exe", media / "clam-upx.exe")
    r = run_scan(media, tmp_path / "out", clamd)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    clean = verdict(out, "clip.mp4")
    assert clean["verdict"] == "clean" and clean["reply"] == "stream: OK"
    assert clean["sha256"] == records.sha256_file(media / "clip.mp4")
    assert clean["engine"].startswith("ClamAV 1.")
    # the project's DB is a daily container: clamd reports its version, the verdict carries it
    assert clean["database"] != "unknown"
    assert clean["database"].split("/")[0] == str(db_version(signatures())), clean["database"]
    for name in ("eicar.mp4", "eicar.zip", "eicar-deflated.zip", "clam.exe", "clam.tar.gz", "clam-upx.exe"):
        rec = verdict(out, name)
        assert rec["verdict"] == "infected", (name, rec)
        assert rec["signature"].startswith("Pachmedia.Test."), rec
        assert rec["database"] == clean["database"]


def test_every_clamav_testfile_is_detected(tmp_path, clamd):
    r = run_scan(TESTFILES, tmp_path / "out", clamd)
    assert r.returncode == 0, r.stderr
    total = len([p for p in TESTFILES.iterdir() if p.is_file()])
    infected = list((tmp_path / "out/infected").glob("*.json"))
    assert total >= 40 and len(infected) == total


def test_over_our_limit_is_unscanned_without_sending(tmp_path, clamd):
    media = tmp_path / "big.mp4"
    media.write_bytes(b"\0" * 5000)
    r = run_scan(media, tmp_path / "out", clamd,
                 {"max_bytes": 4096, "chunk_bytes": 4096, "timeout_s": 30}, tmp_path)
    assert r.returncode == 0, r.stderr
    rec = verdict(tmp_path / "out", "big.mp4")
    assert rec["verdict"] == "unscanned" and rec["reason"] == "too_large" and rec["reply"] == ""


def test_over_clamd_stream_limit_is_unscanned(tmp_path, small_clamd):
    media = tmp_path / "big.mp4"
    with open(media, "wb") as f:
        f.write(os.urandom(3 << 20))
    r = run_scan(media, tmp_path / "out", small_clamd)
    assert r.returncode == 0, r.stderr
    rec = verdict(tmp_path / "out", "big.mp4")
    assert rec["verdict"] == "unscanned" and rec["reason"] in ("too_large", "stream_broken"), rec
    assert rec["sha256"] == records.sha256_file(media)


def test_encrypted_zip_is_never_clean(tmp_path, clamd):
    media = tmp_path / "secret.zip"
    from tests.fixtures.zipcrypto import write_encrypted_zip
    write_encrypted_zip(media, "payload.txt", b"hello world", b"pw")
    r = run_scan(media, tmp_path / "out", clamd)
    assert r.returncode == 0, r.stderr
    rec = verdict(tmp_path / "out", "secret.zip")
    assert rec["verdict"] == "unscanned" and rec["reason"] == "encrypted", rec


def test_clamd_down_fails_the_datum_and_writes_nothing(tmp_path, sample_mp4):
    r = run_scan(sample_mp4, tmp_path / "out", f"unix://{tmp_path}/nothing.sock")
    assert r.returncode == 1
    assert r.stderr.strip().startswith("error: clamd at unix://") and "not reachable" in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.json"))


def test_signature_db_version_follows_the_signatures(tmp_path):
    files = tmp_path / "testfiles"
    files.mkdir()
    (files / "a.bin").write_bytes(b"one")
    db = build_signature_db(tmp_path / "db", files, now=1_700_000_000)
    first = read_header(db / "daily.cud")
    assert first == {"version": db_version(signatures(files)), "sigs": 2, "stime": 1_700_000_000}
    mtime = (db / "daily.cud").stat().st_mtime_ns
    build_signature_db(tmp_path / "db", files, now=1_800_000_000)  # same signatures: untouched
    assert (db / "daily.cud").stat().st_mtime_ns == mtime and read_header(db / "daily.cud") == first
    (files / "b.bin").write_bytes(b"two")
    build_signature_db(tmp_path / "db", files, now=1_800_000_000)
    second = read_header(db / "daily.cud")
    assert second["version"] != first["version"] and second["sigs"] == 3 and second["stime"] == 1_800_000_000


@pytest.mark.parametrize("upload", [1 << 20, 8 << 20, 100 << 20, service.MAX_STREAM, 5 << 30],
                         ids=["1MiB", "8MiB", "100MiB", "max", "over-max"])
def test_limits_report_a_member_clamav_had_to_cut(upload):
    lim = service.limits(upload)
    assert lim["limit"] == min(upload, service.MAX_STREAM)
    # a whole upload fits both the per-file limit and the scan budget
    assert lim["file"] >= lim["scan"] >= lim["limit"]
    # ClamAV cuts a member at MaxFileSize (up to one 8 KiB inflate buffer short) without an alert;
    # such a member must overflow MaxScanSize, which AlertExceedsMax reports
    assert lim["file"] - 8192 > lim["scan"]
    # MaxScanTime leaves a legit upload at the limit room to scan at 20 MB/s
    assert lim["scan_ms"] / 1000 * 20e6 >= lim["limit"]
    conf = service.render_config(service.LOCAL, upload, sock="s", pid="p", log="l", tmp="t", db="d")
    for key in ("StreamMaxLength", "MaxScanSize", "MaxFileSize", "MaxScanTime"):
        assert len([l for l in conf.splitlines() if l.startswith(key + " ")]) == 1, key
    assert "AlertExceedsMax yes" in conf


# -- the managed clamd's lifetime -----------------------------------------------------------------

def _gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


CHILD = """
import sys, time
from pathlib import Path
from pipelines.services.clamd_daemon import ClamdService
svc = ClamdService(Path(sys.argv[1]))
svc.start()
print(svc.proc.pid, flush=True)
time.sleep(120)
"""


def test_clamd_dies_with_an_engine_killed_by_sigkill(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "clamd")], stdout=subprocess.PIPE,
                             text=True, cwd=ROOT)
    try:
        pid = int(child.stdout.readline())
        assert service.is_our_clamd(pid, tmp_path / "clamd" / "clamd.conf")
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert _gone(pid, 5), f"clamd {pid} outlived the engine that started it"
    finally:
        child.kill()
        child.wait()


def _wait_until(cond, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_clamd_started_from_a_worker_thread_outlives_the_thread(tmp_path):
    svc = service.ClamdService(tmp_path / "clamd")
    worker = threading.Thread(target=svc.start)
    worker.start()
    worker.join(60)
    try:
        # once the thread's task is gone from /proc its exit (and any parent-death signal bound to
        # it) is complete: clamd must still answer
        _wait_until(lambda: not Path(f"/proc/self/task/{worker.native_id}").exists())
        assert svc.proc.poll() is None and svc.alive()
    finally:
        svc.stop()


def test_a_stale_clamd_of_the_same_home_is_stopped_before_a_new_one(tmp_path):
    old = service.ClamdService(tmp_path / "clamd")
    old.start()
    stale = old.proc.pid
    os.kill(stale, signal.SIGSTOP)  # hung: it no longer answers, but it holds the pid file
    (tmp_path / "clamd" / "clamd.sock").unlink()
    try:
        assert old.stale_pid() == stale
        with service.ClamdService(tmp_path / "clamd") as new:
            assert _gone(stale, 1) and new.proc.pid != stale and new.alive()
    finally:
        try:
            os.kill(stale, signal.SIGKILL)
        except ProcessLookupError:
            pass
        old.proc.wait(10)


def test_only_our_clamd_counts_as_ours(tmp_path, clamd):
    conf = Path(clamd.removeprefix("unix://")).parent / "clamd.conf"
    pid = int((conf.parent / "clamd.pid").read_text())
    assert service.is_our_clamd(pid, conf)
    assert not service.is_our_clamd(pid, tmp_path / "clamd.conf")  # another home's config
    assert not service.is_our_clamd(os.getpid(), conf)              # not a clamd
    (tmp_path / "clamd.pid").write_text(f"{os.getpid()}\n")         # a pid file naming someone else
    assert service.ClamdService(tmp_path).stale_pid() is None

"""scan: verdicts from a real clamd for clean, infected (plain, archived, packed),
too-large and encrypted files; clamd down fails the datum and writes nothing."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pipelines.services.signatures import EICAR, TESTFILES
from stages import records
from stages.scan import decide_verdict

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


@pytest.mark.parametrize("reply,error,size,limit,expected", [
    pytest.param("stream: OK", None, 10, 100, ("clean", None), id="ok"),
    pytest.param("stream: Eicar-Test-Signature FOUND", None, 68, 100, ("infected", None), id="found"),
    pytest.param("INSTREAM size limit exceeded. ERROR", None, 10, 100, ("unscanned", "too_large"), id="clamd-limit"),
    pytest.param("stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND", None, 10, 100,
                 ("unscanned", "limits_exceeded"), id="exceeds-max"),
    pytest.param("stream: Heuristics.Encrypted.Zip FOUND", None, 10, 100, ("unscanned", "encrypted"), id="encrypted"),
    pytest.param(None, "connection closed before a reply", 10, 100, ("unscanned", "stream_broken"), id="reset"),
    pytest.param("stream: OK", None, 101, 100, ("unscanned", "too_large"), id="over-our-limit"),
    pytest.param("UNKNOWN COMMAND", None, 10, 100, ("unscanned", "scan_error"), id="garbage"),
    pytest.param("stream: lstat() failed: No such file. ERROR", None, 10, 100, ("unscanned", "scan_error"), id="error"),
])
def test_decide_verdict(reply, error, size, limit, expected):
    d = decide_verdict(reply, error, size, limit)
    assert (d["verdict"], d.get("reason")) == expected
    if d["verdict"] != "clean":
        assert d["message"]


def test_clean_infected_and_archived(tmp_path, clamd, sample_mp4):
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(sample_mp4, media / "clip.mp4")
    (media / "eicar.mp4").write_bytes(EICAR)
    with zipfile.ZipFile(media / "eicar.zip", "w") as z:
        z.writestr("inner/readme.txt", EICAR)
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
    for name in ("eicar.mp4", "eicar.zip", "clam.exe", "clam.tar.gz", "clam-upx.exe"):
        rec = verdict(out, name)
        assert rec["verdict"] == "infected", (name, rec)
        assert rec["signature"].startswith("Pachmedia.Test."), rec


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

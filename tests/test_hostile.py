"""Hostile uploads beyond the basics: nested archives past ClamAV's limits, zip bombs, a polyglot
JPEG+ZIP hiding EICAR, an archive posing as a video, an MP4 whose header claims 10 hours;
and a full disk, which must lose nothing."""
from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from pipelines.engine import Engine
from pipelines.errors import PachmediaError
from pipelines.pfs.fsck import fsck
from pipelines.services.signatures import EICAR
from tests.fixtures.media import OPENCV_DOC
from tests.fixtures.stages import ROOT, run_stage, stage_record as record
from tests.fixtures.zipcrypto import zip_bomb

pytestmark = pytest.mark.media

def nested_zip(depth: int, payload: bytes) -> bytes:
    data = payload
    for level in range(depth):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(f"level{level}.zip" if level else "payload.txt", data)
        data = buf.getvalue()
    return data


def test_scan_verdicts_for_archives_and_polyglots(tmp_path, clamd):
    media = tmp_path / "media"
    media.mkdir()
    (media / "deep.zip").write_bytes(nested_zip(25, b"harmless text"))  # past MaxRecursion 16
    jpeg = (OPENCV_DOC / "baboon.jpg").read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", EICAR)
    (media / "polyglot.jpg").write_bytes(jpeg + buf.getvalue())  # a valid JPEG that is also a zip
    (media / "shallow.zip").write_bytes(nested_zip(3, b"harmless text"))
    run_stage("scan", media, tmp_path / "out", "--clamd", clamd)
    deep = record(tmp_path / "out", "deep.zip", "scan")
    assert deep["verdict"] == "unscanned" and deep["reason"] == "limits_exceeded", deep
    poly = record(tmp_path / "out", "polyglot.jpg", "scan")
    assert poly["verdict"] == "infected", poly
    assert record(tmp_path / "out", "shallow.zip", "scan")["verdict"] == "clean"


def test_zip_bombs_are_unscanned_quickly_not_clean(tmp_path, limited_clamd):
    """3 GiB of zeros in a 3 MB zip, with honest and with lying headers. ClamAV cuts the member
    at MaxFileSize without an alert; the project's MaxScanSize (below MaxFileSize) is what makes
    that cut reported. With the real 2000 MiB limit the same bomb takes ~7 s and ~2 GB of temp
    files; under the defaults (MaxScanSize > MaxFileSize) it came back `stream: OK` after 28 s."""
    media = tmp_path / "media"
    media.mkdir()
    zip_bomb(media / "bomb.zip", 3072)
    zip_bomb(media / "liar.zip", 3072, declared=1000)
    zip_bomb(media / "zeros.zip", 4)  # 4 MiB of zeros: within every limit, so scanned and clean
    assert (media / "bomb.zip").stat().st_size < 4 << 20 < limited_clamd.limit
    with zipfile.ZipFile(media / "bomb.zip") as z:
        assert z.infolist()[0].file_size == 3 << 30
    run_stage("scan", media, tmp_path / "out", "--clamd", limited_clamd.address)
    for name in ("bomb.zip", "liar.zip"):
        rec = record(tmp_path / "out", name, "scan")
        assert rec["verdict"] == "unscanned" and rec["reason"] == "limits_exceeded", rec
        assert rec["signature"].startswith("Heuristics.Limits.Exceeded."), rec
    assert record(tmp_path / "out", "zeros.zip", "scan")["verdict"] == "clean"


def mp4_claiming_hours(path: Path, src: Path, hours: int) -> Path:
    """An MP4 whose movie header (mvhd) claims `hours` though it holds a few seconds."""
    d = bytearray(src.read_bytes())
    m = d.find(b"mvhd")
    assert d[m + 4] == 0, "expects a version-0 mvhd"
    timescale = struct.unpack(">I", d[m + 16:m + 20])[0]
    struct.pack_into(">I", d, m + 20, timescale * 3600 * hours)
    path.write_bytes(bytes(d))
    return path


def test_probe_rejects_a_lying_duration_and_an_archive_posing_as_video(tmp_path, sample_mp4):
    media = tmp_path / "media"
    media.mkdir()
    mp4_claiming_hours(media / "ten-hours.mp4", sample_mp4, 10)
    shutil.copy(ROOT / "pyproject.toml", media / "notes.mp4")
    (media / "archive.mp4").write_bytes(nested_zip(1, b"x" * 1000))
    run_stage("probe", media, tmp_path / "out")
    long = record(tmp_path / "out", "ten-hours.mp4", "probe")
    assert long["status"] == "rejected" and long["reason"] == "too_long", long
    assert "36000s" in long["message"]
    assert record(tmp_path / "out", "archive.mp4", "probe")["reason"] == "not_media"
    notes = record(tmp_path / "out", "notes.mp4", "probe")  # ffprobe may guess a text format (lrc)
    assert notes["reason"] in ("not_media", "unsupported_container") and notes["status"] == "rejected"


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip()}): disk-full needs root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_during_put_loses_nothing(tmp_path, small_disk):
    with Engine(small_disk / "home", init=False) as e:
        e.store.create_repo("media")
        ok = tmp_path / "ok.bin"
        ok.write_bytes(os.urandom(1 << 20))
        first = e.put_files("media", "master", [("/ok.mp4", ok)])
        big = tmp_path / "big.bin"
        with open(big, "wb") as f:
            f.write(os.urandom(40 << 20))
        with pytest.raises(PachmediaError, match="no space left .* nothing was committed"):
            e.put_files("media", "master", [("/big.mp4", big)])
        assert e.store.head("media") == first.id
        assert [f.path for f in e.store.files("media", first.id)] == ["/ok.mp4"]
        assert fsck(e).ok
        again = e.put_files("media", "master", [("/ok2.mp4", ok)])  # space is back: it works
        assert {f.path for f in e.store.files("media", again.id)} == {"/ok.mp4", "/ok2.mp4"}

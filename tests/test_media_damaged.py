"""A long upload with a damaged middle passes probe (which decodes only its start and
end), then makes ffmpeg write far more than a pipe holds (64 KB) of decoder errors:
transcode and labels must drain that as they go and finish, never stall."""
from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from stages.core import records
from stages.io.media_io import StderrTail
from tests.fixtures.media import ffmpeg

pytestmark = pytest.mark.media

ROOT = Path(__file__).resolve().parent.parent
BOUND_S = 90  # both stages take a few seconds on this clip; a stall hits the bound and fails


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> Path:
    """30 s of 160x120 H.264 (~1 MB) whose middle half is overwritten with noise."""
    d = tmp_path_factory.mktemp("damaged")
    clean = d / "clean.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=30", "-f", "lavfi", "-i",
           "sine=frequency=440:duration=30", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-shortest", str(clean))
    data = bytearray(clean.read_bytes())
    n = len(data)
    data[n // 4: 3 * n // 4] = random.Random(7).randbytes(3 * n // 4 - n // 4)
    path = d / "damaged.mp4"
    path.write_bytes(bytes(data))
    noise = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
                           capture_output=True, timeout=BOUND_S).stderr
    assert len(noise) > 2 * 65536, "the clip must out-write a pipe buffer, or the test proves nothing"
    return path


def run(stage: str, media: Path, out: Path) -> subprocess.CompletedProcess:
    """The stage's CLI, bounded: a stall raises TimeoutExpired (a failure) instead of hanging the suite."""
    return subprocess.run([sys.executable, "-m", f"stages.{stage}", "--media", str(media), "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=BOUND_S)


def refused(out: Path, stage: str) -> bool:
    """Refusing the upload is fine, as a record saying why (the datum still succeeds)."""
    path = out / "damaged.mp4" / "rejected.json"
    if not path.exists():
        return False
    rej = records.read_json(path)
    records.validate("rejection", rej)
    assert rej["stage"] == stage and rej["message"].startswith("damaged.mp4"), rej
    return True


def test_transcode_finishes_on_a_damaged_middle(damaged, tmp_path):
    r = run("transcode", damaged, tmp_path / "out")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    if refused(tmp_path / "out", "transcode"):
        return
    rec = records.read_json(tmp_path / "out/damaged.mp4/package.json")
    records.validate("transcode", rec)
    assert rec["decoder_errors"]["lines"] > 100 and rec["decoder_errors"]["last"]
    assert "Last message repeated" not in rec["decoder_errors"]["last"]


def test_labels_finishes_on_a_damaged_middle(damaged, tmp_path):
    r = run("labels", damaged, tmp_path / "out")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    if refused(tmp_path / "out", "labels"):
        return
    rec = records.read_json(tmp_path / "out/damaged.mp4/labels.json")
    records.validate("labels", rec)
    assert rec["analysis"]["frames"] >= 30 * 10 // 2  # 30 s at 10 fps: frames kept coming past the damage
    errors = rec["analysis"]["decoder_errors"]
    assert errors["lines"] > 100 and errors["last"] and "Last message repeated" not in errors["last"]


def test_stderr_tail_keeps_the_last_bytes_and_counts_every_line():
    import io
    lines = [f"error {i}: concealing errors in frame\n".encode() for i in range(5000)]
    tail = StderrTail(io.BufferedReader(io.BytesIO(b"".join(lines))), limit=1000)
    tail.run()
    assert tail.lines == 5000
    text = tail.text()
    assert len(text) <= 1000 and text.endswith("error 4999: concealing errors in frame\n")
    assert text.startswith("error ")  # begins at a whole line


def test_stderr_tail_returns_a_short_stderr_whole():
    import io
    err = b"[h264 @ 0x1] error while decoding MB 3 4\nlast line without newline"
    tail = StderrTail(io.BufferedReader(io.BytesIO(err)), limit=1000)
    tail.run()
    assert (tail.text(), tail.lines) == (err.decode(), 1)

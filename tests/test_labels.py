"""labels on real media: known cuts found within one analysis frame, faces in real
footage (opencv-doc's Megamind clip), loudness and an inserted silence in audio."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from stages.core import records
from tests.fixtures.media import OPENCV_DOC, ffmpeg

pytestmark = pytest.mark.media

ROOT = Path(__file__).resolve().parent.parent


def run_labels(media: Path, out: Path, settings: dict | None = None) -> dict:
    args = [sys.executable, "-m", "stages.labels", "--media", str(media), "--out", str(out)]
    if settings:
        sp = out.parent / "labels.json"
        sp.write_text(json.dumps(settings))
        args += ["--settings", str(sp)]
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    rec = records.read_json(out / media.name / "labels.json")
    records.validate("labels", rec)
    return rec


CUTS = (2.0, 4.0, 5.36)  # 5.36 s (frame 134 at 25 fps) falls between two 10 fps analysis frames


@pytest.fixture(scope="module")
def cuts_video(tmp_path_factory):
    """Hard cuts at 2.0 s, 4.0 s and 5.36 s, then a fade to black from 7 s to 8 s (not a cut)."""
    d = tmp_path_factory.mktemp("cuts")
    path = d / "cuts.mp4"
    parts = ["testsrc2=size=640x360:rate=25:duration=2", "smptebars=size=640x360:rate=25:duration=2",
             "mandelbrot=size=640x360:rate=25,trim=duration=1.36", "rgbtestsrc=size=640x360:rate=25:duration=2.64"]
    args = []
    for p in parts:
        args += ["-f", "lavfi", "-i", p]
    ffmpeg(*args, "-filter_complex",
           "[0:v][1:v][2:v][3:v]concat=n=4:v=1,fade=t=out:st=7:d=1,format=yuv420p[v]",
           "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", str(path))
    return path


def test_known_cuts_are_found_within_one_frame(cuts_video, tmp_path):
    rec = run_labels(cuts_video, tmp_path / "out")
    fps = rec["analysis"]["fps"]
    starts = [s["start"] for s in rec["scenes"]]
    assert len(starts) == len(CUTS) + 1 == rec["summary"]["scene_count"], starts  # each cut once, the fade none
    assert starts[0] == 0.0 and "decoder_errors" not in rec["analysis"]  # a clean decode says nothing
    for cut, found in zip(CUTS, starts[1:]):
        assert abs(found - cut) <= 1 / fps + 1e-6, (cut, starts)
    for s, nxt in zip(rec["scenes"], rec["scenes"][1:]):
        assert s["end"] == nxt["start"]
    for s in rec["scenes"]:
        assert (tmp_path / "out" / s["keyframe"]).is_file()
        assert s["start"] < s["end"]
    assert abs(rec["scenes"][-1]["end"] - 8.0) <= 1 / fps + 1e-6
    assert (tmp_path / "out" / rec["contact_sheet"]).is_file()


def test_real_footage_has_scenes_and_faces(tmp_path):
    src = OPENCV_DOC / "Megamind.avi"
    assert src.is_file(), "opencv-doc is installed by make setup"
    rec = run_labels(src, tmp_path / "out")
    assert len(rec["scenes"]) >= 2
    assert rec["summary"]["faces_seen"] >= 1 and "faces" in rec["summary"]["labels"]
    face_scene = next(s for s in rec["scenes"] if s["faces"]["count"])
    x, y, w, h = face_scene["faces"]["boxes"][0]
    assert 0 <= x and x + w <= rec["analysis"]["width"] and 0 <= y and y + h <= rec["analysis"]["height"]


MESSI = OPENCV_DOC / "messi5.jpg"


def one_second_of(picture: Path, path: Path, size: str, sar: str) -> Path:
    """One second of `picture` letterboxed to 16:9, stored at `size` with pixel aspect `sar`."""
    w, h = size.split("x")
    ffmpeg("-loop", "1", "-i", str(picture), "-t", "1", "-r", "25",
           "-vf", f"scale=576:360,pad=640:360:32:0,scale={w}:{h}:flags=lanczos,setsar={sar}",
           "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-pix_fmt", "yuv420p", str(path))
    return path


@pytest.mark.parametrize("size,sar", [("480x360", "4/3"), ("720x576", "64/45")], ids=["anamorphic-4:3-pixels", "pal-16:9"])
def test_anamorphic_sources_are_analysed_as_displayed(tmp_path, size, sar):
    """The same 16:9 picture stored with square pixels and anamorphically: labels sees (and
    writes) the picture as displayed, so keyframes keep the display aspect and face boxes,
    in the declared space, fall where they fall on the square-pixel version."""
    assert MESSI.is_file(), "opencv-doc is installed by make setup"
    square = run_labels(one_second_of(MESSI, tmp_path / "square.mp4", "640x360", "1"), tmp_path / "sq")
    rec = run_labels(one_second_of(MESSI, tmp_path / "anamorphic.mp4", size, sar), tmp_path / "out")
    key = tmp_path / "out" / rec["scenes"][0]["keyframe"]
    assert cv2.imread(str(key)).shape[:2] == (270, 480)  # the keyframe at the display aspect
    sheet = cv2.imread(str(tmp_path / "out" / rec["contact_sheet"]))
    assert sheet.shape[:2] == (136, 240)  # one tile, 240 wide at 16:9 (even)
    face = max(square["scenes"][0]["faces"]["boxes"], key=lambda b: b[2])
    found = max(rec["scenes"][0]["faces"]["boxes"], key=lambda b: b[2], default=None)
    assert found and all(abs(a - b) <= 6 for a, b in zip(found, face)), (found, face)
    for r in (square, rec):
        assert (r["analysis"]["width"], r["analysis"]["height"], r["analysis"].get("space")) == (480, 270, "display")


def test_audio_loudness_and_an_inserted_silence(tmp_path):
    path = tmp_path / "talk.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=2", "-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono:d=1.5",
           "-f", "lavfi", "-i", "sine=frequency=500:duration=2",
           "-filter_complex", "[0][1][2]concat=n=3:v=0:a=1", str(path))
    rec = run_labels(path, tmp_path / "out")
    assert rec["kind"] == "audio" and rec["scenes"] == [] and rec["contact_sheet"] is None
    assert rec["audio"]["loudness"]["integrated_lufs"] < -10
    [gap] = rec["audio"]["silences"]
    assert abs(gap["start"] - 2.0) < 0.1 and abs(gap["end"] - 3.5) < 0.1

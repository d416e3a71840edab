"""labels on real media: known cuts found within one analysis frame, faces in real
footage (opencv-doc's Megamind clip), interlaced sources analysed deinterlaced, loudness
and an inserted silence in audio."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from stages import labels
from stages.common import default_settings
from stages.core import records
from stages.core.source import source_info
from tests.fixtures import ladder_media as lm
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
    assert rec["analysis"]["deinterlaced"] is None  # progressive H.264 (it says so): no idet, no bwdif
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


INTERLACED = {  # 50 fields/s woven top field first (tests.fixtures.ladder_media.MOVING_GRADIENT), 320x240 as coded
    "stated.ts": lambda p: lm.make_interlaced(p, stated=True),
    "unflagged.avi": lambda p: lm.make_interlaced(p, stated=False),
    "sideways-stated.mp4": lambda p: lm.make_rotated_interlaced(p, stated=True),
    "sideways-unflagged.mp4": lambda p: lm.make_rotated_interlaced(p, stated=False),
}


def idet_of_analysis_frames(media: Path) -> tuple[int, int, str | None]:
    """(interlaced, progressive) frames as idet's multi-frame detection counts them, on the
    frames labels analyses (its own decode: every keyframe, face and colour comes from them),
    turned back to the coded orientation (a sideways source's fields are rows only there), and
    the field the decode deinterlaced first."""
    decode = labels.analysis_decode(media, source_info(media, None), default_settings("labels"))
    turn = "transpose=cclock," if decode.width < decode.height else ""
    decoder = subprocess.Popen(decode.args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        r = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-f", "rawvideo", "-pix_fmt", "bgr24",
                            "-s", f"{decode.width}x{decode.height}", "-i", "-",
                            "-vf", f"{turn}format=yuv420p,idet", "-f", "null", "-"],
                           stdin=decoder.stdout, capture_output=True, text=True, timeout=120)
    finally:
        decoder.stdout.close()
        decoder.wait(timeout=60)
    t, b, p = (int(x) for x in re.findall(r"Multi frame detection: TFF:\s*(\d+) BFF:\s*(\d+) Progressive:\s*(\d+)",
                                          r.stderr)[-1])
    return t + b, p, decode.deinterlaced


@pytest.mark.parametrize("name", list(INTERLACED))
def test_interlaced_sources_are_analysed_deinterlaced(tmp_path, name):
    """Labels deinterlaces as transcode does (stated field order, else idet's verdict; bwdif on
    the coded fields before the turn, the sampling and the scaling): its analysis frames are
    progressive to idet (woven, all 20 were combed), the record says which field came first,
    and keyframes keep the display orientation."""
    src = INTERLACED[name](tmp_path / name)
    interlaced, progressive, parity = idet_of_analysis_frames(src)
    assert parity == "tff" and interlaced <= 2 and progressive >= 15, (parity, interlaced, progressive)
    rec = run_labels(src, tmp_path / "out")
    assert rec["analysis"]["deinterlaced"] == "tff", rec["analysis"]
    shape = (320, 240) if name.startswith("sideways") else (240, 320)
    assert (rec["analysis"]["height"], rec["analysis"]["width"]) == shape
    assert cv2.imread(str(tmp_path / "out" / rec["scenes"][0]["keyframe"])).shape[:2] == shape

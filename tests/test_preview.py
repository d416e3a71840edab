"""preview: one fast, low rendition of a video (HLS + DASH over shared segments, verified),
never above the source; nothing for audio or stills; its settings checked."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stages.core import records
from stages.io import media_io
from tests.fixtures.media import OPENCV_DOC, make_audio, make_video

pytestmark = pytest.mark.media

ROOT = Path(__file__).resolve().parent.parent


def run_preview(media: Path, out: Path, settings: dict | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "stages.preview", "--media", str(media), "--out", str(out)]
    if settings is not None:
        sp = out.parent / "preview.json"
        sp.write_text(json.dumps(settings))
        args += ["--settings", str(sp)]
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_a_video_gets_one_low_rendition_in_hls_and_dash(tmp_path):
    src = make_video(tmp_path / "clip.mp4", seconds=4, size="1280x720")
    r = run_preview(src, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    pkg = tmp_path / "out" / "clip.mp4"
    rec = records.read_json(pkg / "package.json")
    records.validate("transcode", rec)
    assert [(x["name"], x["width"], x["height"]) for x in rec["renditions"]] == [("360p", 640, 360)]
    assert rec["settings"]["preset"] == "superfast" and rec["verified"]["representations"] >= 2  # video + audio
    master = (pkg / "hls/master.m3u8").read_text()
    assert master.count("#EXT-X-STREAM-INF") == 1 and "RESOLUTION=640x360" in master
    assert (pkg / "dash/manifest.mpd").is_file() and (pkg / "poster.jpg").is_file()
    ff, _ = media_io.probe(pkg / "poster.jpg", 30, max_pixels=640 * 360)
    assert ff is not None


def test_never_above_the_source_and_settings_are_honoured(tmp_path):
    src = make_video(tmp_path / "small.mp4", seconds=2, size="320x180", audio=False)
    r = run_preview(src, tmp_path / "out", {"height": 240, "maxrate_kbps": 400, "preset": "ultrafast", "crf": 30})
    assert r.returncode == 0, r.stderr
    rec = records.read_json(tmp_path / "out/small.mp4/package.json")
    assert [(x["width"], x["height"]) for x in rec["renditions"]] == [(320, 180)]
    assert rec["settings"]["preset"] == "ultrafast" and rec["settings"]["crf"] == 30


@pytest.mark.parametrize("make", [
    pytest.param(lambda d: make_audio(d / "tone.mp3", seconds=2), id="audio"),
    pytest.param(lambda d: OPENCV_DOC / "messi5.jpg", id="still"),
])
def test_audio_and_stills_get_no_preview(make, tmp_path):
    r = run_preview(make(tmp_path), tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "no preview" in r.stdout
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_bad_settings_fail_the_datum_naming_the_file(tmp_path):
    src = make_video(tmp_path / "clip.mp4", seconds=1, size="320x180", audio=False)
    r = run_preview(src, tmp_path / "out", {"height": 360, "maxrate_kbps": 800, "preset": "placebo", "crf": 23})
    assert r.returncode == 1 and "settings/preview.json" in r.stderr and "placebo" in r.stderr

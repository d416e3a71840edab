"""Metadata hygiene: an upload's tags (title, GPS location, chapters) never reach a
published manifest or segment, and the probe record drops location tags, saying only
that there was one (gps_present), as still derivatives do for EXIF GPS."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stages.core.probe_metadata import split_location
from tests.fixtures.media import ffmpeg
from tests.fixtures.stages import run_stage, stage_record

pytestmark = pytest.mark.media

PLACE = "+48.8577+002.2950+035.000/"


@pytest.fixture(scope="module")
def tagged(tmp_path_factory) -> Path:
    """A phone-like MP4: title, QuickTime location (©xyz) and the Apple ISO 6709 key, a chapter."""
    d = tmp_path_factory.mktemp("tagged")
    chapters = d / "meta.txt"
    chapters.write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=Secret Chapter\n")
    path = d / "trip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2", "-f", "lavfi", "-i", "sine=duration=2",
           "-i", str(chapters), "-map", "0", "-map", "1", "-map_chapters", "2",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
           "-metadata", "title=Secret Title", "-metadata", "location=+48.8577+002.2950/",
           "-metadata", f"com.apple.quicktime.location.ISO6709={PLACE}", "-movflags", "use_metadata_tags",
           str(path))
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags:chapter_tags", "-of", "json", str(path)],
                       capture_output=True, text=True, check=True)
    assert "Secret Title" in r.stdout and PLACE in r.stdout and "Secret Chapter" in r.stdout, "fixture lost its tags"
    return path


def test_the_probe_record_keeps_no_location(tagged, tmp_path):
    run_stage("probe", tagged, tmp_path / "out")
    rec = stage_record(tmp_path / "out", "trip.mp4", "probe")
    assert rec["status"] == "valid" and rec["gps_present"] is True
    text = json.dumps(rec)
    assert "48.85" not in text and "location" not in text.lower() and "ISO6709" not in text
    assert rec["tags"]["title"] == "Secret Title"  # other tags stay (the record is internal)


def test_a_video_without_location_says_so(sample_mp4, tmp_path):
    run_stage("probe", sample_mp4, tmp_path / "out")
    assert stage_record(tmp_path / "out", sample_mp4.name, "probe")["gps_present"] is False


@pytest.mark.parametrize("tags,kept,gps", [
    pytest.param({"location": "+48.8577+002.2950/", "title": "x"}, {"title": "x"}, True, id="quicktime"),
    pytest.param({"location-eng": "+48.8+002.2/"}, {}, True, id="quicktime-lang"),
    pytest.param({"com.apple.quicktime.location.ISO6709": PLACE}, {}, True, id="apple"),
    pytest.param({"com.android.gps": "1"}, {}, True, id="android"),
    pytest.param({"comment": "+40.7484-073.9857/"}, {}, True, id="iso6709-value-under-any-key"),
    pytest.param({"comment": "shot on +1 day", "encoder": "Lavf"}, {"comment": "shot on +1 day", "encoder": "Lavf"},
                 False, id="no-location"),
])
def test_split_location(tags, kept, gps):
    assert split_location(tags) == (kept, gps)


def test_published_files_carry_no_upload_metadata(tagged, tmp_path):
    run_stage("transcode", tagged, tmp_path / "out")
    pkg = tmp_path / "out/trip.mp4"
    mpd = (pkg / "dash/manifest.mpd").read_text()
    assert "<Title>" not in mpd and "Secret" not in mpd
    for f in sorted(pkg.rglob("*")):
        if f.is_file():
            data = f.read_bytes()
            assert b"Secret" not in data and b"48.8577" not in data and b"ISO6709" not in data, f.name
    init = pkg / "dash/init-0.m4s"
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags:chapter", "-of", "json",
                        "-f", "mov", str(init)], capture_output=True, text=True, check=True)
    out = json.loads(r.stdout)
    assert not out.get("chapters") and "title" not in (out.get("format") or {}).get("tags", {})

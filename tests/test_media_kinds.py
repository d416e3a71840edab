"""Beyond video: stills (real photos from opencv-doc, generated PNG/WebP/GIF) and audio,
through probe, transcode and labels, and the whole DAG."""
from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from pipelines.engine import Engine
from stages.core import records
from stages.io.still import metadata_of
from tests.fixtures.media import OPENCV_DOC, ffmpeg, make_audio
from tests.fixtures.stages import run_stage as stage, stage_record

pytestmark = pytest.mark.media

def png_with_header(path: Path, w: int, h: int) -> Path:
    """A tiny PNG whose header claims w x h: a decompression bomb if anything decoded it."""
    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def stills(tmp_path_factory):
    d = tmp_path_factory.mktemp("stills")
    shutil.copy(OPENCV_DOC / "baboon.jpg", d / "baboon.jpg")
    shutil.copy(OPENCV_DOC / "pic1.png", d / "pic1.png")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=1:duration=1", "-frames:v", "1", str(d / "frame.webp"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=5:duration=1", str(d / "anim.gif"))
    data = (d / "baboon.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 4])
    png_with_header(d / "bomb-30k.png", 30000, 30000)
    png_with_header(d / "bomb-10k.png", 10000, 10000)
    return d


def test_probe_accepts_stills_and_refuses_bombs_and_truncation(stills, tmp_path):
    stage("probe", stills, tmp_path / "out")
    for name in ("baboon.jpg", "pic1.png", "frame.webp", "anim.gif"):
        rec = stage_record(tmp_path / "out", name, "probe")
        assert rec["status"] == "valid" and rec["kind"] == "image", rec
        assert rec["container"]["demuxer"].endswith("_pipe") or rec["container"]["demuxer"] == "gif"
    assert stage_record(tmp_path / "out", "truncated.jpg", "probe")["reason"] == "decode_error"
    assert stage_record(tmp_path / "out", "bomb-10k.png", "probe")["reason"] == "dimensions_too_large"
    assert stage_record(tmp_path / "out", "bomb-30k.png", "probe")["reason"] in ("bad_dimensions", "dimensions_too_large")


def test_a_still_named_like_a_sequence_pattern_opens_nothing_else(tmp_path):
    """ffmpeg's image2 demuxer would read img%03d.jpg as img001.jpg, img002.jpg, ..."""
    up = tmp_path / "up"
    up.mkdir()
    shutil.copy(OPENCV_DOC / "baboon.jpg", up / "img%03d.jpg")
    shutil.copy(OPENCV_DOC / "baboon.jpg", up / "img001.jpg")
    log = tmp_path / "strace.log"
    stage("probe", up / "img%03d.jpg", tmp_path / "out", strace=log)
    assert stage_record(tmp_path / "out", "img%03d.jpg", "probe")["status"] == "valid"
    assert "img001.jpg" not in log.read_text()


def test_still_derivatives_apply_orientation_and_strip_exif_and_gps(tmp_path):
    src = tmp_path / "phone.jpg"
    img = Image.new("RGB", (400, 200), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    exif[0x010F] = "TestCam"  # Make
    gps = exif.get_ifd(0x8825)
    gps[2] = (48.0, 51.0, 24.0)  # GPSLatitude
    img.save(src, "JPEG", exif=exif)
    stage("transcode", src, tmp_path / "out")
    rec = records.read_json(tmp_path / "out/phone.jpg/package.json")
    records.validate("transcode", rec)
    assert rec["kind"] == "image" and rec["hls"] is None and rec["renditions"] == []
    assert rec["exif"]["gps_present"] is True and rec["exif"]["tags"]["Make"] == "TestCam"
    assert "GPSInfo" not in json.dumps(rec)
    assert (rec["images"]["width"], rec["images"]["height"]) == (200, 400)  # portrait once oriented
    assert (rec["images"]["small"]["width"], rec["images"]["small"]["height"]) == (160, 320)
    assert rec["images"]["large"]["height"] == 400  # never upscaled to 1920
    for name in ("small.jpg", "medium.jpg", "large.jpg", "optimized.webp"):
        assert metadata_of(tmp_path / "out/phone.jpg" / name) == {}, name


def test_labels_on_a_real_photo_find_faces(tmp_path):
    shutil.copy(OPENCV_DOC / "messi5.jpg", tmp_path / "messi5.jpg")
    stage("labels", tmp_path / "messi5.jpg", tmp_path / "out")
    rec = records.read_json(tmp_path / "out/messi5.jpg/labels.json")
    records.validate("labels", rec)
    assert rec["kind"] == "image" and len(rec["scenes"]) == 1
    s = rec["scenes"][0]
    assert s["faces"]["count"] >= 1 and s["colors"] and s["sharpness"] > 0


def test_audio_gets_a_package_a_waveform_and_peaks(tmp_path):
    src = tmp_path / "talk.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=2", "-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono:d=2",
           "-filter_complex", "[0][1]concat=n=2:v=0:a=1", "-c:a", "libmp3lame", str(src))
    stage("transcode", src, tmp_path / "out")
    rec = records.read_json(tmp_path / "out/talk.mp3/package.json")
    records.validate("transcode", rec)
    assert rec["kind"] == "audio" and rec["waveform"] == "talk.mp3/waveform.png"
    png = Image.open(tmp_path / "out/talk.mp3/waveform.png")
    assert png.size == (1200, 200)
    peaks = json.loads((tmp_path / "out/talk.mp3/peaks.json").read_text())
    data = peaks["data"]
    assert peaks["length"] == len(data) // 2 > 100
    first, last = data[: len(data) // 4], data[-len(data) // 4:]
    assert max(first) > 1000 and max(abs(x) for x in last) < 50  # tone, then silence


def test_stills_and_audio_through_the_dag(tmp_path):
    up = tmp_path / "up"
    up.mkdir()
    shutil.copy(OPENCV_DOC / "messi5.jpg", up / "messi5.jpg")
    make_audio(up / "tone.flac", seconds=2)
    with Engine(tmp_path / "home") as e:
        e.put_files("media", "master", [(f"/{p.name}", p) for p in sorted(up.iterdir())])
        assert all(j.state == "JOB_SUCCESS" for j in e.run(show_progress=False))
        kinds = {}
        for f in e.store.files("catalog", e.store.head("catalog")):
            with e.store.objects.open(f.hash) as fh:
                rec = json.load(fh)
            records.validate("catalog", rec)
            kinds[rec["name"]] = (rec["status"], rec["kind"])
            if rec["kind"] == "image":
                assert rec["package"]["images"]["large"]["file"] == "messi5.jpg/large.jpg"
                assert rec["package"]["hls"] is None
            else:
                assert rec["package"]["waveform"] == "tone.flac/waveform.png"
        assert kinds == {"messi5.jpg": ("ready", "image"), "tone.flac": ("ready", "audio")}


REAL_AUDIO = Path("/usr/share/sounds/freedesktop/stereo/audio-channel-front-center.oga")


def test_a_real_recording_from_debian(tmp_path):
    """A spoken Ogg Vorbis clip (sound-theme-freedesktop, installed by make setup)."""
    assert REAL_AUDIO.is_file(), "make setup installs sound-theme-freedesktop"
    shutil.copy(REAL_AUDIO, tmp_path / "front-center.oga")
    src = tmp_path / "front-center.oga"
    stage("probe", src, tmp_path / "probe")
    rec = stage_record(tmp_path / "probe", "front-center.oga", "probe")
    assert rec["status"] == "valid" and rec["kind"] == "audio" and rec["container"]["demuxer"] == "ogg"
    stage("transcode", src, tmp_path / "tc")
    pkg = records.read_json(tmp_path / "tc/front-center.oga/package.json")
    assert pkg["kind"] == "audio" and pkg["audio"]["opus"]["container"] == "webm"
    mpd = (tmp_path / "tc/front-center.oga/dash/manifest.mpd").read_text()
    assert 'codecs="opus"' in mpd and 'codecs="mp4a.40.2"' in mpd
    stage("labels", src, tmp_path / "lb")
    labels = records.read_json(tmp_path / "lb/front-center.oga/labels.json")
    assert labels["audio"]["loudness"]["integrated_lufs"] is not None

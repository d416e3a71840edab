"""probe: policy table, real media accepted with metadata, hostile media rejected with
a reason — and a disguised playlist never makes ffprobe/ffmpeg open another file."""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from stages.core import records
from stages.common import default_settings
from stages.probe import check_policy, classify_probe_failure
from tests.fixtures.media import ffmpeg, make_audio, make_video

pytestmark = pytest.mark.media

ROOT = Path(__file__).resolve().parent.parent
POLICY = default_settings("policy")


def meta(demuxer="mov", duration=10.0, streams=None, kind="video"):
    return {"container": {"demuxer": demuxer, "format_name": demuxer}, "duration": duration, "kind": kind,
            "streams": streams if streams is not None else [
                {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 1280, "height": 720}]}


@pytest.mark.parametrize("m,size,policy,reason", [
    pytest.param(meta(), 1000, {}, None, id="ok"),
    pytest.param(meta(), 10_000, {"max_bytes": 5000}, "too_large", id="too-large"),
    pytest.param(meta(demuxer="image2"), 1000, {}, "unsupported_container", id="container"),
    pytest.param(meta(duration=99999), 1000, {}, "too_long", id="too-long"),
    pytest.param(meta(streams=[{"index": 0, "codec_type": "video", "codec_name": "h264", "width": 40000,
                                "height": 40000}]), 1000, {}, "dimensions_too_large", id="40000x40000"),
    pytest.param(meta(streams=[{"index": 0, "codec_type": "video", "codec_name": "h264", "width": 8000,
                                "height": 8000}]), 1000, {"max_width": 9000, "max_height": 9000},
                 "dimensions_too_large", id="pixels"),
    pytest.param(meta(streams=[{"index": 0, "codec_type": "video", "codec_name": "h264", "width": 0,
                                "height": 0}]), 1000, {}, "bad_dimensions", id="zero-dims"),
    pytest.param(meta(streams=[{"index": 0, "codec_type": "video", "codec_name": "snow", "width": 320,
                                "height": 240}]), 1000, {}, "unsupported_codec", id="codec"),
    pytest.param(meta(streams=[{"index": 0, "codec_type": "video", "codec_name": "snow", "width": 320, "height": 240},
                               {"index": 1, "codec_type": "audio", "codec_name": "aac"}]), 1000, {},
                 "unsupported_codec", id="unusable-video-beside-usable-audio"),
    pytest.param(meta(streams=[{"index": 0, "codec_type": "video", "codec_name": "h264", "width": 320, "height": 240},
                               {"index": 1, "codec_type": "audio", "codec_name": "dfpwm"}]), 1000, {},
                 None, id="usable-video-beside-unusable-audio"),
    pytest.param(meta(streams=[{"index": 0, "codec_type": "subtitle", "codec_name": "mov_text"}]), 1000, {},
                 "no_decodable_stream", id="subtitles-only"),
    pytest.param(meta(streams=[{"index": 0, "codec_type": "audio", "codec_name": "aac"}]), 1000, {}, None,
                 id="audio-only"),
])
def test_check_policy(m, size, policy, reason):
    got = check_policy(m, size, POLICY | policy)
    assert (got or {}).get("reason") == reason
    if got:
        assert got["message"]


@pytest.mark.parametrize("complaint,head,reason", [
    pytest.param("[hls @ 0x1] Format not on whitelist 'mov'", b"#EXTM3U\n", "unsupported_container", id="hls"),
    pytest.param("[concat @ 0x1] Format not on whitelist 'mov'", b"ffconcat", "unsupported_container", id="concat"),
    pytest.param("[mov,mp4 @ 0x1] moov atom not found", b"\0\0\0\x20ftypisom", "truncated", id="truncated"),
    pytest.param("[mov,mp4 @ 0x1] moov atom not found", b"hello there", "not_media", id="text"),
    pytest.param("x: Invalid data found when processing input", b"\x00\x01", "not_media", id="garbage"),
])
def test_classify_probe_failure(complaint, head, reason):
    assert classify_probe_failure(complaint, head)["reason"] == reason


def run_probe(media: Path, out: Path, *, strace: Path | None = None, policy: dict | None = None):
    args = [sys.executable, "-m", "stages.probe", "--media", str(media), "--out", str(out)]
    if policy:
        (out.parent / "policy.json").write_text(json.dumps(policy))
        args += ["--settings", str(out.parent / "policy.json")]
    if strace:
        args = ["strace", "-f", "-qq", "-e", "trace=open,openat,openat2,stat,newfstatat", "-o", str(strace)] + args
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    return r


def record(out: Path, name: str) -> dict:
    [path] = list(out.glob(f"*/{name}.json"))
    rec = records.read_json(path)
    records.validate("probe", rec)
    assert path.parent.name == rec["status"]
    return rec


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    make_video(d / "clip.mp4", seconds=2)
    make_video(d / "clip.mkv", seconds=2, vcodec="libvpx-vp9" if False else "libx264")
    make_video(d / "clip.mov", seconds=2, rotate=90)
    make_audio(d / "tone.mp3", seconds=2)
    make_audio(d / "tone.wav", seconds=2)
    make_audio(d / "tone.flac", seconds=2)
    return d


def test_valid_media_with_metadata(good, tmp_path):
    run_probe(good, tmp_path / "out")
    mp4 = record(tmp_path / "out", "clip.mp4")
    assert mp4["status"] == "valid" and mp4["kind"] == "video"
    assert mp4["container"]["demuxer"] == "mov" and 1.5 < mp4["duration"] < 2.5
    v = [s for s in mp4["streams"] if s["codec_type"] == "video"][0]
    assert (v["codec_name"], v["width"], v["height"], v["fps"]) == ("h264", 640, 360, 25.0)
    assert any(s["codec_type"] == "audio" and s["sample_rate"] == 48000 for s in mp4["streams"])
    assert record(tmp_path / "out", "clip.mkv")["container"]["demuxer"] == "matroska"
    mov = record(tmp_path / "out", "clip.mov")
    assert [s["rotation"] for s in mov["streams"] if s["codec_type"] == "video"] in ([90], [270])
    for name in ("tone.mp3", "tone.wav", "tone.flac"):
        rec = record(tmp_path / "out", name)
        assert rec["status"] == "valid" and rec["kind"] == "audio", rec


def _avi_with_header_size(tmp: Path, name: str, w: int, h: int) -> Path:
    """A raw-video AVI whose headers claim w x h (its frames are 16x16)."""
    src = tmp / f"{name}.src.avi"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=16x16:rate=1:duration=1", "-c:v", "rawvideo",
           "-pix_fmt", "yuv420p", str(src))
    data = bytearray(src.read_bytes())
    struct.pack_into("<ii", data, data.find(b"strf") + 12, w, h)
    struct.pack_into("<II", data, data.find(b"avih") + 40, w, h)
    out = tmp / name
    out.write_bytes(data)
    src.unlink()
    return out


def test_hostile_media_is_rejected_with_a_reason(tmp_path, sample_mp4):
    media = tmp_path / "media"
    media.mkdir()
    (media / "empty.mp4").write_bytes(b"")
    (media / "notes.mp4").write_text("this is a text file, not a video\n")
    data = sample_mp4.read_bytes()
    (media / "truncated.mp4").write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    for i in range(len(flipped) // 3, len(flipped), 97):
        flipped[i] ^= 0xFF
    (media / "bitflip.mp4").write_bytes(bytes(flipped))
    _avi_with_header_size(media, "huge.avi", 16000, 16000)
    _avi_with_header_size(media, "absurd.avi", 40000, 40000)
    assert "rawvideo" in POLICY["allowed_video_codecs"]  # the size checks, not the codec, must refuse the AVIs
    run_probe(media, tmp_path / "out")
    expect = {"empty.mp4": {"empty_file"}, "notes.mp4": {"not_media"}, "truncated.mp4": {"truncated"},
              "bitflip.mp4": {"decode_error", "truncated", "not_media"}, "huge.avi": {"dimensions_too_large"},
              "absurd.avi": {"bad_dimensions", "dimensions_too_large"}}
    for name, reasons in expect.items():
        rec = record(tmp_path / "out", name)
        assert rec["status"] == "rejected" and rec["reason"] in reasons, (name, rec)


# {victim}: its absolute path; {victim_name}: its bare name, next to the upload. The
# ffconcat script names it relatively: concat's own safe=1 refuses absolute paths, so
# only a relative name proves that the demuxer allow-list is what stops it.
DISGUISES = {
    "playlist.mp4": "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{victim}\n#EXT-X-ENDLIST\n",
    "concat.mp4": "ffconcat version 1.0\nfile '{victim_name}'\n",
    "manifest.mp4": ('<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
                     'mediaPresentationDuration="PT2S"><Period><AdaptationSet><Representation id="1" '
                     'bandwidth="1000"><BaseURL>{victim}</BaseURL></Representation></AdaptationSet></Period></MPD>\n'),
}


def disguise(folder: Path, name: str, sample: Path) -> Path:
    """The bait `folder/name`, and beside it another user's upload it names."""
    folder.mkdir(exist_ok=True)
    victim = folder / "victim-other-user.mp4"
    shutil.copy(sample, victim)
    bait = folder / name
    bait.write_text(DISGUISES[name].format(victim=victim, victim_name=victim.name))
    return bait


@pytest.mark.parametrize("name", sorted(DISGUISES))
def test_disguised_playlist_never_opens_another_file(tmp_path, sample_mp4, name):
    bait = disguise(tmp_path / "upload", name, sample_mp4)
    log = tmp_path / "strace.log"
    run_probe(bait, tmp_path / "out", strace=log)
    rec = record(tmp_path / "out", name)
    assert rec["status"] == "rejected" and rec["reason"] in ("unsupported_container", "not_media"), rec
    assert "victim-other-user" not in log.read_text()


@pytest.mark.parametrize("name", ["playlist.mp4", "concat.mp4"])
def test_default_ffprobe_does_follow_a_disguised_playlist(tmp_path, sample_mp4, name):
    """Why the allow-lists matter: ffprobe with only -protocol_whitelist file (and concat's
    default safe=1) opens the victim."""
    bait = disguise(tmp_path / "upload", name, sample_mp4)
    log = tmp_path / "strace.log"
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=open,openat", "-o", str(log), "ffprobe", "-v", "error",
                    "-protocol_whitelist", "file", str(bait)], capture_output=True, timeout=60)
    assert "victim-other-user" in log.read_text()

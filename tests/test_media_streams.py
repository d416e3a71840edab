"""Streams are mapped by the index the probe chose, not by `0:v:0`/`0:a:0`: cover art
stored first, or a first audio track the probe found broken, never reaches the package
or the labels in place of the real stream."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stages import probe as probe_stage
from stages.core import records
from stages.common import default_settings
from tests.fixtures.media import ffmpeg, make_cover_art_first
from tests.fixtures.stages import run_stage, stage_record

pytestmark = pytest.mark.media


@pytest.fixture(scope="module")
def cover_first(tmp_path_factory) -> Path:
    path = make_cover_art_first(tmp_path_factory.mktemp("cover") / "album.mp4", seconds=2)
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=index,codec_name:stream_disposition="
                        "attached_pic", "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["0,mjpeg,1", "1,h264,0"], "fixture: cover art must be stream 0"
    return path


def test_probe_checks_and_keeps_the_video_not_the_cover(cover_first, tmp_path):
    run_stage("probe", cover_first, tmp_path / "probe")
    rec = stage_record(tmp_path / "probe", "album.mp4", "probe")
    assert rec["status"] == "valid" and rec["kind"] == "video", rec


def test_transcode_packages_the_video_not_the_cover(cover_first, tmp_path):
    run_stage("probe", cover_first, tmp_path / "probe")
    run_stage("transcode", cover_first, tmp_path / "out", "--probe", str(tmp_path / "probe/valid/album.mp4.json"))
    pkg = tmp_path / "out/album.mp4"
    rec = records.read_json(pkg / "package.json")
    assert [(r["width"], r["height"]) for r in rec["renditions"]] == [(320, 240)]
    assert abs(rec["verified"]["durations"]["0"] - 2.0) < 0.2
    poster = np.asarray(Image.open(pkg / "poster.jpg").convert("RGB")).reshape(-1, 3).mean(axis=0)
    assert not (poster[0] > 200 and poster[1] < 60 and poster[2] < 60), f"poster is the red cover: {poster}"


def test_labels_analyse_the_video_not_the_cover(cover_first, tmp_path):
    run_stage("labels", cover_first, tmp_path / "out")
    rec = records.read_json(tmp_path / "out/album.mp4/labels.json")
    assert rec["analysis"]["frames"] >= 18  # 2 s at 10 fps (the cover is one frame)
    assert rec["analysis"]["width"] == 320  # 4:3 video; the cover is square


@pytest.fixture(scope="module")
def two_tracks(tmp_path_factory) -> Path:
    """An MKV with video, a silent first audio track and a tone as the second."""
    path = tmp_path_factory.mktemp("tracks") / "dub.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2", "-f", "lavfi", "-i",
           "anullsrc=r=48000:cl=stereo:d=2", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
           "-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           "-c:a", "flac", str(path))
    return path


def skipping_first_audio(media: Path, tmp: Path) -> Path:
    """Its real probe record, changed as the decode check changes it when the first audio
    track is broken: that one `decodable: false`, the second `selected`."""
    run_stage("probe", media, tmp / "probe")
    rec = stage_record(tmp / "probe", media.name, "probe")
    assert rec["selected"] == {"video": 0, "audio": 1, "audio_tracks": [1, 2], "subtitles": []}
    first, second = [s for s in rec["streams"] if s["codec_type"] == "audio"]
    first["decodable"] = False
    rec["selected"] |= {"audio": second["index"], "audio_tracks": [second["index"]]}
    rec["left_out"] = [{"index": first["index"], "codec_type": "audio", "codec_name": first["codec_name"],
                        "reason": "does_not_decode", "message": "made broken for this test"}]
    records.validate("probe", rec)
    path = tmp / "probe.json"
    path.write_text(json.dumps(rec))
    return path


def max_volume(path: Path) -> float:
    err = subprocess.run(["ffmpeg", "-nostdin", "-i", str(path), "-af", "volumedetect", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    return float(err.split("max_volume:")[1].split("dB")[0])


def test_transcode_uses_the_audio_track_source_info_chose(two_tracks, tmp_path):
    rec_path = skipping_first_audio(two_tracks, tmp_path)
    run_stage("transcode", two_tracks, tmp_path / "out", "--probe", str(rec_path))
    dash = tmp_path / "out/dub.mkv/dash"
    rid = records.read_json(tmp_path / "out/dub.mkv/package.json")["audio"]["representation_id"]
    joined = tmp_path / "aac.mp4"
    joined.write_bytes(b"".join(p.read_bytes() for p in [dash / f"init-{rid}.m4s",
                                                         *sorted(dash.glob(f"chunk-{rid}-*.m4s"))]))
    assert max_volume(joined) > -30  # the tone (about -18 dB), not the silent first track (-91 dB)


def test_labels_use_the_audio_track_source_info_chose(two_tracks, tmp_path):
    rec_path = skipping_first_audio(two_tracks, tmp_path)
    run_stage("labels", two_tracks, tmp_path / "out", "--probe", str(rec_path))
    rec = records.read_json(tmp_path / "out/dub.mkv/labels.json")
    assert rec["audio"]["silences"] == [] and rec["audio"]["loudness"]["integrated_lufs"] > -40


def test_decode_check_falls_back_to_the_next_audio_track(monkeypatch, tmp_path):
    """All streams are decoded together first; when that fails, one by one: the broken
    audio track is marked and left out, the next one becomes the main track."""
    asked = []

    def fake_decodes(path, demuxer, streams, start, policy, strict=False):
        asked.append(streams)
        return "Invalid data found when processing input" if "0:1" in streams else None
    monkeypatch.setattr(probe_stage, "_decodes", fake_decodes)
    meta = {"container": {"demuxer": "matroska"}, "duration": 2.0, "kind": "video", "streams": [
        {"index": 0, "codec_type": "video", "codec_name": "mjpeg", "attached_pic": True},
        {"index": 1, "codec_type": "audio", "codec_name": "aac"},
        {"index": 2, "codec_type": "video", "codec_name": "h264"},
        {"index": 3, "codec_type": "audio", "codec_name": "aac"}]}
    assert probe_stage.decode_check(tmp_path / "x.mkv", meta, default_settings("policy")) is None
    assert asked == [["0:2", "0:1", "0:3"], ["0:2"], ["0:1"], ["0:3"]]
    assert meta["streams"][1]["decodable"] is False and "decodable" not in meta["streams"][3]
    assert meta["warnings"] == [w for w in meta["warnings"] if "audio stream 1 does not decode" in w]
    assert meta["selected"] == {"video": 2, "audio": 3, "audio_tracks": [3], "subtitles": []}
    assert [(x["index"], x["reason"]) for x in meta["left_out"]] == [(0, "cover_art"), (1, "does_not_decode")]


def test_the_probe_selects_allowed_codecs_and_source_info_obeys(tmp_path):
    """A first video stream in a codec the policy refuses is passed over, as is an
    audio codec it refuses (both listed as left out); transcode and labels take what the
    probe selected."""
    from stages.core.source import source_info
    meta = {"container": {"demuxer": "matroska"}, "duration": 2.0, "kind": "video", "streams": [
        {"index": 0, "codec_type": "video", "codec_name": "snow"},
        {"index": 1, "codec_type": "video", "codec_name": "h264"},
        {"index": 2, "codec_type": "audio", "codec_name": "dfpwm"},
        {"index": 3, "codec_type": "audio", "codec_name": "opus"}]}
    policy = default_settings("policy") | {"decode_check_s": 0}
    assert probe_stage.decode_check(tmp_path / "x.mkv", meta, policy) is None
    assert (meta["selected"]["video"], meta["selected"]["audio_tracks"]) == (1, [3])
    assert [(x["index"], x["reason"]) for x in meta["left_out"]] == [(0, "codec_not_allowed"), (2, "codec_not_allowed")]
    src = source_info(tmp_path / "x.mkv", meta)
    assert (src["video"]["index"], src["audio"]["index"]) == (1, 3)

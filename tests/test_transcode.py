"""transcode on real ffmpeg: one package, two manifests over shared CMAF segments,
checked with independent parsers (m3u8, mpegdash) and ffprobe."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from stages.core import records
from stages.common import default_settings
from tests.fixtures.media import make_audio, make_video

pytestmark = pytest.mark.media

ROOT = Path(__file__).resolve().parent.parent
FAST = default_settings("transcode") | {
    "segment_seconds": 1, "preset": "ultrafast",
    "storyboard": {"interval_s": 1, "width": 96, "columns": 4, "max_thumbs": 20}}


def transcode(media: Path, out: Path, settings: dict = FAST, env: dict | None = None):
    sp = out.parent / f"{media.name}.settings.json"
    sp.write_text(json.dumps(settings))
    return subprocess.run([sys.executable, "-m", "stages.transcode", "--media", str(media), "--settings", str(sp),
                           "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env=os.environ | (env or {}))


def keyframes(path: Path) -> list[float]:
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-skip_frame", "nokey",
                        "-show_entries", "frame=pts_time", "-of", "csv=p=0", str(path)],
                       capture_output=True, text=True, check=True)
    return [round(float(x.strip(",")), 3) for x in r.stdout.split() if x.strip(",")]


def joined(dash: Path, rid: str, out: Path) -> Path:
    with open(out, "wb") as f:
        f.write((dash / f"init-{rid}.m4s").read_bytes())
        for seg in sorted(dash.glob(f"chunk-{rid}-*.m4s")):
            f.write(seg.read_bytes())
    return out


@pytest.fixture(scope="module")
def video_package(tmp_path_factory):
    d = tmp_path_factory.mktemp("tc")
    src = make_video(d / "clip.mp4", seconds=4, size="1280x720", fps=25)
    r = transcode(src, d / "out")
    assert r.returncode == 0, r.stderr
    return d / "out" / "clip.mp4"


def test_record_and_layout(video_package):
    rec = records.read_json(video_package / "package.json")
    records.validate("transcode", rec)
    assert [x["name"] for x in rec["renditions"]] == ["720p", "480p", "360p"]
    assert all(x["height"] <= 720 for x in rec["renditions"])
    assert rec["audio"]["codec"] == "aac" and rec["verified"]["representations"] == 5  # 3 video, AAC, Opus
    for f in ("hls/master.m3u8", "dash/manifest.mpd", "poster.jpg", "storyboard.jpg", "storyboard.vtt"):
        assert (video_package / f).is_file(), f
    assert not list(video_package.parent.glob(".staging-*"))


def test_hls_and_dash_share_every_segment(video_package):
    master = m3u8.load(str(video_package / "hls/master.m3u8"))
    assert len(master.playlists) == 3 and master.media[0].type == "AUDIO"
    hls_files = set()
    for uri in [p.uri for p in master.playlists] + [m.uri for m in master.media]:
        pl = m3u8.load(str(video_package / "hls" / uri))
        hls_files.add((video_package / "hls" / pl.segment_map[0].uri).resolve())
        for seg in pl.segments:
            path = (video_package / "hls" / seg.uri).resolve()
            assert path.is_file(), seg.uri
            hls_files.add(path)
        for seg in pl.segments[:-1]:
            assert abs(seg.duration - FAST["segment_seconds"]) < 0.05
    mpd = MPEGDASHParser.parse(str(video_package / "dash/manifest.mpd"))
    reps = {r.id: r for a in mpd.periods[0].adaptation_sets for r in a.representations}
    assert len(reps) == 5
    assert (reps["4"].mime_type, reps["4"].codecs) == ("audio/webm", "opus")  # DASH-only Opus
    dash_files = {p.resolve() for p in (video_package / "dash").glob("*.m4s")}
    opus = {p for p in dash_files if p.name.startswith(("init-4.", "chunk-4-"))}
    assert opus and hls_files == dash_files - opus  # one set of CMAF segments, named by both manifests


def test_renditions_are_keyframe_aligned_and_bandwidth_is_true(video_package, tmp_path):
    dash = video_package / "dash"
    frames = [keyframes(joined(dash, rid, tmp_path / f"r{rid}.mp4")) for rid in ("0", "1", "2")]
    assert frames[0] == frames[1] == frames[2]
    assert frames[0][:4] == [0.0, 1.0, 2.0, 3.0]
    master = m3u8.load(str(video_package / "hls/master.m3u8"))
    for i, variant in enumerate(master.playlists):
        peak = max(p.stat().st_size * 8 / FAST["segment_seconds"] for p in dash.glob(f"chunk-{i}-*.m4s"))
        assert peak <= variant.stream_info.bandwidth, (i, peak, variant.stream_info.bandwidth)


def test_storyboard_cues_point_inside_the_sprite(video_package):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0",
                        str(video_package / "storyboard.jpg")], capture_output=True, text=True, check=True)
    w, h = map(int, r.stdout.strip().split(","))
    cues = [line for line in (video_package / "storyboard.vtt").read_text().splitlines() if "#xywh=" in line]
    assert len(cues) == 4
    for c in cues:
        x, y, cw, ch = map(int, c.split("#xywh=")[1].split(","))
        assert x + cw <= w and y + ch <= h


def test_rotated_phone_video_comes_out_portrait(tmp_path):
    src = make_video(tmp_path / "phone.mp4", seconds=2, size="640x360", rotate=90)
    r = transcode(src, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    rec = records.read_json(tmp_path / "out/phone.mp4/package.json")
    assert [(x["width"], x["height"]) for x in rec["renditions"]] == [(360, 640)]
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0",
                            str(joined(tmp_path / "out/phone.mp4/dash", "0", tmp_path / "j.mp4"))],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip().splitlines()[0] == "360,640"


def test_audio_only_input_gives_an_audio_only_package(tmp_path):
    src = make_audio(tmp_path / "talk.m4a", seconds=3, codec="aac")
    r = transcode(src, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    rec = records.read_json(tmp_path / "out/talk.m4a/package.json")
    records.validate("transcode", rec)
    assert rec["kind"] == "audio" and rec["renditions"] == [] and rec["poster"] is None
    master = m3u8.load(str(tmp_path / "out/talk.m4a/hls/master.m3u8"))
    assert "mp4a" in master.playlists[0].stream_info.codecs


def test_a_sabotaged_rendition_fails_verification_and_publishes_nothing(tmp_path):
    """A package that does not verify is never published; made from this upload the same way
    on every try, it is the upload's record (rejected.json), not a failed datum."""
    src = make_video(tmp_path / "clip.mp4", seconds=3, size="640x360")
    r = transcode(src, tmp_path / "out", env={"PACHMEDIA_TEST_SABOTAGE": "truncate-rendition"})
    assert r.returncode == 0, r.stderr
    assert [p.name for p in (tmp_path / "out" / "clip.mp4").iterdir()] == ["rejected.json"]
    rej = records.read_json(tmp_path / "out" / "clip.mp4" / "rejected.json")
    assert rej["reason"] == "package_invalid" and "failed verification" in rej["message"]
    assert "representation 0" in rej["message"]


def test_ffmpeg_progress_reaches_the_progress_channel(tmp_path, monkeypatch):
    """`-progress pipe:1` lines become updates of the file the engine polls
    (PACHMEDIA_PROGRESS): 'encoding' fractions that grow, before 'verifying' and 'done'."""
    from stages import transcode as tc
    from stages.common import Progress
    channel = tmp_path / "progress"
    monkeypatch.setenv("PACHMEDIA_PROGRESS", str(channel))
    src = make_video(tmp_path / "clip.mp4", seconds=3, size="320x240")
    seen: list[str] = []
    progress = Progress()
    update = progress.update

    def spy(fraction, note=""):
        update(fraction, note)
        seen.append(channel.read_text())  # what the engine would read at that moment
    progress.update = spy
    tc.transcode(src, None, FAST, tmp_path / "out", progress)
    updates = [(float(line.split()[0]), line.split(maxsplit=2)[2].strip()) for line in seen]  # "fraction time note"
    encoding = [f for f, note in updates if note == "encoding"]
    assert encoding and 0.5 < encoding[-1] <= 0.95 and encoding == sorted(encoding), seen
    notes = [note for _, note in updates]
    assert notes.index("encoding") < notes.index("verifying") < notes.index("done") == len(notes) - 1
    assert updates[-1][0] == 1.0

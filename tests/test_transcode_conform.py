"""Whatever came in, the ladder plays in every browser (issue 16 points 3 and 4), checked
on what was made: ffprobe on the joined segments (8-bit 4:2:0, BT.709 tags, square
pixels at the source's display aspect, constant rate, stereo audio), idet on the
output of interlaced sources, manifests parsed with m3u8 and mpegdash, WebVTT parsed
as a browser splits it."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from stages.common import default_settings
from stages.core import records
from stages.core.captions import read_webvtt
from tests.fixtures import ladder_media as lm
from tests.fixtures.stages import run_stage

pytestmark = pytest.mark.media

ROOT = Path(__file__).resolve().parent.parent
FAST = default_settings("transcode") | {
    "segment_seconds": 1, "preset": "ultrafast",
    "storyboard": {"interval_s": 1, "width": 96, "columns": 4, "max_thumbs": 20}}

CASES = {
    "hlg.mp4": lambda p: lm.make_hdr(p, "arib-std-b67"),
    "pq.mp4": lambda p: lm.make_hdr(p, "smpte2084"),
    "anamorphic.mp4": lm.make_anamorphic,
    "interlaced.ts": lambda p: lm.make_interlaced(p, stated=True),
    "interlaced-unflagged.avi": lambda p: lm.make_interlaced(p, stated=False),
    "vfr.mp4": lm.make_vfr,
    "odd.mp4": lm.make_odd_size,
    "multi-audio.mp4": lm.make_multi_audio,
    "subtitled.mp4": lm.make_subtitled,
    "subtitled.mkv": lm.make_subtitled,
}


def ffprobe(path: Path, *args: str) -> dict:
    r = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", *args, str(path)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def run_transcode(media: Path, out: Path) -> subprocess.CompletedProcess:
    """probe (default policy) then transcode with its record, as the pipeline runs them."""
    run_stage("probe", media, out.parent / "probe")
    probe = out.parent / "probe" / "valid" / f"{media.name}.json"
    assert probe.is_file(), f"{media.name} was not probed valid: {list((out.parent / 'probe').rglob('*.json'))}"
    sp = out.parent / f"{media.name}.settings.json"
    sp.write_text(json.dumps(FAST))
    return subprocess.run([sys.executable, "-m", "stages.transcode", "--media", str(media), "--probe", str(probe),
                           "--settings", str(sp), "--out", str(out)], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Every case made and packaged once: name -> (source, package folder)."""
    d = tmp_path_factory.mktemp("conform")
    out = {}
    for name, make in CASES.items():
        src = make(d / name)
        r = run_transcode(src, d / "out")
        assert r.returncode == 0, (name, r.stderr[-2000:])
        out[name] = (src, d / "out" / name)
    return out


def joined(pkg: Path, rid: str, dest: Path) -> Path:
    with open(dest, "wb") as f:
        for p in [pkg / "dash" / f"init-{rid}.m4s", *sorted((pkg / "dash").glob(f"chunk-{rid}-*.m4s"))]:
            f.write(p.read_bytes())
    return dest


def source_dar(src: Path) -> float:
    s = next(x for x in ffprobe(src, "-show_streams")["streams"] if x["codec_type"] == "video")
    num, den = (int(x) for x in (s.get("sample_aspect_ratio") or "1:1").replace("0:1", "1:1").split(":"))
    return s["width"] * num / den / s["height"]


def idet(path: Path) -> tuple[int, int]:
    """(interlaced, progressive) frames as idet's multi-frame detection counts them, on the
    frames as stored (a display rotation not applied: fields are rows only there)."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-noautorotate", "-i", str(path), "-map", "0:v:0",
                        "-vf", "idet", "-f", "null", "-"], capture_output=True, text=True, check=True)
    t, b, p = (int(x) for x in re.findall(r"Multi frame detection: TFF:\s*(\d+) BFF:\s*(\d+) Progressive:\s*(\d+)",
                                          r.stderr)[-1])
    return t + b, p


VIDEO_CASES = [n for n in CASES]


@pytest.mark.parametrize("name", VIDEO_CASES)
def test_every_rendition_is_what_every_browser_plays(made, name, tmp_path):
    src, pkg = made[name]
    rec = records.read_json(pkg / "package.json")
    records.validate("transcode", rec)
    dar = source_dar(src)
    for r in rec["renditions"]:
        f = joined(pkg, r["representation_id"], tmp_path / f"v{r['representation_id']}.mp4")
        info = ffprobe(f, "-show_streams", "-show_entries", "packet=duration", "-select_streams", "v:0")
        [s] = info["streams"]
        assert (s["pix_fmt"], s.get("color_transfer"), s.get("color_primaries"), s.get("color_space")) == \
               ("yuv420p", "bt709", "bt709", "bt709"), (name, s)
        assert s.get("field_order", "progressive") == "progressive", (name, s)
        assert s.get("sample_aspect_ratio", "1:1") == "1:1", (name, s)
        assert s["width"] % 2 == 0 and s["height"] % 2 == 0
        assert abs(s["width"] / s["height"] / dar - 1) < 0.03, (name, s["width"], s["height"], dar)
        durations = {p["duration"] for p in info["packets"]}
        assert len(durations) == 1, (name, "not a constant frame rate", sorted(durations)[:5])
        assert Fraction(s["r_frame_rate"]) == Fraction(s["avg_frame_rate"]) == Fraction(rec["conform"]["fps"])
    for v in m3u8.load(str(pkg / "hls/master.m3u8")).playlists:
        assert 0 < v.stream_info.average_bandwidth <= v.stream_info.bandwidth, (name, v.stream_info)
    for t in rec["audio_tracks"]:
        [a] = ffprobe(joined(pkg, t["representation_id"], tmp_path / "a.mp4"), "-show_streams")["streams"]
        assert (a["codec_name"], a["channels"], a["sample_rate"]) == ("aac", 2, "48000"), (name, a)


@pytest.mark.parametrize("name", ["interlaced.ts", "interlaced-unflagged.avi"])
def test_interlaced_sources_come_out_progressive(made, name, tmp_path):
    src, pkg = made[name]
    assert idet(src)[0] > 40  # the source really is combed: 50 frames, all interlaced
    rec = records.read_json(pkg / "package.json")
    assert rec["conform"]["deinterlaced"] == "tff"
    assert rec["conform"]["source_field_order"] == ("tt" if name.endswith(".ts") else None)  # None: idet decided
    interlaced, progressive = idet(joined(pkg, "0", tmp_path / "v.mp4"))
    assert interlaced <= 5 and progressive >= 40, (interlaced, progressive)
    assert Fraction(rec["conform"]["fps"]) == 25  # a frame out per frame in


def stored_psnr(a: Path, b: Path) -> float:
    """PSNR of two videos' frames as stored (-noautorotate: a copy made with it keeps the display matrix)."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-noautorotate", "-i", str(a), "-noautorotate",
                        "-i", str(b), "-lavfi", "[0:v]format=yuv420p[a];[1:v]format=yuv420p[b];[a][b]psnr",
                        "-f", "null", "-"], capture_output=True, text=True, check=True)
    return float(re.findall(r"average:([0-9.]+)", r.stderr)[-1])


def lossless(src: Path, dest: Path, *filters: str) -> Path:
    """The frames of `src` as stored, through `filters`, kept losslessly."""
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-noautorotate", "-i", str(src),
                    "-vf", ",".join(filters), "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", str(dest)],
                   check=True)
    return dest


@pytest.mark.parametrize("stated", [True, False], ids=["field-order-stated", "field-order-unstated"])
def test_a_rotated_interlaced_source_is_deinterlaced_then_turned(tmp_path, stated):
    """Shot on its side (a display matrix of 90 degrees), the source's fields are rows of the
    coded frame: deinterlaced after the turn they would be columns, and stay combed. Checked on
    the rendition turned back to the coded orientation (where such combing shows), and against
    the source deinterlaced then turned by ffmpeg itself (the right way round)."""
    src = lm.make_rotated_interlaced(tmp_path / "sideways.mp4", stated=stated)
    assert idet(src)[0] > 40  # the source is combed: 50 frames, all interlaced
    r = run_transcode(src, tmp_path / "out")
    assert r.returncode == 0, r.stderr[-2000:]
    pkg = tmp_path / "out" / src.name
    rec = records.read_json(pkg / "package.json")
    assert rec["conform"]["deinterlaced"] == "tff"  # unstated: idet saw the coded fields
    assert (rec["conform"]["display_width"], rec["conform"]["display_height"]) == (240, 320)
    out = joined(pkg, "0", tmp_path / "v.mp4")
    [s] = ffprobe(out, "-show_streams", "-select_streams", "v:0")["streams"]
    assert (s["width"], s["height"]) == (240, 320) and not s.get("side_data_list")  # turned, not tagged to turn
    interlaced, progressive = idet(lossless(out, tmp_path / "back.mp4", "transpose=cclock"))
    assert interlaced <= 5 and progressive >= 40, (interlaced, progressive)
    bwdif = "bwdif=mode=send_frame:parity=tff:deint=all"
    right = stored_psnr(out, lossless(src, tmp_path / "right.mp4", bwdif, "transpose=clock"))
    wrong = stored_psnr(out, lossless(src, tmp_path / "wrong.mp4", bwdif, "transpose=cclock"))
    assert right > wrong + 6, (right, wrong)


@pytest.mark.parametrize("name,transfer", [("hlg.mp4", "arib-std-b67"), ("pq.mp4", "smpte2084")])
def test_hdr_is_tone_mapped_to_look_like_the_sdr_picture(made, name, transfer, tmp_path):
    """The HDR clips hold the SDR test picture at HDR reference white: tone-mapped, the
    package looks like that picture (PSNR), far more than the same frames merely converted
    to 8 bits and left tagged HDR, which is what shows washed out on SDR screens."""
    src, pkg = made[name]
    rec = records.read_json(pkg / "package.json")
    assert (rec["conform"]["tone_mapped"], rec["conform"]["source_color_transfer"]) == (name[:3].replace("pq.", "pq"),
                                                                                       transfer)
    ref = lm.sdr_reference(tmp_path / "sdr.mp4")
    naive = tmp_path / "naive.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(src), "-vf", "format=yuv420p",
                    "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", str(naive)], check=True)

    def psnr(path: Path) -> float:
        r = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-i", str(path), "-i", str(ref), "-lavfi",
                            "[0:v]format=yuv420p[a];[1:v]format=yuv420p[b];[a][b]psnr", "-f", "null", "-"],
                           capture_output=True, text=True, check=True)
        return float(re.findall(r"average:([0-9.]+)", r.stderr)[-1])
    tone_mapped, untouched = psnr(joined(pkg, "0", tmp_path / "v.mp4")), psnr(naive)
    print(f"\n{name}: PSNR vs the SDR picture: tone-mapped {tone_mapped:.1f} dB, untouched {untouched:.1f} dB")
    assert tone_mapped > untouched + 4, (tone_mapped, untouched)


def test_anamorphic_pixels_become_square_at_16_9(made):
    src, pkg = made["anamorphic.mp4"]
    rec = records.read_json(pkg / "package.json")
    assert [(r["width"], r["height"]) for r in rec["renditions"]] == [(428, 240)]
    assert (rec["conform"]["display_width"], rec["conform"]["display_height"]) == (427, 240)
    mpd = MPEGDASHParser.parse(str(pkg / "dash/manifest.mpd"))
    [rep] = mpd.periods[0].adaptation_sets[0].representations
    assert rep.sar == "1:1" and mpd.periods[0].adaptation_sets[0].par == "107:60"


def test_variable_frame_rate_becomes_its_average_constant_rate(made, tmp_path):
    src, pkg = made["vfr.mp4"]
    gaps = {p["duration"] for p in ffprobe(src, "-show_entries", "packet=duration", "-select_streams", "v:0")["packets"]}
    assert len(gaps) == 2  # the source: frames of 1/30 and 2/30 s
    rec = records.read_json(pkg / "package.json")
    assert rec["conform"]["fps"] == "20/1"
    frames = ffprobe(joined(pkg, "0", tmp_path / "v.mp4"), "-count_frames", "-show_streams")["streams"][0]
    assert abs(int(frames["nb_read_frames"]) - 40) <= 1  # 2 s at 20 fps


def test_odd_sizes_become_even(made):
    _, pkg = made["odd.mp4"]
    rec = records.read_json(pkg / "package.json")
    assert [(r["name"], r["width"], r["height"]) for r in rec["renditions"]] == [("240p", 320, 240)]


def test_several_audio_tracks_are_alternate_renditions_over_one_video_encode(made, tmp_path):
    src, pkg = made["multi-audio.mp4"]
    rec = records.read_json(pkg / "package.json")
    tracks = [(t["language"], t["default"], t["source_layout"], t["downmixed"]) for t in rec["audio_tracks"]]
    assert tracks == [("fr", True, "stereo", False), ("en", False, "5.1", True), ("de", False, "7.1", True)]
    assert (rec["audio"]["language"], rec["audio"]["source_layout"]) == ("fr", "stereo")
    master = m3u8.load(str(pkg / "hls/master.m3u8"))
    audio = [(m.language, m.default, m.group_id) for m in master.media if m.type == "AUDIO"]
    assert audio == [("fr", "YES", "audio"), ("en", "NO", "audio"), ("de", "NO", "audio")]
    assert len(master.playlists) == len(rec["renditions"]) == 1  # one video encode, every track beside it
    assert master.playlists[0].stream_info.audio == "audio"
    for m in master.media:  # each alternate's playlist names segments that exist
        pl = m3u8.load(str(pkg / "hls" / m.uri))
        assert pl.segments and all((pkg / "hls" / s.uri).resolve().is_file() for s in pl.segments)
    sets = MPEGDASHParser.parse(str(pkg / "dash/manifest.mpd")).periods[0].adaptation_sets
    assert sum(s.content_type == "video" for s in sets) == 1 and len(sets[0].representations) == 1
    aac = [(s.lang, s.roles[0].value) for s in sets if s.content_type == "audio"
           and s.representations[0].mime_type == "audio/mp4"]
    assert aac == [("fr", "main"), ("en", "alternate"), ("de", "alternate")]
    # the 5.1 track's AAC really is the downmix of its six channels (its 440 Hz tone, not the French 660 Hz)
    en = joined(pkg, rec["audio_tracks"][1]["representation_id"], tmp_path / "en.mp4")
    stats = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-i", str(en), "-af", "astats=measure_overall=RMS_level",
                            "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    assert float(re.findall(r"RMS level dB: (-?[0-9.]+)", stats)[-1]) > -40


@pytest.mark.parametrize("name,expected", [
    ("subtitled.mp4", [("es", "mov_text")]),
    ("subtitled.mkv", [("en", "subrip"), ("fr", "ass"), ("de", "webvtt")]),
])
def test_text_subtitles_become_webvtt_renditions(made, name, expected):
    _, pkg = made[name]
    rec = records.read_json(pkg / "package.json")
    assert [(c["language"], c["source_codec"]) for c in rec["captions"]] == expected
    master = m3u8.load(str(pkg / "hls/master.m3u8"))
    subs = [m for m in master.media if m.type == "SUBTITLES"]
    assert [m.language for m in subs] == [lang for lang, _ in expected]
    assert master.playlists[0].stream_info.subtitles == "subs"
    sets = MPEGDASHParser.parse(str(pkg / "dash/manifest.mpd")).periods[0].adaptation_sets
    text = [s for s in sets if s.content_type == "text"]
    assert [(s.lang, s.mime_type) for s in text] == [(lang, "text/vtt") for lang, _ in expected]
    for m, s in zip(subs, text):
        vtt = pkg / "dash" / s.representations[0].base_urls[0].base_url_value
        pl = m3u8.load(str(pkg / "hls" / m.uri))
        assert (pkg / "hls" / pl.segments[0].uri).resolve() == vtt.resolve()  # one file, both manifests
        cues = read_webvtt(vtt.read_text())
        # the markup survives as markup, the rest as text ("-->" escaped, or lost by a decoder upstream)
        assert cues[0][2] == "Hello <b>world</b>" and re.fullmatch(r"second --(&gt;)? cue &amp; x", cues[1][2]), cues
        assert 0.15 < cues[0][0] < 0.3 and 0.95 < cues[1][0] < 1.1

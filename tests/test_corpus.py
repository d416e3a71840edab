"""Issue 16: every family of the corpus (tests/fixtures/corpus.py) comes out of probe with
the right status under the default policy, every stream accounted for (used, or left out
with a reason: never silently dropped); a representative subset also goes through
transcode, whose ladder must be yuv420p, progressive and keep the display aspect."""
from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from stages.core import records
from stages.common import Progress, default_settings
from stages.probe import probe_file
from stages.transcode import transcode
from tests.fixtures.corpus import FAMILIES, Corpus, Family
from tests.fixtures.media import OPENCV_DOC

pytestmark = pytest.mark.media

POLICY = default_settings("policy")
FAST = default_settings("transcode") | {
    "segment_seconds": 1, "preset": "ultrafast", "waveform": False,
    "storyboard": {"interval_s": 1, "width": 64, "columns": 4, "max_thumbs": 8}}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


_probed: dict[str, dict] = {}


def probed(corpus: Corpus, f: Family) -> dict:
    """The probe record of a corpus file under the default policy, schema-checked (once a session)."""
    if f.id not in _probed:
        rec = probe_file(corpus.path(f), POLICY)
        records.validate("probe", rec)
        _probed[f.id] = rec
    return _probed[f.id]


def used_codecs(rec: dict) -> list[str]:
    """codec_name of the streams the later stages use: video, audio tracks, subtitles."""
    by_index = {s["index"]: s["codec_name"] for s in rec["streams"]}
    sel = rec["selected"]
    order = ([sel["video"]] if sel["video"] is not None else []) + sel["audio_tracks"] + sel["subtitles"]
    return [by_index[i] for i in order]


@pytest.mark.parametrize("family", [pytest.param(f, id=f.id) for f in FAMILIES])
def test_probe_status(corpus, family: Family):
    rec = probed(corpus, family)
    if family.expect.startswith("rejected:"):
        assert (rec["status"], rec.get("reason")) == ("rejected", family.expect.split(":", 1)[1]), rec
        unusable = {s["codec_name"] for s in rec.get("streams", [])} - set(family.codecs)
        assert any(c in rec["message"] for c in unusable), f"the reason must name the codec: {rec['message']}"
        return
    assert rec["status"] == "valid", f"{rec.get('reason')}: {rec.get('message')}"
    assert rec["kind"] == family.expect
    assert used_codecs(rec) == list(family.codecs)
    left = rec.get("left_out", [])
    assert sorted(x["codec_name"] for x in left) == sorted(family.left_out)
    assert all(x["reason"] and x["message"] for x in left)
    used = set(i for i in [rec["selected"]["video"], *rec["selected"]["audio_tracks"], *rec["selected"]["subtitles"]]
               if i is not None)
    listed = {x["index"] for x in left}
    assert not used & listed
    assert used | listed == {s["index"] for s in rec["streams"]}, "a stream neither used nor left out"


def test_real_cinepak_clip_is_video_not_dropped(tmp_path):
    """opencv-doc's tree.avi: real Cinepak (no audio), packaged as video."""
    src = OPENCV_DOC / "tree.avi"
    if not src.is_file():
        pytest.skip("opencv-doc is not installed (scripts/setup-system.sh installs it)")
    rec = probe_file(src, POLICY)
    records.validate("probe", rec)
    assert rec["status"] == "valid" and rec["kind"] == "video", rec
    assert used_codecs(rec) == ["cinepak"]
    pkg = transcode(src, rec, FAST, tmp_path, Progress())
    assert pkg["kind"] == "video" and pkg["renditions"], pkg
    check_ladder(tmp_path / src.name, rec)


def test_conditions_are_recorded(corpus):
    """What the later stages read from the probe record (issue 16 points 3 and 4)."""
    def stream(fid: str, index: int) -> dict:
        return probed(corpus, next(f for f in FAMILIES if f.id == fid))["streams"][index]
    hlg = stream("mp4-hevc10-hlg", 0)
    assert (hlg["color_transfer"], hlg["hdr"], hlg["pix_fmt"]) == ("arib-std-b67", True, "yuv420p10le")
    assert stream("mpegps-mpeg2-interlaced", 0)["field_order"] == "tt"
    assert stream("mp4-h264-aac", 0)["field_order"] == "progressive"
    assert stream("mpegps-mpeg2-ac3-dvd-anamorphic", 1)["sample_aspect_ratio"] == "64:45"
    assert stream("dv-pal", 0)["sample_aspect_ratio"] == "16:15"
    assert (stream("mp4-h264-aac-5.1", 1)["channels"], stream("mp4-h264-aac-5.1", 1)["channel_layout"]) == (6, "5.1")
    vfr = stream("mp4-h264-vfr", 0)
    assert vfr["r_fps"] == 25 and vfr["fps"] < 22
    eng, fra, sub = (stream("mkv-h264-two-audio-srt", i) for i in (1, 2, 3))
    assert (eng["language"], eng["default"], fra["language"], fra["default"]) == ("eng", True, "fra", False)
    assert (sub["codec_type"], sub["subtitle_format"], sub["language"]) == ("subtitle", "text", "eng")
    rec = probed(corpus, next(f for f in FAMILIES if f.id == "mkv-h264-two-audio-srt"))
    assert rec["selected"]["audio"] == 1 and rec["selected"]["audio_tracks"] == [1, 2]
    assert stream("mp4-h264-mov_text", 2)["subtitle_format"] == "text"


# --- the transcode subset -------------------------------------------------------------

def ffprobe_stream(path: Path) -> dict:
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json", str(path)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["streams"][0]


def display_aspect(width: int, height: int, sar: str | None, rotation: int = 0) -> float:
    ratio = Fraction(sar.replace(":", "/")) if sar and sar not in ("0:1", "N/A") else Fraction(1)
    aspect = width * ratio / height
    return float(1 / aspect if rotation % 180 == 90 else aspect)


def check_ladder(package: Path, rec: dict) -> None:
    """Every rendition: 8-bit 4:2:0, progressive, the source's display aspect within 3 %."""
    src = next(s for s in rec["streams"] if s["index"] == rec["selected"]["video"])
    want = display_aspect(src["width"], src["height"], src.get("sample_aspect_ratio"), src.get("rotation", 0))
    pkg = records.read_json(package / "package.json")
    for r in pkg["renditions"]:
        rid = r["representation_id"]
        joined = package.parent / f"{package.name}-{rid}.mp4"
        with open(joined, "wb") as out:
            out.write((package / "dash" / f"init-{rid}.m4s").read_bytes())
            for seg in sorted((package / "dash").glob(f"chunk-{rid}-*.m4s")):
                out.write(seg.read_bytes())
        s = ffprobe_stream(joined)
        assert s["pix_fmt"] == "yuv420p", (r["name"], s["pix_fmt"])
        assert s.get("field_order", "progressive") == "progressive", (r["name"], s.get("field_order"))
        got = display_aspect(s["width"], s["height"], s.get("sample_aspect_ratio"))
        assert abs(got / want - 1) <= 0.03, f"{r['name']}: display aspect {got:.4f}, source {want:.4f}"


def check_still(package: Path, source: Path, rec: dict) -> None:
    """The derivatives keep the aspect and the picture: a 16-bit or CMYK source must not come
    out blown out or inverted (mean brightness near what Pillow reads from the source)."""
    pkg = records.read_json(package / "package.json")
    src = next(s for s in rec["streams"] if s["index"] == rec["selected"]["video"])
    large = Image.open(package / Path(pkg["images"]["large"]["file"]).name)
    assert large.mode == "RGB"
    assert abs(large.width / large.height / (src["width"] / src["height"]) - 1) <= 0.03
    with Image.open(source) as img:
        ref = img.convert("RGB") if img.mode in ("RGB", "RGBA", "CMYK", "P", "L") else None
        if ref is None:  # 16-bit single channel: scale to 8 bits as a viewer would
            ref = img.convert("I").point(lambda v: v / 257).convert("L").convert("RGB")
        want = sum(ImageStat.Stat(ref).mean) / 3
    got = sum(ImageStat.Stat(large).mean) / 3
    assert abs(got - want) < 12, f"mean brightness {got:.0f}, source {want:.0f}"


def test_labels_see_a_16_bit_still_as_it_looks(corpus, tmp_path):
    """Pillow holds 16-bit greyscale as I;16: read plainly, every pixel above 255 clips white."""
    from stages.core.source import source_info
    from stages.labels import still_frame
    f = next(f for f in FAMILIES if f.id == "png-gray16")
    rec = probed(corpus, f)
    src = source_info(corpus.path(f), rec)
    frame = still_frame(corpus.path(f), src, 320)
    with Image.open(corpus.path(f)) as img:
        want = ImageStat.Stat(img.convert("I").point(lambda v: v / 257).convert("L")).mean[0]
    assert abs(frame.mean() - want) < 12, f"mean {frame.mean():.0f}, source {want:.0f}"


@pytest.mark.parametrize("family", [pytest.param(f, id=f.id) for f in FAMILIES if f.transcode])
def test_transcode_subset(corpus, family: Family, tmp_path):
    rec = probed(corpus, family)
    assert rec["status"] == "valid", rec.get("message")
    source = corpus.path(family)
    pkg = transcode(source, rec, FAST, tmp_path, Progress())
    package = tmp_path / source.name
    if family.expect == "image":
        check_still(package, source, rec)
    elif family.expect == "video":
        assert pkg["kind"] == "video" and pkg["renditions"]
        assert (pkg["audio"] is not None) == (rec["selected"]["audio"] is not None)
        check_ladder(package, rec)
    else:
        assert pkg["kind"] == "audio" and pkg["audio"] and not pkg["renditions"]

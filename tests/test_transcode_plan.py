"""The pure plans behind a package every browser plays: the conform filter chain
(deinterlace, square pixels, constant rate, tone-mapping), the audio and text
renditions, language tags, and the manifests that name them (parsed back with m3u8
and mpegdash, as a player's parser would)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from stages.core import conform
from stages.core.languages import bcp47, language_name
from stages.core.manifests import AudioSet, Media, TextSet, Variant, hls_master, hls_text_playlist, rewrite_mpd
from stages.core.renditions import audio_tracks, sidecars_for, stem, text_tracks

pytestmark = pytest.mark.unit


def video(**kw) -> dict:
    return {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 320, "height": 240, "rotation": 0,
            "fps": 25.0, "pix_fmt": "yuv420p", "field_order": "progressive"} | kw


@pytest.mark.parametrize("stream,expected", [
    pytest.param(video(), (320, 240), id="square"),
    pytest.param(video(sample_aspect_ratio="4:3"), (427, 240), id="anamorphic-16x9"),
    pytest.param(video(width=720, height=576, sample_aspect_ratio="64:45"), (1024, 576), id="pal-widescreen"),
    pytest.param(video(width=720, height=480, sample_aspect_ratio="8:9"), (640, 480), id="ntsc-4x3"),
    pytest.param(video(sample_aspect_ratio="4:3", rotation=90), (240, 427), id="anamorphic-rotated"),
    pytest.param(video(sample_aspect_ratio="0:1"), (320, 240), id="unknown-sar"),
    pytest.param(video(sample_aspect_ratio="1000:1"), (320, 240), id="absurd-sar"),
])
def test_display_dims_apply_the_pixel_aspect_then_the_rotation(stream, expected):
    assert conform.display_dims(stream) == expected


@pytest.mark.parametrize("fps,expected", [
    (25.0, Fraction(25)), (29.97, Fraction(30000, 1001)), (23.976, Fraction(24000, 1001)),
    (29.87, Fraction(30000, 1001)),  # a phone's variable rate averages near 29.97
    (20.0, Fraction(20)), (12.5, Fraction(25, 2)), (120.0, Fraction(60)), (None, Fraction(25)), (0, Fraction(25)),
    (0.2, Fraction(1)),
])
def test_constant_rate_snaps_to_standard_rates_and_caps(fps, expected):
    assert conform.constant_rate(fps) == expected


@pytest.mark.parametrize("field_order,detected,expected", [
    ("tt", None, "tff"), ("bb", None, "bff"), ("tb", None, "bff"), ("bt", None, "tff"),
    ("progressive", "tff", None),  # the stream says so: idet is not asked
    ("unknown", "bff", "bff"), (None, "tff", "tff"), (None, "progressive", None), (None, None, None),
])
def test_parity_from_the_stream_or_idet(field_order, detected, expected):
    assert conform.parity_of(field_order, detected) == expected


IDET = ("[Parsed_idet_0 @ 0x1] Repeated Fields: Neither: 50 Top: 0 Bottom: 0\n"
        "[Parsed_idet_0 @ 0x1] Single frame detection: TFF: 40 BFF: 0 Progressive: 5 Undetermined: 5\n"
        "[Parsed_idet_0 @ 0x1] Multi frame detection: TFF: {t} BFF: {b} Progressive: {p} Undetermined: {u}\n")


@pytest.mark.parametrize("t,b,p,u,expected", [
    (50, 0, 0, 0, "tff"), (0, 48, 2, 0, "bff"), (0, 0, 50, 0, "progressive"),
    (20, 0, 30, 0, "progressive"),   # not clearly interlaced
    (4, 0, 0, 96, "progressive"),    # too few frames decided to call it interlaced
    (0, 0, 0, 50, "progressive"),
])
def test_read_idet(t, b, p, u, expected):
    assert conform.read_idet(IDET.format(t=t, b=b, p=p, u=u)) == expected


def test_read_idet_without_a_summary():
    assert conform.read_idet("nothing here") is None


def test_sdr_plan_deinterlaces_first_and_makes_the_rate_constant():
    c = conform.plan(video(field_order="tt", fps=29.97, height=480, width=720, sample_aspect_ratio="8:9"))
    steps = c.pre.split(",")
    assert steps[0].startswith("bwdif=") and "parity=tff" in steps[0] and steps[1] == "fps=30000/1001"
    assert (c.hdr, c.in_matrix, c.in_range) == (None, "bt601", "tv")  # untagged SD: BT.601
    rung = c.rung(640, 480)
    assert "scale=640:480" in rung and "out_color_matrix=bt709" in rung and "out_range=tv" in rung
    assert rung.endswith("setsar=1,format=yuv420p")


@pytest.mark.parametrize("rotation,turn", [(90, ["transpose=clock"]), (180, ["hflip", "vflip"]),
                                           (270, ["transpose=cclock"]), (0, [])])
def test_the_plan_rotates_after_deinterlacing_the_coded_fields(rotation, turn):
    """The decoder hands on coded frames (autorotate off); the plan turns them after bwdif."""
    steps = conform.plan(video(field_order="tt", rotation=rotation)).pre.split(",")
    assert steps[0].startswith("bwdif=") and steps[1:1 + len(turn)] == turn
    assert conform.plan(video(rotation=rotation)).pre.split(",")[:len(turn)] == turn  # progressive: turned too


def test_the_transcode_and_idet_decoders_leave_the_rotation_to_the_plan(tmp_path):
    from stages.io import encode
    from stages.core.ladder import ladder_for
    from stages.core.thumbnails import plan_storyboard
    plan = encode.Plan(tmp_path / "clip.mp4", "mov", 2.0, 1 << 24, video_index=0, ladder=ladder_for(240, 320, [
        {"height": 240, "maxrate_kbps": 400}]), conform=conform.plan(video(rotation=90)))
    plan.board = plan_storyboard(2.0, 240, 320, {"interval_s": 1, "width": 96, "columns": 4, "max_thumbs": 20})
    args = encode.build_command(plan, {"segment_seconds": 1, "preset": "ultrafast", "crf": 23, "poster_at": 0.1,
                                       "audio_kbps": 96, "opus_kbps": 64}, tmp_path)
    assert args.index("-noautorotate") < args.index("-i")


def test_tagged_and_full_range_sources_convert_from_what_they_are():
    assert conform.plan(video(color_space="bt709")).in_matrix == "bt709"
    assert conform.plan(video(height=1080, width=1920)).in_matrix == "bt709"  # untagged HD: BT.709
    assert conform.plan(video(pix_fmt="yuvj420p")).in_range == "pc"  # MJPEG's full range


@pytest.mark.parametrize("transfer,kind", [("arib-std-b67", "hlg"), ("smpte2084", "pq")])
def test_hdr_is_tone_mapped_once_at_the_top_rung(transfer, kind):
    c = conform.plan(video(color_transfer=transfer, color_primaries="bt2020", color_space="bt2020nc",
                           pix_fmt="yuv420p10le", width=3840, height=2160), top=(1920, 1080))
    assert c.hdr == kind
    assert "zscale=w=1920:h=1080" in c.pre and f"tin={transfer}" in c.pre and "pin=bt2020" in c.pre
    assert "tonemap=tonemap=mobius" in c.pre and c.pre.endswith("format=yuv420p")
    assert c.in_matrix == "bt709"  # what the rungs then scale from
    assert c.describe()["tone_mapped"] == kind


def test_hdr_without_primaries_assumes_bt2020():
    c = conform.plan(video(color_transfer="smpte2084"))
    assert "pin=bt2020" in c.pre and "min=bt2020nc" in c.pre


@pytest.mark.parametrize("code,tag", [("eng", "en"), ("fre", "fr"), ("fra", "fr"), ("ger", "de"), ("en-US", "en-US"),
                                      ("gsw", "gsw"), ("und", None), ("", None), (None, None), ('en"x', None)])
def test_bcp47(code, tag):
    assert bcp47(code) == tag


def test_language_names():
    assert (language_name("fr"), language_name("de-CH"), language_name("gsw")) == ("French", "German", None)


def probe_record(*streams: dict, **selected) -> dict:
    return {"streams": list(streams), "selected": {"video": 0, "audio": None} | selected}


A_ENG = {"index": 1, "codec_type": "audio", "codec_name": "aac", "channels": 6, "channel_layout": "5.1",
         "language": "eng", "default": False}
A_FRA = {"index": 2, "codec_type": "audio", "codec_name": "ac3", "channels": 2, "language": "fra", "default": True}
A_UND = {"index": 3, "codec_type": "audio", "codec_name": "mp3", "channels": 1}


def test_audio_tracks_default_first_with_languages():
    tracks = audio_tracks(probe_record(video(), A_ENG, A_FRA, A_UND, audio=1, audio_tracks=[1, 2, 3]))
    assert [(t.index, t.language, t.name, t.default) for t in tracks] == [
        (2, "fr", "French", True), (1, "en", "English", False), (3, None, "Audio 3", False)]
    assert tracks[1].describe()["downmixed"] and tracks[1].describe()["source_layout"] == "5.1"


def test_audio_tracks_of_an_older_record_are_its_one_selected_track():
    tracks = audio_tracks(probe_record(video(), A_ENG, A_FRA, audio=1))
    assert [(t.index, t.default) for t in tracks] == [(1, True)]
    assert audio_tracks(probe_record(video(), A_ENG)) == []


def test_two_tracks_of_one_language_get_numbered_names():
    other = A_ENG | {"index": 2}
    tracks = audio_tracks(probe_record(video(), A_ENG, other, audio=1, audio_tracks=[1, 2]))
    assert [t.name for t in tracks] == ["English 1", "English 2"]


def test_text_tracks_are_the_selected_text_streams_then_the_sidecars():
    subs = [{"index": 3, "codec_type": "subtitle", "codec_name": "mov_text", "language": "spa"},
            {"index": 4, "codec_type": "subtitle", "codec_name": "hdmv_pgs_subtitle", "language": "eng"},
            {"index": 5, "codec_type": "subtitle", "codec_name": "ass", "subtitle_format": "text",
             "title": "Signs\n& songs"},
            {"index": 6, "codec_type": "subtitle", "codec_name": "subrip", "language": "fre"}]
    tracks = text_tracks(probe_record(video(), *subs, subtitles=[3, 5]), [("clip.srt", "srt")])
    assert [(t.key, t.origin, t.index, t.language, t.name) for t in tracks] == [
        ("text-0", "stream", 3, "es", "Spanish"), ("text-1", "stream", 5, None, "Signs & songs"),
        ("text-2", "sidecar", None, None, "clip.srt")]
    assert tracks[2].describe()["sidecar"] == "clip.srt" and not any(t.default for t in tracks)
    # a record from before selected.subtitles: every text stream, never a bitmap one
    assert [t.index for t in text_tracks(probe_record(video(), *subs))] == [3, 5, 6]


def test_audio_track_titles_name_them():
    commentary = A_ENG | {"index": 2, "title": "Director's commentary", "default": False}
    tracks = audio_tracks(probe_record(video(), A_ENG | {"default": True}, commentary, audio=1, audio_tracks=[1, 2]))
    assert [t.name for t in tracks] == ["English", "Director's commentary"]


def test_hls_master_groups_and_parses():
    variants = [Variant("media_0.m3u8", 900_000, 700_000, 640, 360, "avc1.64001e", 25.0),
                Variant("media_1.m3u8", 400_000, 300_000, 426, 240, "avc1.640015", 25.0)]
    audio = [Media("media_2.m3u8", "French", "fr", True, 130_000, 128_000),
             Media("media_3.m3u8", 'Eng"lish\n#EXT-X-ENDLIST', "en", False, 140_000, 127_000)]
    text = [Media("text_0.m3u8", "Captions", None, False)]
    master = m3u8.loads(hls_master(variants, audio, text))
    assert [p.stream_info.bandwidth for p in master.playlists] == [1_040_000, 540_000]  # + the largest audio peak
    assert all(p.stream_info.audio == "audio" and p.stream_info.subtitles == "subs" for p in master.playlists)
    assert master.playlists[0].stream_info.codecs == "avc1.64001e,mp4a.40.2"
    media = [(m.type, m.language, m.default, m.uri) for m in master.media]
    assert media == [("AUDIO", "fr", "YES", "media_2.m3u8"), ("AUDIO", "en", "NO", "media_3.m3u8"),
                     ("SUBTITLES", None, "NO", "text_0.m3u8")]
    assert master.media[1].name == "English#EXT-X-ENDLIST"  # a name cannot break out of its quotes


def test_audio_only_master_plays_the_default_track():
    audio = [Media("media_0.m3u8", "English", "en", False, 100, 90), Media("media_1.m3u8", "French", "fr", True, 120, 99)]
    master = m3u8.loads(hls_master([], audio, []))
    assert [p.uri for p in master.playlists] == ["media_1.m3u8"]
    assert master.playlists[0].stream_info.bandwidth == 120


def test_text_playlist_is_one_segment_lasting_the_presentation():
    pl = m3u8.loads(hls_text_playlist("../dash/text-0.vtt", 7.5))
    assert [(s.uri, s.duration) for s in pl.segments] == [("../dash/text-0.vtt", 7.5)]
    assert pl.target_duration == 8 and pl.is_endlist


MUXED_MPD = """<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:mpeg:dash:schema:mpd:2011"
  profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="PT2.0S"
  minBufferTime="PT4.0S" publishTime="2026-01-01T00:00:00Z">
 <Period id="0" start="PT0.0S">
  <AdaptationSet id="0" contentType="video" maxWidth="854" maxHeight="480" par="427:240">
   <Representation id="0" mimeType="video/mp4" codecs="avc1.64001e" bandwidth="1" width="854" height="480" sar="1:1">
    <SegmentTemplate timescale="1000000" duration="1000000" initialization="init-$RepresentationID$.m4s" media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1"/>
   </Representation>
  </AdaptationSet>
  <AdaptationSet id="1" contentType="video" maxWidth="640" maxHeight="360" par="16:9">
   <Representation id="1" mimeType="video/mp4" codecs="avc1.64001e" bandwidth="1" width="640" height="360" sar="1:1">
    <SegmentTemplate timescale="1000000" duration="1000000" initialization="init-$RepresentationID$.m4s" media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1"/>
   </Representation>
  </AdaptationSet>
  <AdaptationSet id="2" contentType="audio">
   <Representation id="2" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="1" audioSamplingRate="48000">
    <SegmentTemplate timescale="1000000" duration="1000000" initialization="init-$RepresentationID$.m4s" media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1"/>
   </Representation>
  </AdaptationSet>
  <AdaptationSet id="3" contentType="audio">
   <Representation id="3" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="1" audioSamplingRate="48000">
    <SegmentTemplate timescale="1000000" duration="1000000" initialization="init-$RepresentationID$.m4s" media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1"/>
   </Representation>
  </AdaptationSet>
 </Period>
</MPD>"""


def test_mpd_rewrite_one_video_set_languages_roles_and_text():
    out = rewrite_mpd(MUXED_MPD, {"0": 900, "1": 500, "2": 130}, "16:9",
                      [AudioSet(("2",), "fr", "French", True), AudioSet(("3",), "en", "English", False)],
                      [TextSet("text-0", "text-0.vtt", "es", "Spanish", 80)])
    assert "publishTime" not in out and "ns0:" not in out
    mpd = MPEGDASHParser.parse(out)
    sets = mpd.periods[0].adaptation_sets
    assert [s.content_type for s in sets] == ["video", "audio", "audio", "text"]
    assert [r.id for r in sets[0].representations] == ["0", "1"] and sets[0].par == "16:9"
    assert (sets[0].max_width, sets[0].max_height) == (854, 480)
    assert [r.bandwidth for r in sets[0].representations] == [900, 500]
    assert [(s.lang, s.roles[0].value) for s in sets[1:3]] == [("fr", "main"), ("en", "alternate")]
    text = sets[3]
    assert (text.mime_type, text.lang, text.roles[0].value) == ("text/vtt", "es", "subtitle")
    assert text.representations[0].base_urls[0].base_url_value == "text-0.vtt"
    assert [s.id for s in sets] == [0, 1, 2, 3]


def test_mpd_rewrite_refuses_an_audio_track_it_cannot_find():
    with pytest.raises(ValueError, match="no representation 9"):
        rewrite_mpd(MUXED_MPD, {}, "16:9", [AudioSet(("9",), None, "Audio 1", True)], [])


def test_probe_metadata_carries_what_the_plans_read():
    from stages.core.probe_metadata import summarize
    ff = {"format": {"format_name": "matroska,webm", "duration": "2.0"}, "streams": [
        {"index": 0, "codec_type": "video", "codec_name": "mpeg2video", "width": 720, "height": 576,
         "field_order": "tt", "sample_aspect_ratio": "64:45", "avg_frame_rate": "25/1"},
        {"index": 1, "codec_type": "audio", "codec_name": "ac3", "channels": 6, "channel_layout": "5.1(side)",
         "disposition": {"default": 1}, "tags": {"language": "ger"}},
        {"index": 2, "codec_type": "subtitle", "codec_name": "dvd_subtitle", "disposition": {"default": 0}},
        {"index": 3, "codec_type": "subtitle", "codec_name": "subrip", "tags": {"language": "eng"}}]}
    v, a, bitmap, text = summarize(ff)["streams"]
    assert (v["field_order"], v["sample_aspect_ratio"]) == ("tt", "64:45")
    assert (a["default"], a["language"], a["channel_layout"]) == (True, "ger", "5.1(side)")
    assert (bitmap["subtitle_format"], bitmap["default"], text["subtitle_format"]) == ("bitmap", False, "text")


NAMES = ["clip.mp4", "clip.srt", "clip.vtt", "my.clip.mov", "my.clip.srt", "clip", "clip.en.srt", ".hidden"]


def test_the_spec_groups_on_the_stem_the_stage_matches_sidecars_by():
    """One fact in two places: transcode's spec groups uploads, their records and caption
    sidecars on the name without its extension; the stage pairs sidecars with stem()."""
    import json
    from pipelines.pps.globs import compile_glob
    spec = json.loads((Path(__file__).resolve().parent.parent / "specs/transcode.json").read_text())
    [group, _] = spec["input"]["cross"]
    for pfs in [c["pfs"] for join in group["group"] for c in join["join"]]:
        g = compile_glob(pfs["glob"])
        prefix = {"media": "/", "sidecars": "/", "probe": "/valid/", "captions": "/sidecar/"}[pfs["name"]]
        suffix = ".json" if pfs["repo"] == "probe" else ""
        for name in NAMES:
            path = prefix + name + suffix
            assert g.replace(path, pfs["groupBy"]) == stem(name), (pfs["name"], name)
            assert g.replace(path, pfs["joinOn"]) == name  # each file joins its own record on its whole name


def test_sidecars_are_those_sharing_the_stem():
    assert sidecars_for("clip.mp4", NAMES) == ["clip", "clip.srt", "clip.vtt"]
    assert sidecars_for("my.clip.mov", NAMES) == ["my.clip.srt"]
    assert sidecars_for("clip", ["clip", "clip.srt"]) == ["clip.srt"]  # never the upload itself

"""The package's manifests as players read them (pure text in, text out).

ffmpeg's dash muxer writes the segments, the media playlists and a first MPD; it
cannot name languages, default tracks or text tracks, and it refuses renditions of
one AdaptationSet whose display aspect differs by a pixel of rounding (854x480 beside
1280x720 at square pixels). So it writes each rendition in its own set, and here the
MPD gets one video AdaptationSet, an audio set per track (lang, Role main/alternate,
Label) and a text set per WebVTT track; the HLS master is written whole: variants at
their measured bandwidths, an AUDIO group (LANGUAGE, DEFAULT) and a SUBTITLES group.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

MPD_NS = "urn:mpeg:dash:schema:mpd:2011"
ROLE_SCHEME = "urn:mpeg:dash:role:2011"
AUDIO_GROUP, TEXT_GROUP = "audio", "subs"
AAC_CODEC = "mp4a.40.2"
for _prefix, _uri in (("", MPD_NS), ("xsi", "http://www.w3.org/2001/XMLSchema-instance"),
                      ("xlink", "http://www.w3.org/1999/xlink")):
    ET.register_namespace(_prefix, _uri)


def _q(tag: str) -> str:
    return f"{{{MPD_NS}}}{tag}"


@dataclass(frozen=True)
class Variant:
    uri: str
    bandwidth: int          # peak bits/s of the video segments
    average_bandwidth: int
    width: int
    height: int
    codecs: str             # the video's RFC 6381 string
    frame_rate: float


@dataclass(frozen=True)
class Media:
    """An alternate rendition (audio or text) in a group."""
    uri: str
    name: str
    language: str | None
    default: bool
    bandwidth: int = 0
    average_bandwidth: int = 0


def _quoted(text: str) -> str:
    """A quoted-string attribute value: no quotes or line breaks can end it early."""
    return '"' + "".join(c for c in text if c not in '"\r\n') + '"'


def hls_master(variants: list[Variant], audio: list[Media], text: list[Media]) -> str:
    """The master playlist. BANDWIDTH of a variant is its video peak plus the largest
    audio peak (any audio rendition may be chosen with it), as RFC 8216 asks."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for m in audio:
        lines.append(f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME={_quoted(m.name)}'
                     + (f",LANGUAGE={_quoted(m.language)}" if m.language else "")
                     + f',DEFAULT={"YES" if m.default else "NO"},AUTOSELECT=YES,CHANNELS="2",URI={_quoted(m.uri)}')
    for m in text:
        lines.append(f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{TEXT_GROUP}",NAME={_quoted(m.name)}'
                     + (f",LANGUAGE={_quoted(m.language)}" if m.language else "")
                     + f',DEFAULT={"YES" if m.default else "NO"},AUTOSELECT=YES,FORCED=NO,URI={_quoted(m.uri)}')
    peak = max((m.bandwidth for m in audio), default=0)
    mean = max((m.average_bandwidth for m in audio), default=0)
    groups = (f',AUDIO="{AUDIO_GROUP}"' if audio else "") + (f',SUBTITLES="{TEXT_GROUP}"' if text else "")
    for v in variants:
        codecs = ",".join(c for c in (v.codecs, AAC_CODEC if audio else "") if c)
        lines.append(f"#EXT-X-STREAM-INF:BANDWIDTH={max(v.bandwidth + peak, 1)},"
                     f"AVERAGE-BANDWIDTH={max(v.average_bandwidth + mean, 1)},RESOLUTION={v.width}x{v.height},"
                     f'FRAME-RATE={v.frame_rate:.3f},CODECS="{codecs}"{groups}')
        lines.append(v.uri)
    if not variants and audio:  # audio only: the default track is the variant
        default = next(m for m in audio if m.default)
        lines.append(f'#EXT-X-STREAM-INF:BANDWIDTH={max(default.bandwidth, 1)},'
                     f'AVERAGE-BANDWIDTH={max(default.average_bandwidth, 1)},CODECS="{AAC_CODEC}"{groups}')
        lines.append(default.uri)
    return "\n".join(lines) + "\n"


def hls_text_playlist(vtt_uri: str, duration: float) -> str:
    """A media playlist of one WebVTT file lasting the whole presentation."""
    return "\n".join(["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{max(1, math.ceil(duration))}",
                      "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", f"#EXTINF:{duration:.3f},", vtt_uri,
                      "#EXT-X-ENDLIST"]) + "\n"


@dataclass(frozen=True)
class AudioSet:
    representation_ids: tuple[str, ...]  # the AAC and the Opus representation of one track
    language: str | None
    name: str
    default: bool


@dataclass(frozen=True)
class TextSet:
    key: str        # representation id, and the file's stem
    file: str       # relative to the MPD
    language: str | None
    name: str
    bandwidth: int


def _role(parent: ET.Element, value: str, name: str) -> None:
    """Role and Label go first in an AdaptationSet (before its Representations)."""
    role = ET.Element(_q("Role"), {"schemeIdUri": ROLE_SCHEME, "value": value})
    label = ET.Element(_q("Label"))
    label.text = name
    parent.insert(0, label)
    parent.insert(0, role)


def rewrite_mpd(text: str, bandwidths: dict[str, int], par: str, audio: list[AudioSet],
                texts: list[TextSet]) -> str:
    """The final MPD from the dash muxer's: no wall-clock times (a re-run makes the same
    bytes), measured peak bandwidths, one video AdaptationSet, language/role/label on
    each audio set, a text AdaptationSet per WebVTT track."""
    root = ET.fromstring(text)
    for attr in ("publishTime", "availabilityStartTime"):
        root.attrib.pop(attr, None)
    period = root.find(_q("Period"))
    if period is None:
        raise ValueError("the MPD has no Period")
    sets = period.findall(_q("AdaptationSet"))
    video = [s for s in sets if s.get("contentType") == "video"]
    for s in video[1:]:  # one set: players switch renditions only within a set
        for rep in s.findall(_q("Representation")):
            video[0].append(rep)
        period.remove(s)
    if video:
        reps = video[0].findall(_q("Representation"))
        video[0].set("maxWidth", str(max(int(r.get("width", "0")) for r in reps)))
        video[0].set("maxHeight", str(max(int(r.get("height", "0")) for r in reps)))
        video[0].set("par", par)
    for rep in root.iter(_q("Representation")):
        if rep.get("id") in bandwidths:
            rep.set("bandwidth", str(max(1, bandwidths[rep.get("id")])))
    by_rep = {rep.get("id"): s for s in period.findall(_q("AdaptationSet")) for rep in s.findall(_q("Representation"))}
    for track in audio:
        for rid in track.representation_ids:
            s = by_rep.get(rid)
            if s is None:
                raise ValueError(f"the MPD has no representation {rid} for audio track {track.name!r}")
            if track.language:
                s.set("lang", track.language)
            _role(s, "main" if track.default else "alternate", track.name)
    for t in texts:
        s = ET.SubElement(period, _q("AdaptationSet"), {"contentType": "text", "mimeType": "text/vtt"})
        if t.language:
            s.set("lang", t.language)
        _role(s, "subtitle", t.name)
        rep = ET.SubElement(s, _q("Representation"), {"id": t.key, "bandwidth": str(max(1, t.bandwidth))})
        ET.SubElement(rep, _q("BaseURL")).text = t.file
    for i, s in enumerate(period.findall(_q("AdaptationSet"))):
        s.set("id", str(i))
    ET.indent(root, "  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

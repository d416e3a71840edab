"""ffprobe's JSON -> the metadata a probe record carries (pure)."""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from stages.core.captions import BITMAP_CODECS, TEXT_CODECS

IMAGE_DEMUXERS = {"png_pipe", "jpeg_pipe", "webp_pipe", "gif", "tiff_pipe", "bmp_pipe",
                  "heif"}  # heif: stages/io/heif.py
# FFmpeg 5.1 reads AVIF with its mov demuxer (an ISO-BMFF file, one AV1 item): the major
# brand says it is a still (avif) or an image sequence (avis), not a movie.
STILL_BRANDS = {"avif", "avis"}


# Where phones and cameras put the place a video was shot: QuickTime `location`
# (`©xyz`, also `location-eng`), `com.apple.quicktime.location.ISO6709` and friends,
# Android's `com.android.*location*`, XMP-ish GPS keys. A value that is an ISO 6709
# point is a location whatever its key.
_LOCATION_KEY = re.compile(r"location|gps|geo|latitude|longitude|xyz", re.I)
_ISO6709 = re.compile(r"^\s*[+-]\d{1,3}(\.\d+)?[+-]\d{1,3}(\.\d+)?([+-]\d+(\.\d+)?)?(CRS[^/]*)?/?\s*$")


def split_location(tags: dict[str, str]) -> tuple[dict[str, str], bool]:
    """(the tags without any location, whether there was one) (pure)."""
    kept = {k: v for k, v in tags.items() if not (_LOCATION_KEY.search(k) or _ISO6709.match(v))}
    return kept, len(kept) < len(tags)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def _int(v: Any) -> int | None:
    f = _num(v)
    return int(f) if f is not None else None


def _rate(text: str | None) -> float | None:
    try:
        r = Fraction(text) if text and text != "0/0" else None
    except (ValueError, ZeroDivisionError):
        return None
    return round(float(r), 3) if r else None


def rotation_of(stream: dict) -> int:
    """Display rotation in degrees (0, 90, 180, 270) from the display matrix or the rotate tag."""
    for sd in stream.get("side_data_list") or []:
        if "rotation" in sd:
            r = _int(sd["rotation"]) or 0
            return (-r) % 360  # ffprobe reports the matrix angle counter-clockwise
    r = _int((stream.get("tags") or {}).get("rotate"))
    return r % 360 if r else 0


def subtitle_kind(codec: str) -> str:
    """"text" (becomes WebVTT), "bitmap" (cannot, without OCR) or "unknown"."""
    return "text" if codec in TEXT_CODECS else "bitmap" if codec in BITMAP_CODECS else "unknown"


def stream_info(s: dict) -> dict[str, Any]:
    kind = s.get("codec_type", "unknown")
    info: dict[str, Any] = {"index": _int(s.get("index")) or 0, "codec_type": kind,
                            "codec_name": s.get("codec_name") or "unknown"}
    for key in ("profile", "pix_fmt", "color_transfer", "color_primaries", "color_space", "color_range",
                "sample_aspect_ratio", "display_aspect_ratio", "channel_layout"):
        if s.get(key) not in (None, "", "unknown"):
            info[key] = s[key]
    tag = str(s.get("codec_tag_string") or "")
    if len(tag) == 4 and tag.isascii() and tag.isprintable():  # the FourCC names a codec ffprobe could not
        info["codec_tag"] = tag
    disposition = s.get("disposition") or {}
    tags = s.get("tags") or {}
    if kind == "video":
        info["width"], info["height"] = _int(s.get("width")) or 0, _int(s.get("height")) or 0
        info["rotation"] = rotation_of(s)
        info["fps"] = _rate(s.get("avg_frame_rate")) or _rate(s.get("r_frame_rate"))
        info["r_fps"] = _rate(s.get("r_frame_rate"))  # differs from fps when the frame rate varies
        info["hdr"] = s.get("color_transfer") in ("smpte2084", "arib-std-b67")
        info["attached_pic"] = bool(disposition.get("attached_pic"))
        if s.get("field_order") not in (None, ""):
            info["field_order"] = s["field_order"]  # progressive, tt, bb, tb, bt or unknown
    if kind == "audio":
        info["channels"] = _int(s.get("channels")) or 0
        info["sample_rate"] = _int(s.get("sample_rate")) or 0
    if _num(s.get("duration")) is not None:
        info["duration"] = _num(s.get("duration"))
    if _int(s.get("bit_rate")):
        info["bit_rate"] = _int(s.get("bit_rate"))
    if kind in ("audio", "subtitle"):  # what alternate renditions need: which is the default, and why
        info["default"] = bool(disposition.get("default"))
        for flag in ("forced", "hearing_impaired", "visual_impaired", "comment"):
            if disposition.get(flag):
                info[flag] = True
        if tags.get("title"):
            info["title"] = str(tags["title"])[:200]
    if kind == "subtitle":
        info["subtitle_format"] = subtitle_kind(info["codec_name"])
    lang = tags.get("language")
    if lang and lang != "und":
        info["language"] = str(lang)[:16]
    return info


def summarize(ff: dict) -> dict[str, Any]:
    """Container, duration, bitrate, streams, tags, and what kind of asset it is."""
    fmt = ff.get("format") or {}
    streams = [stream_info(s) for s in ff.get("streams") or []]
    demuxer = (fmt.get("format_name") or "").split(",")[0]
    video = [s for s in streams if s["codec_type"] == "video" and not s.get("attached_pic")]
    audio = [s for s in streams if s["codec_type"] == "audio"]
    brand = str((fmt.get("tags") or {}).get("major_brand", "")).strip()
    if demuxer in IMAGE_DEMUXERS or (demuxer == "mov" and brand in STILL_BRANDS):
        kind = "image"
    elif video:
        kind = "video"
    elif audio:
        kind = "audio"
    else:
        kind = "unknown"
    tags, gps = split_location({str(k): str(v)[:500] for k, v in (fmt.get("tags") or {}).items()})
    gps = gps or any(split_location({str(k): str(v) for k, v in (s.get("tags") or {}).items()})[1]
                     for s in ff.get("streams") or [])  # stream tags are not kept; a location there still counts
    return {
        "container": {"format_name": fmt.get("format_name", ""), "demuxer": demuxer,
                      "long_name": fmt.get("format_long_name", "")},
        "duration": _num(fmt.get("duration")) or max((s.get("duration") or 0 for s in streams), default=0.0),
        "bitrate": _int(fmt.get("bit_rate")) or 0,
        "streams": streams,
        "tags": tags,  # never a location: gps_present says there was one
        "gps_present": gps,
        "kind": kind,
    }

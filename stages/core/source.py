"""What the media stages need to know about an upload, from its probe record (or, when
a stage runs on its own, from the allow-listed ffprobe)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from stages.io import media_io
from stages.common import StageError, default_settings
from stages.core.probe_metadata import summarize


def source_info(media: Path, probe: dict | None) -> dict[str, Any]:
    """demuxer, duration, the video and audio streams to use (the probe's `selected`,
    else the first decodable ones), sha256, the record itself, whether a probe record
    (held to the committed policy) said so (`probed`), and `max_pixels`: the per-frame
    limit every decoder of this upload gets (the record's; else the default policy's)."""
    probed = bool(probe and "streams" in probe)
    defaults = default_settings("policy")
    if not probed:
        ff, complaint = media_io.probe(media, defaults["probe_timeout_s"],
                                       max_pixels=max(defaults["max_pixels"], defaults["max_image_pixels"]))
        if ff is None:
            raise StageError(f"{media.name}: ffprobe cannot read it ({complaint[-200:]}); was it probed valid?")
        probe = summarize(ff)
    streams = probe["streams"]
    chosen = probe.get("selected")
    if chosen:  # the probe chose (allowed codecs, decode-checked): use exactly those
        by_index = {s["index"]: s for s in streams}
        video, audio = by_index.get(chosen.get("video")), by_index.get(chosen.get("audio"))
    else:
        video = next((s for s in streams if s["codec_type"] == "video" and not s.get("attached_pic")
                      and s.get("decodable", True)), None)
        audio = next((s for s in streams if s["codec_type"] == "audio" and s.get("decodable", True)), None)
    if video is None and audio is None:
        raise StageError(f"{media.name}: no decodable video or audio stream (probe should have rejected it)")
    if not chosen:  # the rendition plans read `selected` as a probe record has it (no policy seen here)
        probe = probe | {"selected": {
            "video": video["index"] if video else None, "audio": audio["index"] if audio else None,
            "audio_tracks": [s["index"] for s in streams if s["codec_type"] == "audio" and s.get("decodable", True)]}}
    kind = probe.get("kind") or ("video" if video else "audio")
    max_pixels = probe.get("max_pixels") or defaults["max_image_pixels" if kind == "image" else "max_pixels"]
    if kind == "image" and not probed and video:  # sized as probe would: by Pillow, the reader of stills
        from stages.io.still import open_still
        with open_still(media, probe["container"]["demuxer"], max_pixels) as img:
            video = video | {"width": img.width, "height": img.height}
    return {"demuxer": probe["container"]["demuxer"], "duration": float(probe.get("duration") or 0),
            "record": probe,
            "video": video, "audio": audio, "sha256": probe.get("sha256"),
            "kind": kind, "probed": probed, "max_pixels": max_pixels}

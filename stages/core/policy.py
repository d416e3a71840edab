"""The probe policy (settings/policy.json) applied to an upload's metadata (pure): whether
it is accepted, and which of its streams the later stages use. Every stream is accounted
for: used (`selected`), or listed in `left_out` with a reason. A video whose picture the
policy cannot use is rejected, never published as its sound alone."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stages.core.probe_metadata import subtitle_kind

# why a stream is not used (the probe record schema lists the same codes)
LEFT_OUT_REASONS = ("codec_not_allowed", "does_not_decode", "cover_art", "extra_video", "bitmap_subtitle",
                    "not_audio_or_video")


def reject(reason: str, message: str) -> dict[str, Any]:
    return {"status": "rejected", "reason": reason, "message": message}


def left_out(stream: dict, reason: str, message: str) -> dict[str, Any]:
    return {"index": stream["index"], "codec_type": stream["codec_type"], "codec_name": stream["codec_name"],
            "reason": reason, "message": message}


@dataclass
class Plan:
    """The streams the later stages may use, in file order, and every other one with why."""
    video: dict | None = None
    audio: list[dict] = field(default_factory=list)
    subtitles: list[dict] = field(default_factory=list)
    left_out: list[dict] = field(default_factory=list)


def plan_streams(meta: dict[str, Any], policy: dict[str, Any]) -> Plan:
    """Sort each stream into used or left out (pure). Video: the first one that is not cover
    art and has an allowed codec; audio: every allowed one; subtitles: allowed text ones."""
    image = meta.get("kind") == "image"
    vcodecs = policy["allowed_image_codecs"] if image else policy["allowed_video_codecs"]
    plan = Plan()
    for s in meta["streams"]:
        kind, codec = s["codec_type"], s["codec_name"]
        if kind == "video" and s.get("attached_pic"):
            plan.left_out.append(left_out(s, "cover_art", f"an attached picture ({codec}, cover art): not packaged"))
        elif kind == "video" and codec not in vcodecs:
            plan.left_out.append(left_out(s, "codec_not_allowed", f"video codec {codec} is not allowed by the policy"))
        elif kind == "video" and plan.video is not None:
            plan.left_out.append(left_out(s, "extra_video", f"another video stream ({codec}); only stream "
                                                            f"{plan.video['index']} is packaged"))
        elif kind == "video":
            plan.video = s
        elif kind == "audio" and codec in policy["allowed_audio_codecs"]:
            plan.audio.append(s)
        elif kind == "audio":
            plan.left_out.append(left_out(s, "codec_not_allowed", f"audio codec {codec} is not allowed by the policy"))
        elif kind == "subtitle" and codec in policy["allowed_subtitle_codecs"]:
            plan.subtitles.append(s)
        elif kind == "subtitle" and subtitle_kind(codec) == "bitmap":
            plan.left_out.append(left_out(s, "bitmap_subtitle", f"{codec} subtitles are pictures of text: "
                                                                "they cannot become WebVTT"))
        elif kind == "subtitle":
            plan.left_out.append(left_out(s, "codec_not_allowed", f"subtitle codec {codec} is not allowed by "
                                                                  "the policy"))
        else:
            plan.left_out.append(left_out(s, "not_audio_or_video", f"a {kind} stream ({codec}): no picture, "
                                                                   "sound or subtitles to package"))
    return plan


def main_audio(tracks: list[dict]) -> dict | None:
    """The track a single-audio player gets: the first flagged default, else the first."""
    return next((t for t in tracks if t.get("default")), tracks[0] if tracks else None)


def check_policy(meta: dict[str, Any], size: int, policy: dict[str, Any]) -> dict[str, Any] | None:
    """The first policy rule the metadata breaks, as a rejection; None if it passes (pure)."""
    demuxer = meta["container"]["demuxer"]
    if size > policy["max_bytes"]:
        return reject("too_large", f"{size} bytes is over the limit of {policy['max_bytes']} bytes")
    if demuxer not in policy["allowed_containers"]:
        return reject("unsupported_container", f"container {demuxer!r} is not allowed "
                                               f"(allowed: {', '.join(policy['allowed_containers'])})")
    video = [s for s in meta["streams"] if s["codec_type"] == "video" and not s.get("attached_pic")]
    audio = [s for s in meta["streams"] if s["codec_type"] == "audio"]
    if meta.get("kind") == "image":
        return check_still(video, policy)
    for s in video:
        w, h = s.get("width") or 0, s.get("height") or 0
        if w > policy["max_width"] or h > policy["max_height"] or w * h > policy["max_pixels"]:
            return reject("dimensions_too_large", f"video is {w}x{h}; the limit is "
                                                  f"{policy['max_width']}x{policy['max_height']} "
                                                  f"and {policy['max_pixels']} pixels")
        if w <= 0 or h <= 0:  # FFmpeg zeroes sizes it refuses (e.g. 40000x40000 headers)
            return reject("bad_dimensions", f"video stream {s['index']} has no usable dimensions: "
                                            "its header is corrupt or absurd")
    if meta["duration"] > policy["max_duration_s"]:
        return reject("too_long", f"duration {meta['duration']:.0f}s is over the limit of "
                                  f"{policy['max_duration_s']:g}s")
    plan = plan_streams(meta, policy)
    if video and plan.video is None:  # its sound alone would be a silently different asset
        codecs = ", ".join(dict.fromkeys(_named(s) for s in video))
        return reject("unsupported_codec", f"its video is {codecs}, which the policy does not allow; a video "
                                           "is never published as its sound alone")
    if plan.video is None and not plan.audio:
        found = ", ".join(f"{s['codec_type']} {_named(s)}" for s in audio) or "no audio or video"
        reason = "unsupported_codec" if audio else "no_decodable_stream"
        return reject(reason, f"no allowed video or audio stream ({found})")
    return None


def _named(stream: dict) -> str:
    """A codec as a person can look it up: ffprobe's name, or the FourCC it could not name."""
    tag = stream.get("codec_tag")
    return f"{stream['codec_name']} (FourCC {tag})" if tag and stream["codec_name"] == "unknown" else stream["codec_name"]


def check_still(video: list[dict], policy: dict[str, Any]) -> dict[str, Any] | None:
    """A still image: its codec, and its pixel count from the header (a decompression bomb
    is refused here, before anything decodes it)."""
    if not video:
        return reject("no_decodable_stream", "no image in the file")
    s = video[0]
    w, h = s.get("width") or 0, s.get("height") or 0
    if w <= 0 or h <= 0:
        return reject("bad_dimensions", "the image header gives no usable size (corrupt, or too large for any "
                                        "decoder: a decompression bomb)")
    if w * h > policy["max_image_pixels"] or w > 65535 or h > 65535:
        return reject("dimensions_too_large", f"image is {w}x{h} ({w * h} pixels); the limit is "
                                              f"{policy['max_image_pixels']} pixels (decompression-bomb guard)")
    if s["codec_name"] not in policy["allowed_image_codecs"]:
        return reject("unsupported_codec", f"image codec {s['codec_name']!r} is not allowed "
                                           f"(allowed: {', '.join(policy['allowed_image_codecs'])})")
    return None

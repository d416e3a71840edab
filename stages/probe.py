"""probe: ffprobe (allow-listed, see media_io) and the policy, for every clean upload.

`python -m stages.probe --media PATH --scan VERDICT.json --settings policy.json --out DIR`
writes `DIR/valid/<name>.json` (full metadata) or `DIR/rejected/<name>.json` (a
reason code and a sentence). Bad media is never an error here: only an unusable
policy or an unreadable input fails the datum.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stages.io import heif, media_io
from stages.core import records
from stages.common import StageError, add_input, files_under, load_settings, required, run_main
from stages.core.probe_metadata import summarize


def reject(reason: str, message: str) -> dict[str, Any]:
    return {"status": "rejected", "reason": reason, "message": message}


def classify_probe_failure(complaint: str, head: bytes) -> dict[str, Any]:
    """Why ffprobe could not open it, as a reason code (pure)."""
    c = complaint.lower()
    if complaint.startswith("HEIC"):
        if "pillow-heif" in complaint:
            return reject("unsupported_container", "it is a HEIC (HEIF) image, and this stage image has no HEIC "
                                                   "reader (pillow-heif)")
        return reject("not_media", complaint.splitlines()[-1][:200])
    if "not on whitelist" in c or "not on the whitelist" in c:
        demuxer = complaint.split("[", 1)[-1].split(" @", 1)[0] if "[" in complaint else "unknown"
        playlists = {"hls": "an HLS playlist", "dash": "a DASH manifest", "concat": "an ffconcat script"}
        what = playlists.get(demuxer, f"a {demuxer} file")
        tail = "; it was not followed to the files it names" if demuxer in playlists else ""
        return reject("unsupported_container", f"it is {what}, not an allowed media container{tail}")
    if "moov atom not found" in c and head[4:8] == b"ftyp":
        return reject("truncated", "the MP4/QuickTime index (moov) is missing: the file looks truncated")
    if "timed out" in c:
        return reject("probe_timeout", f"ffprobe {complaint}")
    return reject("not_media", "not a media file ffprobe can read (" + complaint.splitlines()[-1][:200] + ")")


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
    usable_video = [s for s in video if s["codec_name"] in policy["allowed_video_codecs"]]
    usable_audio = [s for s in audio if s["codec_name"] in policy["allowed_audio_codecs"]]
    if not usable_video and not usable_audio:
        found = ", ".join(f"{s['codec_type']} {s['codec_name']}" for s in video + audio) or "no audio or video"
        reason = "unsupported_codec" if video or audio else "no_decodable_stream"
        return reject(reason, f"no allowed video or audio stream ({found})")
    return None


def _decodes(path: Path, demuxer: str, stream: str, start: float, policy: dict[str, Any],
             strict: bool = False) -> str | None:
    """None if `seconds` of one stream decode cleanly from `start`, else ffmpeg's complaint.
    strict (stills): any decoder error counts, as a truncated JPEG still 'decodes' half grey."""
    args = media_io.ffmpeg_base(xerror=True)
    if start:
        args += ["-ss", f"{start:.3f}"]
    args += media_io.ffmpeg_input_args(path, demuxer) + ["-map", stream, "-t", str(policy["decode_check_s"]),
                                                          "-f", "null", "-"]
    rc, _, err = media_io.run_tool(args, policy["probe_timeout_s"])
    if rc == 0 and not (strict and err.strip()):
        return None
    return (err.strip().splitlines() or ["decoder error"])[-1][:200]


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


def candidates(meta: dict[str, Any], policy: dict[str, Any]) -> tuple[dict | None, list[dict]]:
    """The video stream the other stages will use (the first one that is not cover art,
    with an allowed codec) and the audio streams they may use, in order (allowed codecs) (pure)."""
    kind = meta.get("kind")
    vcodecs = policy["allowed_image_codecs"] if kind == "image" else policy["allowed_video_codecs"]
    video = next((s for s in meta["streams"] if s["codec_type"] == "video" and not s.get("attached_pic")
                  and s["codec_name"] in vcodecs), None)
    audio = [s for s in meta["streams"] if s["codec_type"] == "audio" and s["codec_name"] in policy["allowed_audio_codecs"]]
    return video, audio


def decode_check(path: Path, meta: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any] | None:
    """Choose the streams the other stages will use and record them (`selected`: stream
    indexes, which transcode and labels map as `0:<index>`), then decode a few seconds
    of each at the start and at the end: broken or truncated media fails here though its
    header looked fine. A broken audio track is marked `decodable: false` and the next
    one tried; beside good video, no decodable audio is a warning, not a rejection."""
    video, audio = candidates(meta, policy)
    meta["selected"] = {"video": video["index"] if video else None, "audio": audio[0]["index"] if audio else None}
    if policy["decode_check_s"] <= 0:
        return None
    demuxer = meta["container"]["demuxer"]
    spots = [0.0]
    if meta["duration"] > policy["decode_check_s"] * 2:
        spots.append(max(0.0, meta["duration"] - policy["decode_check_s"]))
    strict = meta["kind"] == "image"

    def problem_of(stream: dict) -> tuple[str, float] | None:
        if demuxer == heif.DEMUXER:  # not an FFmpeg format: Pillow decodes it, held to its header's size
            problem = heif.decode_problem(path, (stream.get("width") or 0) * (stream.get("height") or 0))
            return (problem, 0.0) if problem else None
        for start in spots:
            problem = _decodes(path, demuxer, f"0:{stream['index']}", start, policy, strict=strict)
            if problem is not None:
                return problem, start
        return None

    def where(start: float) -> str:
        return "at the start" if not start else f"near the end ({start:.1f}s)"

    if video is not None and (bad := problem_of(video)):
        label = "image" if strict else "video"
        return reject("truncated" if bad[1] else "decode_error", f"{label} decoding failed {where(bad[1])}: {bad[0]}")
    first_failure = None
    meta["selected"]["audio"] = None
    for stream in audio:
        bad = problem_of(stream)
        if bad is None:
            meta["selected"]["audio"] = stream["index"]
            return None
        first_failure = first_failure or bad
        stream["decodable"] = False
        meta.setdefault("warnings", []).append(f"audio stream {stream['index']} does not decode {where(bad[1])} "
                                               f"({bad[0]}); it is left out")
    if first_failure and video is None:
        problem, start = first_failure
        return reject("truncated" if start else "decode_error", f"audio decoding failed {where(start)}: {problem}")
    return None


def probe_file(path: Path, policy: dict[str, Any], scan: dict | None = None) -> dict[str, Any]:
    size = path.stat().st_size
    base: dict[str, Any] = {"name": path.name, "size": size, "probed_at": records.utc_now(),
                            "sha256": (scan or {}).get("sha256") or records.sha256_file(path)}
    if size == 0:
        return base | reject("empty_file", "the file is empty (0 bytes)")
    if size > policy["max_bytes"]:
        return base | reject("too_large", f"{size} bytes is over the limit of {policy['max_bytes']} bytes")
    ff, complaint = media_io.probe(path, policy["probe_timeout_s"])
    if ff is None:
        with open(path, "rb") as f:
            head = f.read(16)
        return base | classify_probe_failure(complaint, head)
    meta = summarize(ff)
    bad = check_policy(meta, size, policy) or decode_check(path, meta, policy)
    if bad:
        return base | bad | {"container": meta["container"], "streams": meta["streams"]}
    return base | {"status": "valid"} | meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stages.probe", description=__doc__.splitlines()[0])
    add_input(ap, "media", "the upload (a file, or a folder of uploads)")
    add_input(ap, "scan", "the upload's clean verdict (scan/clean/<name>.json)")
    add_input(ap, "settings", "policy.json")
    ap.add_argument("--out", required=True, help="output folder (/pfs/out)")
    args = ap.parse_args(argv)
    media = required(args.media, "media")
    policy = load_settings("policy", args.settings)
    scan = None
    if args.scan and Path(args.scan).is_file():
        try:
            scan = records.read_json(args.scan)
        except (OSError, ValueError) as e:
            raise StageError(f"--scan {args.scan}: unreadable verdict ({e})") from None
    for path in files_under(media):
        rec = probe_file(path, policy, scan if scan and scan.get("name") == path.name else None)
        records.write_record(Path(args.out) / rec["status"] / f"{path.name}.json", "probe", rec)
        print(f"{path.name}: {rec['status']}" + (f" ({rec['reason']}: {rec['message']})"
                                                 if rec["status"] == "rejected" else ""))
    return 0


if __name__ == "__main__":
    run_main(main)

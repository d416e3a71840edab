"""probe: ffprobe (allow-listed, see media_io) and the policy, for every clean upload.

`python -m stages.probe --media PATH --scan VERDICT.json --settings policy.json --out DIR`
writes `DIR/valid/<name>.json` (full metadata), `DIR/rejected/<name>.json` (a
reason code and a sentence) or, for a caption file (clip.srt beside clip.mp4),
`DIR/sidecar/<name>.json`. Bad media is never an error here: only an unusable
policy or an unreadable input fails the datum.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stages.io import heif, media_io, still
from stages.core import records
from stages.common import ContentRejected, StageError, add_input, files_under, load_settings, output_name, required, \
    run_main
from stages.core.policy import check_policy, main_audio, plan_streams, reject
from stages.core.captions import parse_ass
from stages.core.probe_metadata import summarize
from stages.io.subtitles import SIDECAR_MAX_BYTES, ass_events


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
    if size := media_io.oversized_frame(complaint):
        return frame_too_large(size)
    return reject("not_media", "not a media file ffprobe can read (" + complaint.splitlines()[-1][:200] + ")")


def frame_too_large(size: str, limit: int | None = None) -> dict[str, Any]:
    """A frame the decoder refused for `-max_pixels` (it was never decoded)."""
    return reject("dimensions_too_large", f"a frame of {size} is over the policy's per-frame limit"
                                          f"{f' of {limit} pixels' if limit else ''}; it was not decoded")


def frame_limit(meta: dict[str, Any], policy: dict[str, Any]) -> int:
    """The per-frame pixel limit for this kind of upload (every decoder of it gets it)."""
    return policy["max_image_pixels"] if meta.get("kind") == "image" else policy["max_pixels"]


def size_still(path: Path, meta: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any] | None:
    """A still's size is what Pillow, its reader in every later stage, reads from its header
    (a GIF's logical screen can say 16x16 while its frame is 2000x2000): the record gets that
    size, with a warning when FFmpeg said otherwise. Nothing is decoded here."""
    s = next((s for s in meta["streams"] if s["codec_type"] == "video" and not s.get("attached_pic")), None)
    if meta.get("kind") != "image" or s is None:
        return None
    try:
        with still.open_still(path, meta["container"]["demuxer"], policy["max_image_pixels"]) as img:
            w, h = img.size
    except ContentRejected as e:
        return reject(e.reason, e.message)
    if (w, h) != (s.get("width"), s.get("height")):
        meta.setdefault("warnings", []).append(f"its header says {s.get('width')}x{s.get('height')}; its image is "
                                               f"{w}x{h} as Pillow reads it, and that is the size used")
        s["width"], s["height"] = w, h
    return None


def _decodes(path: Path, demuxer: str, streams: list[str], start: float, policy: dict[str, Any],
             strict: bool = False) -> str | None:
    """None if `decode_check_s` seconds of these streams decode cleanly from `start`, else
    ffmpeg's complaint (a frame refused for `-max_pixels` first, wherever it is in the log).
    strict (stills): any decoder error counts, as a truncated JPEG still 'decodes' half grey."""
    limit = policy["max_image_pixels"] if strict else policy["max_pixels"]
    args = media_io.ffmpeg_base(xerror=True)
    if start:
        args += ["-ss", f"{start:.3f}"]
    args += media_io.ffmpeg_input_args(path, demuxer, max_pixels=limit)
    for stream in streams:
        args += ["-map", stream]
    args += ["-t", str(policy["decode_check_s"]), "-f", "null", "-"]
    rc, _, err = media_io.run_tool(args, policy["probe_timeout_s"])
    if rc == 0 and not (strict and err.strip()):
        return None
    if size := media_io.oversized_frame(err):
        return f"Picture size {size} exceeds specified max pixel count {limit}"
    return (err.strip().splitlines() or ["decoder error"])[-1][:200]


def decode_check(path: Path, meta: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any] | None:
    """Choose the streams the other stages will use and record them (`selected`: stream
    indexes, which transcode and labels map as `0:<index>`; `left_out`: every other stream
    and why), then decode a few seconds of each at the start and at the end: broken or
    truncated media fails here though its header looked fine. A broken audio track is
    marked `decodable: false` and left out; beside good video, no decodable audio is a
    warning, not a rejection."""
    plan = plan_streams(meta, policy)
    video, audio = plan.video, plan.audio
    demuxer = meta["container"]["demuxer"]
    spots = [0.0]
    if meta["duration"] > policy["decode_check_s"] * 2:
        spots.append(max(0.0, meta["duration"] - policy["decode_check_s"]))
    strict = meta["kind"] == "image"

    def problem_of(streams: list[dict]) -> tuple[str, float] | None:
        if strict:  # a still: decoded whole by Pillow, as the later stages will
            try:
                still.decoded_size(path, demuxer, policy["max_image_pixels"])
            except ContentRejected as e:
                return e.message, 0.0
            if demuxer == heif.DEMUXER:  # not an FFmpeg format
                return None
        for start in spots:
            problem = _decodes(path, demuxer, [f"0:{s['index']}" for s in streams], start, policy, strict=strict)
            if problem is not None:
                return problem, start
        return None

    def where(start: float) -> str:
        return "at the start" if not start else f"near the end ({start:.1f}s)"

    checked = ([video] if video else []) + audio
    # one ffmpeg per spot for all of them; only when that fails, one per stream to find which
    if policy["decode_check_s"] > 0 and (len(checked) < 2 or problem_of(checked) is not None):
        if video is not None and (bad := problem_of([video])):
            if size := media_io.oversized_frame(bad[0]):
                return frame_too_large(size, frame_limit(meta, policy))
            label = "image" if strict else "video"
            return reject("truncated" if bad[1] else "decode_error",
                          f"{label} decoding failed {where(bad[1])}: {bad[0]}")
        first_failure = None
        for stream in list(audio):
            if (bad := problem_of([stream])) is None:
                continue
            first_failure = first_failure or bad
            stream["decodable"] = False
            audio.remove(stream)
            message = f"audio stream {stream['index']} does not decode {where(bad[1])} ({bad[0]}); it is left out"
            meta.setdefault("warnings", []).append(message)
            plan.left_out.append({"index": stream["index"], "codec_type": "audio", "codec_name": stream["codec_name"],
                                  "reason": "does_not_decode", "message": message})
        if first_failure and video is None and not audio:
            problem, start = first_failure
            return reject("truncated" if start else "decode_error", f"audio decoding failed {where(start)}: {problem}")
    main = main_audio(audio)
    meta["selected"] = {"video": video["index"] if video else None, "audio": main["index"] if main else None,
                        "audio_tracks": [s["index"] for s in audio],
                        "subtitles": [s["index"] for s in plan.subtitles]}
    meta["left_out"] = sorted(plan.left_out, key=lambda x: x["index"])
    return None


def probe_file(path: Path, policy: dict[str, Any], scan: dict | None = None) -> dict[str, Any]:
    size = path.stat().st_size
    base: dict[str, Any] = {"name": path.name, "size": size, "probed_at": records.utc_now(),
                            "sha256": (scan or {}).get("sha256") or records.sha256_file(path)}
    if size == 0:
        return base | reject("empty_file", "the file is empty (0 bytes)")
    if size > policy["max_bytes"]:
        return base | reject("too_large", f"{size} bytes is over the limit of {policy['max_bytes']} bytes")
    # before ffprobe has read it, its first bytes say whether it is a still (and gets the still limit)
    looks_still = media_io.still_demuxer(path) or heif.is_heic(path)
    ff, complaint = media_io.probe(path, policy["probe_timeout_s"],
                                   max_pixels=policy["max_image_pixels" if looks_still else "max_pixels"])
    if ff is None:
        with open(path, "rb") as f:
            head = f.read(16)
        return base | classify_probe_failure(complaint, head)
    meta = summarize(ff)
    if meta["container"]["demuxer"] in media_io.SIDECAR_DEMUXERS:
        return base | check_sidecar(path, meta, size, policy)
    refused = media_io.oversized_frame(complaint)
    bad = ((frame_too_large(refused) if refused else None) or size_still(path, meta, policy)
           or check_policy(meta, size, policy) or decode_check(path, meta, policy))
    if bad:
        return base | bad | {"container": meta["container"], "streams": meta["streams"]}
    return base | {"status": "valid", "max_pixels": frame_limit(meta, policy)} | meta


def check_sidecar(path: Path, meta: dict[str, Any], size: int, policy: dict[str, Any]) -> dict[str, Any]:
    """A caption file (SubRip, WebVTT), recognised by its content: not an asset of its own
    but captions for the upload of the same name (clip.srt beside clip.mp4), which
    transcode joins to it. Status `sidecar` when its cues decode, else rejected."""
    where = {"container": meta["container"], "streams": meta["streams"]}
    if size > SIDECAR_MAX_BYTES:
        return reject("too_large", f"a caption file of {size} bytes: caption sidecars are limited to "
                                   f"{SIDECAR_MAX_BYTES} bytes") | where
    script, complaint = ass_events(path, meta["container"]["demuxer"], 0, policy["probe_timeout_s"],
                                   max_pixels=policy["max_pixels"])
    if script is None:
        return reject("decode_error", f"its captions do not decode: {complaint[-200:] or 'ffmpeg failed'}") | where
    cues = parse_ass(script)
    rec = {"status": "sidecar", "kind": "subtitles", "cues": len(cues), **where,
           "duration": max((c.end for c in cues), default=0.0)}
    if not cues:
        rec["warnings"] = ["no cue with visible text: the caption track will be empty"]
    return rec


def check_containers(policy: dict[str, Any]) -> None:
    """A policy may narrow media_io's demuxer allow-list, never widen it: a name beyond it
    would never open anyway, so say so instead of silently refusing those uploads."""
    beyond = set(policy["allowed_containers"]) - set(media_io.ALLOWED_DEMUXERS) - {heif.DEMUXER}
    if beyond:
        raise StageError(f"settings/policy.json: allowed_containers names {', '.join(sorted(beyond))}, which "
                         "stages/io/media_io.py does not let FFmpeg open (only demuxers that read nothing but "
                         "the upload are there); remove them, or review and add them there first")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stages.probe", description=__doc__.splitlines()[0])
    add_input(ap, "media", "the upload (a file, or a folder of uploads)")
    add_input(ap, "scan", "the upload's clean verdict (scan/clean/<name>.json)")
    add_input(ap, "settings", "policy.json")
    ap.add_argument("--out", required=True, help="output folder (/pfs/out)")
    args = ap.parse_args(argv)
    media = required(args.media, "media")
    policy = load_settings("policy", args.settings)
    check_containers(policy)
    scan = None
    if args.scan and Path(args.scan).is_file():
        try:
            scan = records.read_json(args.scan)
        except (OSError, ValueError) as e:
            raise StageError(f"--scan {args.scan}: unreadable verdict ({e})") from None
    for path in files_under(media):
        rec = probe_file(path, policy, scan if scan and scan.get("name") == path.name else None)
        records.write_record(Path(args.out) / rec["status"] / f"{output_name(path.name)}.json", "probe", rec)
        print(f"{path.name}: {rec['status']}" + (f" ({rec['reason']}: {rec['message']})"
                                                 if rec["status"] == "rejected" else ""))
    return 0


if __name__ == "__main__":
    run_main(main)

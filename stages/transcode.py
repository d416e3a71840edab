"""transcode: one ffmpeg process decodes the upload once and encodes each rendition once
into CMAF segments that both an HLS master and a DASH MPD reference; the same process
makes the poster and the storyboard sprite. The package is verified before it is
published: a datum never succeeds with a half-made package.

`python -m stages.transcode --media PATH --probe valid.json [--captions clip.srt.json]
 --settings transcode.json --out DIR` -> DIR/<name>/{hls/master.m3u8, dash/manifest.mpd,
dash/*.m4s, dash/text-N.vtt, poster.jpg, storyboard.jpg, storyboard.vtt, package.json}.
In the pipeline --media, --probe, --sidecars and --captions are the datum's folders (see
specs/transcode.json): every upload there with a valid record is packaged, with the caption
sidecars of its name.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from stages.io import media_io
from stages.core import records
from stages.common import ContentRejected, Progress, StageError, add_input, content_or_record, files_under, \
    load_settings, required, run_main, staged
from stages.core import conform
from stages.core.ladder import ladder_for
from stages.core.renditions import audio_tracks, sidecars_for, text_tracks
from stages.io.encode import Plan, build_command, idet_if_unstated, run_ffmpeg
from stages.io.packaging import write_manifests
from stages.io.package_check import PackageInvalid, check_package
from stages.core.source import source_info
from stages.io.still import derivatives, expected_size
from stages.core.waveform import make_waveform
from stages.core.thumbnails import plan_storyboard

SABOTAGE_ENV = "PACHMEDIA_TEST_SABOTAGE"  # tests only: "truncate-rendition" breaks a segment before the check


def sabotage(work: Path) -> None:
    if os.environ.get(SABOTAGE_ENV) == "truncate-rendition":
        chunk = sorted((work / "dash").glob("chunk-0-*.m4s"))[0]
        data = chunk.read_bytes()
        chunk.write_bytes(data[: len(data) // 3])


def plan_for(media: Path, src: dict, settings: dict, sidecars: dict[str, tuple[Path, str]]) -> Plan:
    """What this upload becomes (the idet pass runs here when the stream does not say
    whether it is interlaced)."""
    record = src["record"]
    plan = Plan(media, src["demuxer"], src["duration"], src["max_pixels"], audio=audio_tracks(record))
    plan.texts = text_tracks(record, [(n, d) for n, (_, d) in sidecars.items()])
    plan.sidecars = sidecars
    v = src["video"]
    if v:
        detected = idet_if_unstated(media, src["demuxer"], v, max_pixels=src["max_pixels"])
        dw, dh = conform.display_dims(v)
        plan.video_index = v["index"]
        plan.ladder = ladder_for(dw, dh, settings["rungs"])
        plan.conform = conform.plan(v, (plan.ladder[0].width, plan.ladder[0].height), detected)
        plan.board = plan_storyboard(src["duration"], dw, dh, settings["storyboard"])
    return plan


def transcode(media: Path, probe: dict | None, settings: dict, out: Path, progress: Progress,
              sidecars: dict[str, tuple[Path, str]] | None = None) -> dict[str, Any]:
    """Package one upload; `sidecars` are the caption files joined to it (name -> (path, demuxer))."""
    name = media.name
    src = source_info(media, probe)
    if src["kind"] == "image":
        return publish_still(media, src, settings, out, progress)
    plan = plan_for(media, src, settings, sidecars or {})
    try:
        with staged(out, name) as staging:
            (staging / "dash").mkdir()
            errors = run_ffmpeg(name, build_command(plan, settings, staging), src["duration"], progress,
                                src["max_pixels"])
            made = write_manifests(staging, plan, settings["segment_seconds"])
            if plan.board:
                (staging / "storyboard.vtt").write_text(plan.board.vtt("storyboard.jpg", src["duration"]))
            waveform = {}
            if not plan.video and plan.audio and settings["waveform"]:
                waveform = make_waveform(media, src["demuxer"], plan.audio[0].index, staging,
                                         max_pixels=src["max_pixels"], timeout=media_io.budget(src["duration"], 1))
            sabotage(staging)
            progress.update(0.96, "verifying")
            verified = None
            if settings["verify"]:
                verified = check_package(staging, src["duration"], max(settings["duration_tolerance_s"],
                                                                        settings["segment_seconds"] / 2),
                                         max_pixels=src["max_pixels"])
            record = package_record(name, src, plan, made, settings, verified)
            record |= {key: f"{name}/{file}" for key, file in waveform.items()}
            if errors:
                record["decoder_errors"] = errors
            records.write_record(staging / "package.json", "transcode", record)
    except PackageInvalid as e:  # made from this upload, the same way every time: the upload's problem
        raise ContentRejected("package_invalid", f"{name}: package failed verification, not published: {e}") from None
    progress.update(1.0, "done")
    return record


def publish_still(media: Path, src: dict, settings: dict, out: Path, progress: Progress) -> dict[str, Any]:
    """A still gets JPEG sizes and a WebP instead of a streaming package."""
    name = media.name
    with staged(out, name) as staging:
        made = derivatives(media, staging, settings["image_sizes"], settings["webp_quality"], src["demuxer"],
                           src["max_pixels"], expected_size(src, name))
        images = {k: (v | {"file": f"{name}/{v['file']}"} if isinstance(v, dict) else v)
                  for k, v in made["images"].items()}
        v = src["video"] or {}
        record = {"name": name, "kind": "image",
                  "source": {"sha256": src.get("sha256") or "", "duration": 0.0, "demuxer": src["demuxer"],
                             "width": v.get("width"), "height": v.get("height"), "rotation": None},
                  "segment_seconds": settings["segment_seconds"], "hls": None, "dash": None, "renditions": [],
                  "audio": None, "poster": images[min(settings["image_sizes"], key=settings["image_sizes"].get)]["file"],
                  "storyboard": None, "images": images, "exif": made["exif"], "waveform": None, "peaks": None,
                  "settings": settings, "settings_commit": os.environ.get("settings_COMMIT"),
                  "ffmpeg": media_io.ffmpeg_version(), "verified": None, "made_at": records.utc_now()}
        records.write_record(staging / "package.json", "transcode", record)
    progress.update(1.0, "done")
    return record


def package_record(name: str, src: dict, plan: Plan, made: dict, settings: dict, verified: dict | None) -> dict[str, Any]:
    def asset(path: str) -> str:
        return f"{name}/{path}"
    tracks = [t | {"playlist": asset(t["playlist"])} for t in made["audio"]]
    audio = None
    if tracks:  # the default track, as players pick it first
        d = tracks[0]
        audio = {"codec": "aac", "bitrate": settings["audio_kbps"] * 1000, "channels": 2, "sample_rate": 48000,
                 "representation_id": d["representation_id"], "playlist": d["playlist"],
                 "language": d["language"], "source_layout": d["source_layout"],
                 "source_channels": d["source_channels"], "downmixed": d["downmixed"],
                 "opus": {"bitrate": settings["opus_kbps"] * 1000, "representation_id": d["opus_representation_id"],
                          "container": "webm", "in": "dash"}}
    v, b = src["video"], plan.board
    return {
        "name": name, "kind": "video" if plan.video else "audio",
        "source": {"sha256": src.get("sha256") or "", "duration": src["duration"], "demuxer": src["demuxer"],
                   "width": v["width"] if v else None, "height": v["height"] if v else None,
                   "rotation": v.get("rotation", 0) if v else None},
        "segment_seconds": settings["segment_seconds"],
        "hls": {"master": asset("hls/master.m3u8")}, "dash": {"manifest": asset("dash/manifest.mpd")},
        "renditions": [r | {"playlist": asset(r["playlist"])} for r in made["renditions"]],
        "audio": audio, "audio_tracks": tracks,
        "captions": [c | {"vtt": asset(c["vtt"]), "playlist": asset(c["playlist"])} for c in made["captions"]],
        "conform": (plan.conform.describe() | {"source_color_transfer": v.get("color_transfer"),
                                               "source_color_primaries": v.get("color_primaries"),
                                               "source_field_order": v.get("field_order")}) if plan.video else None,
        "poster": asset("poster.jpg") if plan.video else None,
        "storyboard": ({"image": asset("storyboard.jpg"), "vtt": asset("storyboard.vtt"),
                        "interval_s": round(b.interval, 3), "columns": b.columns, "rows": b.rows,
                        "tile_width": b.tile_w, "tile_height": b.tile_h} if b else None),
        "settings": settings, "settings_commit": os.environ.get("settings_COMMIT"),
        "ffmpeg": media_io.ffmpeg_version(), "verified": verified, "made_at": records.utc_now(),
    }


def _records(path: str | None) -> list[dict]:
    """The records at a path: one record file, or every one in a folder (none if absent)."""
    if not path or not Path(path).exists():
        return []
    out = []
    for p in ([Path(path)] if Path(path).is_file() else sorted(Path(path).rglob("*.json"))):
        try:
            out.append(records.read_json(p))
        except (OSError, ValueError) as e:
            raise StageError(f"{p}: unreadable record ({e})") from None
    return out


def datum_work(media: Path, probe: str | None, captions: str | None,
               sidecar_files: str | None = None) -> list[tuple[Path, dict | None, dict]]:
    """What to package: (upload, its probe record, its caption sidecars as name -> (path,
    demuxer)). One upload file: it (its record if given, else probed here). A datum's
    folder (the group on the name without extension): each upload with a valid record
    in the datum, with the sidecars that share its stem. Sidecar files are in
    `sidecar_files` (a folder), else beside the upload."""
    folder = Path(sidecar_files) if sidecar_files else media if media.is_dir() else media.parent
    sidecars = {r["name"]: (folder / r["name"], r["container"]["demuxer"]) for r in _records(captions)
                if r.get("status") == "sidecar" and (folder / r["name"]).is_file()}
    valid = {r["name"]: r for r in _records(probe) if r.get("status") == "valid"}
    if media.is_file():
        uploads = [(media, valid.get(media.name))]
    else:
        uploads = [(m, valid[m.name]) for m in files_under(media) if m.name in valid]
    return [(m, rec, {n: sidecars[n] for n in sidecars_for(m.name, list(sidecars))}) for m, rec in uploads]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stages.transcode", description=__doc__.splitlines()[0])
    add_input(ap, "media", "the upload, or the datum's folder of uploads")
    add_input(ap, "probe", "its probe record, or the folder of the datum's valid records")
    add_input(ap, "captions", "caption sidecar records (probe/sidecar/<name>.json): a file or a folder")
    add_input(ap, "sidecars", "the folder of the caption sidecar files (default: beside the upload)")
    add_input(ap, "settings", "transcode.json")
    ap.add_argument("--out", required=True, help="output folder (/pfs/out)")
    args = ap.parse_args(argv)
    if args.media and not Path(args.media).exists() and args.captions and Path(args.captions).exists():
        print("caption sidecars without an upload of their name: nothing to package")  # a group of sidecars alone
        return 0
    media = required(args.media, "media")
    settings = load_settings("transcode", args.settings)
    work = datum_work(media, args.probe, args.captions, args.sidecars)
    for upload, probe, sidecars in work:
        rec = content_or_record("transcode", Path(args.out), upload.name,
                                lambda: transcode(upload, probe, settings, Path(args.out), Progress(), sidecars))
        if rec.get("status") == "rejected":
            continue
        parts = [", ".join(r["name"] for r in rec["renditions"]) or rec["kind"] + " only"]
        if rec["renditions"] and rec.get("audio_tracks"):
            parts.append(f"{len(rec['audio_tracks'])} audio track(s)")
        if rec.get("captions"):
            parts.append(f"{len(rec['captions'])} caption track(s)")
        print(f"{upload.name}: {' + '.join(parts)}, verified")
    if not work:
        print(f"{media.name}: nothing to package here (no upload in this datum was probed valid)")
    return 0


if __name__ == "__main__":
    run_main(main)

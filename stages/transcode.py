"""transcode: one ffmpeg process decodes the upload once and encodes each rendition once
into CMAF segments that both an HLS master and a DASH MPD reference; the same process
makes the poster and the storyboard sprite. The package is verified before it is
published: a datum never succeeds with a half-made package.

`python -m stages.transcode --media PATH --probe valid.json --settings transcode.json --out DIR`
-> DIR/<name>/{hls/master.m3u8, dash/manifest.mpd, dash/*.m4s, poster.jpg, storyboard.jpg,
storyboard.vtt, package.json}
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from stages.io import media_io
from stages.core import records
from stages.common import Progress, StageError, media_stage_args, run_main, staged
from stages.core.ladder import Rendition, display_size, gop_frames, ladder_for
from stages.io.package_check import PackageInvalid, check_package
from stages.core.source import source_info
from stages.io.still import derivatives, pixel_limit
from stages.core.waveform import make_waveform
from stages.core.thumbnails import Storyboard, plan_storyboard

SABOTAGE_ENV = "PACHMEDIA_TEST_SABOTAGE"  # tests only: "truncate-rendition" breaks a segment before the check


def build_command(media: Path, src: dict, ladder: list[Rendition], settings: dict, work: Path,
                  board: Storyboard | None) -> list[str]:
    """The single ffmpeg command line (pure apart from paths). Streams are mapped by the
    index source_info chose (`0:<index>`), never `0:v:0`/`0:a:0`: the first video stream
    can be cover art and the first audio one the probe found broken."""
    seg = settings["segment_seconds"]
    args = media_io.ffmpeg_base(progress=True) + media_io.ffmpeg_input_args(media, src["demuxer"])
    outputs_after: list[str] = []
    maps: list[str] = []
    if src["video"] and ladder:
        branches = len(ladder) + 2  # renditions + poster + storyboard
        graph = [f"[0:{src['video']['index']}]split={branches}" + "".join(f"[s{i}]" for i in range(branches))]
        for i, r in enumerate(ladder):
            graph.append(f"[s{i}]scale={r.width}:{r.height}:flags=bicubic,format=yuv420p[v{i}]")
            maps += ["-map", f"[v{i}]"]
        top = ladder[0]
        poster_t = max(0.0, src["duration"] * settings["poster_at"])
        graph.append(f"[s{len(ladder)}]select='gte(t\\,{poster_t:.3f})',scale={top.width}:{top.height}[poster]")
        graph.append(f"[s{len(ladder) + 1}]{board.filter()}[board]")
        args += ["-filter_complex", ";".join(graph)]
        gop = gop_frames(src["video"].get("fps"), seg)
        args += maps
        args += ["-c:v", "libx264", "-preset", settings["preset"], "-profile:v", "high", "-crf", str(settings["crf"]),
                 "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
                 "-force_key_frames", f"expr:gte(t,n_forced*{seg})"]
        for i, r in enumerate(ladder):
            args += [f"-maxrate:v:{i}", f"{r.maxrate_kbps}k", f"-bufsize:v:{i}", f"{r.bufsize_kbps}k"]  # capped CRF
        n = len(ladder)
        sets = "id=0,streams=v" + (f" id=1,streams={n} id=2,streams={n + 1}" if src["audio"] else "")
        bare = ["-map_metadata", "-1", "-map_chapters", "-1", "-frames:v", "1", "-update", "1"]
        outputs_after = ["-map", "[poster]", *bare, str(work / "poster.jpg"),
                         "-map", "[board]", *bare, str(work / "storyboard.jpg")]
    else:
        sets = "id=0,streams=0 id=1,streams=1"
    if src["audio"]:
        # the same audio twice: AAC (HLS and DASH) and Opus (DASH only: the muxer puts it in
        # WebM, which the HLS master leaves out)
        a = f"0:{src['audio']['index']}"
        args += ["-map", a, "-map", a]
        args += ["-c:a:0", "aac", "-b:a:0", f"{settings['audio_kbps']}k", "-c:a:1", "libopus",
                 "-b:a:1", f"{settings['opus_kbps']}k", "-ac", "2", "-ar", "48000"]
    # nothing of the upload's metadata (title, GPS location, encoder, chapters) reaches a
    # published file: the dash muxer would put the title tag into the MPD's <Title>
    args += ["-map_metadata", "-1", "-map_chapters", "-1"]
    args += ["-f", "dash", "-seg_duration", str(seg), "-use_template", "1", "-use_timeline", "0",
             "-hls_playlist", "1", "-adaptation_sets", sets,
             "-init_seg_name", "init-$RepresentationID$.m4s",
             "-media_seg_name", "chunk-$RepresentationID$-$Number%05d$.m4s",
             str(work / "dash" / "manifest.mpd")]
    return args + outputs_after


def run_ffmpeg(name: str, args: list[str], duration: float, progress: Progress) -> dict[str, Any]:
    """Run the command, reporting `-progress` (stdout) as it goes. stderr is drained
    alongside (a long upload with a damaged middle writes megabytes of decoder errors;
    read only at the end, a full pipe would stall ffmpeg and the stage for ever).
    Decoder errors are not fatal: ffmpeg conceals them as a player does, and the
    package check decides whether the result is publishable. Returns what stderr said:
    {"lines": n, "last": its last line} (empty when ffmpeg was quiet)."""
    with media_io.Piped(args) as proc:
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            if line.startswith("out_time_us=") and duration > 0:
                try:
                    progress.update(min(0.95, int(line.split("=", 1)[1]) / 1e6 / duration * 0.95), "encoding")
                except ValueError:
                    pass
        rc, err = proc.finish()
        lines = proc.stderr.lines
    if rc != 0:
        raise StageError(f"{name}: ffmpeg failed (exit {rc}): {media_io.last_complaint(err, 3) or 'no message'}")
    return {"lines": lines, "last": media_io.last_complaint(err)} if lines else {}


def split_hls(work: Path, ladder: list[Rendition], has_audio: bool, seg: float, duration: float) -> None:
    """Move the playlists the dash muxer wrote into hls/, pointing at the shared
    segments in ../dash/, without wall-clock dates (a re-run makes the same bytes), and
    advertise true bandwidths: BANDWIDTH = the peak segment bitrate measured on what
    was made (video + audio), AVERAGE-BANDWIDTH = the mean; the MPD gets the peak too."""
    dash, hls = work / "dash", work / "hls"
    hls.mkdir()
    rids = {p.name.split("-")[1] for p in dash.glob("chunk-*.m4s")}
    rates = {rid: segment_rates(dash, rid, seg, duration) for rid in rids}
    audio = rates.get(str(len(ladder)), (0, 0)) if has_audio else (0, 0)
    for p in sorted(dash.glob("*.m3u8")):
        lines = []
        for line in p.read_text().splitlines():
            if line.startswith("#EXT-X-PROGRAM-DATE-TIME"):
                continue
            if p.name != "master.m3u8":
                if line and not line.startswith("#"):
                    line = "../dash/" + line
                line = re.sub(r'URI="([^"]+)"', lambda m: f'URI="../dash/{m.group(1)}"', line)
            lines.append(line)
        text = "\n".join(lines) + "\n"
        if p.name == "master.m3u8":
            text = _true_bandwidth(text, [rates[str(i)] for i in range(len(ladder))], audio)
        (hls / p.name).write_text(text)
        p.unlink()
    mpd = dash / "manifest.mpd"
    text = re.sub(r'\s(publishTime|availabilityStartTime)="[^"]*"', "", mpd.read_text())
    text = re.sub(r'(<Representation id="(\d+)"[^>]*?bandwidth=")\d+"',
                  lambda m: f'{m.group(1)}{rates.get(m.group(2), (0, 0))[0] or 1}"', text)
    mpd.write_text(text)


def segment_rates(dash: Path, rid: str, seg: float, duration: float) -> tuple[int, int]:
    """(peak, mean) bits per second of one representation's media segments."""
    sizes = [p.stat().st_size for p in sorted(dash.glob(f"chunk-{rid}-*.m4s"))]
    if not sizes:
        return 0, 0
    last = max(duration - seg * (len(sizes) - 1), 0.1)
    per_s = [n * 8 / seg for n in sizes[:-1]] + [sizes[-1] * 8 / min(last, seg)]
    return int(max(per_s)), int(sum(sizes) * 8 / max(duration, 0.1))


def _true_bandwidth(master: str, video: list[tuple[int, int]], audio: tuple[int, int]) -> str:
    out, i = [], 0
    for line in master.splitlines():
        if line.startswith("#EXT-X-STREAM-INF:"):
            peak, mean = video[i] if i < len(video) else audio
            if i < len(video):
                peak, mean = peak + audio[0], mean + audio[1]
            line = re.sub(r"BANDWIDTH=\d+", f"BANDWIDTH={max(peak, 1)},AVERAGE-BANDWIDTH={max(mean, 1)}", line, 1)
            i += 1
        out.append(line)
    return "\n".join(out) + "\n"


def master_variants(master: Path) -> list[dict[str, Any]]:
    """BANDWIDTH, RESOLUTION, CODECS and URI of each variant in a master playlist."""
    variants, pending = [], None
    for line in master.read_text().splitlines():
        if line.startswith("#EXT-X-STREAM-INF:"):
            attrs = dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1]))
            pending = {k: v.strip('"') for k, v in attrs.items()}
        elif pending is not None and line and not line.startswith("#"):
            pending["URI"] = line
            variants.append(pending)
            pending = None
    return variants


def sabotage(work: Path) -> None:
    if os.environ.get(SABOTAGE_ENV) == "truncate-rendition":
        chunk = sorted((work / "dash").glob("chunk-0-*.m4s"))[0]
        data = chunk.read_bytes()
        chunk.write_bytes(data[: len(data) // 3])


def transcode(media: Path, probe: dict | None, settings: dict, out: Path, progress: Progress) -> dict[str, Any]:
    name = media.name
    src = source_info(media, probe)
    if src["kind"] == "image":
        return publish_still(media, src, settings, out, progress)
    v = src["video"]
    ladder: list[Rendition] = []
    board = None
    if v:
        ladder = ladder_for(v["width"], v["height"], v.get("rotation", 0), settings["rungs"])
        dw, dh = display_size(v["width"], v["height"], v.get("rotation", 0))
        board = plan_storyboard(src["duration"], dw, dh, settings["storyboard"])
    try:
        with staged(out, name) as staging:
            (staging / "dash").mkdir()
            errors = run_ffmpeg(name, build_command(media, src, ladder, settings, staging, board), src["duration"],
                                progress)
            split_hls(staging, ladder, src["audio"] is not None, settings["segment_seconds"], src["duration"])
            if board:
                (staging / "storyboard.vtt").write_text(board.vtt("storyboard.jpg", src["duration"]))
            waveform = make_waveform(media, src["demuxer"], src["audio"]["index"], staging) if (not v and settings["waveform"]) else {}
            sabotage(staging)
            progress.update(0.96, "verifying")
            verified = None
            if settings["verify"]:
                verified = check_package(staging, src["duration"], max(settings["duration_tolerance_s"],
                                                                        settings["segment_seconds"] / 2))
            record = package_record(name, src, ladder, settings, staging, board, verified)
            record |= {key: f"{name}/{file}" for key, file in waveform.items()}
            if errors:
                record["decoder_errors"] = errors
            records.write_record(staging / "package.json", "transcode", record)
    except PackageInvalid as e:
        raise StageError(f"{name}: package failed verification, not published: {e}") from None
    progress.update(1.0, "done")
    return record


def publish_still(media: Path, src: dict, settings: dict, out: Path, progress: Progress) -> dict[str, Any]:
    """A still gets JPEG sizes and a WebP instead of a streaming package."""
    name = media.name
    with staged(out, name) as staging:
        made = derivatives(media, staging, settings["image_sizes"], settings["webp_quality"],
                           pixel_limit(src, name))
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
                  "ffmpeg": ffmpeg_version(), "verified": None, "made_at": records.utc_now()}
        records.write_record(staging / "package.json", "transcode", record)
    progress.update(1.0, "done")
    return record


def package_record(name: str, src: dict, ladder: list[Rendition], settings: dict, work: Path,
                   board: Storyboard | None, verified: dict | None) -> dict[str, Any]:
    variants = master_variants(work / "hls" / "master.m3u8")
    renditions = []
    for i, r in enumerate(ladder):
        var = variants[i] if i < len(variants) else {}
        renditions.append({"name": r.name, "width": r.width, "height": r.height,
                           "bandwidth": int(var.get("BANDWIDTH", r.maxrate_kbps * 1000)),
                           "average_bandwidth": int(var.get("AVERAGE-BANDWIDTH", 0)) or None,
                           "codecs": var.get("CODECS", ""), "representation_id": str(i),
                           "playlist": f"{name}/hls/{var.get('URI', f'media_{i}.m3u8')}"})
    audio = None
    if src["audio"]:
        rid = str(len(ladder))
        audio = {"codec": "aac", "bitrate": settings["audio_kbps"] * 1000, "channels": 2, "sample_rate": 48000,
                 "representation_id": rid, "playlist": f"{name}/hls/media_{rid}.m3u8",
                 "opus": {"bitrate": settings["opus_kbps"] * 1000, "representation_id": str(len(ladder) + 1),
                          "container": "webm", "in": "dash"}}
    v = src["video"]
    rec: dict[str, Any] = {
        "name": name, "kind": "video" if v else "audio",
        "source": {"sha256": src.get("sha256") or "", "duration": src["duration"], "demuxer": src["demuxer"],
                   "width": v["width"] if v else None, "height": v["height"] if v else None,
                   "rotation": v.get("rotation", 0) if v else None},
        "segment_seconds": settings["segment_seconds"],
        "hls": {"master": f"{name}/hls/master.m3u8"}, "dash": {"manifest": f"{name}/dash/manifest.mpd"},
        "renditions": renditions, "audio": audio,
        "poster": f"{name}/poster.jpg" if v else None,
        "storyboard": ({"image": f"{name}/storyboard.jpg", "vtt": f"{name}/storyboard.vtt",
                        "interval_s": round(board.interval, 3), "columns": board.columns, "rows": board.rows,
                        "tile_width": board.tile_w, "tile_height": board.tile_h} if board else None),
        "settings": settings, "settings_commit": os.environ.get("settings_COMMIT"),
        "ffmpeg": ffmpeg_version(), "verified": verified, "made_at": records.utc_now(),
    }
    return rec


def ffmpeg_version() -> str:
    rc, out, _ = media_io.run_tool([media_io.FFMPEG, "-version"], 10)
    return out.split("\n", 1)[0].replace("ffmpeg version ", "").split(" ")[0] if rc == 0 else "unknown"


def main(argv: list[str] | None = None) -> int:
    media, probe, settings, out = media_stage_args("python -m stages.transcode", __doc__.splitlines()[0],
                                                   "transcode", argv)
    rec = transcode(media, probe, settings, out, Progress())
    print(f"{media.name}: {', '.join(r['name'] for r in rec['renditions']) or rec['kind'] + ' only'}"
          f"{' + audio' if rec['audio'] and rec['renditions'] else ''}, verified")
    return 0


if __name__ == "__main__":
    run_main(main)

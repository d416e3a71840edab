"""The one ffmpeg process of a transcode, and the idet pass that may precede it.

One decode of the upload: the video is conformed once (core/conform), split to the
ladder, the poster and the storyboard; every audio track is encoded once to stereo
AAC (HLS and DASH) and once to Opus (DASH only); every text subtitle track and caption
sidecar is decoded to ASS events, which core/captions turns into WebVTT. Inputs are
opened only through media_io (allow-listed demuxers, forced, `file:` paths).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.common import Progress
from stages.core.conform import COLOR_TAGS, Conform, read_idet
from stages.core.ladder import Rendition, gop_frames
from stages.core.renditions import AudioTrack, TextTrack
from stages.core.thumbnails import Storyboard
from stages.io import media_io

IDET_FRAMES = 250  # 10 s of PAL: enough for idet's multi-frame verdict to settle


@dataclass
class Plan:
    """Everything one transcode makes, decided before ffmpeg runs. Representation ids
    are output stream numbers: video rungs first, then AAC per track, then Opus per track."""
    media: Path
    demuxer: str
    duration: float
    max_pixels: int  # the per-frame limit every decoder of the upload gets (its probe record's)
    video_index: int | None = None
    ladder: list[Rendition] = field(default_factory=list)
    conform: Conform | None = None
    board: Storyboard | None = None
    audio: list[AudioTrack] = field(default_factory=list)
    texts: list[TextTrack] = field(default_factory=list)
    sidecars: dict[str, tuple[Path, str]] = field(default_factory=dict)  # name -> (path, demuxer)

    @property
    def video(self) -> bool:
        return self.video_index is not None and bool(self.ladder)

    def aac_id(self, j: int) -> str:
        return str(len(self.ladder) + j)

    def opus_id(self, j: int) -> str:
        return str(len(self.ladder) + len(self.audio) + j)

    @property
    def stream_count(self) -> int:
        return len(self.ladder) + 2 * len(self.audio)


def build_command(plan: Plan, settings: dict, work: Path) -> list[str]:
    """The single ffmpeg command line (pure apart from paths). Streams are mapped by the
    indexes the probe chose (`0:<index>`), never `0:v:0`/`0:a:0`: the first video stream
    can be cover art and the first audio one the probe found broken."""
    seg = settings["segment_seconds"]
    # the display rotation is conform's to apply (after deinterlacing), not the decoder's
    args = media_io.ffmpeg_base(progress=True) + media_io.ffmpeg_input_args(plan.media, plan.demuxer,
                                                                           max_pixels=plan.max_pixels, autorotate=False)
    sidecar_input = {}
    for n, (name, (path, demuxer)) in enumerate(plan.sidecars.items(), start=1):
        args += media_io.ffmpeg_input_args(path, demuxer, max_pixels=plan.max_pixels)
        sidecar_input[name] = n
    after: list[str] = []
    if plan.video:
        c, ladder = plan.conform, plan.ladder
        branches = len(ladder) + 2  # renditions + poster + storyboard
        graph = [f"[0:{plan.video_index}]{c.pre},split={branches}" + "".join(f"[s{i}]" for i in range(branches))]
        for i, r in enumerate(ladder):
            graph.append(f"[s{i}]{c.rung(r.width, r.height)}[v{i}]")
        top = ladder[0]
        poster_t = max(0.0, plan.duration * settings["poster_at"])
        # only the first frame at poster_t: the poster's output closes after one frame, but
        # every frame its select passes is still scaled (54 s of 1080p in a 60 s upload)
        graph.append(f"[s{len(ladder)}]select='isnan(prev_selected_t)*gte(t\\,{poster_t:.3f})',"
                     f"{c.still(top.width, top.height)}[poster]")
        graph.append(f"[s{len(ladder) + 1}]{plan.board.filter()}[board]")
        args += ["-filter_complex", ";".join(graph)]
        for i in range(len(ladder)):
            args += ["-map", f"[v{i}]"]
        gop = gop_frames(float(c.fps), seg)
        args += ["-c:v", "libx264", "-preset", settings["preset"], "-profile:v", "high", "-crf", str(settings["crf"]),
                 "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
                 "-force_key_frames", f"expr:gte(t,n_forced*{seg})", *COLOR_TAGS]
        for i, r in enumerate(ladder):
            args += [f"-maxrate:v:{i}", f"{r.maxrate_kbps}k", f"-bufsize:v:{i}", f"{r.bufsize_kbps}k"]  # capped CRF
        bare = ["-map_metadata", "-1", "-map_chapters", "-1", "-frames:v", "1", "-update", "1"]
        after += ["-map", "[poster]", *bare, str(work / "poster.jpg"),
                  "-map", "[board]", *bare, str(work / "storyboard.jpg")]
    k = len(plan.audio)
    for track in plan.audio + plan.audio:  # each track twice: AAC, then Opus (WebM: DASH only)
        args += ["-map", f"0:{track.index}"]
    for j in range(k):
        args += [f"-c:a:{j}", "aac", f"-b:a:{j}", f"{settings['audio_kbps']}k",
                 f"-c:a:{k + j}", "libopus", f"-b:a:{k + j}", f"{settings['opus_kbps']}k"]
    if k:
        args += ["-ac", "2", "-ar", "48000"]  # 5.1/7.1 downmixed (ITU coefficients), mono doubled
    # nothing of the upload's metadata (title, GPS location, encoder, chapters) reaches a
    # published file: the dash muxer would put the title tag into the MPD's <Title>
    args += ["-map_metadata", "-1", "-map_chapters", "-1"]
    # each stream its own adaptation set: the muxer refuses renditions whose aspect differs
    # by rounding in one set; core/manifests merges the video sets afterwards
    sets = " ".join(f"id={i},streams={i}" for i in range(plan.stream_count))
    args += ["-f", "dash", "-seg_duration", str(seg), "-use_template", "1", "-use_timeline", "0",
             "-hls_playlist", "1", "-adaptation_sets", sets,
             "-init_seg_name", "init-$RepresentationID$.m4s",
             "-media_seg_name", "chunk-$RepresentationID$-$Number%05d$.m4s",
             str(work / "dash" / "manifest.mpd")]
    for t in plan.texts:
        src = f"0:{t.index}" if t.origin == "stream" else f"{sidecar_input[t.sidecar]}:0"
        after += ["-map", src, "-map_metadata", "-1", "-c:s", "ass", "-f", "ass", str(work / f"{t.key}.ass")]
    return args + after


def run_ffmpeg(name: str, args: list[str], duration: float, progress: Progress, max_pixels: int) -> dict[str, Any]:
    """Run the command, reporting `-progress` (stdout) as it goes. stderr is drained
    alongside (a long upload with a damaged middle writes megabytes of decoder errors;
    read only at the end, a full pipe would stall ffmpeg and the stage for ever).
    Decoder errors are not fatal: ffmpeg conceals them as a player does, and the
    package check decides whether the result is publishable; a frame over `max_pixels`,
    ffmpeg stopping on the upload or its deadline passing are ContentRejected
    (media_io.check_run). Returns what stderr said: {"lines": n, "last": its last line}
    (empty when ffmpeg was quiet)."""
    with media_io.Piped(args, timeout=media_io.budget(duration, 4, floor=300)) as proc:
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            if line.startswith("out_time_us=") and duration > 0:
                try:
                    progress.update(min(0.95, int(line.split("=", 1)[1]) / 1e6 / duration * 0.95), "encoding")
                except ValueError:
                    pass
        err = proc.check(f"{name}: ffmpeg", max_pixels)
        lines = proc.stderr.lines
    return {"lines": lines, "last": media_io.last_complaint(err)} if lines else {}


def detect_field_order(media: Path, demuxer: str, index: int, *, max_pixels: int, timeout: float = 300) -> str | None:
    """idet over the first frames of a stream that does not say whether it is
    interlaced: "tff", "bff", "progressive", or None when idet could not tell. idet sees the
    frames as coded: rotated, a frame's fields would be columns and it would say progressive."""
    args = media_io.ffmpeg_base(loglevel="info") + media_io.ffmpeg_input_args(media, demuxer, max_pixels=max_pixels,
                                                                            autorotate=False)
    args += ["-map", f"0:{index}", "-frames:v", str(IDET_FRAMES), "-vf", "idet", "-f", "null", "-"]
    rc, _, err = media_io.run_tool(args, timeout)
    return read_idet(err) if rc == 0 else None


def idet_if_unstated(media: Path, demuxer: str, stream: dict, *, max_pixels: int) -> str | None:
    """idet's verdict (detect_field_order) on a video stream that does not say whether it is
    interlaced; None when it does (its own field order is then taken: conform.parity_of).
    Transcode and labels both ask here, so both deinterlace the same sources."""
    if stream.get("field_order") not in (None, "unknown"):
        return None
    return detect_field_order(media, demuxer, stream["index"], max_pixels=max_pixels)

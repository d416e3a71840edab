"""Media benchmarks on one clip per run (60 s 1080p; 10 s 720p with --quick): this
machine's floors (a pure decode of the clip, a pure x264 encode of the ladder's
pictures), transcode and labels against them and against their baselines. Every figure
is the median of 3 runs, alternated with the runs it is compared with, so a burst of
load on a shared machine lands on one run of each, not on one side."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from stages.common import default_settings
from stages.core.source import source_info
from stages.io import media_io
from stages.io.encode import build_command
from stages.transcode import plan_for
from tests.fixtures.media import make_video

from .common import PY, Row, Run, median, run

ROUNDS = 3
_CLIPS: dict[tuple, Path] = {}
_CLIP_DIR = tempfile.TemporaryDirectory(prefix="bench-clips-")  # shared by the benches of one run


def clip(quick: bool, size: str | None = None) -> tuple[Path, int, str]:
    """The run's test clip (a moving pattern and a tone, H.264 + AAC), made once."""
    secs, default = (10, "1280x720") if quick else (60, "1920x1080")
    size = size or default
    if (secs, size) not in _CLIPS:
        _CLIPS[secs, size] = make_video(Path(_CLIP_DIR.name) / f"clip-{size}-{secs}s.mp4", seconds=secs, size=size,
                                        fps=25)
    return _CLIPS[secs, size], secs, size


def probed(src: Path, work: Path) -> Path:
    """The probe record the pipelines hand the stages."""
    run([PY, "-m", "stages.probe", "--media", str(src), "--out", str(work / "probe")])
    return work / "probe" / "valid" / f"{src.name}.json"


def decode_floor(src: Path) -> list[str]:
    """Decode the clip's video and nothing else (the allow-listed input, as the stages open it)."""
    limit = default_settings("policy")["max_pixels"]
    return [*media_io.ffmpeg_base(), *media_io.ffmpeg_input_args(src, "mov", max_pixels=limit), "-map", "0:v:0",
            "-f", "null", "-"]


def encode_floor(secs: int, ladder, settings: dict) -> list[str]:
    """x264 alone: each rung's pictures made by lavfi at its size (the pattern the clip
    holds; making them costs ~6% of encoding them) and encoded as the stage encodes
    them (preset, CRF, GOP, caps), to nothing."""
    gop = str(25 * settings["segment_seconds"])
    args = [*media_io.ffmpeg_base()]
    for r in ladder:
        args += ["-f", "lavfi", "-i", f"testsrc2=size={r.width}x{r.height}:rate=25:duration={secs}"]
    for i, r in enumerate(ladder):
        args += ["-map", f"{i}:v", "-c:v", "libx264", "-preset", settings["preset"], "-profile:v", "high",
                 "-crf", str(settings["crf"]), "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
                 "-maxrate", f"{r.maxrate_kbps}k", "-bufsize", f"{r.bufsize_kbps}k", "-pix_fmt", "yuv420p",
                 "-f", "null", "-"]
    return args


def alternated(commands: dict[str, list[list[str]]], rounds: int = ROUNDS) -> dict[str, list[Run]]:
    """Run each named sequence of commands `rounds` times, the order rotating every round;
    a name's Run sums its commands (wall, CPU; peak RSS the largest)."""
    names = list(commands)
    got: dict[str, list[Run]] = {n: [] for n in names}
    for i in range(rounds):
        for name in names[i % len(names):] + names[:i % len(names)]:
            runs = [run(cmd) for cmd in commands[name]]
            got[name].append(Run(sum(r.wall for r in runs), sum(r.cpu for r in runs), max(r.rss_mb for r in runs)))
    return got


def med(runs: list[Run], what: str = "wall") -> float:
    return median([getattr(r, what) for r in runs])


def bench_transcode(work: Path, quick: bool) -> list[Row]:
    src, secs, size = clip(quick)
    settings = default_settings("transcode")
    (work / "t.json").write_text(json.dumps(settings))
    record = probed(src, work)
    plan = plan_for(src, source_info(src, json.loads(record.read_text())), settings, {})
    (work / "bare/dash").mkdir(parents=True)
    naive = naive_commands(src, plan.ladder, settings, work)
    got = alternated({
        "stage": [[PY, "-m", "stages.transcode", "--media", str(src), "--probe", str(record),
                   "--settings", str(work / "t.json"), "--out", str(work / "ours")]],
        "bare": [build_command(plan, settings, work / "bare")],  # the stage's own ffmpeg command, alone
        "naive": naive,  # the same ladder encoded twice: once to HLS (fMP4), once to DASH
        "decode": [decode_floor(src)],
        "encode": [encode_floor(secs, plan.ladder, settings)],
    })
    label = f"{secs}s {size.split('x')[1]}p"
    stage, floor = got["stage"], [Run(d.wall + e.wall, d.cpu + e.cpu, 0) for d, e in zip(got["decode"], got["encode"])]
    frames = 25 * secs
    return [
        Row(f"floor: decode of the {label} clip (median of {ROUNDS})", med(got["decode"]), None, "s",
            f"{frames / med(got['decode']):.0f} frames/s, {secs / med(got['decode']):.1f}x realtime"),
        Row(f"floor: x264 encode of its {len(plan.ladder)}-rung ladder ({settings['preset']}, pictures from lavfi)",
            med(got["encode"]), None, "s", f"{frames / med(got['encode']):.0f} frames/s"),
        Row(f"transcode {label}: one encode for HLS+DASH vs separate HLS and DASH encodes, wall (median of {ROUNDS}, "
            "alternated)", med(stage), med(got["naive"]), "s"),
        Row(f"transcode {label}: same, CPU", med(stage, "cpu"), med(got["naive"], "cpu"), "s"),
        Row(f"transcode {label}: stage (encode, verify, records) vs its bare ffmpeg command, wall (median of {ROUNDS}, "
            "alternated)", med(stage), med(got["bare"]), "s"),
        Row(f"transcode {label}: stage vs the floor (decode + x264 ladder encode), wall", med(stage), med(floor), "s"),
        Row(f"transcode {label}: stage vs the floor, CPU", med(stage, "cpu"), med(floor, "cpu"), "s"),
        Row(f"transcode {label}: peak RSS of the stage", max(r.rss_mb for r in stage), None, "MB"),
    ]


def naive_commands(src: Path, ladder, settings: dict, work: Path) -> list[list[str]]:
    seg = settings["segment_seconds"]
    n = len(ladder)
    graph = f"[0:v:0]split={n}" + "".join(f"[s{i}]" for i in range(n)) + ";" + ";".join(
        f"[s{i}]scale={r.width}:{r.height}[v{i}]" for i, r in enumerate(ladder))
    enc = ["-c:v", "libx264", "-preset", settings["preset"], "-crf", str(settings["crf"]), "-g", str(25 * seg),
           "-sc_threshold", "0", "-c:a", "aac", "-b:a", f"{settings['audio_kbps']}k"]
    for i, r in enumerate(ladder):
        enc += [f"-maxrate:v:{i}", f"{r.maxrate_kbps}k", f"-bufsize:v:{i}", f"{r.bufsize_kbps}k"]
    maps = [a for i in range(n) for a in ("-map", f"[v{i}]")]
    base = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-filter_complex", graph, *maps]
    hls = work / "naive-hls"
    dash = work / "naive-dash"
    hls.mkdir()
    dash.mkdir()
    var_map = " ".join(f"v:{i},a:{i}" for i in range(n))
    hls_cmd = base + [a for i in range(n) for a in ("-map", "0:a:0")] + enc + [
        "-f", "hls", "-hls_time", str(seg), "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
        "-var_stream_map", var_map, "-master_pl_name", "master.m3u8", str(hls / "v%v.m3u8")]
    dash_cmd = base + ["-map", "0:a:0"] + enc + ["-f", "dash", "-seg_duration", str(seg), str(dash / "manifest.mpd")]
    return [hls_cmd, dash_cmd]


def bench_labels(work: Path, quick: bool) -> list[Row]:
    """labels on the run's clip and a 720p one, against a pure decode of the same clip."""
    rows = []
    sizes = ("1280x720", "640x360") if quick else ("1920x1080", "1280x720")
    for size in sizes:
        src, secs, _ = clip(quick, size)
        record = probed(src, work / size)
        out = work / f"out-{size}"
        got = alternated({"labels": [[PY, "-m", "stages.labels", "--media", str(src), "--probe", str(record),
                                      "--out", str(out)]],
                          "decode": [decode_floor(src)]})
        analysis = json.loads((out / src.name / "labels.json").read_text())["analysis"]
        p = size.split("x")[1]
        wall = med(got["labels"])
        rows.append(Row(f"labels {secs}s {p}: realtime multiple (median of {ROUNDS}; analysed at {analysis['fps']:g} fps, "
                        f"{analysis['width']}x{analysis['height']})", secs / wall, None, "x",
                        f"{25 * secs / wall:.0f} source frames/s"))
        rows.append(Row(f"labels {secs}s {p}: wall vs the decode floor of the same clip (median of {ROUNDS}, alternated)",
                        wall, med(got["decode"]), "s"))
    return rows

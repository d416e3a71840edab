"""Loudness (EBU R128) and silences from ffmpeg's ebur128 and silencedetect filters:
a pure parser of their log and a thin runner on the safe input flags."""
from __future__ import annotations

import re
from pathlib import Path

from stages.io import media_io

_NUM = r"(-?(?:\d+(?:\.\d*)?|inf))"


def parse_audio_log(log: str, duration: float) -> dict:
    """ffmpeg's stderr (ebur128 summary + silencedetect lines) -> loudness and silences."""
    summary = log[log.rfind("Summary:"):] if "Summary:" in log else ""

    def value(pattern: str) -> float | None:
        m = re.search(pattern, summary)
        if not m or "inf" in m.group(1):
            return None
        return round(float(m.group(1)), 2)
    loudness = {"integrated_lufs": value(r"I:\s+" + _NUM + r" LUFS"),
                "range_lu": value(r"LRA:\s+" + _NUM + r" LU"),
                "true_peak_dbfs": value(r"Peak:\s+" + _NUM + r" dBFS")} if summary else None
    silences, start = [], None
    for kind, v in re.findall(r"silence_(start|end): " + _NUM, log):
        t = max(0.0, float(v))
        if kind == "start":
            start = t
        elif start is not None:
            silences.append({"start": round(start, 3), "end": round(t, 3)})
            start = None
    if start is not None:  # silent until the end
        silences.append({"start": round(start, 3), "end": round(duration, 3)})
    return {"loudness": loudness, "silences": silences}


def analyse_audio(path: Path, demuxer: str, stream: int, duration: float, silence_db: float, silence_min_s: float,
                  *, max_pixels: int, timeout: float) -> dict:
    """Loudness and silences of audio stream `stream` (the probed index). ebur128 and
    silencedetect report at log level info; ebur128's per-frame lines go to verbose
    (framelog), so a 4-hour upload leaves a summary, not 14 MB of log."""
    args = [*media_io.ffmpeg_base(loglevel="info"), *media_io.ffmpeg_input_args(path, demuxer, max_pixels=max_pixels),
            "-map", f"0:{stream}", "-vn",
            "-af", f"ebur128=peak=true:framelog=verbose,silencedetect=noise={silence_db}dB:d={silence_min_s}", "-f", "null", "-"]
    rc, _, err = media_io.run_tool(args, timeout)
    if rc != 0:
        return {"loudness": None, "silences": [], "error": (err.strip().splitlines() or ["ffmpeg failed"])[-1][:200]}
    return parse_audio_log(err, duration)

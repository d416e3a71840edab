"""Subtitle text out of an upload or a caption sidecar, as ASS events (the form
stages/core/captions.py turns into WebVTT), through media_io's safe input flags."""
from __future__ import annotations

from pathlib import Path

from stages.io import media_io

SIDECAR_MAX_BYTES = 16 << 20  # a film's subtitles are ~100 KB; more is not a caption file


def ass_events(path: Path, demuxer: str, index: int = 0, timeout: float = 60, *,
               max_pixels: int) -> tuple[str | None, str]:
    """(the ASS script ffmpeg decodes stream `index` to, or None; ffmpeg's complaint)."""
    args = media_io.ffmpeg_base() + media_io.ffmpeg_input_args(path, demuxer, max_pixels=max_pixels)
    args += ["-map", f"0:{index}", "-map_metadata", "-1", "-c:s", "ass", "-f", "ass", "-"]
    rc, out, err = media_io.run_tool(args, timeout)
    return (out if rc == 0 else None), err.strip()

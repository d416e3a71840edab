"""Storyboard geometry and its WebVTT (pure): thumbnails every `interval` seconds,
tiled into one sprite; each cue points at its tile with `#xywh=`."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Storyboard:
    count: int
    interval: float
    columns: int
    rows: int
    tile_w: int
    tile_h: int

    def filter(self) -> str:
        """ffmpeg filter chain: sampled frames -> thumbnails -> one sprite."""
        return (f"fps=1/{self.interval:.6f},scale={self.tile_w}:{self.tile_h},"
                f"tile={self.columns}x{self.rows}")

    def vtt(self, image: str, duration: float) -> str:
        lines = ["WEBVTT", ""]
        for i in range(self.count):
            start, end = i * self.interval, min((i + 1) * self.interval, duration)
            if start >= duration:
                break
            x, y = (i % self.columns) * self.tile_w, (i // self.columns) * self.tile_h
            lines += [f"{_ts(start)} --> {_ts(end)}", f"{image}#xywh={x},{y},{self.tile_w},{self.tile_h}", ""]
        return "\n".join(lines)


def plan_storyboard(duration: float, display_w: int, display_h: int, settings: dict) -> Storyboard:
    interval = float(settings["interval_s"])
    count = max(1, math.ceil(duration / interval))
    if count > settings["max_thumbs"]:
        count = settings["max_thumbs"]
        interval = duration / count
    columns = min(settings["columns"], count)
    rows = math.ceil(count / columns)
    w = settings["width"] // 2 * 2
    h = max(2, int(round(w * display_h / display_w / 2)) * 2)
    return Storyboard(count, interval, columns, rows, w, h)


def _ts(t: float) -> str:
    ms = int(round(t * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"

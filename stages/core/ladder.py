"""The ladder: which renditions a source gets (pure). Rungs are named by the short
side (a portrait 1080x1920 source is "1080p"), never above the source, with true
even sizes that keep the display aspect ratio."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rendition:
    name: str          # "720p"
    width: int
    height: int
    maxrate_kbps: int  # the cap of the capped-CRF encode

    @property
    def bufsize_kbps(self) -> int:
        """One second of the cap: the VBV keeps any segment near maxrate."""
        return self.maxrate_kbps


def even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def ladder_for(dw: int, dh: int, rungs: list[dict]) -> list[Rendition]:
    """Renditions for a source shown at dw x dh (its display size: conform.display_dims,
    pixel aspect and rotation applied)."""
    if dw <= 0 or dh <= 0:
        raise ValueError(f"source has no usable size ({dw}x{dh})")
    short, portrait = min(dw, dh), dh > dw
    chosen = [r for r in sorted(rungs, key=lambda r: -r["height"]) if r["height"] <= short]
    if not chosen:  # smaller than every rung: one rendition at the source's own size
        smallest = min(rungs, key=lambda r: r["height"])
        chosen = [{"height": even(short), "maxrate_kbps": smallest["maxrate_kbps"]}]
    out = []
    for r in chosen:
        s = r["height"]
        long_side = even(max(dw, dh) * s / short)
        s = even(s)
        w, h = (s, long_side) if portrait else (long_side, s)
        out.append(Rendition(f"{r['height']}p", w, h, r["maxrate_kbps"]))
    return out


def gop_frames(fps: float | None, segment_seconds: float) -> int:
    """Keyframe interval = one segment, so every rendition cuts at the same instants."""
    return max(1, int(round((fps or 25.0) * segment_seconds)))

"""After the ffmpeg run: the package's manifests and captions, written from what was made.

The media playlists the dash muxer wrote move to hls/, pointing at the shared
segments in ../dash/, without wall-clock dates (a re-run makes the same bytes). Bandwidths
are measured on the segments (peak and mean). Caption tracks become WebVTT files in
dash/ (one file each, named by both manifests). The HLS master and the final MPD are
written by core/manifests.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path
from typing import Any

from stages.core.captions import parse_ass, webvtt
from stages.core.manifests import MPD_NS, AudioSet, Media, TextSet, Variant, hls_master, hls_text_playlist, rewrite_mpd
from stages.io.encode import Plan


def segment_rates(dash: Path, rid: str, seg: float, duration: float) -> tuple[int, int]:
    """(peak, mean) bits per second of one representation's media segments."""
    sizes = [p.stat().st_size for p in sorted(dash.glob(f"chunk-{rid}-*.m4s"))]
    if not sizes:
        return 0, 0
    last = max(duration - seg * (len(sizes) - 1), 0.1)
    per_s = [n * 8 / seg for n in sizes[:-1]] + [sizes[-1] * 8 / min(last, seg)]
    peak = int(max(per_s))
    # segments end on frame boundaries, a little past n*seg: the mean can come out above a
    # peak measured per nominal segment, and an average above the peak misleads players
    return peak, min(peak, int(sum(sizes) * 8 / max(duration, 0.1)))


def _move_playlist(src: Path, dest: Path) -> None:
    lines = []
    for line in src.read_text().splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME"):
            continue
        if line and not line.startswith("#"):
            line = "../dash/" + line
        lines.append(re.sub(r'URI="([^"]+)"', lambda m: f'URI="../dash/{m.group(1)}"', line))
    dest.write_text("\n".join(lines) + "\n")
    src.unlink()


def _codecs(mpd: Path) -> dict[str, str]:
    root = ET.parse(mpd).getroot()
    return {r.get("id"): r.get("codecs", "") for r in root.iter(f"{{{MPD_NS}}}Representation")}


def write_captions(work: Path, plan: Plan) -> list[dict[str, Any]]:
    """Each text track's ASS events -> dash/<key>.vtt and hls/<key>.m3u8."""
    made = []
    for t in plan.texts:
        ass = work / f"{t.key}.ass"
        cues = parse_ass(ass.read_text(encoding="utf-8", errors="replace"), plan.duration) if ass.is_file() else []
        ass.unlink(missing_ok=True)
        (work / "dash" / f"{t.key}.vtt").write_text(webvtt(cues), encoding="utf-8")
        (work / "hls" / f"{t.key}.m3u8").write_text(hls_text_playlist(f"../dash/{t.key}.vtt", plan.duration))
        made.append(t.describe() | {"key": t.key, "cues": len(cues)})
    return made


def write_manifests(work: Path, plan: Plan, seg: float) -> dict[str, Any]:
    """hls/ (media playlists, captions, master) and the final dash/manifest.mpd.
    Returns {"renditions": [...], "audio": [...], "captions": [...]} for the record."""
    dash, hls = work / "dash", work / "hls"
    hls.mkdir()
    mpd = dash / "manifest.mpd"
    codecs = _codecs(mpd)
    rates = {str(i): segment_rates(dash, str(i), seg, plan.duration) for i in range(plan.stream_count)}
    opus = {plan.opus_id(j) for j in range(len(plan.audio))}
    for p in sorted(dash.glob("*.m3u8")):
        rid = p.stem.split("_")[-1]
        if p.name == "master.m3u8" or rid in opus:  # our master replaces it; Opus is DASH only
            p.unlink()
        else:
            _move_playlist(p, hls / p.name)
    captions = write_captions(work, plan)
    fps = float(plan.conform.fps) if plan.conform else 0.0
    variants = [Variant(f"media_{i}.m3u8", *rates[str(i)], r.width, r.height, codecs.get(str(i), ""), fps)
                for i, r in enumerate(plan.ladder)]
    audio = [Media(f"media_{plan.aac_id(j)}.m3u8", t.name, t.language, t.default, *rates[plan.aac_id(j)])
             for j, t in enumerate(plan.audio)]
    texts = [Media(f"{t.key}.m3u8", t.name, t.language, t.default) for t in plan.texts]
    (hls / "master.m3u8").write_text(hls_master(variants, audio, texts))
    top = Fraction(plan.ladder[0].width, plan.ladder[0].height) if plan.ladder else Fraction(1)
    text_sets = [TextSet(t.key, f"{t.key}.vtt", t.language, t.name,
                         int((dash / f"{t.key}.vtt").stat().st_size * 8 / max(plan.duration, 0.1)))
                 for t in plan.texts]
    mpd.write_text(rewrite_mpd(mpd.read_text(), {rid: peak for rid, (peak, _) in rates.items()},
                               f"{top.numerator}:{top.denominator}",
                               [AudioSet((plan.aac_id(j), plan.opus_id(j)), t.language, t.name, t.default)
                                for j, t in enumerate(plan.audio)], text_sets))
    audio_peak = max((m.bandwidth for m in audio), default=0)
    audio_mean = max((m.average_bandwidth for m in audio), default=0)
    return {
        "renditions": [{"name": r.name, "width": r.width, "height": r.height,
                        "bandwidth": max(1, v.bandwidth + audio_peak),
                        "average_bandwidth": (v.average_bandwidth + audio_mean) or None,
                        "codecs": ",".join(c for c in (v.codecs, "mp4a.40.2" if audio else "") if c),
                        "representation_id": str(i), "playlist": f"hls/{v.uri}"}
                       for i, (r, v) in enumerate(zip(plan.ladder, variants))],
        "audio": [t.describe() | {"representation_id": plan.aac_id(j), "opus_representation_id": plan.opus_id(j),
                                  "playlist": f"hls/media_{plan.aac_id(j)}.m3u8",
                                  "bandwidth": max(1, rates[plan.aac_id(j)][0])}
                  for j, t in enumerate(plan.audio)],
        "captions": [c | {"vtt": f"dash/{c['key']}.vtt", "playlist": f"hls/{c['key']}.m3u8"} for c in captions],
    }

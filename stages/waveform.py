"""For audio players: a waveform PNG (ffmpeg's showwavespic) and a peaks JSON (min/max
per bucket, the shape audiowaveform/peaks.js read), from one allow-listed decode each."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from . import media_io

RATE = 8000


def peaks(samples: np.ndarray, buckets: int) -> list[int]:
    """Interleaved [min, max, min, max, ...] of int16 samples over `buckets` equal spans (pure)."""
    if samples.size == 0:
        return []
    buckets = max(1, min(buckets, samples.size))
    edges = np.linspace(0, samples.size, buckets + 1).astype(int)
    out: list[int] = []
    for a, b in zip(edges[:-1], edges[1:]):
        chunk = samples[a:max(b, a + 1)]
        out += [int(chunk.min()), int(chunk.max())]
    return out


def make_waveform(media: Path, demuxer: str, out: Path, buckets: int = 1000) -> dict:
    png = out / "waveform.png"
    args = [media_io.FFMPEG, "-nostdin", "-v", "error", "-y", *media_io.ffmpeg_input_args(media, demuxer),
            "-filter_complex", "[0:a:0]aformat=channel_layouts=mono,showwavespic=s=1200x200:colors=#3b82f6",
            "-frames:v", "1", str(png)]
    rc, _, err = media_io.run_tool(args, 600)
    if rc != 0:
        raise RuntimeError(f"waveform: {err.strip()[-200:]}")
    pcm = subprocess.run([media_io.FFMPEG, "-nostdin", "-v", "error", *media_io.ffmpeg_input_args(media, demuxer),
                          "-map", "0:a:0", "-ac", "1", "-ar", str(RATE), "-f", "s16le", "pipe:1"],
                         capture_output=True, timeout=600).stdout
    samples = np.frombuffer(pcm, dtype="<i2")
    data = peaks(samples, buckets)
    doc = {"version": 2, "channels": 1, "sample_rate": RATE, "bits": 16,
           "samples_per_pixel": max(1, samples.size // max(1, len(data) // 2)), "length": len(data) // 2, "data": data}
    (out / "peaks.json").write_text(json.dumps(doc))
    return {"waveform": "waveform.png", "peaks": "peaks.json"}

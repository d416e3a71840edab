"""For audio players: a peaks JSON (min/max per bucket, the shape audiowaveform/peaks.js
read) and a waveform PNG drawn from the same peaks, from one allow-listed decode whose
PCM is streamed into bounded min/max blocks: memory stays small whatever the length
(a 4-hour upload is 115 M samples at 8 kHz; ffmpeg's showwavespic keeps every one)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from stages.io import media_io
from stages.common import ContentRejected

RATE = 8000
PNG_SIZE = (1200, 200)
PNG_COLOR = (0x3B, 0x82, 0xF6, 255)

def peaks(samples: np.ndarray, buckets: int) -> list[int]:
    """Interleaved [min, max, min, max, ...] of int16 samples over `buckets` equal spans (pure)."""
    acc = PeakBlocks(cap=max(1, np.asarray(samples).size))  # all in memory already: exact
    acc.feed(samples)
    return acc.peaks(buckets)


class PeakBlocks:
    """Min and max of each block of `block` samples, fed in pieces of any size. Blocks
    start one sample long and are merged in pairs whenever more than `cap` are held, so
    memory is bounded; up to `cap` samples in all, peaks() is exact, beyond it a
    bucket's edges are rounded out to a block (at most 2 * total/cap samples)."""

    def __init__(self, cap: int = 1 << 16) -> None:
        self.cap, self.block, self.total = cap, 1, 0
        self._mins: list[np.ndarray] = []
        self._maxs: list[np.ndarray] = []
        self._held = 0
        self._part: tuple[int, int, int] | None = None  # (min, max, samples) of the unfinished block

    def feed(self, samples: np.ndarray) -> None:
        s = np.asarray(samples, dtype=np.int16)
        self.total += s.size
        while s.size:
            if self._part is not None:  # top up the unfinished block first
                lo, hi, n = self._part
                take, s = s[: self.block - n], s[self.block - n:]
                lo, hi, n = min(lo, int(take.min())), max(hi, int(take.max())), n + take.size
                self._part = (lo, hi, n) if n < self.block else None
                if self._part is None:
                    self._push(np.array([lo], np.int16), np.array([hi], np.int16))  # may leave a new _part
                continue
            whole = s.size // self.block * self.block
            if not whole:
                self._part = (int(s.min()), int(s.max()), s.size)
                return
            rows, s = s[:whole].reshape(-1, self.block), s[whole:]
            self._push(rows.min(axis=1), rows.max(axis=1))

    def _push(self, mins: np.ndarray, maxs: np.ndarray) -> None:
        self._mins.append(mins)
        self._maxs.append(maxs)
        self._held += mins.size
        while self._held > self.cap:
            self._halve()

    def _halve(self) -> None:
        mins, maxs = np.concatenate(self._mins), np.concatenate(self._maxs)
        if mins.size % 2:  # the odd block out joins the unfinished one (fewer than 2 blocks' samples)
            lo, hi, n = int(mins[-1]), int(maxs[-1]), self.block
            if self._part is not None:
                lo, hi, n = min(lo, self._part[0]), max(hi, self._part[1]), n + self._part[2]
            self._part = (lo, hi, n)
            mins, maxs = mins[:-1], maxs[:-1]
        self._mins = [np.minimum(mins[0::2], mins[1::2])]
        self._maxs = [np.maximum(maxs[0::2], maxs[1::2])]
        self._held = self._mins[0].size
        self.block *= 2

    def peaks(self, buckets: int) -> list[int]:
        """Interleaved [min, max, ...] over `buckets` equal spans of everything fed."""
        if self.total == 0:
            return []
        mins = np.concatenate(self._mins + ([np.array([self._part[0]], np.int16)] if self._part else []))
        maxs = np.concatenate(self._maxs + ([np.array([self._part[1]], np.int16)] if self._part else []))
        buckets = max(1, min(buckets, self.total))
        edges = np.linspace(0, self.total, buckets + 1).astype(int)
        out: list[int] = []
        for a, b in zip(edges[:-1], edges[1:]):
            first, last = a // self.block, -(-max(b, a + 1) // self.block)
            out += [int(mins[first:last].min()), int(maxs[first:last].max())]
        return out


def draw(data: list[int], size: tuple[int, int] = PNG_SIZE) -> Image.Image:
    """The waveform picture of interleaved min/max peaks (one pair per column): each
    column filled from its min to its max through the centre line, on transparency."""
    w, h = size
    img = np.zeros((h, w, 4), np.uint8)
    mid = (h - 1) / 2
    for x, (lo, hi) in enumerate(zip(data[0::2], data[1::2])):
        top = int(round(mid - max(hi, 0) / 32768 * mid))
        bottom = int(round(mid - min(lo, 0) / 32768 * mid))
        img[top:bottom + 1, x] = PNG_COLOR
    return Image.fromarray(img, "RGBA")


def make_waveform(media: Path, demuxer: str, stream: int, out: Path, buckets: int = 1000, *, max_pixels: int,
                  timeout: float) -> dict:
    """peaks.json and waveform.png of audio stream `stream` (the probed index). A decoder
    that stops on the upload, or no samples at all, is ContentRejected."""
    args = [*media_io.ffmpeg_base(), *media_io.ffmpeg_input_args(media, demuxer, max_pixels=max_pixels),
            "-map", f"0:{stream}", "-ac", "1", "-ar", str(RATE), "-f", "s16le", "pipe:1"]
    acc = PeakBlocks()
    with media_io.Piped(args, timeout=timeout) as proc:
        while chunk := proc.stdout.read(1 << 16):
            acc.feed(np.frombuffer(chunk[: len(chunk) // 2 * 2], dtype="<i2"))
        proc.check(f"{media.name}: decoding audio for the waveform", max_pixels)
    if acc.total == 0:
        raise ContentRejected("decode_error", f"{media.name}: the audio stream decoded to no samples")
    data = acc.peaks(buckets)
    doc = {"version": 2, "channels": 1, "sample_rate": RATE, "bits": 16,
           "samples_per_pixel": max(1, acc.total // max(1, len(data) // 2)), "length": len(data) // 2, "data": data}
    (out / "peaks.json").write_text(json.dumps(doc))
    draw(acc.peaks(PNG_SIZE[0])).save(out / "waveform.png", optimize=True)
    return {"waveform": "waveform.png", "peaks": "peaks.json"}

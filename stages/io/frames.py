"""Raw frames from one ffmpeg decoder, read ahead by a thread.

The analysis works in bursts (a scene closes: faces, colours, a JPEG) while the decoder
would otherwise wait on a full 64 KB pipe. A reader thread keeps a few frames queued
(bounded in bytes), so decoding and analysing overlap on separate cores.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterator

import numpy as np

from stages.io import media_io

AHEAD_BYTES = 32 << 20  # frames queued ahead of the analysis: 86 at 480x270, 5 at 1920x1080
_END = object()


class FrameReader:
    """`with FrameReader(args, w, h, timeout=t) as frames: for f in frames: ...`: BGR frames (h, w, 3)
    of an ffmpeg command writing rawvideo bgr24 to stdout. The decoder starts on entry;
    after the loop, `finish()` gives (exit status, the tail of its stderr) and `lines` how
    many lines it wrote there. Leaving the block early kills the decoder."""

    def __init__(self, args: list[str], w: int, h: int, *, timeout: float, ahead_bytes: int = AHEAD_BYTES) -> None:
        self.args, self.shape, self.size, self.timeout = args, (h, w, 3), w * h * 3, timeout
        self._queue: queue.Queue = queue.Queue(maxsize=max(2, ahead_bytes // self.size))
        self._stop = threading.Event()
        self._proc: media_io.Piped | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "FrameReader":
        self._proc = media_io.Piped(self.args, timeout=self.timeout)
        self._thread = threading.Thread(target=self._read, name="frame-reader", daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        try:
            while not self._stop.is_set():
                buf = self._proc.stdout.read(self.size)
                if len(buf) < self.size:
                    break
                self._put(buf)
        finally:
            self._put(_END)

    def _put(self, item) -> None:
        while not self._stop.is_set():  # the consumer may have stopped: never block for ever
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[np.ndarray]:
        while (buf := self._queue.get()) is not _END:
            yield np.frombuffer(buf, np.uint8).reshape(self.shape)

    @property
    def lines(self) -> int:
        return self._proc.stderr.lines

    def finish(self) -> tuple[int, str]:
        return self._proc.finish()

    def check(self, what: str, max_pixels: int) -> str:
        """finish() with media_io's verdict on the run (Piped.check)."""
        return self._proc.check(what, max_pixels)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._proc.proc.poll() is None:
            self._proc.proc.kill()  # the consumer stopped early: the reader then sees the end
        self._thread.join()
        self._proc.__exit__(*exc)

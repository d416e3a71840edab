"""Shots with PySceneDetect's AdaptiveDetector over frames we decode ourselves (the
detector never opens the file), and per-scene aggregates of the frame features.

The detector reports a cut a few frames late (its window); frames wait in a short
buffer until their scene is certain, so each scene's keyframe (its sharpest frame)
and its statistics belong to it alone, in constant memory.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from stages.core import frame_features as ff


@dataclass
class Scene:
    index: int
    start_frame: int
    end_frame: int = -1
    frames: int = 0
    brightness: float = 0.0
    motion: float = 0.0
    sharpness: float = 0.0
    best_sharpness: float = -1.0
    keyframe: np.ndarray | None = field(default=None, repr=False)
    keyframe_number: int = 0

    def add(self, n: int, frame: np.ndarray, b: float, m: float, s: float) -> None:
        self.frames += 1
        self.brightness += b
        self.motion += m
        self.sharpness += s
        if s > self.best_sharpness:
            self.best_sharpness, self.keyframe, self.keyframe_number = s, frame, n


class ShotTracker:
    def __init__(self, fps: float, threshold: float, min_scene_s: float, min_content_val: float) -> None:
        # imported here, not at the top: importing scenedetect runs `ffmpeg` to look for it
        # (0.1-0.3 s), which the labels stage spends with its decoder already running
        from scenedetect.detectors import AdaptiveDetector
        self.fps = fps
        self.detector = AdaptiveDetector(adaptive_threshold=threshold,
                                         min_scene_len=max(1, int(round(min_scene_s * fps))),
                                         min_content_val=min_content_val)
        self.hold = 2 * self.detector.window_width + 2
        self.pending: deque = deque()
        self.scenes: list[Scene] = [Scene(0, 0)]
        self.prev_gray: np.ndarray | None = None
        self.n = 0

    def feed(self, frame: np.ndarray) -> None:
        g = ff.gray(frame)
        feats = (ff.brightness(g), ff.motion(self.prev_gray, g), ff.sharpness(g))
        self.prev_gray = g
        n = self.n
        self.n += 1
        self.pending.append((n, frame, feats))
        for cut in self.detector.process_frame(n, frame):
            self._cut(cut)
        while len(self.pending) > self.hold:
            self._settle(*self.pending.popleft())

    def _settle(self, n: int, frame: np.ndarray, feats: tuple[float, float, float]) -> None:
        self.scenes[-1].add(n, frame, *feats)

    def _cut(self, at: int) -> None:
        while self.pending and self.pending[0][0] < at:
            self._settle(*self.pending.popleft())
        cur = self.scenes[-1]
        cur.end_frame = at
        self.scenes.append(Scene(cur.index + 1, at))

    def finish(self) -> list[Scene]:
        while self.pending:
            self._settle(*self.pending.popleft())
        self.scenes[-1].end_frame = self.n
        return [s for s in self.scenes if s.frames > 0]

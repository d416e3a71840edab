"""Per-frame detectors on BGR numpy frames (pure, no I/O): brightness, sharpness,
motion, dominant colours, faces."""
from __future__ import annotations

import functools

import cv2
import numpy as np

DARK, BRIGHT = 60.0, 170.0


def gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def brightness(g: np.ndarray) -> float:
    """Mean luma, 0-255."""
    return float(g.mean())


def light_label(b: float) -> str:
    return "night" if b < DARK else "bright" if b > BRIGHT else "day"


def sharpness(g: np.ndarray) -> float:
    """Variance of the Laplacian: high for crisp edges, near 0 for blur or flat colour
    (OpenCV's meanStdDev: numpy's var is the same figure at twice the cost)."""
    sd = cv2.meanStdDev(cv2.Laplacian(g, cv2.CV_64F))[1][0, 0]
    return float(sd * sd)


def motion(prev: np.ndarray | None, g: np.ndarray) -> float:
    """Mean absolute luma difference from the previous analysed frame, 0-255."""
    if prev is None or prev.shape != g.shape:
        return 0.0
    return float(cv2.absdiff(prev, g).mean())


def dominant_colors(frame: np.ndarray, k: int = 3) -> list[dict]:
    """k-means over a small copy: [{"hex": "#rrggbb", "share": 0.62}, ...], largest first."""
    small = cv2.resize(frame, (64, 64), interpolation=cv2.INTER_AREA).reshape(-1, 3).astype(np.float32)
    k = max(1, min(k, len(np.unique(small, axis=0))))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(7)  # same frame, same answer
    _, labels, centers = cv2.kmeans(small, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    counts = np.bincount(labels.ravel(), minlength=k)
    order = np.argsort(-counts)
    out = []
    for i in order:
        b, g, r = (int(round(c)) for c in centers[i])
        out.append({"hex": f"#{r:02x}{g:02x}{b:02x}", "share": round(float(counts[i]) / len(labels), 3)})
    return out


@functools.cache
def _face_cascade() -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    c = cv2.CascadeClassifier(path)
    if c.empty():
        raise RuntimeError(f"cannot load the Haar cascade {path} (opencv-python-headless < 5 ships it)")
    return c


def faces(g: np.ndarray, min_px: int = 24) -> list[list[int]]:
    """Frontal faces as [x, y, w, h] boxes in the frame's pixels."""
    eq = cv2.equalizeHist(g)
    found = _face_cascade().detectMultiScale(eq, scaleFactor=1.1, minNeighbors=5, minSize=(min_px, min_px))
    return [[int(v) for v in box] for box in (found if len(found) else [])]

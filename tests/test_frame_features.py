"""Per-frame detectors on synthetic frames (pure)."""
import cv2
import numpy as np
import pytest

from stages.core import frame_features as ff
from stages.core.audio_features import parse_audio_log

pytestmark = pytest.mark.unit


def solid(b, g, r, size=(120, 160)):
    f = np.zeros((*size, 3), np.uint8)
    f[:] = (b, g, r)
    return f


def checker(size=(120, 160), cell=8):
    y, x = np.indices(size)
    g = (((x // cell) + (y // cell)) % 2 * 255).astype(np.uint8)
    return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)


@pytest.mark.parametrize("frame,light", [
    pytest.param(solid(5, 5, 5), "night", id="black"),
    pytest.param(solid(128, 128, 128), "day", id="grey"),
    pytest.param(solid(250, 250, 250), "bright", id="white"),
])
def test_light(frame, light):
    assert ff.light_label(ff.brightness(ff.gray(frame))) == light


def test_sharpness_drops_with_blur():
    sharp = checker()
    blurred = cv2.GaussianBlur(sharp, (15, 15), 5)
    assert ff.sharpness(ff.gray(sharp)) > 10 * ff.sharpness(ff.gray(blurred))
    assert ff.sharpness(ff.gray(solid(10, 200, 10))) == 0.0


def test_dominant_colours():
    f = solid(0, 0, 255)
    f[:, :40] = (255, 0, 0)  # a quarter blue
    colors = ff.dominant_colors(f, 3)
    assert colors[0]["hex"] == "#ff0000" and abs(colors[0]["share"] - 0.75) < 0.02
    assert colors[1]["hex"] == "#0000ff"


def test_motion():
    a, b = ff.gray(solid(0, 0, 0)), ff.gray(solid(100, 100, 100))
    assert ff.motion(None, a) == 0.0 and ff.motion(a, a) == 0.0 and ff.motion(a, b) == 100.0


def test_no_faces_in_a_test_pattern():
    assert ff.faces(ff.gray(checker((240, 320)))) == []


LOG = """[silencedetect @ 0x1] silence_start: 3.0021
[silencedetect @ 0x1] silence_end: 5.001 | silence_duration: 1.999
[Parsed_ebur128_0 @ 0x2] t: 1.0 TARGET:-23 LUFS M: -20.0 S:-120.7 I: -99.0 LUFS LRA: 0.0 LU FTPK: -18.1 dBFS
[silencedetect @ 0x1] silence_start: 7.5
[Parsed_ebur128_0 @ 0x2] Summary:

  Integrated loudness:
    I:         -22.4 LUFS
    Threshold: -32.5 LUFS

  Loudness range:
    LRA:         4.6 LU

  True peak:
    Peak:      -18.5 dBFS
"""


def test_parse_audio_log():
    got = parse_audio_log(LOG, 8.0)
    assert got["loudness"] == {"integrated_lufs": -22.4, "range_lu": 4.6, "true_peak_dbfs": -18.5}
    assert got["silences"] == [{"start": 3.002, "end": 5.001}, {"start": 7.5, "end": 8.0}]

"""The ladder (pure): rungs by the short side, never upscaled, even true sizes."""
import pytest

from stages.common import default_settings
from stages.core.ladder import gop_frames, ladder_for
from stages.core.thumbnails import plan_storyboard

pytestmark = pytest.mark.unit

RUNGS = default_settings("transcode")["rungs"]


@pytest.mark.parametrize("w,h,expected", [  # display sizes (conform.display_dims)
    pytest.param(1920, 1080, [(1920, 1080), (1280, 720), (854, 480), (640, 360)], id="1080p"),
    pytest.param(1280, 720, [(1280, 720), (854, 480), (640, 360)], id="720p-no-upscale"),
    pytest.param(640, 360, [(640, 360)], id="360p"),
    pytest.param(320, 240, [(320, 240)], id="below-every-rung"),
    pytest.param(1080, 1920, [(1080, 1920), (720, 1280), (480, 854), (360, 640)], id="portrait"),
    pytest.param(720, 528, [(654, 480), (490, 360)], id="odd-aspect"),
    pytest.param(3840, 1600, [(2592, 1080), (1728, 720), (1152, 480), (864, 360)], id="scope"),
])
def test_ladder(w, h, expected):
    ladder = ladder_for(w, h, RUNGS)
    assert [(r.width, r.height) for r in ladder] == expected
    dw, dh = w, h
    for r in ladder:
        assert r.width % 2 == 0 and r.height % 2 == 0
        assert r.width <= max(dw, 2) and r.height <= max(dh, 2)
        assert abs(r.width / r.height - dw / dh) < 0.01


def test_gop_is_one_segment():
    assert gop_frames(25, 4) == 100 and gop_frames(29.97, 2) == 60 and gop_frames(None, 4) == 100


def test_storyboard_caps_thumbnails_and_cues_cover_the_duration():
    b = plan_storyboard(1000, 1920, 1080, {"interval_s": 2, "width": 160, "columns": 10, "max_thumbs": 100})
    assert b.count == 100 and b.columns == 10 and b.rows == 10 and (b.tile_w, b.tile_h) == (160, 90)
    vtt = b.vtt("sb.jpg", 1000).splitlines()
    assert vtt[0] == "WEBVTT" and vtt[-1].endswith("#xywh=1440,810,160,90")
    assert "00:16:30.000 --> 00:16:40.000" in vtt

"""The read-ahead frame reader: every frame, in order, as a plain decode gives them; a
consumer that stops early leaves no decoder behind; a decoder that fails says so."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from stages.io import media_io
from stages.io.frames import FrameReader
from tests.fixtures.media import make_video

pytestmark = pytest.mark.media

W, H = 64, 36


def decode_args(path, vf: str = f"scale={W}:{H}") -> list[str]:
    return [*media_io.ffmpeg_base(), *media_io.ffmpeg_input_args(path, "mov", max_pixels=320 * 180), "-map", "0:0",
            "-vf", vf, "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("frames") / "clip.mp4", seconds=2, size="320x180", fps=25, audio=False)


def test_every_frame_in_order(clip):
    plain = subprocess.run(decode_args(clip), capture_output=True, check=True).stdout
    expected = np.frombuffer(plain, np.uint8).reshape(-1, H, W, 3)
    # a queue shorter than the clip
    with FrameReader(decode_args(clip), W, H, timeout=60, ahead_bytes=3 * W * H * 3) as frames:
        got = [f.copy() for f in frames]
        rc, _ = frames.finish()
    assert rc == 0 and len(got) == len(expected) == 50
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_stopping_early_ends_the_decoder(clip):
    with FrameReader(decode_args(clip), W, H, timeout=60, ahead_bytes=2 * W * H * 3) as frames:
        first = next(iter(frames))
        proc = frames._proc.proc
    assert first.shape == (H, W, 3)
    assert proc.poll() is not None and not frames._thread.is_alive()


def test_a_failing_decoder_reports_its_status(clip):
    with FrameReader(decode_args(clip, "nosuchfilter"), W, H, timeout=60) as frames:
        assert list(frames) == []
        rc, err = frames.finish()
    assert rc != 0 and "nosuchfilter" in err

"""Waveform peaks streamed from ffmpeg into bounded min/max blocks: exact for short
audio (the same numbers as min/max over all samples in memory), never narrower than the
truth for long audio, memory bounded, and a failed decode is a rejection (ContentRejected)."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from PIL import Image

from stages.common import ContentRejected, default_settings
from stages.io.media_io import ffmpeg_input_args
from stages.core.waveform import RATE, PeakBlocks, make_waveform
from tests.fixtures.media import ffmpeg

pytestmark = pytest.mark.media

MAX_PIXELS = default_settings("policy")["max_pixels"]


def exact(samples: np.ndarray, buckets: int) -> list[int]:
    """The reference: min/max of each of `buckets` equal spans, everything in memory."""
    buckets = max(1, min(buckets, samples.size))
    edges = np.linspace(0, samples.size, buckets + 1).astype(int)
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        chunk = samples[a:max(b, a + 1)]
        out += [int(chunk.min()), int(chunk.max())]
    return out


def fed(samples: np.ndarray, cap: int, seed: int = 0) -> PeakBlocks:
    acc, rng, i = PeakBlocks(cap=cap), np.random.default_rng(seed), 0
    while i < samples.size:
        n = int(rng.integers(1, 5000))
        acc.feed(samples[i:i + n])
        i += n
    return acc


@pytest.mark.parametrize("n,buckets", [pytest.param(1, 1000, id="one-sample"), pytest.param(999, 1000, id="fewer"),
                                       pytest.param(40_000, 1000, id="even"), pytest.param(65_536, 7, id="at-cap")])
def test_exact_up_to_the_cap_whatever_the_pieces(n, buckets):
    samples = np.random.default_rng(n).integers(-32768, 32767, n, dtype=np.int16)
    assert fed(samples, cap=65_536).peaks(buckets) == exact(samples, buckets)


def test_beyond_the_cap_memory_is_bounded_and_buckets_never_narrower():
    rng = np.random.default_rng(1)
    samples = (np.sin(np.arange(300_001) / 300) * 20000 + rng.normal(0, 3000, 300_001)).clip(-32768, 32767)
    samples = samples.astype(np.int16)
    acc = fed(samples, cap=1000)
    assert acc.block > 1 and acc._held <= 1000  # merged as it went: never more than cap blocks
    got, want = acc.peaks(100), exact(samples, 100)
    assert len(got) == len(want) == 200
    edges = np.linspace(0, samples.size, 101).astype(int)
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        wide = samples[max(0, a - acc.block):b + acc.block]  # the bucket rounded out by at most one block
        assert int(wide.min()) <= got[2 * i] <= want[2 * i] and want[2 * i + 1] <= got[2 * i + 1] <= int(wide.max())


def test_a_clip_streams_to_the_same_peaks_as_in_memory(tmp_path):
    src = tmp_path / "tone.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=2", "-f", "lavfi", "-i",
           "anullsrc=r=44100:cl=mono:d=1", "-filter_complex", "[0][1]concat=n=2:v=0:a=1", str(src))
    made = make_waveform(src, "flac", 0, tmp_path, max_pixels=MAX_PIXELS, timeout=60)
    assert made == {"waveform": "waveform.png", "peaks": "peaks.json"}
    doc = json.loads((tmp_path / "peaks.json").read_text())
    pcm = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", *ffmpeg_input_args(src, "flac", max_pixels=MAX_PIXELS),
                          "-map", "0:0", "-ac", "1", "-ar", str(RATE), "-f", "s16le", "pipe:1"], capture_output=True, check=True).stdout
    samples = np.frombuffer(pcm, "<i2")
    assert doc["data"] == exact(samples, 1000)
    assert (doc["length"], doc["samples_per_pixel"], doc["sample_rate"], doc["bits"]) == (1000, samples.size // 1000,
                                                                                          RATE, 16)
    png = np.asarray(Image.open(tmp_path / "waveform.png"))
    assert png.shape == (200, 1200, 4)
    drawn = (png[:, :, 3] > 0).sum(axis=0)  # painted pixels per column
    assert 20 <= drawn[:700].min() and drawn[:700].max() <= 32  # lavfi's sine peaks at 1/8 of full scale: 25 px
    assert drawn[-300:].max() <= 2  # then a flat line of silence


def test_a_failed_decode_is_a_rejection(tmp_path):
    """ffmpeg stopping on the upload is the upload's problem (a record), not a failed datum."""
    src = tmp_path / "tone.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", str(src))
    with pytest.raises(ContentRejected, match=r"tone.flac: decoding audio for the waveform failed \(exit 1\)") as e:
        make_waveform(src, "flac", 5, tmp_path, max_pixels=MAX_PIXELS, timeout=60)  # no stream 5: ffmpeg exits 1
    assert e.value.reason == "tool_failed"
    assert not (tmp_path / "peaks.json").exists()

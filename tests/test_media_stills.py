"""Pillow's decompression-bomb guard follows the probe record, not the default policy:
what probe accepted under a committed policy opens in transcode and labels; a still
whose size Pillow reads differently from what probe accepted is a rejection record with
a reason (the datum succeeds), never a DecompressionBombError traceback."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import stages.common
import stages.core.source
import stages.io.still
from stages import labels as labels_stage
from stages import probe as probe_stage
from stages import transcode as transcode_stage
from stages.common import ContentRejected, Progress, default_settings
from stages.core import records
from tests.fixtures.stages import ROOT

pytestmark = pytest.mark.media

SMALL_DEFAULT = 100_000  # stands in for the default's 50 M: the test image stays 240 k pixels
RAISED = 1_000_000


@pytest.fixture
def small_default(monkeypatch):
    """The shipped default policy, with a max_image_pixels the test image is over."""
    real = stages.common.default_settings

    def patched(kind):
        got = real(kind)
        return got | {"max_image_pixels": SMALL_DEFAULT} if kind == "policy" else got
    monkeypatch.setattr(stages.common, "default_settings", patched)
    monkeypatch.setattr(stages.core.source, "default_settings", patched)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored afterwards
    return patched


@pytest.fixture
def between(tmp_path) -> Path:
    """600x400 = 240,000 pixels: over the (small) default, under the raised policy."""
    path = tmp_path / "wide.png"
    Image.linear_gradient("L").resize((600, 400)).convert("RGB").save(path)
    return path


def test_a_still_the_committed_policy_accepts_opens_everywhere(small_default, between, tmp_path):
    policy = small_default("policy") | {"max_image_pixels": RAISED}
    rec = probe_stage.probe_file(between, policy)
    assert rec["status"] == "valid" and rec["kind"] == "image", rec
    pkg = transcode_stage.transcode(between, rec, default_settings("transcode"), tmp_path / "tc", Progress())
    assert (pkg["images"]["width"], pkg["images"]["height"]) == (600, 400)
    assert (tmp_path / "tc/wide.png/large.jpg").is_file()
    lab = labels_stage.label(between, rec, default_settings("labels"), tmp_path / "lb", Progress())
    assert len(lab["scenes"]) == 1


def test_the_default_policy_still_refuses_it(small_default, between):
    rec = probe_stage.probe_file(between, small_default("policy"))
    assert rec["status"] == "rejected" and rec["reason"] == "dimensions_too_large"


def test_without_a_probe_record_the_default_policy_holds(small_default, between, tmp_path):
    with pytest.raises(ContentRejected, match=r"600x400 \(240000 pixels\), over the limit of 100000 pixels"):
        transcode_stage.transcode(between, None, default_settings("transcode"), tmp_path / "tc", Progress())


@pytest.mark.parametrize("stage", ["transcode", "labels"])
def test_a_size_other_than_probed_is_a_rejection_record(between, tmp_path, stage):
    """A probe record saying 30x20 for what Pillow reads as 600x400 (20x over, past
    Pillow's own 2x error threshold): nothing decoded, nothing published but why."""
    rec = probe_stage.probe_file(between, default_settings("policy"))
    v = next(s for s in rec["streams"] if s["codec_type"] == "video")
    v["width"], v["height"] = 30, 20
    (tmp_path / "probe.json").write_text(json.dumps(rec))
    r = subprocess.run([sys.executable, "-m", f"stages.{stage}", "--media", str(between), "--probe",
                        str(tmp_path / "probe.json"), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert [p.name for p in (tmp_path / "out" / "wide.png").iterdir()] == ["rejected.json"]
    rej = records.read_json(tmp_path / "out" / "wide.png" / "rejected.json")
    assert rej["reason"] == "dimensions_mismatch"
    assert "Pillow reads 600x400, its probe record says 30x20" in rej["message"]


def test_between_one_and_two_times_the_limit_is_refused_too(between):
    """Pillow itself only warns below 2x its limit; open_still refuses."""
    with pytest.raises(ContentRejected, match=r"Pillow reads 600x400"):
        stages.io.still.open_still(between, "png_pipe", 200_000)
    assert stages.io.still.open_still(between, "png_pipe", 240_000).size == (600, 400)

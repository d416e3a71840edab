"""HEIC stills through pillow-heif (FFmpeg 5.1 cannot read them): chosen by ftyp brand,
not name; pixel guard before decoding; derivatives, EXIF read and GPS stripped as for
JPEG; and a clear refusal when the stage image has no HEIC reader."""
from __future__ import annotations

import base64
import json
import shutil
import zlib
from pathlib import Path

import pytest
from PIL import Image

from stages.io import heif, still
from stages import probe as probe_stage
from stages.common import default_settings
from stages.io.still import metadata_of
from tests.fixtures.media import OPENCV_DOC
from tests.fixtures.stages import run_stage, stage_record

pytestmark = pytest.mark.media

pillow_heif = pytest.importorskip("pillow_heif")
POLICY = default_settings("policy")


def make_heic(path: Path, size=(400, 300), gps: bool = True) -> Path:
    """A HEIC as a phone writes one: HEVC-coded, EXIF with camera make and GPS."""
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "TestPhone"  # Make
    if gps:
        exif.get_ifd(0x8825)[2] = (48.0, 51.0, 24.0)  # GPSLatitude
    pillow_heif.from_pillow(img).save(path, quality=70, exif=exif.tobytes())
    return path


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = make_heic(tmp_path_factory.mktemp("heic") / "IMG_0001.HEIC")
    assert heif.brands(path) & heif.HEVC_BRANDS, "pillow-heif should write an HEVC-coded HEIF"
    return path


def test_probe_accepts_a_heic_from_its_header(photo, tmp_path):
    run_stage("probe", photo, tmp_path / "out")
    rec = stage_record(tmp_path / "out", photo.name, "probe")
    assert rec["status"] == "valid" and rec["kind"] == "image", rec
    assert rec["container"]["demuxer"] == "heif"
    [v] = rec["streams"]
    assert (v["codec_name"], v["width"], v["height"]) == ("hevc", 400, 300)


def test_transcode_makes_derivatives_and_strips_gps(photo, tmp_path):
    run_stage("probe", photo, tmp_path / "probe")
    run_stage("transcode", photo, tmp_path / "out", "--probe", str(tmp_path / f"probe/valid/{photo.name}.json"))
    pkg = tmp_path / "out" / photo.name
    rec = json.loads((pkg / "package.json").read_text())
    assert rec["kind"] == "image" and rec["source"]["demuxer"] == "heif"
    assert rec["exif"]["gps_present"] is True and rec["exif"]["tags"]["Make"] == "TestPhone"
    assert (rec["images"]["width"], rec["images"]["height"]) == (400, 300)
    for name in ("small.jpg", "medium.jpg", "large.jpg", "optimized.webp"):
        assert metadata_of(pkg / name) == {}, name
        assert b"TestPhone" not in (pkg / name).read_bytes()
    with Image.open(pkg / "large.jpg") as big:
        assert big.format == "JPEG" and big.size == (400, 300)


def test_labels_read_a_heic(photo, tmp_path):
    run_stage("labels", photo, tmp_path / "out")
    rec = json.loads((tmp_path / "out" / photo.name / "labels.json").read_text())
    assert rec["kind"] == "image" and len(rec["scenes"]) == 1 and rec["analysis"]["width"] == 400


def test_the_pixel_limit_holds_before_decoding(photo, monkeypatch, tmp_path):
    decoded = []
    monkeypatch.setattr(still, "decoded_size", lambda *a: decoded.append(a))
    rec = probe_stage.probe_file(photo, POLICY | {"max_image_pixels": 100_000})
    assert rec["status"] == "rejected" and rec["reason"] == "dimensions_too_large", rec
    assert decoded == []  # refused from the header alone


def test_a_truncated_heic_is_rejected(photo, tmp_path):
    data = photo.read_bytes()
    bad = tmp_path / "cut.heic"
    bad.write_bytes(data[: len(data) // 2])
    rec = probe_stage.probe_file(bad, POLICY)
    assert rec["status"] == "rejected" and rec["reason"] in ("not_media", "decode_error"), rec


# Found by tests/test_fuzz_media.py: a HEIC whose item tables leave libheif no image at all
# (pillow-heif opens it as a file of 0 images, and asking its size raised IndexError).
NO_IMAGE_HEIC = zlib.decompress(base64.b64decode(
    "eNpjYGCQSSupLMhIzUxmAILczDRDEDs3MzGNgYExLDe1JJEBAhQzUnKKoGyGgszkEgY0oJSZkw82xMWBgREIgYCxCkIDwSwgVs7MzEsD80CiokBOKhOUl1GWbAhi8hVkluTClVzLLCgqANLbMwuS84F0BVCZMyMzSGgCWJHcB4Y/f3/8YGDgZ04A6pBwYORh/P8fpIAZpIIZhOR2MTkkAiW1nRgZ0WQWGDSyTnvlqbkuj0mKhwMkdAJEcDgkAdWzuzAeLNqg5AC0Rjg5P6coLzmnAijMy8DWABQSySwuSIX6LQGIQcoECjIrMkECzBwcQNMYxDMLchPh4cPI0sjEzAJkLMpNSQSF3jQNxvWcD8463PPZNdvtkJ317CXnXBYUldiuC5Y5XMrDM+9k3tE9Mtc9s6P01u3N0rESudX0JI1RYX3t/2nHdEx/99xgmPZzfk2nMrf01Dm5Vz+k6OnPWxfcJdN2aeG0Zy1svTmZ6ladRlZy3rliWX8PN8+KvbmaxXvu7D1bGmbbznyvojJtuYRry5OsyjveJ+q/XZr+cWvy/s23H5Vm/gcAoD+MgQ=="))


def test_a_heic_with_no_image_is_rejected_not_a_crash(tmp_path):
    path = tmp_path / "empty.heic"
    path.write_bytes(NO_IMAGE_HEIC)
    rec = probe_stage.probe_file(path, default_settings("policy"))
    assert rec["status"] == "rejected" and "no image" in rec["message"], rec


def test_chosen_by_brand_not_by_name(photo, tmp_path):
    shutil.copy(photo, tmp_path / "looks.jpg")
    shutil.copy(OPENCV_DOC / "baboon.jpg", tmp_path / "looks.heic")
    assert probe_stage.probe_file(tmp_path / "looks.jpg", POLICY)["container"]["demuxer"] == "heif"
    assert probe_stage.probe_file(tmp_path / "looks.heic", POLICY)["container"]["demuxer"] == "jpeg_pipe"
    assert not heif.is_heic(OPENCV_DOC / "baboon.jpg")


def test_without_pillow_heif_a_heic_is_a_clear_rejection(photo, monkeypatch):
    monkeypatch.setattr(heif, "pillow_heif", None)
    rec = probe_stage.probe_file(photo, POLICY)
    assert rec["status"] == "rejected" and rec["reason"] == "unsupported_container"
    assert "HEIC" in rec["message"] and "pillow-heif" in rec["message"]


def test_a_policy_without_heif_refuses_it_by_name(photo):
    policy = POLICY | {"allowed_containers": [c for c in POLICY["allowed_containers"] if c != "heif"]}
    rec = probe_stage.probe_file(photo, policy)
    assert rec["reason"] == "unsupported_container" and "'heif'" in rec["message"]


def test_an_oriented_heic_is_turned_once(tmp_path):
    """EXIF orientation 6 (a phone held upright): libheif applies it on decode and
    pillow-heif resets the EXIF tag, so the derivatives are portrait, not turned twice."""
    path = tmp_path / "upright.heic"
    exif = Image.Exif()
    exif[0x0112] = 6
    pillow_heif.from_pillow(Image.new("RGB", (400, 200), (200, 30, 30))).save(path, exif=exif.tobytes())
    rec = probe_stage.probe_file(path, POLICY)
    assert rec["status"] == "valid" and (rec["streams"][0]["width"], rec["streams"][0]["height"]) == (200, 400)
    run_stage("transcode", path, tmp_path / "out")
    pkg = json.loads((tmp_path / "out/upright.heic/package.json").read_text())
    assert (pkg["images"]["width"], pkg["images"]["height"]) == (200, 400)
    assert (pkg["images"]["small"]["width"], pkg["images"]["small"]["height"]) == (160, 320)

"""The S3 gateway through the minio client (a second, independent SigV4 implementation)."""
from __future__ import annotations

import hashlib
import io
import os
import urllib.request

import pytest
from minio import Minio
from minio.commonconfig import CopySource
from minio.deleteobjects import DeleteObject
from minio.error import S3Error as MinioError

from tests.fixtures.s3 import ACCESS, OUT_FILES, PAGED, SECRET

pytestmark = pytest.mark.media


@pytest.fixture(scope="module")
def mc(gateway):
    return Minio(gateway[0].url.removeprefix("http://"), access_key=ACCESS, secret_key=SECRET,
                 secure=False, region="us-east-1")


def test_list_buckets(mc):
    names = {b.name for b in mc.list_buckets()}
    assert {"master.media.default", "master.transcode.default", "dev.transcode.default",
            "master.clips.video"} <= names


def test_bucket_exists(mc):
    assert mc.bucket_exists("master.media")
    assert not mc.bucket_exists("master.nosuch")


@pytest.mark.parametrize("prefix, recursive, expected", [
    pytest.param("", False, sorted({k.split("/")[0] + ("/" if "/" in k else "") for k in OUT_FILES}), id="top"),
    pytest.param("clip.mp4/", False, ["clip.mp4/dash/", "clip.mp4/hls/", "clip.mp4/labels.json",
                                      "clip.mp4/poster.jpg", "clip.mp4/seg-1.m4s", "clip.mp4/storyboard.vtt"],
                 id="asset"),
    pytest.param("clip.mp4/", True, sorted(k for k in OUT_FILES if k.startswith("clip.mp4/")), id="recursive"),
])
def test_list_objects(mc, prefix, recursive, expected):
    got = [o.object_name for o in mc.list_objects("master.transcode", prefix=prefix, recursive=recursive)]
    assert sorted(got) == expected


@pytest.mark.parametrize("use_v1", [False, True], ids=["v2", "v1"])
def test_list_pages_over_1500_keys(mc, use_v1):
    got = [o.object_name for o in mc.list_objects("many", recursive=True, use_api_v1=use_v1)]
    assert got == sorted(f"d{i % 7}/f{i:05d}.bin" for i in range(PAGED))


def test_put_get_stat_range(mc):
    data = os.urandom(70_000)
    mc.put_object("media", "minio/one.bin", io.BytesIO(data), len(data))
    st = mc.stat_object("media", "minio/one.bin")
    assert st.size == len(data) and st.etag == hashlib.md5(data).hexdigest()
    resp = mc.get_object("media", "minio/one.bin", offset=1000, length=5000)
    try:
        assert resp.read() == data[1000:6000]
    finally:
        resp.close()
        resp.release_conn()


def test_multipart_with_unknown_length(mc, gateway, tmp_path, monkeypatch):
    data = os.urandom(11 * 1024 * 1024)
    uploads = gateway[0].gateway.uploads
    created = []
    monkeypatch.setattr(uploads, "create", lambda *a, _create=uploads.create: created.append(a[:2]) or _create(*a))
    # length -1: minio must stream in parts of part_size (multipart upload)
    mc.put_object("media", "minio/big.bin", io.BytesIO(data), -1, part_size=5 * 1024 * 1024)
    assert created == [("master.media.default", "minio/big.bin")]
    dst = tmp_path / "big.bin"
    mc.fget_object("media", "minio/big.bin", str(dst))
    assert dst.read_bytes() == data


def test_copy_and_remove(mc):
    mc.copy_object("media", "minio/copy.json", CopySource("master.transcode", "top.json"))
    assert mc.get_object("media", "minio/copy.json").read() == b"{}"
    mc.remove_object("media", "minio/copy.json")
    with pytest.raises(MinioError) as e:
        mc.stat_object("media", "minio/copy.json")
    assert e.value.code in ("NoSuchKey", "ResponseCode404")  # minio maps a body-less HEAD 404 itself


def test_remove_objects(mc):
    for k in ("minio/r1", "minio/r2"):
        mc.put_object("media", k, io.BytesIO(b"r"), 1)
    errors = list(mc.remove_objects("media", [DeleteObject("minio/r1"), DeleteObject("minio/r2")]))
    assert errors == []
    assert [o.object_name for o in mc.list_objects("media", prefix="minio/r")] == []


def test_read_only_bucket_refuses_put(mc):
    with pytest.raises(MinioError) as e:
        mc.put_object("master.transcode", "x", io.BytesIO(b"x"), 1)
    assert e.value.code == "WriteToOutputBranch"


def test_wrong_secret(gateway):
    bad = Minio(gateway[0].url.removeprefix("http://"), access_key=ACCESS, secret_key="wrong",
                secure=False, region="us-east-1")
    with pytest.raises(MinioError) as e:
        bad.list_buckets()
    assert e.value.code == "SignatureDoesNotMatch"


def test_presigned_get(mc):
    from datetime import timedelta
    url = mc.presigned_get_object("master.transcode", "clip.mp4/hls/master.m3u8", expires=timedelta(minutes=5))
    with urllib.request.urlopen(url) as r:
        assert r.read() == OUT_FILES["clip.mp4/hls/master.m3u8"]
        assert r.headers["Content-Type"] == "application/vnd.apple.mpegurl"

"""The S3 gateway through boto3: real HTTP on 127.0.0.1, a MemoryBackend behind it."""
from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta, timezone

import pytest
from botocore import UNSIGNED as BOTO_UNSIGNED
from botocore.exceptions import ClientError

from pipelines.s3 import Keys, serve
from tests.fixtures.s3 import ACCESS, OUT_FILES, PAGED, SECRET, boto_client, store_backend
from pipelines.s3.keys import load_keys

pytestmark = pytest.mark.media

@pytest.fixture(scope="module")
def s3(gateway):
    return boto_client(gateway[0].url)


@pytest.fixture(scope="module")
def store_gateway(tmp_path_factory):
    """The same "many" repo (PAGED keys) in the engine's store, behind StoreBackend."""
    import io

    d = tmp_path_factory.mktemp("paged")
    e, b = store_backend(d / "home", inputs=("many",))
    e.put_files("many", "master", [(f"/d{i % 7}/f{i:05d}.bin", io.BytesIO(str(i).encode())) for i in range(PAGED)])
    server = serve(b, "127.0.0.1", 0, Keys(ACCESS, SECRET), parts_dir=d / "parts")
    yield server
    server.stop()
    e.close()


@pytest.fixture(params=["memory", "store"])
def paged(request, s3):
    """A client for a gateway whose bucket "many" holds PAGED keys, over each backend."""
    if request.param == "memory":
        return s3
    return boto_client(request.getfixturevalue("store_gateway").url)


def code_of(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


# --- buckets ------------------------------------------------------------------------

def test_list_buckets_names_every_branch_in_full(s3, gateway):
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    expected = sorted(f"{br}.{r.repo}.{r.project}" for r in gateway[1].list_repos() for br in r.branches)
    assert names == expected
    assert "dev.transcode.default" in names and "master.clips.video" in names


@pytest.mark.parametrize("bucket", ["media", "master.media", "master.media.default", "master.clips.video"])
def test_head_bucket_accepts_pachd_name_forms(s3, bucket):
    assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize("bucket, code", [
    pytest.param("nosuch", "NoSuchBucket", id="unknown-repo"),
    pytest.param("nobranch.media", "NoSuchBucket", id="unknown-branch"),
    pytest.param("master.media.noproject", "NoSuchBucket", id="unknown-project"),
    pytest.param("a.b.c.d", "InvalidBucketName", id="four-parts"),
])
def test_bad_buckets(s3, bucket, code):
    with pytest.raises(ClientError) as e:
        s3.list_objects(Bucket=bucket)
    assert code_of(e) == code


def test_bucket_location(s3):
    assert s3.get_bucket_location(Bucket="media")["LocationConstraint"] == "us-east-1"  # the one region


# --- listing ------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("prefix, delimiter", [
    pytest.param("", "", id="all"),
    pytest.param("", "/", id="top-level"),
    pytest.param("clip.mp4/", "/", id="one-asset"),
    pytest.param("clip.mp4/h", "/", id="partial-prefix"),
    pytest.param("clip.mp4/", "", id="recursive-prefix"),
])
def test_list_prefix_delimiter(s3, version, prefix, delimiter):
    kw = {"Bucket": "master.transcode", "Prefix": prefix}
    if delimiter:
        kw["Delimiter"] = delimiter
    r = s3.list_objects_v2(**kw) if version == "v2" else s3.list_objects(**kw)
    keys = [o["Key"] for o in r.get("Contents", [])]
    prefixes = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
    want_keys, want_prefixes = [], set()
    for k in sorted(OUT_FILES):
        if not k.startswith(prefix):
            continue
        rest = k[len(prefix):]
        if delimiter and delimiter in rest:
            want_prefixes.add(prefix + rest.split(delimiter)[0] + delimiter)
        else:
            want_keys.append(k)
    assert keys == want_keys
    assert prefixes == sorted(want_prefixes)
    for o in r.get("Contents", []):
        assert o["ETag"] == '"%s"' % hashlib.md5(OUT_FILES[o["Key"]]).hexdigest()
        assert o["Size"] == len(OUT_FILES[o["Key"]])


@pytest.mark.parametrize("operation", ["list_objects", "list_objects_v2"])
@pytest.mark.parametrize("delimiter, page_size", [
    pytest.param("", 1000, id="flat-default"),
    pytest.param("", 333, id="flat-333"),
    pytest.param("/", 2, id="prefixes-2"),
])
def test_paginator_gets_every_key_exactly_once(paged, operation, delimiter, page_size):
    pages = paged.get_paginator(operation).paginate(
        Bucket="many", Delimiter=delimiter, PaginationConfig={"PageSize": page_size})
    keys, prefixes, n_pages = [], [], 0
    for page in pages:
        n_pages += 1
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    if delimiter:
        assert keys == [] and prefixes == [f"d{i}/" for i in range(7)]
        assert n_pages == 4  # 7 prefixes, 2 per page
    else:
        assert keys == sorted(f"d{i % 7}/f{i:05d}.bin" for i in range(PAGED))
        assert n_pages == -(-PAGED // page_size)


def test_v2_start_after_and_max_keys(paged):
    s3 = paged
    r = s3.list_objects_v2(Bucket="many", StartAfter="d3/f00700.bin", MaxKeys=3, Prefix="d3/")
    assert [o["Key"] for o in r["Contents"]] == ["d3/f00703.bin", "d3/f00710.bin", "d3/f00717.bin"]
    assert r["IsTruncated"] and r["KeyCount"] == 3
    r2 = s3.list_objects_v2(Bucket="many", ContinuationToken=r["NextContinuationToken"], MaxKeys=1, Prefix="d3/")
    assert [o["Key"] for o in r2["Contents"]] == ["d3/f00724.bin"]


# --- reading ------------------------------------------------------------------------

SEG = OUT_FILES["clip.mp4/seg-1.m4s"]


@pytest.mark.parametrize("header, lo, hi", [
    pytest.param("bytes=0-0", 0, 1, id="first-byte"),
    pytest.param("bytes=100-199", 100, 200, id="middle"),
    pytest.param("bytes=10000-", 10000, len(SEG), id="open-end"),
    pytest.param("bytes=-17", len(SEG) - 17, len(SEG), id="suffix"),
    pytest.param(f"bytes=10230-{10 ** 9}", 10230, len(SEG), id="past-end-clamped"),
])
def test_get_range(s3, header, lo, hi):
    r = s3.get_object(Bucket="master.transcode", Key="clip.mp4/seg-1.m4s", Range=header)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert r["Body"].read() == SEG[lo:hi]
    assert r["ContentRange"] == f"bytes {lo}-{hi - 1}/{len(SEG)}"
    assert r["ContentLength"] == hi - lo


def test_get_unsatisfiable_range_is_416(s3):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="master.transcode", Key="clip.mp4/seg-1.m4s", Range=f"bytes={len(SEG)}-")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    assert code_of(e) == "InvalidRange"


@pytest.mark.parametrize("key, ctype", [
    ("clip.mp4/hls/master.m3u8", "application/vnd.apple.mpegurl"),
    ("clip.mp4/dash/manifest.mpd", "application/dash+xml"),
    ("clip.mp4/seg-1.m4s", "video/iso.segment"),
    ("clip.mp4/poster.jpg", "image/jpeg"),
    ("clip.mp4/storyboard.vtt", "text/vtt"),
    ("clip.mp4/labels.json", "application/json"),
])
def test_head_object(s3, gateway, key, ctype):
    r = s3.head_object(Bucket="transcode", Key=key)
    ref = gateway[1].resolve("default", "transcode", "master", None)
    assert r["ContentType"] == ctype
    assert r["ContentLength"] == len(OUT_FILES[key])
    assert r["ETag"] == '"%s"' % hashlib.md5(OUT_FILES[key]).hexdigest()
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-pachmedia-sha256"] == hashlib.sha256(OUT_FILES[key]).hexdigest()
    assert r["LastModified"] == ref.finished.replace(microsecond=0)
    assert r["VersionId"] == ref.id


def test_missing_key(s3):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="transcode", Key="clip.mp4/nope")
    assert code_of(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket="transcode", Key="clip.mp4")  # a "directory" is not an object
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_version_id_reads_an_older_commit(s3):
    first = s3.put_object(Bucket="media", Key="versioned.txt", Body=b"one")["VersionId"]
    assert s3.head_object(Bucket="media", Key="versioned.txt")["VersionId"] == first
    second = s3.put_object(Bucket="media", Key="versioned.txt", Body=b"two")["VersionId"]
    assert second != first
    assert s3.get_object(Bucket="media", Key="versioned.txt")["Body"].read() == b"two"
    assert s3.get_object(Bucket="media", Key="versioned.txt", VersionId=first)["Body"].read() == b"one"
    assert s3.get_object(Bucket=f"{first}.master.media", Key="versioned.txt")["Body"].read() == b"one"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="media", Key="versioned.txt", VersionId="0" * 32)
    assert code_of(e) == "NoSuchVersion"


# --- writing ------------------------------------------------------------------------

def test_put_small_and_get_back(s3):
    r = s3.put_object(Bucket="master.media", Key="small.mp4", Body=b"tiny body")
    assert r["ETag"] == '"%s"' % hashlib.md5(b"tiny body").hexdigest()
    assert s3.get_object(Bucket="media", Key="small.mp4")["Body"].read() == b"tiny body"


def test_upload_file_over_8mb_goes_multipart(s3, gateway, tmp_path):
    data = os.urandom(9 * 1024 * 1024 + 123)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    seen = []
    s3.meta.events.register("before-call.s3.CompleteMultipartUpload", lambda **kw: seen.append(1))
    try:
        s3.upload_file(str(src), "media", "big.bin")
    finally:
        s3.meta.events.unregister("before-call.s3.CompleteMultipartUpload")
    assert seen, "boto3 did not use multipart"
    dst = tmp_path / "back.bin"
    s3.download_file("media", "big.bin", str(dst))
    assert dst.read_bytes() == data
    etag = s3.head_object(Bucket="media", Key="big.bin")["ETag"].strip('"')
    part = 8 << 20
    md5s = [hashlib.md5(data[i:i + part]).digest() for i in range(0, len(data), part)]  # boto3's 8 MB parts
    assert etag == f"{hashlib.md5(b''.join(md5s)).hexdigest()}-{len(md5s)}"  # S3's multipart ETag
    assert list(gateway[0].gateway.uploads.root.iterdir()) == []  # parts removed after Complete


def test_multipart_list_parts_and_abort(s3, gateway):
    up = s3.create_multipart_upload(Bucket="media", Key="aborted.bin")["UploadId"]
    s3.upload_part(Bucket="media", Key="aborted.bin", UploadId=up, PartNumber=1, Body=b"x" * 1000)
    parts = s3.list_parts(Bucket="media", Key="aborted.bin", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 1000)]
    assert parts[0]["ETag"] == '"%s"' % hashlib.md5(b"x" * 1000).hexdigest()
    s3.abort_multipart_upload(Bucket="media", Key="aborted.bin", UploadId=up)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket="media", Key="aborted.bin", UploadId=up)
    assert code_of(e) == "NoSuchUpload"
    with pytest.raises(ClientError):
        s3.head_object(Bucket="media", Key="aborted.bin")


def test_multipart_small_middle_part_is_refused(s3):
    up = s3.create_multipart_upload(Bucket="media", Key="small-parts.bin")["UploadId"]
    etags = [s3.upload_part(Bucket="media", Key="small-parts.bin", UploadId=up, PartNumber=n,
                            Body=b"y" * 10)["ETag"] for n in (1, 2)]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket="media", Key="small-parts.bin", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": t} for n, t in zip((1, 2), etags)]})
    assert code_of(e) == "EntityTooSmall"


def test_delete_and_delete_objects(s3):
    for k in ("del/a", "del/b", "del/c"):
        s3.put_object(Bucket="media", Key=k, Body=k.encode())
    s3.delete_object(Bucket="media", Key="del/a")
    r = s3.delete_objects(Bucket="media", Delete={"Objects": [{"Key": "del/b"}, {"Key": "del/missing"},
                                                              {"Key": "del/../x"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["del/b", "del/missing"]
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("del/../x", "InvalidArgument")]
    assert [o["Key"] for o in s3.list_objects(Bucket="media", Prefix="del/")["Contents"]] == ["del/c"]


def test_copy_object_from_output_to_input(s3):
    s3.copy_object(Bucket="media", Key="copied.m3u8",
                   CopySource={"Bucket": "master.transcode", "Key": "clip.mp4/hls/master.m3u8"})
    r = s3.get_object(Bucket="media", Key="copied.m3u8")
    assert r["Body"].read() == OUT_FILES["clip.mp4/hls/master.m3u8"]
    assert r["ContentType"] == "application/vnd.apple.mpegurl"


@pytest.mark.parametrize("write", [
    pytest.param(lambda s3: s3.put_object(Bucket="transcode", Key="x", Body=b"x"), id="put"),
    pytest.param(lambda s3: s3.delete_object(Bucket="dev.transcode", Key="top.json"), id="delete"),
    pytest.param(lambda s3: s3.delete_objects(Bucket="transcode", Delete={"Objects": [{"Key": "top.json"}]}),
                 id="delete-objects"),
    pytest.param(lambda s3: s3.copy_object(Bucket="transcode", Key="y", CopySource="transcode/top.json"), id="copy"),
    pytest.param(lambda s3: s3.create_multipart_upload(Bucket="transcode", Key="z"), id="multipart"),
])
def test_read_only_repo_refuses_writes(s3, gateway, write):
    before = gateway[1].resolve("default", "transcode", "master", None).id
    with pytest.raises(ClientError) as e:
        write(s3)
    assert code_of(e) == "WriteToOutputBranch"
    assert gateway[1].resolve("default", "transcode", "master", None).id == before


@pytest.mark.parametrize("key, why", [
    pytest.param("a/../b", "'.' and '..'", id="dotdot"),
    pytest.param("a/./b", "'.' and '..'", id="dot"),
    pytest.param("bad\nname", "control character", id="newline"),
    pytest.param("x" * 256, "255 bytes", id="segment-too-long"),
    pytest.param("folder/", "must name a file", id="folder-marker"),
])
def test_unsafe_keys_are_invalid_argument(s3, key, why):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="media", Key=key, Body=b"x")
    assert code_of(e) == "InvalidArgument"
    assert why in e.value.response["Error"]["Message"]


def test_write_to_pinned_commit_is_refused(s3, gateway):
    head = gateway[1].resolve("default", "media", "master", None).id
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=f"{head}.master.media", Key="x", Body=b"x")
    assert code_of(e) == "InvalidRequest"


# --- authentication -----------------------------------------------------------------

def test_wrong_secret_is_403(gateway):
    bad = boto_client(gateway[0].url, secret="not-the-secret")
    with pytest.raises(ClientError) as e:
        bad.list_buckets()
    assert code_of(e) == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unsigned_client_is_403_except_anonymous_bucket(gateway):
    anon = boto_client(gateway[0].url, signature_version=BOTO_UNSIGNED)
    for call in (lambda: anon.list_buckets(), lambda: anon.list_objects(Bucket="media"),
                 lambda: anon.get_object(Bucket="dev.transcode", Key="top.json")):
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) == "AccessDenied"
    assert anon.get_object(Bucket="master.transcode.default", Key="top.json")["Body"].read() == b"{}"
    assert len(anon.list_objects_v2(Bucket="transcode")["Contents"]) == len(OUT_FILES)
    with pytest.raises(ClientError) as e:
        anon.put_object(Bucket="transcode", Key="x", Body=b"x")  # anonymous is read-only
    assert code_of(e) == "AccessDenied"


def test_presigned_url(s3, gateway):
    import urllib.request
    s3.put_object(Bucket="media", Key="to-share.mp4", Body=b"shared body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "media", "Key": "to-share.mp4"}, ExpiresIn=60)
    assert urllib.request.urlopen(url).read() == b"shared body"
    tampered = url.replace("to-share.mp4", "versioned.txt")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered)
    assert e.value.code == 403 and b"SignatureDoesNotMatch" in e.value.read()


def test_presigned_put(s3):
    import urllib.request
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "media", "Key": "presigned.mp4"}, ExpiresIn=60)
    urllib.request.urlopen(urllib.request.Request(url, data=b"uploaded by a browser", method="PUT")).read()
    assert s3.get_object(Bucket="media", Key="presigned.mp4")["Body"].read() == b"uploaded by a browser"


def test_keys_env_then_generated_file(tmp_path):
    env = {"PACHMEDIA_S3_ACCESS_KEY": "ak", "PACHMEDIA_S3_SECRET_KEY": "sk"}
    assert load_keys(tmp_path, env) == Keys("ak", "sk")
    assert not (tmp_path / "s3-keys.json").exists()
    first = load_keys(tmp_path / "home", {})
    assert (tmp_path / "home" / "s3-keys.json").stat().st_mode & 0o777 == 0o600
    assert load_keys(tmp_path / "home", {}) == first
    assert first.access_key and len(first.secret_key) >= 30
    with pytest.raises(ValueError, match="both"):
        load_keys(tmp_path, {"PACHMEDIA_S3_ACCESS_KEY": "ak"})


def test_clock_skew_is_refused(gateway, monkeypatch):
    import botocore.auth
    skewed = datetime.now(timezone.utc) - timedelta(hours=1)

    class _Clock(datetime):
        @classmethod
        def utcnow(cls):
            return skewed.replace(tzinfo=None)

        @classmethod
        def now(cls, tz=None):
            return skewed if tz else skewed.replace(tzinfo=None)

    monkeypatch.setattr(botocore.auth.datetime, "datetime", _Clock)
    with pytest.raises(ClientError) as e:
        boto_client(gateway[0].url).list_buckets()
    assert code_of(e) == "RequestTimeTooSkewed"

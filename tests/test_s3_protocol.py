"""Pure pieces of the gateway: SigV4 against AWS's published examples, aws-chunked bodies,
Range parsing, ListObjects paging, request XML, content types."""
from __future__ import annotations

import base64
import hashlib
import io
import random
import zlib
from datetime import datetime, timezone

import pytest

from pipelines.s3 import errors
from pipelines.s3.auth import verify
from pipelines.s3.backend import ObjectInfo
from pipelines.s3.headers import content_type, parse_range
from pipelines.s3.keys import Keys
from pipelines.s3.listing import common_prefix, decode_token, encode_token, list_page
from pipelines.s3.payload import spool_body
from pipelines.s3.xml import parse_complete, parse_delete

pytestmark = pytest.mark.unit

# AWS's worked examples (S3 API reference, "Signature Calculations ... (AWS Signature Version 4)").
AWS_KEYS = Keys("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
AWS_NOW = datetime(2013, 5, 24, 0, 0, 30, tzinfo=timezone.utc)
AWS_CRED = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
EMPTY = hashlib.sha256(b"").hexdigest()


def aws_get_headers(signature: str) -> dict[str, str]:
    return {
        "host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9", "x-amz-content-sha256": EMPTY,
        "x-amz-date": "20130524T000000Z",
        "authorization": f"AWS4-HMAC-SHA256 Credential={AWS_CRED},SignedHeaders=host;range;x-amz-content-sha256;"
                         f"x-amz-date,Signature={signature}",
    }


def test_sigv4_header_aws_example():
    signed = verify("GET", "/test.txt", "", aws_get_headers(
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"), AWS_KEYS, AWS_NOW)
    assert signed.access_key == AWS_KEYS.access_key


@pytest.mark.parametrize("mutate, code", [
    pytest.param(lambda h: h.update(range="bytes=0-10"), "SignatureDoesNotMatch", id="signed-header-changed"),
    pytest.param(lambda h: h.pop("authorization"), "AccessDenied", id="no-signature"),
    pytest.param(lambda h: h.update(authorization=h["authorization"].replace("AKIA", "XKIA")),
                 "InvalidAccessKeyId", id="unknown-access-key"),
    pytest.param(lambda h: h.update(authorization="AWS AKIAIOSFODNN7EXAMPLE:abc", date="Fri, 24 May 2013 00:00:00 GMT"),
                 "SignatureDoesNotMatch", id="sigv2-wrong-signature"),
    pytest.param(lambda h: h.update(authorization="Bearer abc"), "InvalidArgument", id="other-scheme"),
    pytest.param(lambda h: h.update({"x-amz-copy-source": "/media/secret"}), "AccessDenied", id="unsigned-x-amz"),
    pytest.param(lambda h: h.update({"x-amz-date": "20130525T000000Z"}), "RequestTimeTooSkewed", id="skew"),
])
def test_sigv4_header_rejections(mutate, code):
    headers = aws_get_headers("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    mutate(headers)
    with pytest.raises(errors.S3Error) as e:
        verify("GET", "/test.txt", "", headers, AWS_KEYS, AWS_NOW)
    assert e.value.code == code


PRESIGNED_QUERY = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1"
                   "%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                   "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")


@pytest.mark.parametrize("now, ok", [
    pytest.param(AWS_NOW, True, id="valid"),
    pytest.param(datetime(2013, 5, 25, 0, 0, 1, tzinfo=timezone.utc), False, id="expired"),
])
def test_sigv4_presigned_aws_example(now, ok):
    host = {"host": "examplebucket.s3.amazonaws.com"}
    if ok:
        verify("GET", "/test.txt", PRESIGNED_QUERY, host, AWS_KEYS, now)
    else:
        with pytest.raises(errors.S3Error, match="expired"):
            verify("GET", "/test.txt", PRESIGNED_QUERY, host, AWS_KEYS, now)


# The chunked-upload example: 66560 bytes of 'a' in chunks of 64 KiB, 1 KiB and 0.
CHUNK_SIGS = ["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
              "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
              "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"]


def chunked_request(sigs=CHUNK_SIGS, sizes=(65536, 1024, 0), fill=b"a"):
    body = b"".join(b"%x;chunk-signature=%s\r\n" % (n, s.encode()) + fill * n + b"\r\n" for n, s in zip(sizes, sigs))
    headers = {
        "host": "s3.amazonaws.com", "content-encoding": "aws-chunked", "content-length": str(len(body)),
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "x-amz-date": "20130524T000000Z",
        "x-amz-decoded-content-length": "66560", "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "authorization": f"AWS4-HMAC-SHA256 Credential={AWS_CRED},SignedHeaders=content-encoding;content-length;"
                         "host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"
                         "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    }
    return headers, body


def test_aws_chunked_signed_example_decodes():
    headers, body = chunked_request()
    assert len(body) == 66824  # the example's Content-Length
    signed = verify("PUT", "/examplebucket/chunkObject.txt", "", headers, AWS_KEYS, AWS_NOW)
    out = io.BytesIO()
    size, _, sha = spool_body(io.BytesIO(body), headers, signed, out)
    assert size == 66560 and out.getvalue() == b"a" * 66560
    assert sha == hashlib.sha256(b"a" * 66560).hexdigest()


@pytest.mark.parametrize("sigs, fill, code", [
    pytest.param([CHUNK_SIGS[0], CHUNK_SIGS[0], CHUNK_SIGS[2]], b"a", "SignatureDoesNotMatch", id="bad-chunk-sig"),
    pytest.param(CHUNK_SIGS, b"b", "SignatureDoesNotMatch", id="tampered-data"),
])
def test_aws_chunked_rejections(sigs, fill, code):
    headers, body = chunked_request(sigs, fill=fill)
    signed = verify("PUT", "/examplebucket/chunkObject.txt", "", headers, AWS_KEYS, AWS_NOW)
    with pytest.raises(errors.S3Error) as e:
        spool_body(io.BytesIO(body), headers, signed, io.BytesIO())
    assert e.value.code == code


def test_aws_chunked_truncated_body_is_refused():
    headers, body = chunked_request()
    signed = verify("PUT", "/examplebucket/chunkObject.txt", "", headers, AWS_KEYS, AWS_NOW)
    cut = body[: 65536 + 200]
    with pytest.raises(errors.S3Error) as e:
        spool_body(io.BytesIO(cut), headers, signed, io.BytesIO())
    assert e.value.code == "IncompleteBody"


def test_unsigned_trailer_body_with_crc32():
    data = b"hello trailer" * 1000
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    for claimed, ok in ((crc, True), ("AAAAAA==", False)):
        body = b"%x\r\n" % len(data) + data + b"\r\n0\r\nx-amz-checksum-crc32:" + claimed.encode() + b"\r\n\r\n"
        headers = {"content-length": str(len(body)), "content-encoding": "aws-chunked",
                   "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-decoded-content-length": str(len(data))}
        out = io.BytesIO()
        if ok:
            assert spool_body(io.BytesIO(body), headers, None, out)[0] == len(data)
            assert out.getvalue() == data
        else:
            with pytest.raises(errors.S3Error, match="BadDigest"):
                spool_body(io.BytesIO(body), headers, None, out)


def test_signed_payload_hash_must_match_body():
    from pipelines.s3.auth import Signed
    signed = Signed("ak", hashlib.sha256(b"what was signed").hexdigest(), "", "", "", b"")
    with pytest.raises(errors.S3Error) as e:
        spool_body(io.BytesIO(b"what was sent"), {"content-length": "13"}, signed, io.BytesIO())
    assert e.value.code == "XAmzContentSHA256Mismatch"


@pytest.mark.parametrize("headers, code", [
    pytest.param({"content-md5": base64.b64encode(hashlib.md5(b"other").digest()).decode()}, "BadDigest", id="md5"),
    pytest.param({"content-md5": "not base64!"}, "InvalidDigest", id="md5-garbage"),
    pytest.param({"x-amz-checksum-sha256": base64.b64encode(b"\0" * 32).decode()}, "BadDigest", id="sha256"),
    pytest.param({"content-length": "100"}, "IncompleteBody", id="short-body"),
])
def test_body_claims_are_checked(headers, code):
    body = b"body bytes"
    with pytest.raises(errors.S3Error) as e:
        spool_body(io.BytesIO(body), {"content-length": str(len(body)), **headers}, None, io.BytesIO())
    assert e.value.code == code


# --- Range ---------------------------------------------------------------------------

@pytest.mark.parametrize("header, size, expected", [
    pytest.param(None, 10, None, id="none"),
    pytest.param("bytes=0-4", 10, (0, 4), id="head"),
    pytest.param("bytes=5-", 10, (5, 9), id="open"),
    pytest.param("bytes=-3", 10, (7, 9), id="suffix"),
    pytest.param("bytes=-30", 10, (0, 9), id="suffix-longer-than-object"),
    pytest.param("bytes=8-100", 10, (8, 9), id="clamped"),
    pytest.param("bytes=0-1,4-5", 10, None, id="multi-range-ignored"),
    pytest.param("items=0-1", 10, None, id="other-unit-ignored"),
    pytest.param("bytes=5-2", 10, None, id="inverted-ignored"),
])
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header, size", [("bytes=10-", 10), ("bytes=0-", 0), ("bytes=-0", 10)])
def test_unsatisfiable_range(header, size):
    with pytest.raises(errors.S3Error) as e:
        parse_range(header, size)
    assert e.value.status == 416


# --- listing -------------------------------------------------------------------------

def _objects(keys):
    t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return [ObjectInfo(k, 1, "0" * 64, t) for k in sorted(keys, key=str.encode)]


def _reference(keys, prefix, delimiter):
    out = []
    for k in sorted(keys, key=str.encode):
        if k.startswith(prefix):
            cp = common_prefix(k, prefix, delimiter)
            item = cp or k
            if not out or out[-1] != item:
                out.append(item)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_paging_lists_each_key_and_prefix_once(seed):
    rng = random.Random(seed)
    keys = {"/".join(rng.choice("abé") for _ in range(rng.randint(1, 4))) + str(rng.randint(0, 9))
            for _ in range(200)}
    prefix = rng.choice(["", "a", "a/", "b/é"])
    delimiter = rng.choice(["", "/", "b"])
    max_keys = rng.randint(1, 7)
    listed, marker = [], ""
    for _ in range(1000):
        objs = [o for o in _objects(keys) if o.key.startswith(prefix) and o.key.encode() > marker.encode()]
        page = list_page(objs, prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys)
        assert len(page.contents) + len(page.prefixes) <= max_keys
        listed += sorted([o.key for o in page.contents] + page.prefixes, key=str.encode)
        if not page.truncated:
            break
        marker = decode_token(encode_token(page.last))
    assert listed == _reference(keys, prefix, delimiter)


def test_continuation_token_garbage_is_invalid_argument():
    with pytest.raises(errors.S3Error) as e:
        decode_token("%%%")
    assert e.value.code == "InvalidArgument"


# --- request XML -----------------------------------------------------------------------

def test_parse_delete_with_namespace_and_quiet():
    body = (b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>'
            b'<Object><Key>a &amp; b</Key></Object><Object><Key>c</Key></Object></Delete>')
    assert parse_delete(body) == (["a & b", "c"], True)


@pytest.mark.parametrize("body", [
    pytest.param(b"<Delete><Object><Key>a</Key>", id="truncated"),
    pytest.param(b"<Other/>", id="wrong-root"),
    pytest.param(b"<Delete></Delete>", id="no-objects"),
    pytest.param(b'<!DOCTYPE d [<!ENTITY x "xx">]><Delete><Object><Key>&x;</Key></Object></Delete>', id="dtd"),
])
def test_parse_delete_malformed(body):
    with pytest.raises(errors.S3Error) as e:
        parse_delete(body)
    assert e.value.code == "MalformedXML"


def test_parse_complete():
    body = (b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"abc\"</ETag></Part>"
            b"<Part><PartNumber>2</PartNumber><ETag>def</ETag></Part></CompleteMultipartUpload>")
    assert parse_complete(body) == [(1, "abc"), (2, "def")]


@pytest.mark.parametrize("key, ctype", [
    ("a/master.m3u8", "application/vnd.apple.mpegurl"), ("a/manifest.MPD", "application/dash+xml"),
    ("seg.m4s", "video/iso.segment"), ("v.mp4", "video/mp4"), ("p.jpg", "image/jpeg"), ("l.json", "application/json"),
    ("s.vtt", "text/vtt"), ("x.png", "image/png"), ("x.webp", "image/webp"), ("x.mp3", "audio/mpeg"),
    ("noext", "application/octet-stream"),
])
def test_content_type(key, ctype):
    assert content_type(key) == ctype


T0 = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=timezone.utc)


@pytest.mark.parametrize("headers, expected", [
    pytest.param({}, None, id="unconditional"),
    pytest.param({"if-none-match": '"e1"'}, 304, id="none-match-same"),
    pytest.param({"if-none-match": '"other", "e1"'}, 304, id="none-match-list"),
    pytest.param({"if-none-match": '"other"'}, None, id="none-match-changed"),
    pytest.param({"if-match": '"other"'}, 412, id="match-failed"),
    pytest.param({"if-match": '"e1"', "if-none-match": '"e1"'}, 304, id="match-then-none-match"),
    pytest.param({"if-modified-since": "Fri, 02 Jan 2026 03:04:05 GMT"}, 304, id="not-modified-since"),
    pytest.param({"if-modified-since": "Fri, 02 Jan 2026 03:04:04 GMT"}, None, id="modified-since"),
    pytest.param({"if-unmodified-since": "Fri, 02 Jan 2026 03:04:04 GMT"}, 412, id="modified-after"),
    pytest.param({"if-modified-since": "garbage"}, None, id="bad-date-ignored"),
])
def test_preconditions(headers, expected):
    from pipelines.s3.headers import precondition
    assert precondition(headers, "e1", T0) == expected


def test_abandoned_uploads_are_swept(tmp_path):
    from pipelines.s3.multipart import Uploads
    ups = Uploads(tmp_path)
    up = ups.create("master.media.default", "k")
    ups.put_part(up, 1, lambda f: (f.write(b"abc"), (3, "md5"))[1])
    assert ups.sweep(3600) == 0 and (up.dir / "1").exists()
    assert ups.sweep(0) == 1
    assert not up.dir.exists()
    with pytest.raises(errors.S3Error, match="NoSuchUpload"):
        ups.get(up.id, "master.media.default", "k")

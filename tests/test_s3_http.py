"""The gateway at the HTTP level: error XML, CORS for browser players, anonymous reads,
malformed requests (4xx, never a dead server), keep-alive after errors."""
from __future__ import annotations

import hashlib
import http.client
import re
import socket
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.s3 import OUT_FILES, boto_client, chunked_put, start_gateway

pytestmark = pytest.mark.media


@pytest.fixture
def conn(gateway):
    c = http.client.HTTPConnection(*gateway[0].server_address[:2], timeout=10)
    yield c
    c.close()


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    return r, r.read()


def error_fields(body: bytes) -> dict[str, str]:
    root = ET.fromstring(body)
    assert root.tag == "Error"
    return {c.tag: c.text or "" for c in root}


@pytest.mark.parametrize("method, path, status, code", [
    pytest.param("GET", "/", 403, "AccessDenied", id="list-buckets-unsigned"),
    pytest.param("GET", "/media?list-type=2", 403, "AccessDenied", id="list-unsigned"),
    pytest.param("GET", "/dev.transcode/top.json", 403, "AccessDenied", id="other-branch-not-public"),
    pytest.param("PUT", "/transcode/x", 403, "AccessDenied", id="anonymous-write"),
    pytest.param("GET", "/transcode/nope.json", 404, "NoSuchKey", id="anonymous-missing-key"),
    pytest.param("GET", "/transcode?acl", 403, "AccessDenied", id="anonymous-subresource"),
    pytest.param("GET", "/transcode/k?uploadId=" + "0" * 32, 403, "AccessDenied", id="anonymous-list-parts"),
])
def test_error_xml(conn, method, path, status, code):
    r, body = request(conn, method, path, body=b"x" if method == "PUT" else None)
    assert r.status == status
    assert r.getheader("Content-Type") == "application/xml"
    assert int(r.getheader("Content-Length")) == len(body)
    fields = error_fields(body)
    assert fields["Code"] == code
    assert fields["Message"] and fields["RequestId"] == r.getheader("x-amz-request-id")


@pytest.mark.parametrize("call", [
    pytest.param(lambda s3: s3.put_bucket_acl(Bucket="media", ACL="public-read-write"), id="anonymous-writes"),
    pytest.param(lambda s3: s3.get_object_tagging(Bucket="media", Key="k"), id="object-tagging"),
    pytest.param(lambda s3: s3.put_bucket_versioning(Bucket="media", VersioningConfiguration={"Status": "Suspended"}),
                 id="suspend-versioning"),
])
def test_unknown_operations_are_501(gateway, call):
    with pytest.raises(ClientError) as e:
        call(boto_client(gateway[0].url))
    assert e.value.response["Error"]["Code"] == "NotImplemented"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


PAGE = "http://127.0.0.1:8080"


@pytest.fixture
def player_conn(tmp_path):
    server, backend = start_gateway(tmp=tmp_path, cors_origins=(PAGE,))
    c = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    yield c
    c.close()
    server.stop()


def test_anonymous_bucket_serves_the_playback_page_with_cors(player_conn):
    conn, origin = player_conn, {"Origin": PAGE}
    r, body = request(conn, "OPTIONS", "/transcode/clip.mp4/hls/master.m3u8", headers={
        **origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"})
    assert r.status == 200 and body == b""
    assert r.getheader("Access-Control-Allow-Origin") == PAGE
    assert r.getheader("Access-Control-Allow-Methods") == "GET, HEAD"
    assert r.getheader("Access-Control-Allow-Headers") == "range"
    r, body = request(conn, "GET", "/master.transcode/clip.mp4/seg-1.m4s", headers={**origin, "Range": "bytes=0-99"})
    assert r.status == 206 and body == OUT_FILES["clip.mp4/seg-1.m4s"][:100]
    assert r.getheader("Access-Control-Allow-Origin") == PAGE
    exposed = r.getheader("Access-Control-Expose-Headers")
    assert "Content-Range" in exposed and "ETag" in exposed
    r, body = request(conn, "HEAD", "/transcode/clip.mp4/dash/manifest.mpd", headers=origin)
    assert r.status == 200 and body == b""
    assert int(r.getheader("Content-Length")) == len(OUT_FILES["clip.mp4/dash/manifest.mpd"])
    assert r.getheader("Content-Type") == "application/dash+xml"


@pytest.mark.parametrize("origin, method", [
    pytest.param("http://elsewhere.example", "GET", id="other-origin"),
    pytest.param(PAGE, "PUT", id="page-origin-writing"),
    pytest.param(PAGE, "DELETE", id="page-origin-deleting"),
])
def test_cors_is_only_for_the_page_reading(player_conn, origin, method):
    r, _ = request(player_conn, "OPTIONS", "/media/x", headers={"Origin": origin,
                                                               "Access-Control-Request-Method": method})
    assert r.status == 403 and r.getheader("Access-Control-Allow-Origin") is None
    r, _ = request(player_conn, "GET", "/transcode/top.json", headers={"Origin": origin})
    assert (r.getheader("Access-Control-Allow-Origin") == PAGE) == (origin == PAGE)


def test_no_cors_by_default(conn):
    r, _ = request(conn, "OPTIONS", "/transcode/top.json", headers={"Origin": PAGE,
                                                                   "Access-Control-Request-Method": "GET"})
    assert r.status == 403
    r, body = request(conn, "GET", "/transcode/top.json", headers={"Origin": PAGE})
    assert r.status == 200 and body == b"{}" and r.getheader("Access-Control-Allow-Origin") is None


@pytest.mark.parametrize("host", [b"evil.example:30600", b"127.0.0.1.nip.io", b""])
def test_foreign_host_is_refused(gateway, host):
    reply = _exchange(gateway, b"GET /transcode/top.json HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert _statuses(reply)[:1] == [400] and b"{}" not in reply


def test_keep_alive_survives_errors(conn):
    """Several requests on one connection, some refused with their body unread."""
    r, _ = request(conn, "PUT", "/media/x", body=b"y" * 5000)  # unsigned: 403, body drained
    assert r.status == 403
    r, _ = request(conn, "GET", "/transcode?list-type=2&max-keys=bad")
    assert r.status == 400
    r, body = request(conn, "GET", "/transcode/top.json")
    assert r.status == 200 and body == b"{}"


@pytest.mark.parametrize("raw", [
    pytest.param(b"GET / HTTP/1.1 junk\r\n\r\n", id="bad-request-line"),
    pytest.param(b"GET /transcode/top.json HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n", id="bad-length"),
    pytest.param(b"PUT /media/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                 id="http-chunked"),
    pytest.param(b"GET /transcode/%00%ff HTTP/1.1\r\nHost: x\r\n\r\n", id="nul-in-key"),
    pytest.param(b"GET /bad..bucket..name..x/k HTTP/1.1\r\nHost: x\r\n\r\n", id="bad-bucket"),
    pytest.param(b"GET /transcode?continuation-token=%%%&list-type=2 HTTP/1.1\r\nHost: x\r\n\r\n", id="bad-token"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 garbage\r\n\r\n", id="bad-auth"),
])
def test_malformed_requests_get_4xx_and_server_lives(gateway, raw):
    host, port = gateway[0].server_address[:2]
    raw = raw.replace(b"Host: x\r\n", b"Host: %s:%d\r\n" % (host.encode(), port))  # refused for itself, not the Host
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(raw)
        status_line = s.makefile("rb").readline()
    status = int(status_line.split()[1])
    assert 400 <= status < 500, status_line
    c = http.client.HTTPConnection(host, port, timeout=10)
    r, body = request(c, "GET", "/transcode/top.json")
    c.close()
    assert r.status == 200 and body == b"{}"


def test_player_revalidation_gets_304(conn):
    r, body = request(conn, "GET", "/transcode/clip.mp4/hls/master.m3u8")
    etag = r.getheader("ETag")
    r, body = request(conn, "GET", "/transcode/clip.mp4/hls/master.m3u8", headers={"If-None-Match": etag})
    assert r.status == 304 and body == b"" and r.getheader("ETag") == etag
    r, body = request(conn, "GET", "/transcode/clip.mp4/hls/master.m3u8", headers={"If-Match": '"nope"'})
    assert r.status == 412 and error_fields(body)["Code"] == "PreconditionFailed"
    r, body = request(conn, "GET", "/transcode/top.json")  # the connection is still usable
    assert r.status == 200 and body == b"{}"


# --- bodies other SDKs send: aws-chunked (signed chunks, unsigned with trailer), Expect ------


@pytest.mark.parametrize("signed", [True, False], ids=["signed-chunks", "unsigned-trailer"])
def test_aws_chunked_put_through_http(gateway, conn, signed):
    data = bytes(range(256)) * 700  # 179200 bytes: 3 chunks of 64 KiB and a partial one
    host = "%s:%d" % gateway[0].server_address[:2]
    headers, body = chunked_put(host, "/media/chunked.bin", data, signed=signed)
    r, out = request(conn, "PUT", "/media/chunked.bin", body=body, headers=headers)
    assert r.status == 200, out
    assert r.getheader("ETag") == '"%s"' % hashlib.md5(data).hexdigest()
    ref = gateway[1].resolve("default", "media", "master", None)
    assert gateway[1].open(ref, "chunked.bin").read() == data


def test_aws_chunked_bad_chunk_commits_nothing(gateway, conn):
    host = "%s:%d" % gateway[0].server_address[:2]
    headers, body = chunked_put(host, "/media/tampered.bin", b"z" * 200_000, corrupt_chunk=2)
    before = gateway[1].resolve("default", "media", "master", None).id
    r, out = request(conn, "PUT", "/media/tampered.bin", body=body, headers=headers)
    assert r.status == 403 and error_fields(out)["Code"] == "SignatureDoesNotMatch"
    assert gateway[1].resolve("default", "media", "master", None).id == before


def test_expect_continue_refusal_comes_before_the_body(gateway):
    host, port = gateway[0].server_address[:2]
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"PUT /transcode/x HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: 100000000\r\n"
                  b"Expect: 100-continue\r\n\r\n" % (host.encode(), port))  # unsigned, and the body is never sent
        status_line = s.makefile("rb").readline()
    assert status_line.split()[1] == b"403"


@pytest.mark.parametrize("key", [
    pytest.param("with space.mp4", id="space"),
    pytest.param("plus+sign=eq&amp;.mp4", id="plus-equals-ampersand"),
    pytest.param("q?mark#hash.mp4", id="question-hash"),
    pytest.param("vidéo 日本.mp4", id="unicode"),
    pytest.param("percent%20literal.mp4", id="percent"),
    pytest.param("dir/sub dir/x~y.mp4", id="nested-tilde"),
])
def test_awkward_keys_round_trip(gateway, key):
    from minio import Minio

    from tests.fixtures.s3 import ACCESS, SECRET
    s3 = boto_client(gateway[0].url)
    s3.put_object(Bucket="media", Key=key, Body=key.encode())
    assert s3.get_object(Bucket="media", Key=key)["Body"].read() == key.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="media", Prefix=key[:3])["Contents"]]
    assert key in listed
    listed_v1 = [o["Key"] for o in s3.list_objects(Bucket="media", Prefix=key[:3])["Contents"]]
    assert key in listed_v1
    mc = Minio(gateway[0].url.removeprefix("http://"), access_key=ACCESS, secret_key=SECRET, secure=False,
               region="us-east-1")
    assert mc.get_object("media", key).read() == key.encode()
    s3.copy_object(Bucket="media", Key=key + ".copy", CopySource={"Bucket": "media", "Key": key})
    assert s3.get_object(Bucket="media", Key=key + ".copy")["Body"].read() == key.encode()


def test_expect_continue_state_does_not_leak_into_the_next_request(gateway):
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from tests.fixtures.s3 import ACCESS, SECRET
    put = AWSRequest(method="PUT", url=gateway[0].url + "/media/leak.txt", data=b"hello")
    S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", "us-east-1").add_auth(put)
    head = "".join(f"{k}: {v}\r\n" for k, v in put.headers.items())
    head += "Host: %s:%d\r\n" % gateway[0].server_address[:2]
    with socket.create_connection(gateway[0].server_address[:2], timeout=10) as s:
        replies = s.makefile("rb")
        s.sendall(b"GET /transcode/top.json HTTP/1.1\r\nHost: %s:%d\r\nExpect: 100-continue\r\n\r\n"
                  % (gateway[0].server_address[0].encode(), gateway[0].server_address[1]))
        assert replies.readline().startswith(b"HTTP/1.1 200")
        while replies.readline() != b"\r\n":
            pass
        assert replies.read(2) == b"{}"
        # a body-reading request next: a leftover "expecting" would answer it "100 Continue"
        s.sendall(f"PUT /media/leak.txt HTTP/1.1\r\n{head}Content-Length: 5\r\n\r\nhello".encode())
        assert replies.readline().startswith(b"HTTP/1.1 200")


def test_absolute_form_request_target(gateway):
    host, port = gateway[0].server_address[:2]
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"GET http://%s:%d/transcode/top.json HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n"
                  % (host.encode(), port, host.encode(), port))
        reply = s.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"\r\n\r\n{}")


def _exchange(gateway, raw: bytes) -> bytes:
    """Send raw bytes, then read until the server closes (or 5 s of silence)."""
    host, port = gateway[0].server_address[:2]
    raw = raw.replace(b"Host: x\r\n", b"Host: %s:%d\r\n" % (host.encode(), port))
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        got = b""
        try:
            while chunk := s.recv(65536):
                got += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return got


def _statuses(reply: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", reply)]


def _still_serving(gateway) -> None:
    c = http.client.HTTPConnection(*gateway[0].server_address[:2], timeout=10)
    r, body = request(c, "GET", "/transcode/top.json")
    c.close()
    assert r.status == 200 and body == b"{}"


@pytest.mark.parametrize("raw, allowed", [
    pytest.param(b"GET /transcode/" + b"k" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {414}, id="huge-url"),
    pytest.param(b"GET /transcode/top.json HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 70_000 + b"\r\n\r\n",
                 {431, 400}, id="huge-header"),
    pytest.param(b"GET /transcode/top.json HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200))
                 + b"\r\n", {431, 400}, id="too-many-headers"),
])
def test_huge_requests_are_refused_and_the_server_stays_up(gateway, raw, allowed):
    reply = _exchange(gateway, raw)
    assert _statuses(reply) and _statuses(reply)[0] in allowed, reply[:200]
    assert len(_statuses(reply)) == 1
    _still_serving(gateway)


SMUGGLED = b"GET /transcode/x.json HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("headers", [
    pytest.param(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", id="cl-then-te"),
    pytest.param(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", id="te-then-cl"),
    pytest.param(b"Content-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n", id="te-list"),
    pytest.param(b"Content-Length: 5\r\nTransfer-Encoding:\tchunked\r\n", id="te-tab"),
    pytest.param(b"Content-Length: 5\r\nContent-Length: 0\r\n", id="two-lengths"),
    pytest.param(b"Content-Length: 5, 0\r\n", id="length-list"),
    pytest.param(b"Content-Length: +5\r\n", id="signed-length"),
    pytest.param(b"Content-Length: \xb2\r\n", id="superscript-digit"),
    pytest.param(b"Content-Length: 5\r\nTransfer-Encoding : chunked\r\n", id="te-space-before-colon"),
    pytest.param(b"Transfer-Encoding: chunked\r\n", id="te-only"),
])
def test_smuggled_second_request_is_never_answered(gateway, headers):
    """A body framed two ways (CL and TE, or two lengths) hiding a second request: the
    server answers once (or 400) and closes; the hidden request never gets a response."""
    body = b"0\r\n\r\n" + SMUGGLED
    reply = _exchange(gateway, b"PUT /media/k HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + body)
    statuses = _statuses(reply)
    assert len(statuses) == 1, reply
    assert statuses[0] in (400, 403, 411, 501), reply[:300]
    assert b"x.json" not in reply and b"NoSuchKey" not in reply
    _still_serving(gateway)

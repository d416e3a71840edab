"""Hostile clients against the gateway (issue 15): a body framed to spin the parser, an
unsigned x-amz-* header riding on a signed request, a DTD in DeleteObjects (UTF-16 too),
half-sent requests (a header deadline, no thread each)."""
from __future__ import annotations

import http.client
import socket
import threading
import xml.etree.ElementTree as ET

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from pipelines import httpd
from tests.fixtures.s3 import ACCESS, SECRET, boto_client, chunked_put, start_gateway

pytestmark = pytest.mark.media


def _signed(server, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    """Send a SigV4-signed request with exactly this body; (status, XML code or '', body)."""
    req = AWSRequest(method=method, url=server.url + path, data=body, headers=headers or {})
    S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", "us-east-1").add_auth(req)
    c = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    try:
        c.request(method, path, body=body, headers=dict(req.headers.items()))
        r = c.getresponse()
        out = r.read()
    finally:
        c.close()
    code = ET.fromstring(out).findtext("Code") if out.startswith(b"<?xml") and b"<Error>" in out else ""
    return r.status, code, out


def _head(gateway) -> str:
    return gateway[1].resolve("default", "media", "master", None).id


@pytest.mark.parametrize("size", [b"-1", b"+10", b" 10", b"0x10", b"ffffffffffffffffff"])
def test_a_bad_chunk_size_is_refused_at_once(gateway, size):
    host = "%s:%d" % gateway[0].server_address[:2]
    headers, body = chunked_put(host, "/media/spin.bin", b"z" * 1000, signed=False)
    evil = size + b"\r\n" + b"z" * 10
    evil += b"\r\n" * ((len(body) - len(evil)) // 2) + b"z" * ((len(body) - len(evil)) % 2)
    assert len(evil) == len(body)
    c = http.client.HTTPConnection(*gateway[0].server_address[:2], timeout=30)
    before = _head(gateway)
    c.request("PUT", "/media/spin.bin", body=evil, headers=headers)
    r = c.getresponse()
    assert r.status == 400 and b"chunk size" in r.read()
    assert _head(gateway) == before


def test_an_unsigned_x_amz_header_is_refused(gateway):
    s3 = boto_client(gateway[0].url)
    s3.put_object(Bucket="media", Key="secret.txt", Body=b"not yours")
    s3.meta.events.register("before-send.s3.PutObject",
                            lambda request, **_: request.headers.__setitem__("x-amz-copy-source", "/media/secret.txt"))
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="media", Key="copy.txt", Body=b"mine")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert "x-amz-copy-source" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        boto_client(gateway[0].url).head_object(Bucket="media", Key="copy.txt")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-le"])
def test_delete_objects_refuses_a_dtd_in_any_encoding(gateway, encoding):
    boto_client(gateway[0].url).put_object(Bucket="media", Key="keep.txt", Body=b"x")
    decl = f'<?xml version="1.0" encoding="{encoding.upper()}"?>'
    doc = (decl + '<!DOCTYPE d [<!ENTITY e "keep.txt">]><Delete><Object><Key>&e;</Key></Object></Delete>')
    body = doc.encode(encoding)
    import base64
    import hashlib
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    status, code, _ = _signed(gateway[0], "POST", "/media?delete", body, {"Content-MD5": md5})
    assert (status, code) == (400, "MalformedXML")
    assert boto_client(gateway[0].url).head_object(Bucket="media", Key="keep.txt")["ContentLength"] == 1


def test_half_sent_requests_are_closed_after_the_header_deadline(tmp_path, monkeypatch):
    monkeypatch.setattr(httpd, "HEADER_TIMEOUT", 0.5)
    server, _ = start_gateway(tmp=tmp_path)
    try:
        with socket.create_connection(server.server_address[:2], timeout=20) as s:
            s.sendall(b"GET /transcode/top.json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            assert s.recv(1024) == b""  # closed by the server, not answered
    finally:
        server.stop()


def test_half_sent_requests_take_no_thread(gateway):
    before = threading.active_count()
    socks = [socket.create_connection(gateway[0].server_address[:2], timeout=20) for _ in range(200)]
    try:
        for s in socks:
            s.sendall(b"PUT /media/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n")
        r = boto_client(gateway[0].url).get_object(Bucket="transcode", Key="top.json")
        assert r["Body"].read() == b"{}"  # still serving
        assert threading.active_count() - before < 20  # the pool, never one per connection
    finally:
        for s in socks:
            s.close()

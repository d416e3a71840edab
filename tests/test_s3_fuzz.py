"""Property-based fuzzing of the S3 gateway over real HTTP: whatever arrives (methods,
paths, queries, headers, bodies, broken signatures), the answer is never a 5xx and the
server keeps serving a valid signed request. Over MemoryBackend and over the engine's
StoreBackend."""
from __future__ import annotations

import http.client

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.s3.backend import MemoryBackend
from pipelines.s3.keys import Keys
from pipelines.s3.server import serve
from tests.fixtures.fuzz import DERANDOMIZE
from tests.fixtures.s3 import seed_output, store_backend

pytestmark = pytest.mark.media


OUT = {"a/b.m3u8": b"#EXTM3U\n", "x.json": b"{}"}


@pytest.fixture(scope="module", params=["memory", "store"])
def gw(request, tmp_path_factory):
    e = None
    if request.param == "memory":
        b = MemoryBackend()
        b.create_repo("media")
        b.create_repo("out", writable=False)
        b.commit_files("out", OUT)
    else:
        e, b = store_backend(tmp_path_factory.mktemp("fuzz") / "home")
        seed_output(e, "out", OUT)
    srv = serve(b, "127.0.0.1", 0, Keys("AKFUZZ", "fuzzsecret"), anonymous_buckets=("master.out",),
                parts_dir=tmp_path_factory.mktemp("parts"))
    yield srv
    srv.stop()
    if e:
        e.close()


SEGMENT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
PATH = st.one_of(
    st.builds(lambda b, k: "/" + b + "/" + k, st.sampled_from(["master.out", "master.media", "x.y.z.w.v", "", ".."]),
              st.lists(SEGMENT, max_size=4).map("/".join)),
    st.text(max_size=40).map(lambda t: "/" + t))
QUERY = st.sampled_from(["", "?list-type=2", "?uploads", "?uploadId=zz&partNumber=1", "?delete", "?acl",
                         "?list-type=2&continuation-token=%%%", "?max-keys=-1", "?versionId=nope", "?location"])
HEADER_NAMES = st.sampled_from(["Authorization", "Range", "Content-MD5", "x-amz-content-sha256", "x-amz-date",
                                "Content-Length", "Transfer-Encoding", "Expect", "x-amz-copy-source",
                                "If-None-Match", "Content-Type", "X-Anything"])
HEADER_VALUES = st.one_of(st.sampled_from(["bytes=0-1", "bytes=-5", "bytes=9-2", "AWS4-HMAC-SHA256 Credential=AKFUZZ/x",
                                           "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "100-continue", "chunked", "*"]),
                          st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60))


def quote_path(p: str) -> str:
    from urllib.parse import quote
    return quote(p, safe="/")


@settings(max_examples=150, deadline=None, derandomize=DERANDOMIZE, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "BREW"]),
       path=PATH, query=QUERY, headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4),
       body=st.binary(max_size=256))
def test_no_request_gets_a_5xx(gw, method, path, query, headers, body):
    host, port = gw.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        headers = dict(headers)
        if "Content-Length" in headers or "Transfer-Encoding" in headers:
            headers.pop("Expect", None)
        try:
            conn.request(method, quote_path(path) + query, body=body if method in ("PUT", "POST") else None,
                         headers=headers)
            status = conn.getresponse().status
        except (http.client.HTTPException, ConnectionError, TimeoutError):
            status = None  # the server may close a connection it cannot parse; it must stay up
        assert status is None or status < 500 or status == 501, (method, path, query, headers, status)
    finally:
        conn.close()
    c = boto3.client("s3", endpoint_url=gw.url, aws_access_key_id="AKFUZZ", aws_secret_access_key="fuzzsecret",
                     region_name="us-east-1", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    assert c.get_object(Bucket="master.out", Key="x.json")["Body"].read() == b"{}"

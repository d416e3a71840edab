"""SigV2 as boto2, the v1 CLI's presign and s3cmd send it: signed by botocore's own
HmacV1 signers (a second implementation), checked by ours."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from pipelines.s3 import errors, sigv2
from pipelines.s3.auth import split_query
from pipelines.s3.keys import Keys

pytestmark = pytest.mark.unit
KEYS = Keys("AKV2", "secret-v2")
CREDS = Credentials("AKV2", "secret-v2")


def _parts(req: AWSRequest):
    u = urlsplit(req.url)
    return u.path, split_query(u.query), {k.lower(): v for k, v in req.headers.items()}


def _signed(method="PUT", url="http://h/master.media/a%20b.txt?uploadId=abc&partNumber=2", headers=None):
    req = AWSRequest(method, url, headers=headers or {"Content-Type": "text/plain", "x-amz-meta-k": "v"})
    HmacV1Auth(CREDS).add_auth(req)
    return req


@pytest.mark.parametrize("url, headers", [
    pytest.param("http://h/master.media/a%20b.txt?uploadId=abc&partNumber=2",
                 {"Content-Type": "text/plain", "x-amz-meta-k": "v"}, id="subresources+meta"),
    pytest.param("http://h/", {}, id="list-buckets"),
    pytest.param("http://h/master.media?prefix=x&delimiter=/", {}, id="non-subresource-query-unsigned"),
    pytest.param("http://h/master.media?location", {}, id="bucket-subresource"),
])
def test_header_signatures_from_botocore_verify(url, headers):
    path, query, hdrs = _parts(_signed("GET", url, headers))
    assert sigv2.verify("GET", path, query, hdrs, KEYS) == "AKV2"


@pytest.mark.parametrize("change", [
    pytest.param(lambda h: h.update({"x-amz-copy-source": "/other/key"}), id="an-added-x-amz-header"),
    pytest.param(lambda h: h.update({"content-type": "text/html"}), id="content-type"),
    pytest.param(lambda h: h.update({"x-amz-meta-k": "w"}), id="metadata-value"),
])
def test_any_change_to_signed_fields_is_refused(change):
    path, query, hdrs = _parts(_signed())
    change(hdrs)
    with pytest.raises(errors.S3Error) as e:
        sigv2.verify("PUT", path, query, hdrs, KEYS)
    assert e.value.code == "SignatureDoesNotMatch"


def test_wrong_method_or_resource_is_refused():
    path, query, hdrs = _parts(_signed())
    for method, p in (("GET", path), ("PUT", path + "x")):
        with pytest.raises(errors.S3Error):
            sigv2.verify(method, p, query, hdrs, KEYS)


@pytest.mark.parametrize("date, code", [
    pytest.param("not a date", "AccessDenied", id="garbage"),
    pytest.param("", "AccessDenied", id="empty"),
    pytest.param("Tue, 07 Jul 1870 21:53:04 GMT", "AccessDenied", id="before-epoch"),
    pytest.param("Tue, 07 Jul 2010 21:53:04 GMT", "RequestTimeTooSkewed", id="long-ago"),
])
def test_bad_dates(date, code):
    path, query, hdrs = _parts(_signed())
    hdrs["date"] = date
    with pytest.raises(errors.S3Error) as e:
        sigv2.verify("PUT", path, query, hdrs, KEYS)
    assert e.value.code == code


def test_unknown_access_key():
    req = AWSRequest("GET", "http://h/", headers={})
    HmacV1Auth(Credentials("NOPE", "x")).add_auth(req)
    with pytest.raises(errors.S3Error) as e:
        sigv2.verify("GET", *_parts(req), KEYS)
    assert e.value.code == "InvalidAccessKeyId"


def test_presigned_query_and_its_expiry():
    req = AWSRequest("GET", "http://h/master.media/clip.mp4", headers={})
    HmacV1QueryAuth(CREDS, expires=300).add_auth(req)
    path, query, hdrs = _parts(req)
    assert sigv2.is_v2(dict(query), hdrs)
    assert sigv2.verify("GET", path, query, hdrs, KEYS) == "AKV2"
    later = datetime.now(timezone.utc) + timedelta(seconds=600)
    expired = [(k, str(int(later.timestamp()) - 1200) if k == "Expires" else v) for k, v in query]
    with pytest.raises(errors.S3Error):
        sigv2.verify("GET", path, expired, hdrs, KEYS)

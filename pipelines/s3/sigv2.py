"""AWS Signature Version 2 (`Authorization: AWS key:sig`, or `?AWSAccessKeyId&Expires&Signature`),
which boto2, the v1 `aws s3 presign` and s3cmd's defaults still send.

StringToSign = method, Content-MD5, Content-Type, Date (or Expires), the x-amz-* headers
(lower-case, sorted, `name:value`), then the resource: the path as sent plus the
sub-resources of the query, sorted, values decoded. Every x-amz-* header is in it, so none
can be added unsigned.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from pipelines.s3 import errors
from pipelines.s3.keys import Keys

# Query parameters that are part of the signed resource (the rest are not signed in V2).
SUBRESOURCES = frozenset("""acl cors delete lifecycle location logging notification partNumber policy
requestPayment response-cache-control response-content-disposition response-content-encoding
response-content-language response-content-type response-expires restore tagging torrent uploadId
uploads versionId versioning versions website""".split())
MAX_SKEW = timedelta(minutes=15)
_SPACES = re.compile(r"\s+")


def is_v2(query: dict[str, str], headers: dict[str, str]) -> bool:
    return headers.get("authorization", "").startswith("AWS ") or ("Signature" in query and "AWSAccessKeyId" in query)


def string_to_sign(method: str, raw_path: str, query: list[tuple[str, str]], headers: dict[str, str],
                   date: str) -> str:
    amz = sorted((k, _SPACES.sub(" ", v.strip())) for k, v in headers.items() if k.startswith("x-amz-"))
    sub = sorted((k, v) for k, v in query if k in SUBRESOURCES)
    resource = raw_path + ("?" + "&".join(f"{k}={v}" if v else k for k, v in sub) if sub else "")
    lines = [method, headers.get("content-md5", "").strip(), headers.get("content-type", "").strip(), date]
    return "\n".join(lines + [f"{k}:{v}" for k, v in amz] + [resource])


def signature(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode("utf-8"), hashlib.sha1).digest()).decode()


def verify(method: str, raw_path: str, query: list[tuple[str, str]], headers: dict[str, str], keys: Keys,
           now: datetime | None = None) -> str:
    """Check a V2 signature; return the access key, or raise an S3Error saying what is wrong."""
    now = now or datetime.now(timezone.utc)
    q = dict(query)
    if "Signature" in q:
        access, claimed = q.get("AWSAccessKeyId", ""), q["Signature"]
        try:
            expires = int(q.get("Expires", ""))
        except ValueError:
            raise errors.access_denied("a presigned URL needs Expires (seconds since the epoch)") from None
        if expires < time.time():
            raise errors.expired_presigned()
        candidates = [str(expires)]
    else:
        access, _, claimed = headers["authorization"][4:].strip().rpartition(":")
        if not access or not claimed:
            raise errors.invalid_argument("malformed V2 Authorization: want AWS <access key>:<signature>")
        when = headers["x-amz-date"] if "x-amz-date" in headers else headers.get("date")
        if when is None:
            raise errors.access_denied("AWS authentication requires a valid Date or x-amz-date header")
        _check_date(when, now)
        # with x-amz-date present, AWS signs an empty Date line; some clients sign Date anyway
        candidates = ["", headers.get("date", "")] if "x-amz-date" in headers else [headers.get("date", "")]
    secret = keys.secret_for(access)
    if secret is None:
        raise errors.invalid_access_key_id()
    # a bucket's resource is `/bucket/` (AWS, botocore); some clients sign it as sent, `/bucket`
    paths = [raw_path, raw_path + "/"] if raw_path.count("/") == 1 and raw_path != "/" else [raw_path]
    for date in dict.fromkeys(candidates):
        for path in paths:
            if hmac.compare_digest(signature(secret, string_to_sign(method, path, query, headers, date)), claimed):
                return access
    raise errors.signature_does_not_match()


def _check_date(text: str, now: datetime) -> None:
    try:
        when = parsedate_to_datetime(text)  # RFC 1123, as V2 clients send Date and x-amz-date
    except (TypeError, ValueError):
        try:
            when = datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)  # ISO basic
        except ValueError:
            when = None
    if when is None or when.year < 1970:
        raise errors.access_denied("AWS authentication requires a valid Date or x-amz-date header")
    if when.tzinfo is None:  # "-0000": UTC
        when = when.replace(tzinfo=timezone.utc)
    if abs(now - when) > MAX_SKEW:
        raise errors.request_time_too_skewed()

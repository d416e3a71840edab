"""AWS Signature Version 4, as S3 checks it: the Authorization header or a presigned URL
(Version 2 requests go to `sigv2`). Every x-amz-* header a request carries must be signed.

Pure functions over (method, raw path, query pairs, headers, body hash); the server
hands them what it read. Returns a `Signed` context that the chunked-body decoder
(`chunked.py`) uses to verify per-chunk signatures of STREAMING-AWS4-HMAC-SHA256-PAYLOAD.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from pipelines.s3 import errors, sigv2
from pipelines.s3.keys import Keys

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600
_SPACES = re.compile(r"\s+")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Signed:
    """A verified request: who signed it and what its body hash claims."""
    access_key: str
    payload_hash: str  # hex sha256, UNSIGNED-PAYLOAD or a STREAMING-* marker
    signature: str  # seed signature for chunk signatures
    amz_date: str
    scope: str
    key: bytes  # signing key, for chunk signatures


def uri_encode(text: str, *, keep_slash: bool) -> str:
    return quote(text, safe="-_.~/" if keep_slash else "-_.~")


def split_query(raw_query: str) -> list[tuple[str, str]]:
    """'a=1&b' -> [('a','1'), ('b','')], percent-decoded ('+' stays '+', as AWS signs it)."""
    pairs = []
    for item in raw_query.split("&") if raw_query else ():
        k, _, v = item.partition("=")
        pairs.append((unquote(k), unquote(v)))
    return pairs


def canonical_request(method: str, raw_path: str, query: list[tuple[str, str]], headers: dict[str, str],
                      signed_headers: list[str], payload_hash: str) -> str:
    path = uri_encode(unquote(raw_path), keep_slash=True)
    q = "&".join(f"{uri_encode(k, keep_slash=False)}={uri_encode(v, keep_slash=False)}"
                 for k, v in sorted(query))
    canon_headers = "".join(f"{h}:{_SPACES.sub(' ', headers.get(h, '').strip())}\n" for h in signed_headers)
    return "\n".join([method, path, q, canon_headers, ";".join(signed_headers), payload_hash])


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, service, "aws4_request"):
        k = _hmac(k, part)
    return k


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])


def sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def is_signed(query: dict[str, str], headers: dict[str, str]) -> bool:
    return "authorization" in headers or "X-Amz-Signature" in query or "Signature" in query


def verify(method: str, raw_path: str, raw_query: str, headers: dict[str, str], keys: Keys,
           now: datetime | None = None) -> Signed:
    """Check the request's signature; raise an S3Error (403/400) saying what is wrong.

    `headers` maps lower-case names to values (repeated headers joined with ',').
    """
    now = now or datetime.now(timezone.utc)
    pairs = split_query(raw_query)
    query = dict(pairs)
    if "X-Amz-Signature" in query:
        return _verify_presigned(method, raw_path, pairs, query, headers, keys, now)
    if sigv2.is_v2(query, headers):
        access = sigv2.verify(method, raw_path, pairs, headers, keys, now)
        return Signed(access, UNSIGNED, "", "", "", b"")
    auth = headers.get("authorization")
    if auth is None:
        raise errors.access_denied("Anonymous access is not allowed: sign the request (AWS SigV4 or SigV2)")
    if not auth.startswith(ALGORITHM + " "):
        raise errors.invalid_argument(f"unknown authorization scheme: use {ALGORITHM} (SigV4) or AWS (SigV2)")
    fields = {}
    for part in auth[len(ALGORITHM) + 1:].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    try:
        credential, signed_headers, signature = (
            fields["Credential"], fields["SignedHeaders"].split(";"), fields["Signature"])
    except KeyError as e:
        raise errors.authorization_header_malformed(f"the Authorization header lacks {e.args[0]}") from None
    signed_at = _parse_amz_date(headers.get("x-amz-date") or headers.get("date") or "")
    amz_date = signed_at.strftime("%Y%m%dT%H%M%SZ")  # what the string to sign holds, whatever form was sent
    _check_time(signed_at, now, 0)
    payload_hash = headers.get("x-amz-content-sha256") or ""
    if not (payload_hash in (UNSIGNED, STREAMING_SIGNED, STREAMING_UNSIGNED_TRAILER) or _HEX64.match(payload_hash)):
        raise errors.invalid_argument(
            f"x-amz-content-sha256 {payload_hash!r} is not supported: use a hex sha256, {UNSIGNED}, "
            f"{STREAMING_SIGNED} or {STREAMING_UNSIGNED_TRAILER}")
    canonical = canonical_request(method, raw_path, pairs, headers, signed_headers, payload_hash)
    return _check(credential, amz_date, canonical, signature, signed_headers, keys, payload_hash, headers)


def _verify_presigned(method, raw_path, pairs, query, headers, keys, now) -> Signed:
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        raise errors.authorization_header_malformed(f"X-Amz-Algorithm must be {ALGORITHM}")
    try:
        credential, amz_date = query["X-Amz-Credential"], query["X-Amz-Date"]
        signed_headers = query["X-Amz-SignedHeaders"].split(";")
        expires = int(query["X-Amz-Expires"])
    except (KeyError, ValueError) as e:
        raise errors.access_denied(f"a presigned URL needs X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders and "
                                   f"X-Amz-Expires: missing or bad {e}") from None
    if not 0 < expires <= MAX_PRESIGN_EXPIRES:
        raise errors.authorization_header_malformed(f"X-Amz-Expires must be 1..{MAX_PRESIGN_EXPIRES} seconds")
    _check_time(_parse_amz_date(amz_date), now, expires)
    payload_hash = query.get("X-Amz-Content-Sha256", UNSIGNED)
    unsigned_pairs = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
    canonical = canonical_request(method, raw_path, unsigned_pairs, headers, signed_headers, payload_hash)
    return _check(credential, amz_date, canonical, query["X-Amz-Signature"], signed_headers, keys, payload_hash,
                  headers)


def _check(credential: str, amz_date: str, canonical: str, signature: str, signed_headers: list[str],
           keys: Keys, payload_hash: str, headers: dict[str, str]) -> Signed:
    unsigned = sorted(h for h in headers if h.startswith("x-amz-") and h not in signed_headers)
    if unsigned:  # an unsigned x-amz-copy-source once turned a signed PUT into a copy
        raise errors.unsigned_header(unsigned[0])
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise errors.authorization_header_malformed(f"bad Credential {credential!r}: want AK/date/region/s3/aws4_request")
    access_key, date, region, service, _ = parts
    if "host" not in signed_headers:
        raise errors.access_denied("the signature must cover the Host header")
    if not amz_date.startswith(date):
        raise errors.authorization_header_malformed("the credential date does not match x-amz-date")
    secret = keys.secret_for(access_key)
    if secret is None:
        raise errors.invalid_access_key_id()
    scope = "/".join(parts[1:])
    key = signing_key(secret, date, region, service)
    expected = sign(key, string_to_sign(amz_date, scope, canonical))
    if not hmac.compare_digest(expected, signature):
        raise errors.signature_does_not_match()
    return Signed(access_key, payload_hash, signature, amz_date, scope, key)


def _parse_amz_date(text: str) -> datetime:
    """X-Amz-Date (or, without it, Date): ISO 8601 basic or RFC 1123, as SigV4 allows."""
    try:
        when = datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            when = None
    if when is None or when.year < 1970:
        raise errors.access_denied("missing or malformed X-Amz-Date or Date (YYYYMMDDTHHMMSSZ or RFC 1123)")
    # "-0000" (botocore's formatdate) parses without a zone: it is UTC
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _check_time(signed_at: datetime, now: datetime, expires: int) -> None:
    if expires:
        if now > signed_at + timedelta(seconds=expires):
            raise errors.expired_presigned()
        if signed_at - now > MAX_SKEW:
            raise errors.request_time_too_skewed()
    elif abs(now - signed_at) > MAX_SKEW:
        raise errors.request_time_too_skewed()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()

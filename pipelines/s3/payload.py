"""Request bodies: read exactly Content-Length, decode `aws-chunked`, check every hash.

`spool_body` copies a body into a file while checking what the client claimed
(x-amz-content-sha256, Content-MD5, per-chunk signatures); it raises an S3Error
before anything is committed, which is why writes spool first.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
import zlib
from typing import BinaryIO, Callable, Iterator

from pipelines.s3 import errors
from pipelines.s3.auth import EMPTY_SHA256, STREAMING_SIGNED, STREAMING_UNSIGNED_TRAILER, UNSIGNED, Signed, sign

PIECE = 1 << 20  # bytes per read: bodies stream through memory in pieces this size
MAX_LINE = 4096  # a chunk header or trailer line longer than this is malformed
_CHUNK_SIZE = re.compile(r"[0-9a-fA-F]{1,16}")  # no sign, no spaces, no 0x: `-1` once looped forever


class LimitedReader:
    """At most `length` bytes of `raw`; a short body is IncompleteBody."""

    def __init__(self, raw: BinaryIO, length: int, on_first_read: Callable[[], None] | None = None) -> None:
        self.raw, self.left = raw, length
        self.on_first_read = on_first_read  # e.g. send "100 Continue" only once the body is wanted

    def _started(self) -> None:
        if self.on_first_read:
            self.on_first_read()
            self.on_first_read = None

    def read(self, n: int) -> bytes:
        n = min(n, self.left)
        if n <= 0:
            return b""
        self._started()
        data = self.raw.read(n)
        if not data:
            raise errors.incomplete_body()
        self.left -= len(data)
        return data

    def readline(self, limit: int = MAX_LINE) -> bytes:
        self._started()
        line = self.raw.readline(min(limit, self.left))
        if not line.endswith(b"\n"):
            raise errors.invalid_argument("malformed aws-chunked body: a chunk header line is missing or too long")
        self.left -= len(line)
        return line

    def drain(self) -> None:
        while self.read(PIECE):
            pass


def iter_chunked(body: LimitedReader, signed: Signed | None, trailers: dict[str, str]) -> Iterator[bytes]:
    """Decode aws-chunked framing `<hex>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n ... 0\\r\\n[trailers]\\r\\n`.

    With `signed` (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) every chunk signature is checked,
    each chaining the previous one from the seed signature of the Authorization header.
    """
    previous = signed.signature if signed else ""
    while True:
        header = body.readline().strip().decode("latin-1")
        size_hex, _, ext = header.partition(";")
        if not _CHUNK_SIZE.fullmatch(size_hex):
            raise errors.invalid_argument(f"malformed aws-chunked body: bad chunk size {size_hex[:20]!r}")
        size = int(size_hex, 16)
        if size > body.left:
            raise errors.incomplete_body()  # a chunk larger than what is left of the body
        digest = hashlib.sha256()
        left = size
        while left > 0:
            piece = body.read(min(PIECE, left))
            digest.update(piece)
            left -= len(piece)
            yield piece
        if signed:
            claimed = ext.partition("chunk-signature=")[2]
            text = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", signed.amz_date, signed.scope, previous,
                              EMPTY_SHA256, digest.hexdigest()])
            expected = sign(signed.key, text)
            if not hmac.compare_digest(expected, claimed):
                raise errors.signature_does_not_match("a chunk signature of the aws-chunked body does not match")
            previous = expected
        if size == 0:
            break
        if body.read(2) != b"\r\n":
            raise errors.invalid_argument("malformed aws-chunked body: chunk data not followed by CRLF")
    # trailers (x-amz-checksum-*: value) until an empty line
    while body.left > 0:
        line = body.readline().strip().decode("latin-1")
        if not line:
            break
        name, _, value = line.partition(":")
        trailers[name.strip().lower()] = value.strip()


def spool_body(raw: BinaryIO, headers: dict[str, str], signed: Signed | None, dest: BinaryIO) -> tuple[int, str, str]:
    """Copy the request body into `dest`; return (size, md5 hex, sha256 hex) of the decoded data."""
    if "content-length" not in headers:
        raise errors.missing_content_length()
    try:
        length = int(headers["content-length"])
    except ValueError:
        raise errors.invalid_argument("Content-Length is not a number") from None
    body = LimitedReader(raw, length)
    payload_hash = signed.payload_hash if signed else UNSIGNED
    chunked = payload_hash in (STREAMING_SIGNED, STREAMING_UNSIGNED_TRAILER) or \
        "aws-chunked" in headers.get("content-encoding", "")
    trailers: dict[str, str] = {}
    pieces = iter_chunked(body, signed if payload_hash == STREAMING_SIGNED else None, trailers) if chunked \
        else iter(lambda: body.read(PIECE), b"")
    checksums = _Checksums(headers)
    md5, sha, size = hashlib.md5(), hashlib.sha256(), 0
    for piece in pieces:
        md5.update(piece)
        sha.update(piece)
        checksums.update(piece)
        dest.write(piece)
        size += len(piece)
    body.drain()
    if chunked and "x-amz-decoded-content-length" in headers and str(size) != headers["x-amz-decoded-content-length"]:
        raise errors.incomplete_body()
    if len(payload_hash) == 64 and not hmac.compare_digest(payload_hash, sha.hexdigest()):
        raise errors.x_amz_content_sha256_mismatch()
    check_content_md5(headers.get("content-md5"), md5.digest())
    checksums.check({**headers, **trailers})
    return size, md5.hexdigest(), sha.hexdigest()


class _Checksums:
    """The flexible checksums (x-amz-checksum-*) the stdlib can compute: crc32, sha1, sha256.

    Which ones are computed follows the headers and the declared trailer (x-amz-trailer);
    crc32c and crc64nvme need libraries we do not ship, so they are not verified.
    """

    def __init__(self, headers: dict[str, str]) -> None:
        names = {h for h in headers if h.startswith("x-amz-checksum-")}
        names |= {t.strip().lower() for t in headers.get("x-amz-trailer", "").split(",") if t.strip()}
        self.crc32 = 0 if "x-amz-checksum-crc32" in names else None
        self.digests = {n: hashlib.new(n.rpartition("-")[2]) for n in names
                        if n in ("x-amz-checksum-sha1", "x-amz-checksum-sha256")}

    def update(self, piece: bytes) -> None:
        if self.crc32 is not None:
            self.crc32 = zlib.crc32(piece, self.crc32)
        for d in self.digests.values():
            d.update(piece)

    def check(self, claims: dict[str, str]) -> None:
        computed = {n: d.digest() for n, d in self.digests.items()}
        if self.crc32 is not None:
            computed["x-amz-checksum-crc32"] = self.crc32.to_bytes(4, "big")
        for name, value in computed.items():
            if name in claims and base64.b64encode(value).decode() != claims[name]:
                raise errors.bad_digest()


def check_content_md5(header: str | None, digest: bytes) -> None:
    if header is None:
        return
    try:
        claimed = base64.b64decode(header, validate=True)
    except ValueError:
        raise errors.invalid_digest() from None
    if len(claimed) != 16:
        raise errors.invalid_digest()
    if not hmac.compare_digest(claimed, digest):
        raise errors.bad_digest()


def read_small_body(raw: BinaryIO, headers: dict[str, str], signed: Signed | None, limit: int = 4 << 20) -> bytes:
    """An XML request body (DeleteObjects, CompleteMultipartUpload), capped at `limit` bytes."""
    length = int(headers.get("content-length") or 0)
    if length > limit:
        raise errors.invalid_request(f"request body too large ({length} bytes > {limit})")
    buf = io.BytesIO()
    spool_body(raw, {**headers, "content-length": str(length)}, signed, buf)
    return buf.getvalue()

"""Object metadata: which request headers are kept with a file, and how they come back.

Kept (as S3 does): Content-Type, Cache-Control, Content-Disposition, Content-Encoding
(less `aws-chunked`, which is only the upload's framing), Content-Language, Expires and
every `x-amz-meta-*`. Names are stored canonically (lower-case x-amz-meta-*, Title-Case
standard headers). A multipart upload's part sizes are kept under PARTS (never answered),
so `GET ?partNumber=N` can find part N.
"""
from __future__ import annotations

from pipelines.s3.headers import content_type

STANDARD = {"content-type": "Content-Type", "cache-control": "Cache-Control",
            "content-disposition": "Content-Disposition", "content-encoding": "Content-Encoding",
            "content-language": "Content-Language", "expires": "Expires"}
USER_PREFIX = "x-amz-meta-"
PARTS = "x-pachmedia-part-sizes"
# `response-*` query parameters of a signed GET override these response headers.
OVERRIDES = {"response-content-type": "Content-Type", "response-content-language": "Content-Language",
             "response-expires": "Expires", "response-cache-control": "Cache-Control",
             "response-content-disposition": "Content-Disposition",
             "response-content-encoding": "Content-Encoding"}

Meta = tuple[tuple[str, str], ...]


def from_request(headers: dict[str, str]) -> Meta:
    """The metadata a PUT, CreateMultipartUpload or a REPLACE copy asks to keep."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        if name in STANDARD:
            if name == "content-encoding":
                value = ",".join(v.strip() for v in value.split(",") if v.strip() and v.strip() != "aws-chunked")
                if not value:
                    continue
            kept[STANDARD[name]] = value
        elif name.startswith(USER_PREFIX):
            kept[name] = value
    return tuple(sorted(kept.items()))


def with_parts(meta: Meta, sizes: list[int]) -> Meta:
    return tuple(sorted([*meta, (PARTS, ",".join(map(str, sizes)))]))


def part_sizes(meta: Meta) -> list[int]:
    value = dict(meta).get(PARTS)
    return [int(n) for n in value.split(",")] if value else []


def response_headers(key: str, meta: Meta, query: dict[str, str]) -> dict[str, str]:
    """Headers of a GET/HEAD: the kept metadata, Content-Type by extension when none was
    given, then any `response-*` overrides."""
    out = {k: v for k, v in meta if k != PARTS}
    out.setdefault("Content-Type", content_type(key))
    for param, header in OVERRIDES.items():
        if param in query:
            out[header] = query[param]
    return out

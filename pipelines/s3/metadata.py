"""Object metadata: which request headers are kept with a file, and how they come back.

Kept (as S3 does): Content-Type, Cache-Control, Content-Disposition, Content-Encoding
(less `aws-chunked`, which is only the upload's framing), Content-Language, Expires,
every `x-amz-meta-*` and the storage class (`x-amz-storage-class`, any class S3 names;
STANDARD, the default, is not stored). Names are stored canonically (lower-case x-amz-*,
Title-Case standard headers). Two entries are ours and never answered as headers: a
multipart upload's part sizes (PARTS, so `GET ?partNumber=N` can find part N) and the
object's canned ACL (ACL, see `access.py`).

A storage class here is a label kept with the file: every file is stored, and read back,
the same way (a GLACIER file needs no restore).
"""
from __future__ import annotations

from pipelines.s3 import errors
from pipelines.s3.headers import content_type

STANDARD = {"content-type": "Content-Type", "cache-control": "Cache-Control",
            "content-disposition": "Content-Disposition", "content-encoding": "Content-Encoding",
            "content-language": "Content-Language", "expires": "Expires"}
USER_PREFIX = "x-amz-meta-"
STORAGE_CLASS = "x-amz-storage-class"
# S3's StorageClass values (its API model, 2006-03-01); STANDARD is the default.
STORAGE_CLASSES = frozenset("""STANDARD REDUCED_REDUNDANCY STANDARD_IA ONEZONE_IA INTELLIGENT_TIERING GLACIER
DEEP_ARCHIVE OUTPOSTS GLACIER_IR SNOW EXPRESS_ONEZONE FSX_OPENZFS FSX_ONTAP AWS_BACKUP_WARM
AWS_BACKUP_LOW_COST_WARM""".split())
DEFAULT_CLASS = "STANDARD"
PARTS = "x-pachmedia-part-sizes"
ACL = "x-pachmedia-acl"
PRIVATE = frozenset({PARTS, ACL})  # kept, never answered
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
    return with_storage_class(tuple(kept.items()), requested_class(headers))


def for_copy(source: Meta, headers: dict[str, str]) -> Meta:
    """A copy's metadata: the source's (COPY, the default) or the request's (REPLACE); its
    storage class is the request's, STANDARD when none is given (as S3: never the source's);
    the source's ACL is not copied (the copy's own `x-amz-acl` applies, see access.py)."""
    if headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE":
        return from_request(headers)
    kept = tuple((k, v) for k, v in source if k not in (PARTS, ACL))
    return with_storage_class(kept, requested_class(headers))


def requested_class(headers: dict[str, str]) -> str:
    value = headers.get(STORAGE_CLASS, DEFAULT_CLASS).strip()
    if value not in STORAGE_CLASSES:
        raise errors.S3Error(400, "InvalidStorageClass", f"The storage class you specified is not valid: {value!r} "
                             f"(one of {', '.join(sorted(STORAGE_CLASSES))})", value)
    return value


def storage_class(meta: Meta) -> str:
    return dict(meta).get(STORAGE_CLASS, DEFAULT_CLASS)


def with_storage_class(meta: Meta, cls: str) -> Meta:
    kept = [(k, v) for k, v in meta if k != STORAGE_CLASS]
    return tuple(sorted(kept + ([(STORAGE_CLASS, cls)] if cls != DEFAULT_CLASS else [])))


def with_parts(meta: Meta, sizes: list[int]) -> Meta:
    return tuple(sorted([*meta, (PARTS, ",".join(map(str, sizes)))]))


def part_sizes(meta: Meta) -> list[int]:
    value = dict(meta).get(PARTS)
    return [int(n) for n in value.split(",")] if value else []


def object_acl(meta: Meta) -> str:
    return dict(meta).get(ACL, "private")


def with_acl(meta: Meta, canned: str) -> Meta:
    kept = [(k, v) for k, v in meta if k != ACL]
    return tuple(sorted(kept + ([(ACL, canned)] if canned != "private" else [])))


def etag_kwargs(etag: str) -> dict[str, str | None]:
    """How `backend.put` keeps a copied file's ETag: an MD5 as `md5`, a multipart one as `etag`."""
    return {"md5": None, "etag": etag} if "-" in etag else {"md5": etag, "etag": None}


def response_headers(key: str, meta: Meta, query: dict[str, str]) -> dict[str, str]:
    """Headers of a GET/HEAD: the kept metadata (x-amz-storage-class only when not STANDARD,
    as S3), Content-Type by extension when none was given, then any `response-*` overrides."""
    out = {k: v for k, v in meta if k not in PRIVATE}
    out.setdefault("Content-Type", content_type(key))
    for param, header in OVERRIDES.items():
        if param in query:
            out[header] = query[param]
    return out

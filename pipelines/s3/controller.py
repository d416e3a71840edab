"""The S3 controller: one request in, one response out, over an `S3Backend`.

No sockets here (http.py does HTTP): `Gateway.handle(Request) -> Response`. Buckets and
objects are here, multipart operations in `multipart_ops.py`. Storage exceptions become
S3 errors in one place, `storage_error`.
"""
from __future__ import annotations

import logging
import re
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import BinaryIO, Callable
from urllib.parse import unquote

from pipelines.s3 import errors, metadata, xml
from pipelines.s3.access import SETTINGS, AccessOps, BucketAccess
from pipelines.s3.auth import Signed, is_signed, verify
from pipelines.s3.backend import (BucketExists, BucketNotEmpty, BucketNotFound, CommitNotFound, CommitRef, InvalidBucket,
                      InvalidKey, ObjectInfo, ReadOnlyRepo, RepoRef, S3Backend, check_key)
from pipelines.s3.buckets import Bucket, BucketNameError, bucket_name, parse_bucket
from pipelines.s3.headers import copy_precondition, http_date, parse_range, precondition, write_precondition
from pipelines.s3.keys import Keys
from pipelines.s3.listing import decode_token, encode_token, list_page, parse_max_keys
from pipelines.s3.multipart import Uploads
from pipelines.s3.multipart_ops import MultipartOps
from pipelines.s3.payload import read_small_body, spool_body

log = logging.getLogger(__name__)
REGION = "us-east-1"
SPOOL_IN_MEMORY = 1 << 20  # PutObject bodies above this spool to disk
# Bucket/object sub-resources S3 has and this gateway does not: 501 NotImplemented.
UNSUPPORTED = frozenset("""tagging cors lifecycle website logging notification
replication encryption object-lock retention legal-hold torrent select restore accelerate analytics
inventory metrics ownershipControls requestPayment intelligent-tiering attributes""".split())
S3_NEW_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


@dataclass
class Request:
    method: str
    raw_path: str
    raw_query: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: BinaryIO
    bucket: str | None
    key: str | None


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: BinaryIO | None = None  # when set, `length` bytes of it follow the headers
    length: int | None = None

    @staticmethod
    def xml(body: bytes, status: int = 200) -> "Response":
        return Response(status, {"Content-Type": "application/xml"}, body)


class Gateway(MultipartOps, AccessOps):
    def __init__(self, backend: S3Backend, keys: Keys, anonymous_buckets=(), uploads: Uploads | None = None,
                 access: BucketAccess | None = None) -> None:
        self.backend = backend
        self.keys = keys
        self.access = access or BucketAccess(None, anonymous_buckets)
        self.uploads = uploads or Uploads()

    def close(self) -> None:
        self.uploads.close()

    def handle(self, req: Request) -> Response:
        request_id = uuid.uuid4().hex[:16].upper()
        try:
            resp = self._route(req, self._authenticate(req))
        except errors.S3Error as e:
            resp = error_response(e, request_id)
        except Exception as e:  # a backend fault: answer 500, keep serving
            mapped = storage_error(e, req)
            if mapped is None:
                log.exception("%s %s failed", req.method, req.raw_path)
                mapped = errors.internal_error(f"{type(e).__name__}: {e}")
            resp = error_response(mapped, request_id)
        resp.headers["x-amz-request-id"] = request_id
        return resp

    # --- authentication -------------------------------------------------------------
    def _authenticate(self, req: Request) -> Signed | None:
        if not is_signed(req.query, req.headers) and req.method in ("GET", "HEAD") and req.bucket \
                and self.access.is_public(req.bucket) \
                and not (set(req.query) & (UNSUPPORTED | set(SETTINGS) | {"uploadId", "uploads"})):
            return None  # anonymous read of a public bucket
        return verify(req.method, req.raw_path, req.raw_query, req.headers, self.keys)

    # --- routing --------------------------------------------------------------------
    def _route(self, req: Request, signed: Signed | None) -> Response:
        q, m = req.query, req.method
        configured = self.settings(req, signed)
        if configured is not None:
            return configured
        if set(q) & UNSUPPORTED:
            raise errors.not_implemented(f"{'/'.join(sorted(set(q) & UNSUPPORTED))} is not supported by this gateway")
        if req.bucket is None:
            if m in ("GET", "HEAD"):
                return self.list_buckets(req)
            raise errors.method_not_allowed(m)
        if req.key is None:
            handlers: dict[str, Callable[[], Response]] = {
                "GET": lambda: self.location(req) if "location" in q else
                (self.list_multipart_uploads(req) if "uploads" in q else
                 (self.list_versions(req) if "versions" in q else self.list_objects(req))),
                "HEAD": lambda: self.head_bucket(req),
                "PUT": lambda: self.create_bucket(req, signed) if not q else _unsupported(req),
                "DELETE": lambda: self.delete_bucket(req) if not q else _unsupported(req),
                "POST": lambda: self.delete_objects(req, signed) if "delete" in q else _unsupported(req),
            }
        else:
            handlers = {
                "GET": lambda: self.list_parts(req) if "uploadId" in q else self.get_object(req, head=False),
                "HEAD": lambda: self.get_object(req, head=True),
                "PUT": lambda: self.upload_part(req, signed) if "uploadId" in q else
                (self.copy_object(req, signed) if "x-amz-copy-source" in req.headers else self.put_object(req, signed)),
                "POST": lambda: self.create_upload(req) if "uploads" in q else
                (self.complete_upload(req, signed) if "uploadId" in q else _unsupported(req)),
                "DELETE": lambda: self.abort_upload(req) if "uploadId" in q else self.delete_object(req),
            }
        return handlers.get(m, lambda: _unsupported(req))()

    # --- buckets --------------------------------------------------------------------
    def list_buckets(self, req: Request) -> Response:
        names = sorted((bucket_name(r.project, r.repo, b), r.created)
                       for r in self.backend.list_repos() for b in r.branches)
        after = decode_token(req.query["continuation-token"]) if req.query.get("continuation-token") else ""
        names = [n for n in names if n[0] > after]
        limit = parse_max_keys(req.query.get("max-buckets"), "max-buckets", 10000) if "max-buckets" in req.query \
            else len(names)
        page, more = names[:limit], len(names) > limit
        token = encode_token(page[-1][0]) if more and page else None
        return Response.xml(xml.list_buckets(page, token))

    def head_bucket(self, req: Request) -> Response:
        self._read_ref(req.bucket)
        return Response(200, {"x-amz-bucket-region": REGION})

    def location(self, req: Request) -> Response:
        self._read_ref(req.bucket)
        return Response.xml(xml.location(REGION))

    def create_bucket(self, req: Request, signed: Signed | None) -> Response:
        if not S3_NEW_BUCKET.match(req.bucket) or ".." in req.bucket or IPV4.match(req.bucket):
            raise errors.invalid_bucket_name(req.bucket, "a new bucket's name follows S3's rules: 3-63 lower-case "
                                             "letters, digits, '.' and '-', starting and ending with a letter or digit")
        b = _parse(req.bucket)
        if b.commit:
            raise errors.commit_is_immutable(req.bucket)
        read_small_body(req.body, req.headers, signed)  # CreateBucketConfiguration: one region here
        try:
            self.backend.create_bucket(b.project, b.repo, b.branch)
        except BucketExists:
            raise errors.bucket_already_owned_by_you(req.bucket) from None
        return Response(200, {"Location": f"/{req.bucket}"})

    def delete_bucket(self, req: Request) -> Response:
        b = _parse(req.bucket)
        if b.commit:
            raise errors.commit_is_immutable(req.bucket)
        self.backend.delete_bucket(b.project, b.repo, b.branch)
        return Response(204)

    def list_objects(self, req: Request) -> Response:
        q = req.query
        v2 = q.get("list-type") == "2"
        _, ref = self._read_ref(req.bucket)
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
        max_keys = parse_max_keys(q.get("max-keys"))
        token = q.get("continuation-token") if v2 else None
        start_after = q.get("start-after", "") if v2 else ""
        marker = decode_token(token) if token else (start_after if v2 else q.get("marker", ""))
        page = list_page(self.backend.list_objects(ref, prefix, marker), prefix=prefix, delimiter=delimiter,
                         marker=marker, max_keys=max_keys)
        next_token = encode_token(page.last) if v2 and page.truncated and page.last is not None else None
        body = xml.list_objects(req.bucket, page, v2=v2, prefix=prefix, delimiter=delimiter, max_keys=max_keys,
                                url_encode=q.get("encoding-type") == "url", marker=marker if not v2 else "",
                                token=token, next_token=next_token, start_after=start_after or None)
        return Response.xml(body)

    def list_versions(self, req: Request) -> Response:
        """No history is offered as S3 versions: each file's one version is the commit read."""
        _, ref = self._read_ref(req.bucket)
        prefix = req.query.get("prefix", "")
        max_keys = parse_max_keys(req.query.get("max-keys"))
        page = list_page(self.backend.list_objects(ref, prefix, req.query.get("key-marker", "")), prefix=prefix,
                         delimiter=req.query.get("delimiter", ""), marker="", max_keys=max_keys)
        return Response.xml(xml.list_versions(req.bucket, page, ref.id or "null", prefix, max_keys))

    # --- objects --------------------------------------------------------------------
    def get_object(self, req: Request, *, head: bool) -> Response:
        _, ref = self._read_ref(req.bucket, req.query.get("versionId"))
        key = _key(req)
        try:
            check_key(key.rstrip("/") or key)  # a folder-style key is simply absent (404)
        except InvalidKey:
            raise errors.S3Error(400, "InvalidURI", "Couldn't parse the specified URI.", key) from None
        info = self.backend.stat(ref, key)
        if info is None:
            raise errors.no_such_key(key)
        headers = {**metadata.response_headers(key, info.meta, req.query), **_object_headers(info, ref)}
        cond = precondition(req.headers, info.etag, info.last_modified)
        if cond == 412:
            raise errors.precondition_failed()
        if cond == 304:
            keep = ("ETag", "Last-Modified", "x-amz-version-id", "Cache-Control", "Expires")
            return Response(304, {k: headers[k] for k in keep if k in headers}, length=0)
        rng = parse_range(req.headers.get("range"), info.size)
        if "partNumber" in req.query:
            rng, headers["x-amz-mp-parts-count"] = _part_range(req.query["partNumber"], info)
        start, end = rng if rng else (0, info.size - 1)
        status = 200
        if rng:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
        length = end - start + 1
        if head or length == 0:
            return Response(status, headers, length=length)
        stream = self.backend.open(ref, key)
        stream.seek(start)
        return Response(status, headers, stream=stream, length=length)

    def put_object(self, req: Request, signed: Signed | None) -> Response:
        b = self._write_bucket(req.bucket)
        key = check_key(_key(req))
        self.check_object_acl(req, b)
        self._check_write_condition(req, b, key)
        with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=self.uploads.root) as spool:
            size, md5, _ = spool_body(req.body, req.headers, signed, spool)
            spool.seek(0)
            info = self.backend.put(b.project, b.repo, b.branch, key, spool, size,
                                    meta=metadata.from_request(req.headers), md5=md5)
        return Response(200, {"ETag": xml.quote_etag(info.etag), **_version(info)})

    def copy_object(self, req: Request, signed: Signed | None) -> Response:
        b = self._write_bucket(req.bucket)
        key = check_key(_key(req))
        ref, src_bucket, src_key, info = self.copy_source(req)
        self.check_object_acl(req, b)
        replace = req.headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE"
        if (_parse(src_bucket).name, src_key) == (b.name, key) and not replace and ref.branch == b.branch:
            raise errors.copy_to_itself()
        self._check_write_condition(req, b, key)
        spool_body(req.body, req.headers, signed, _Discard())  # a copy has no body; still check its hash
        meta = metadata.from_request(req.headers) if replace else info.meta
        stream = self.backend.open(ref, src_key)
        try:
            new = self.backend.put(b.project, b.repo, b.branch, key, stream, info.size, meta=meta,
                                   md5=None if "-" in info.etag else info.etag,
                                   etag=info.etag if "-" in info.etag else None)
        finally:
            stream.close()
        resp = Response.xml(xml.copy_result("CopyObjectResult", new.etag, new.last_modified))
        resp.headers.update(_version(new))
        return resp

    def copy_source(self, req: Request) -> tuple[CommitRef, str, str, ObjectInfo]:
        """The x-amz-copy-source object (its conditions checked): (ref, bucket, key, info)."""
        source, _, version = req.headers["x-amz-copy-source"].partition("?versionId=")
        src_bucket, _, src_key = unquote(source).lstrip("/").partition("/")
        if not src_bucket or not src_key:
            raise errors.invalid_argument("x-amz-copy-source must be bucket/key", source)
        _, ref = self._read_ref(src_bucket, version or None)
        info = self.backend.stat(ref, src_key)
        if info is None:
            raise errors.no_such_key(src_key)
        if copy_precondition(req.headers, info.etag, info.last_modified):
            raise errors.precondition_failed()
        return ref, src_bucket, src_key, info

    def _check_write_condition(self, req: Request, b: Bucket, key: str) -> None:
        if "if-match" in req.headers or "if-none-match" in req.headers:
            _, ref = self._read_ref(b.name)
            current = self.backend.stat(ref, key)
            if write_precondition(req.headers, current.etag if current else None):
                raise errors.precondition_failed()

    def delete_object(self, req: Request) -> Response:
        b = self._write_bucket(req.bucket)
        self.backend.delete(b.project, b.repo, b.branch, [_key(req)])
        return Response(204)

    def delete_objects(self, req: Request, signed: Signed | None) -> Response:
        b = self._write_bucket(req.bucket)
        keys, quiet = xml.parse_delete(read_small_body(req.body, req.headers, signed))
        good, failed = [], []
        for k in keys:
            try:
                check_key(k)
                good.append(k)
            except InvalidKey as e:
                failed.append((k, errors.invalid_argument(str(e), k)))
        if good:
            self.backend.delete(b.project, b.repo, b.branch, good)
        return Response.xml(xml.delete_result(good, failed, quiet))

    # --- bucket resolution ----------------------------------------------------------
    def _read_ref(self, name: str, version: str | None = None) -> tuple[Bucket, CommitRef]:
        b = _parse(name)
        commit = version if version and version != "null" else b.commit
        try:
            return b, self.backend.resolve(b.project, b.repo, b.branch, commit)
        except BucketNotFound:
            raise errors.no_such_bucket(name) from None
        except CommitNotFound:
            raise errors.no_such_version(commit or "") from None

    def _write_bucket(self, name: str) -> Bucket:
        """Check before reading a body that a write here can succeed."""
        b = _parse(name)
        if b.commit:
            raise errors.commit_is_immutable(name)
        repo = _find_repo(self.backend.list_repos(), b)
        if repo is None or b.branch not in repo.branches:
            raise errors.no_such_bucket(name)
        if not repo.writable:
            raise errors.write_to_output_branch(name)
        return b


def storage_error(e: Exception, req: Request) -> errors.S3Error | None:
    """The one place where backend exceptions become S3 errors (None: a server fault)."""
    if isinstance(e, InvalidBucket):
        return errors.invalid_bucket_name(req.bucket or "", str(e))
    if isinstance(e, InvalidKey):
        return errors.invalid_argument(str(e), req.key or "")
    if isinstance(e, ReadOnlyRepo):
        return errors.write_to_output_branch(req.bucket or "")
    if isinstance(e, BucketNotEmpty):
        return errors.bucket_not_empty(req.bucket or "", str(e))
    if isinstance(e, BucketNotFound):
        return errors.no_such_bucket(req.bucket or "")
    if isinstance(e, CommitNotFound):
        return errors.no_such_version(req.query.get("versionId", ""))
    if isinstance(e, KeyError) and req.key:  # deleted between stat and open
        return errors.no_such_key(req.key)
    return None


def error_response(e: errors.S3Error, request_id: str) -> Response:
    return Response.xml(xml.error(e, request_id), e.status)


def _object_headers(info: ObjectInfo, ref: CommitRef) -> dict[str, str]:
    return {"ETag": xml.quote_etag(info.etag), "Last-Modified": http_date(info.last_modified),
            "Accept-Ranges": "bytes", "x-amz-version-id": ref.id or "null", "x-pachmedia-sha256": info.sha256}


def _part_range(text: str, info: ObjectInfo) -> tuple[tuple[int, int] | None, str]:
    """GET ?partNumber=N: that part's bytes (a single-part object has one part)."""
    sizes = metadata.part_sizes(info.meta) or [info.size]
    try:
        n = int(text)
    except ValueError:
        raise errors.invalid_argument("partNumber must be an integer") from None
    if not 1 <= n <= len(sizes):
        raise errors.S3Error(416, "InvalidPartNumber", "The requested partnumber is not satisfiable")
    start = sum(sizes[:n - 1])
    if len(sizes) == 1:
        return None, "1"
    return (start, start + sizes[n - 1] - 1), str(len(sizes))


def _parse(name: str) -> Bucket:
    try:
        return parse_bucket(name)
    except BucketNameError as e:
        raise errors.invalid_bucket_name(name, str(e)) from None


def _find_repo(repos: list[RepoRef], b: Bucket) -> RepoRef | None:
    return next((r for r in repos if r.project == b.project and r.repo == b.repo), None)


def _key(req: Request) -> str:
    return req.key or ""


def _version(info: ObjectInfo) -> dict[str, str]:
    return {"x-amz-version-id": info.version} if info.version else {}


def _unsupported(req: Request) -> Response:
    raise errors.not_implemented(f"{req.method} on {'an object' if req.key else 'a bucket'} with "
                                 f"{sorted(req.query) or 'no sub-resource'} is not supported by this gateway")


class _Discard:
    def write(self, data: bytes) -> None:
        pass

"""The S3 controller: one request in, one response out, over an `S3Backend`.

No sockets here (server.py does HTTP): `Gateway.handle(Request) -> Response`. Buckets and
objects are here, listings in `list_ops.py`, multipart operations in `multipart_ops.py`, who
may do what and bucket settings in `access.py`. Storage exceptions become S3 errors in one
place, `storage_error`.
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
from pipelines.s3.access import BucketAccess
from pipelines.s3.access_ops import SETTINGS, AccessOps, denied
from pipelines.s3.auth import Signed, is_signed, verify
from pipelines.s3.backend import (BucketExists, BucketNotEmpty, BucketNotFound, CommitNotFound, CommitRef, InvalidBucket,
                      InvalidKey, ObjectInfo, ReadOnlyRepo, RepoRef, S3Backend, check_key)
from pipelines.s3.buckets import Bucket, BucketNameError, parse_bucket
from pipelines.s3.headers import copy_precondition, http_date, parse_range, precondition, write_precondition
from pipelines.s3.keys import ANONYMOUS, OWNER, Caller, Keys
from pipelines.s3.list_ops import ListOps
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
    caller: Caller = OWNER  # who signed it (set by Gateway.handle)
    client_ip: str = ""  # the peer's address (bucket policies' aws:SourceIp)


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


class Gateway(ListOps, MultipartOps, AccessOps):
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
        """Sets req.caller; an unsigned read of a bucket or object goes on as ANONYMOUS (its
        grants are checked like a reader's), any other unsigned request is refused here."""
        if not is_signed(req.query, req.headers) and req.method in ("GET", "HEAD") and req.bucket \
                and not (set(req.query) & (UNSUPPORTED | set(SETTINGS) | {"uploadId", "uploads"})):
            req.caller = ANONYMOUS
            return None
        signed = verify(req.method, req.raw_path, req.raw_query, req.headers, self.keys)
        caller = self.keys.caller(signed.access_key)
        if caller is None:  # removed between the signature check and now
            raise errors.invalid_access_key_id()
        req.caller = caller
        return signed

    # --- routing --------------------------------------------------------------------
    def _route(self, req: Request, signed: Signed | None) -> Response:
        q, m = req.query, req.method
        self.guard(req)
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
        canned = self.canned(req.headers.get("x-amz-acl"), b, bucket=True)
        read_small_body(req.body, req.headers, signed)  # CreateBucketConfiguration: one region here
        try:
            self.backend.create_bucket(b.project, b.repo, b.branch)
        except BucketExists:
            raise errors.bucket_already_owned_by_you(req.bucket) from None
        self.access.forget(b)  # a new bucket: no settings of one deleted under its name
        self.access.set_acl(b, canned)
        return Response(200, {"Location": f"/{req.bucket}"})

    def delete_bucket(self, req: Request) -> Response:
        b = _parse(req.bucket)
        if b.commit:
            raise errors.commit_is_immutable(req.bucket)
        self.backend.delete_bucket(b.project, b.repo, b.branch)
        self.access.forget(b)
        return Response(204)

    # --- objects --------------------------------------------------------------------
    def get_object(self, req: Request, *, head: bool) -> Response:
        key = _key(req)
        action = "s3:GetObjectVersion" if "versionId" in req.query else "s3:GetObject"
        try:
            _, ref = self._read_ref(req.bucket, req.query.get("versionId"))
        except errors.S3Error:  # a caller without a grant learns nothing of what exists
            if not self.access.allows(req.bucket, req.caller, action, key, req.client_ip):
                raise denied(req.caller) from None
            raise
        try:
            check_key(key.rstrip("/") or key)  # a folder-style key is simply absent (404)
        except InvalidKey:
            raise errors.S3Error(400, "InvalidURI", "Couldn't parse the specified URI.", key) from None
        info = self.backend.stat(ref, key)
        if not self.access.allows(req.bucket, req.caller, action, key, req.client_ip,
                                  metadata.object_acl(info.meta) if info else None):
            raise denied(req.caller)
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
        meta = metadata.with_acl(metadata.from_request(req.headers), self.canned(req.headers.get("x-amz-acl"), b))
        self._check_write_condition(req, b, key)
        with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=self.uploads.root) as spool:
            size, md5, _ = spool_body(req.body, req.headers, signed, spool)
            spool.seek(0)
            info = self.backend.put(b.project, b.repo, b.branch, key, spool, size, meta=meta, md5=md5)
        return Response(200, {"ETag": xml.quote_etag(info.etag), **_version(info)})

    def copy_object(self, req: Request, signed: Signed | None) -> Response:
        b = self._write_bucket(req.bucket)
        key = check_key(_key(req))
        ref, src_bucket, src_key, info = self.copy_source(req)
        meta = metadata.with_acl(metadata.for_copy(info.meta, req.headers),
                                 self.canned(req.headers.get("x-amz-acl"), b))
        replace = req.headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE"
        same_class = metadata.storage_class(meta) == metadata.storage_class(info.meta)
        if (_parse(src_bucket).name, src_key) == (b.name, key) and ref.branch == b.branch and not replace \
                and same_class:  # S3: a copy onto itself must change its metadata or storage class
            raise errors.copy_to_itself()
        self._check_write_condition(req, b, key)
        spool_body(req.body, req.headers, signed, _Discard())  # a copy has no body; still check its hash
        stream = self.backend.open(ref, src_key)
        try:
            new = self.backend.put(b.project, b.repo, b.branch, key, stream, info.size, meta=meta,
                                   **metadata.etag_kwargs(info.etag))
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

"""The S3 controller: one request in, one response out, over an `S3Backend`.

No sockets here (server.py does HTTP): `Gateway.handle(Request) -> Response`.
Storage exceptions become S3 errors in one place, `storage_error`.
"""
from __future__ import annotations

import logging
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import BinaryIO, Callable
from urllib.parse import unquote

from pipelines.s3 import errors, xml
from pipelines.s3.auth import Signed, is_signed, verify
from pipelines.s3.backend import (BucketNotFound, CommitNotFound, CommitRef, InvalidKey, ObjectInfo, ReadOnlyRepo, RepoRef, S3Backend, check_key)
from pipelines.s3.buckets import Bucket, BucketNameError, bucket_name, parse_bucket
from pipelines.s3.headers import content_type, http_date, parse_range, precondition
from pipelines.s3.keys import Keys
from pipelines.s3.listing import decode_token, encode_token, list_page, parse_max_keys
from pipelines.s3.multipart import ConcatReader, Uploads
from pipelines.s3.payload import read_small_body, spool_body

log = logging.getLogger(__name__)
REGION = "us-east-1"
SPOOL_IN_MEMORY = 1 << 20  # PutObject bodies above this spool to disk
# Bucket/object sub-resources S3 has and this gateway does not: 501 NotImplemented.
UNSUPPORTED = frozenset("""acl tagging policy cors lifecycle versions versioning website logging notification
replication encryption object-lock retention legal-hold torrent select restore accelerate analytics
inventory metrics ownershipControls publicAccessBlock requestPayment intelligent-tiering attributes
policyStatus""".split())


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


class Gateway:
    def __init__(self, backend: S3Backend, keys: Keys, anonymous_buckets=(), uploads: Uploads | None = None) -> None:
        self.backend = backend
        self.keys = keys
        self.anonymous = frozenset(parse_bucket(b) for b in anonymous_buckets)
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
                and self._is_anonymous(req.bucket) and not (set(req.query) & (UNSUPPORTED | {"uploadId", "uploads"})):
            return None  # anonymous read of a bucket configured public
        return verify(req.method, req.raw_path, req.raw_query, req.headers, self.keys)

    def _is_anonymous(self, name: str) -> bool:
        try:
            return parse_bucket(name) in self.anonymous
        except BucketNameError:
            return False

    # --- routing --------------------------------------------------------------------
    def _route(self, req: Request, signed: Signed | None) -> Response:
        q, m = req.query, req.method
        if set(q) & UNSUPPORTED:
            raise errors.not_implemented(f"{'/'.join(sorted(set(q) & UNSUPPORTED))} is not supported by this gateway")
        if req.bucket is None:
            if m in ("GET", "HEAD"):
                return self.list_buckets()
            raise errors.method_not_allowed(m)
        if req.key is None:
            handlers: dict[str, Callable[[], Response]] = {
                "GET": lambda: self.location(req) if "location" in q else
                (self.list_multipart_uploads() if "uploads" in q else self.list_objects(req)),
                "HEAD": lambda: self.head_bucket(req),
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
    def list_buckets(self) -> Response:
        names = sorted((bucket_name(r.project, r.repo, b), r.created)
                       for r in self.backend.list_repos() for b in r.branches)
        return Response.xml(xml.list_buckets(names))

    def head_bucket(self, req: Request) -> Response:
        self._read_ref(req.bucket)
        return Response(200, {"x-amz-bucket-region": REGION})

    def location(self, req: Request) -> Response:
        self._read_ref(req.bucket)
        return Response.xml(xml.location())

    def list_multipart_uploads(self) -> Response:
        raise errors.not_implemented("ListMultipartUploads is not supported")

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

    # --- objects --------------------------------------------------------------------
    def get_object(self, req: Request, *, head: bool) -> Response:
        b, ref = self._read_ref(req.bucket, req.query.get("versionId"))
        key = _key(req)
        info = self.backend.stat(ref, key)
        if info is None:
            raise errors.no_such_key(key)
        headers = {
            "Content-Type": content_type(key), "ETag": xml.quote_etag(info.etag),
            "Last-Modified": http_date(info.last_modified), "Accept-Ranges": "bytes",
            "x-amz-version-id": ref.id,
        }
        cond = precondition(req.headers, info.etag, info.last_modified)
        if cond == 412:
            raise errors.precondition_failed()
        if cond == 304:
            return Response(304, {k: headers[k] for k in ("ETag", "Last-Modified", "x-amz-version-id")}, length=0)
        rng = parse_range(req.headers.get("range"), info.size)
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
        key = _key(req)
        with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=self.uploads.root) as spool:
            size, _, _ = spool_body(req.body, req.headers, signed, spool)
            spool.seek(0)
            info = self.backend.put(b.project, b.repo, b.branch, key, spool, size)
        return Response(200, {"ETag": xml.quote_etag(info.etag), **_version(info)})

    def copy_object(self, req: Request, signed: Signed | None) -> Response:
        b = self._write_bucket(req.bucket)
        key = _key(req)
        source, _, version = req.headers["x-amz-copy-source"].partition("?versionId=")
        src_bucket, _, src_key = unquote(source).lstrip("/").partition("/")
        if not src_bucket or not src_key:
            raise errors.invalid_argument("x-amz-copy-source must be bucket/key", source)
        _, ref = self._read_ref(src_bucket, version or None)
        info = self.backend.stat(ref, src_key)
        if info is None:
            raise errors.no_such_key(src_key)
        spool_body(req.body, req.headers, signed, _Discard())  # a copy has no body; still check its hash
        stream = self.backend.open(ref, src_key)
        try:
            new = self.backend.put(b.project, b.repo, b.branch, key, stream, info.size)
        finally:
            stream.close()
        resp = Response.xml(xml.copy_result(new))
        resp.headers.update(_version(new))
        return resp

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

    # --- multipart ------------------------------------------------------------------
    def create_upload(self, req: Request) -> Response:
        b = self._write_bucket(req.bucket)
        key = _key(req)
        check_key(key)
        up = self.uploads.create(b.name, key)
        return Response.xml(xml.initiate_upload(req.bucket, key, up.id))

    def upload_part(self, req: Request, signed: Signed | None) -> Response:
        if "x-amz-copy-source" in req.headers:
            raise errors.not_implemented("UploadPartCopy is not supported")
        b = self._write_bucket(req.bucket)
        up = self.uploads.get(req.query["uploadId"], b.name, _key(req))
        try:
            number = int(req.query.get("partNumber", ""))
        except ValueError:
            raise errors.invalid_argument("partNumber must be an integer") from None
        part = self.uploads.put_part(up, number, lambda f: spool_body(req.body, req.headers, signed, f)[:2])
        return Response(200, {"ETag": xml.quote_etag(part.etag)})

    def complete_upload(self, req: Request, signed: Signed | None) -> Response:
        b = self._write_bucket(req.bucket)
        key = _key(req)
        up = self.uploads.get(req.query["uploadId"], b.name, key)
        paths, size = self.uploads.plan(up, xml.parse_complete(read_small_body(req.body, req.headers, signed)))
        reader = ConcatReader(paths)
        try:
            info = self.backend.put(b.project, b.repo, b.branch, key, reader, size)
        finally:
            reader.close()
        self.uploads.remove(up)
        resp = Response.xml(xml.complete_upload(f"/{req.bucket}/{key}", req.bucket, key, info.etag))
        resp.headers.update(_version(info))
        return resp

    def abort_upload(self, req: Request) -> Response:
        b = self._write_bucket(req.bucket)
        self.uploads.remove(self.uploads.get(req.query["uploadId"], b.name, _key(req)))
        return Response(204)

    def list_parts(self, req: Request) -> Response:
        b = self._write_bucket(req.bucket)
        key = _key(req)
        up = self.uploads.get(req.query["uploadId"], b.name, key)
        try:
            marker = int(req.query.get("part-number-marker") or 0)
            max_parts = min(int(req.query.get("max-parts") or 1000), 1000)
        except ValueError:
            raise errors.invalid_argument("part-number-marker and max-parts must be integers") from None
        parts = sorted((p for p in up.parts.values() if p.number > marker), key=lambda p: p.number)
        page = parts[:max_parts]
        rows = [(p.number, p.size, p.etag, p.modified) for p in page]
        return Response.xml(xml.list_parts(req.bucket, key, up.id, rows, marker, max_parts, len(parts) > max_parts))

    # --- bucket resolution ----------------------------------------------------------
    def _read_ref(self, name: str, version: str | None = None) -> tuple[Bucket, CommitRef]:
        b = _parse(name)
        commit = version or b.commit
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
    if isinstance(e, InvalidKey):
        return errors.invalid_argument(str(e), req.key or "")
    if isinstance(e, ReadOnlyRepo):
        return errors.write_to_output_branch(req.bucket or "")
    if isinstance(e, BucketNotFound):
        return errors.no_such_bucket(req.bucket or "")
    if isinstance(e, CommitNotFound):
        return errors.no_such_version(req.query.get("versionId", ""))
    if isinstance(e, KeyError) and req.key:  # deleted between stat and open
        return errors.no_such_key(req.key)
    return None


def error_response(e: errors.S3Error, request_id: str) -> Response:
    return Response.xml(xml.error(e, request_id), e.status)


def _parse(name: str) -> Bucket:
    try:
        return parse_bucket(name)
    except BucketNameError as e:
        raise errors.invalid_bucket_name(name, str(e)) from None


def _find_repo(repos: list[RepoRef], b: Bucket) -> RepoRef | None:
    return next((r for r in repos if r.project == b.project and r.repo == b.repo), None)


def _key(req: Request) -> str:
    # Not trimmed: a "folder marker" key ending in '/' is refused (InvalidKey), never turned into a file.
    return req.key or ""


def _version(info: ObjectInfo) -> dict[str, str]:
    return {"x-amz-version-id": info.version} if info.version else {}


def _unsupported(req: Request) -> Response:
    raise errors.not_implemented(f"{req.method} on {'an object' if req.key else 'a bucket'} with "
                                 f"{sorted(req.query) or 'no sub-resource'} is not supported by this gateway")


class _Discard:
    def write(self, data: bytes) -> None:
        pass

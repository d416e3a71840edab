"""Object operations of the controller (a mixin of `Gateway`): GetObject/HeadObject (ranges,
conditions, parts), PutObject, CopyObject, DeleteObject, DeleteObjects."""
from __future__ import annotations

import tempfile
from urllib.parse import unquote

from pipelines.s3 import errors, metadata, xml
from pipelines.s3.access_ops import denied
from pipelines.s3.auth import Signed
from pipelines.s3.backend import CommitRef, InvalidKey, ObjectInfo, check_key
from pipelines.s3.bucket_ops import _parse
from pipelines.s3.buckets import Bucket
from pipelines.s3.headers import copy_precondition, http_date, parse_range, precondition, write_precondition
from pipelines.s3.messages import Request, Response
from pipelines.s3.payload import read_small_body, spool_body

SPOOL_IN_MEMORY = 1 << 20  # PutObject bodies above this spool to disk


class ObjectOps:
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


def _key(req: Request) -> str:
    return req.key or ""


def _version(info: ObjectInfo) -> dict[str, str]:
    return {"x-amz-version-id": info.version} if info.version else {}


class _Discard:
    def write(self, data: bytes) -> None:
        pass

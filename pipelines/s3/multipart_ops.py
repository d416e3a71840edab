"""Multipart operations of the controller (a mixin of `Gateway`): create, upload a part
(from the body or copied from an object), list parts and uploads, complete, abort.

Complete streams the parts into ONE `backend.put` (one commit) with the ETag S3 gives a
multipart object; a retried Complete of a finished upload gets the same answer again.
"""
from __future__ import annotations

import hashlib
import re
from pipelines.s3 import errors, metadata, xml
from pipelines.s3.backend import check_key
from pipelines.s3.messages import Request, Response
from pipelines.s3.multipart import ConcatReader, multipart_etag
from pipelines.s3.payload import PIECE, read_small_body, spool_body

_COPY_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


class MultipartOps:
    def create_upload(self, req: "Request") -> "Response":
        b = self._write_bucket(req.bucket)
        key = check_key(req.key or "")
        meta = metadata.with_acl(metadata.from_request(req.headers), self.canned(req.headers.get("x-amz-acl"), b))
        up = self.uploads.create(b.name, key, meta)
        return Response.xml(xml.initiate_upload(req.bucket, key, up.id))

    def upload_part(self, req: "Request", signed) -> "Response":
        b = self._write_bucket(req.bucket)
        up = self.uploads.get(req.query["uploadId"], b.name, req.key or "")
        try:
            number = int(req.query.get("partNumber", ""))
        except ValueError:
            raise errors.invalid_argument("partNumber must be an integer") from None
        if "x-amz-copy-source" not in req.headers:
            part = self.uploads.put_part(up, number, lambda f: spool_body(req.body, req.headers, signed, f)[:2])
            return Response(200, {"ETag": xml.quote_etag(part.etag)})
        ref, _, src_key, info = self.copy_source(req)
        first, last = _copy_range(req.headers.get("x-amz-copy-source-range"), info.size)
        spool_body(req.body, req.headers, signed, _Discard())

        def copy(f) -> tuple[int, str]:
            md5, left = hashlib.md5(), last - first + 1
            with self.backend.open(ref, src_key) as src:
                src.seek(first)
                while left > 0:
                    data = src.read(min(PIECE, left))
                    if not data:
                        raise errors.invalid_range(info.size)
                    md5.update(data)
                    f.write(data)
                    left -= len(data)
            return last - first + 1, md5.hexdigest()

        part = self.uploads.put_part(up, number, copy)
        return Response.xml(xml.copy_result("CopyPartResult", part.etag, part.modified))

    def complete_upload(self, req: "Request", signed) -> "Response":
        b = self._write_bucket(req.bucket)
        key = req.key or ""
        upload_id = req.query["uploadId"]
        done = self.uploads.completed(upload_id, b.name, key)
        body = read_small_body(req.body, req.headers, signed)
        if done is not None:
            resp = Response.xml(xml.complete_upload(f"/{req.bucket}/{key}", req.bucket, key, done.etag))
            resp.headers["x-amz-version-id"] = done.version
            return resp
        up = self.uploads.get(upload_id, b.name, key)
        paths, parts = self.uploads.plan(up, xml.parse_complete(body))
        etag = multipart_etag(parts)
        meta = metadata.with_parts(up.meta, [p.size for p in parts])
        reader = ConcatReader(paths)
        try:
            info = self.backend.put(b.project, b.repo, b.branch, key, reader, sum(p.size for p in parts),
                                    meta=meta, etag=etag)
        finally:
            reader.close()
        self.uploads.finish(up, info.etag, info.version)
        resp = Response.xml(xml.complete_upload(f"/{req.bucket}/{key}", req.bucket, key, info.etag))
        if info.version:
            resp.headers["x-amz-version-id"] = info.version
        return resp

    def abort_upload(self, req: "Request") -> "Response":
        b = self._write_bucket(req.bucket)
        self.uploads.remove(self.uploads.get(req.query["uploadId"], b.name, req.key or ""))
        return Response(204)

    def list_parts(self, req: "Request") -> "Response":
        b = self._write_bucket(req.bucket)
        key = req.key or ""
        up = self.uploads.get(req.query["uploadId"], b.name, key)
        try:
            marker = int(req.query.get("part-number-marker") or 0)
            max_parts = min(int(req.query.get("max-parts") or 1000), 1000)
        except ValueError:
            raise errors.invalid_argument("part-number-marker and max-parts must be integers") from None
        parts = sorted((p for p in up.parts.values() if p.number > marker), key=lambda p: p.number)
        page = parts[:max_parts]
        rows = [(p.number, p.size, p.etag, p.modified) for p in page]
        return Response.xml(xml.list_parts(req.bucket, key, up.id, rows, marker, max_parts, len(parts) > max_parts,
                                           metadata.storage_class(up.meta)))

    def list_multipart_uploads(self, req: "Request") -> "Response":
        b = self._write_bucket(req.bucket)
        prefix = req.query.get("prefix", "")
        ups = [(u.key, u.id, u.initiated, metadata.storage_class(u.meta)) for u in self.uploads.in_bucket(b.name)
               if u.key.startswith(prefix)]
        return Response.xml(xml.list_uploads(req.bucket, prefix, ups))


def _copy_range(header: str | None, size: int) -> tuple[int, int]:
    if not header:
        return 0, size - 1
    m = _COPY_RANGE.match(header.strip())
    if not m or int(m[1]) > int(m[2]) or int(m[2]) >= size:
        raise errors.invalid_argument(f"x-amz-copy-source-range {header!r} is not within the object's {size} "
                                      "bytes (want bytes=first-last)")
    return int(m[1]), int(m[2])


class _Discard:
    def write(self, data: bytes) -> None:
        pass

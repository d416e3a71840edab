"""The S3 controller: one request in, one response out, over an `S3Backend`.

No sockets here (server.py does HTTP): `Gateway.handle(Request) -> Response`. This module
authenticates and routes; the operations are mixins: buckets and name resolution in
`bucket_ops.py`, objects in `object_ops.py`, listings in `list_ops.py`, multipart in
`multipart_ops.py`, who may do what and bucket settings in `access_ops.py` (decided in
`access.py`). Storage exceptions become S3 errors in one place, `storage_error`.
"""
from __future__ import annotations

import logging
import uuid
from typing import Callable

from pipelines.s3 import errors
from pipelines.s3.access import BucketAccess
from pipelines.s3.access_ops import SETTINGS, AccessOps
from pipelines.s3.auth import Signed, is_signed, verify
from pipelines.s3.backend import (BucketNotEmpty, BucketNotFound, CommitNotFound, InvalidBucket, InvalidKey,
                                  ReadOnlyRepo, S3Backend, TooLarge)
from pipelines.s3.bucket_ops import BucketOps
from pipelines.s3.keys import ANONYMOUS, Keys
from pipelines.s3.list_ops import ListOps
from pipelines.s3.messages import Request, Response, error_response
from pipelines.s3.multipart import Uploads
from pipelines.s3.multipart_ops import MultipartOps
from pipelines.s3.object_ops import ObjectOps

__all__ = ["Gateway", "Request", "Response", "error_response", "storage_error"]
log = logging.getLogger(__name__)
# Bucket/object sub-resources S3 has and this gateway does not: 501 NotImplemented.
UNSUPPORTED = frozenset("""tagging cors lifecycle website logging notification
replication encryption object-lock retention legal-hold torrent select restore accelerate analytics
inventory metrics ownershipControls requestPayment intelligent-tiering attributes""".split())


class Gateway(BucketOps, ObjectOps, ListOps, MultipartOps, AccessOps):
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


def storage_error(e: Exception, req: Request) -> errors.S3Error | None:
    """The one place where backend exceptions become S3 errors (None: a server fault)."""
    if isinstance(e, InvalidBucket):
        return errors.invalid_bucket_name(req.bucket or "", str(e))
    if isinstance(e, InvalidKey):
        return errors.invalid_argument(str(e), req.key or "")
    if isinstance(e, ReadOnlyRepo):
        return errors.write_to_output_branch(req.bucket or "")
    if isinstance(e, TooLarge):
        return errors.entity_too_large(str(e))
    if isinstance(e, BucketNotEmpty):
        return errors.bucket_not_empty(req.bucket or "", str(e))
    if isinstance(e, BucketNotFound):
        return errors.no_such_bucket(req.bucket or "")
    if isinstance(e, CommitNotFound):
        return errors.no_such_version(req.query.get("versionId", ""))
    if isinstance(e, KeyError) and req.key:  # deleted between stat and open
        return errors.no_such_key(req.key)
    return None


def _unsupported(req: Request) -> Response:
    raise errors.not_implemented(f"{req.method} on {'an object' if req.key else 'a bucket'} with "
                                 f"{sorted(req.query) or 'no sub-resource'} is not supported by this gateway")


"""A datum's gateway: the controller with the rules of pachd's WorkerDriver
(src/server/pfs/s3/driver.go, served by src/server/pps/server/s3g_sidecar.go).

- The buckets are exactly the job's `s3` inputs, by input name, and `out` with `s3Out`; any
  other name (another repo, `master.<input>`, a pinned commit) is NoSuchBucket, and
  ListBuckets lists these only.
- Input buckets are read-only: a write is NotImplemented (pachd's answer). `out` is
  write-only: listing it is empty and reading an object is NoSuchKey, as in pachd.
- No historic versions (`versionId`, ListObjectVersions), no bucket creation or deletion,
  no bucket or object settings (ACLs, policies, versioning): NotImplemented, as pachd.
- A body is spooled to the engine's disk before it is stored, outside the datum's rlimits:
  one larger than the datum's file size limit (`max_object`), or parts of uploads under way
  adding up to more, is refused (EntityTooLarge) before a byte is read.
The storage behind it is `pipelines.pfs.s3_worker.WorkerBackend`.
"""
from __future__ import annotations

from pipelines.s3 import errors, xml
from pipelines.s3.access_ops import SETTINGS
from pipelines.s3.backend import CommitRef, S3Backend
from pipelines.s3.buckets import Bucket
from pipelines.s3.controller import Gateway
from pipelines.s3.keys import Keys
from pipelines.s3.messages import Request, Response
from pipelines.s3.multipart import Uploads

OUT = "out"


class WorkerGateway(Gateway):
    def __init__(self, backend: S3Backend, keys: Keys, inputs: tuple[str, ...], out: bool, uploads: Uploads,
                 max_object: int) -> None:
        super().__init__(backend, keys, uploads=uploads)
        self.out = OUT if out else None
        self.names = frozenset(inputs) | ({OUT} if out else set())
        self.max_object = max_object

    def _route(self, req: Request, signed) -> Response:
        if not req.caller.is_owner:  # unsigned: the datum's keys are in its environment
            raise errors.access_denied("sign requests with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment")
        if req.bucket is not None and req.key is None and req.method in ("PUT", "DELETE") and not req.query:
            # pachd asks canModifyBuckets before the name
            raise errors.not_implemented("a datum's gateway neither creates nor deletes buckets (as pachd's)")
        if req.bucket is not None and req.bucket not in self.names:
            raise errors.no_such_bucket(req.bucket)
        refused = set(req.query) & (set(SETTINGS) | {"versionId", "versions"})
        if refused:
            raise errors.not_implemented(f"{'/'.join(sorted(refused))}: a datum's gateway serves the job's commits "
                                         "only, without versions or settings (as pachd's)")
        if req.method == "PUT" and req.key is not None:
            self._check_size(req)
        return super()._route(req, signed)

    def _check_size(self, req: Request) -> None:
        length = _number(req.headers.get("content-length"))
        decoded = req.headers.get("x-amz-decoded-content-length")
        framing = self.max_object // 32 + (64 << 10) if decoded is not None else 0  # aws-chunked's chunk headers
        in_flight = sum(p.size for u in self.uploads.in_bucket(OUT) for p in u.parts.values()) \
            if "uploadId" in req.query else 0
        if in_flight + length > self.max_object + framing or in_flight + _number(decoded) > self.max_object:
            raise errors.entity_too_large(f"a datum writes objects of at most {self.max_object} bytes, its file "
                                          "size limit (resourceLimits.disk)")

    def list_buckets(self, req: Request) -> Response:
        names = sorted((r.repo, r.created) for r in self.backend.list_repos())
        return Response.xml(xml.list_buckets(names))

    def _read_ref(self, name: str, version: str | None = None) -> tuple[Bucket, CommitRef]:
        if name not in self.names:  # also a copy's source
            raise errors.no_such_bucket(name)
        if version:
            raise errors.not_implemented("versionId: a datum's gateway serves the job's commit only")
        return super()._read_ref(name)

    def _write_bucket(self, name: str) -> Bucket:
        if name not in self.names:
            raise errors.no_such_bucket(name)
        if name != self.out:
            raise errors.not_implemented(f"bucket {name} is an input of this job: read-only"
                                         + ("" if self.out else " (a pipeline with s3Out writes to bucket out)"))
        return Bucket("default", OUT, "master")


def _number(text: str | None) -> int:
    return int(text) if text and text.strip().isdigit() else 0

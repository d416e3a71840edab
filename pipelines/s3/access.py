"""Bucket configuration: who may read without signing, and the settings S3 clients ask about.

Access here is the key pair (everything) or anonymous reads of a public bucket. A bucket is
public when `--anonymous` names it or a canned ACL made it so (`PutBucketAcl public-read`),
within its public access block (IgnorePublicAcls drops the ACL's effect, RestrictPublicBuckets
all of it, BlockPublicAcls refuses public ACLs). There are no other principals, so grants to
anyone else, anonymous writes and bucket policies are refused. ACL and block settings live in
`<home>/s3-buckets.json` (0600). Versioning is always on: every write to a branch is a commit.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.s3 import errors, xml
from pipelines.s3.buckets import Bucket, BucketNameError, parse_bucket
from pipelines.s3.payload import read_small_body

if TYPE_CHECKING:
    from pipelines.s3.controller import Request, Response

BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
PUBLIC_CANNED = frozenset({"public-read", "public-read-write", "authenticated-read"})
SETTINGS = ("acl", "publicAccessBlock", "policyStatus", "policy", "versioning")


class BucketAccess:
    """Public-read state per bucket: the operator's `--anonymous` list plus what clients set."""

    def __init__(self, path: Path | None, configured=()) -> None:
        self.path = path
        self.configured = frozenset(parse_bucket(b) for b in configured)
        self._lock = threading.Lock()
        self._state: dict[str, dict] = json.loads(path.read_text()) if path and path.exists() else {}

    def _get(self, b: Bucket) -> dict:
        return self._state.get(b.name, {})

    def _set(self, b: Bucket, **fields) -> None:
        with self._lock:
            self._state[b.name] = {**self._get(b), **fields}
            if self.path:
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    json.dump(self._state, f)
                tmp.replace(self.path)

    def block(self, b: Bucket) -> dict[str, bool]:
        return {f: bool(self._get(b).get("block", {}).get(f)) for f in BLOCK_FLAGS}

    def acl_public(self, b: Bucket) -> bool:
        return bool(self._get(b).get("public")) and not self.block(b)["IgnorePublicAcls"]

    def is_public(self, name: str) -> bool:
        try:
            b = parse_bucket(name)
        except BucketNameError:
            return False
        b = Bucket(b.project, b.repo, b.branch)  # a pinned commit is as public as its branch
        return (b in self.configured or self.acl_public(b)) and not self.block(b)["RestrictPublicBuckets"]

    def set_public(self, b: Bucket, public: bool) -> None:
        self._set(b, public=public)

    def set_block(self, b: Bucket, flags: dict[str, bool] | None) -> None:
        self._set(b, block=flags or {})


class AccessOps:
    """Bucket-configuration requests of the controller (a mixin of `Gateway`)."""

    access: BucketAccess

    def settings(self, req: "Request", signed) -> "Response | None":
        """Answer a bucket-configuration request; None when the request is not one."""
        from pipelines.s3.controller import Response
        q = [k for k in SETTINGS if k in req.query]
        if not q or req.bucket is None:
            return None
        b, _ = self._read_ref(req.bucket)
        b = Bucket(b.project, b.repo, b.branch)
        what, m = q[0], req.method
        if what == "acl" and m == "GET":
            return Response.xml(xml.acl(self.access.is_public(req.bucket)))
        if what == "acl" and m == "PUT" and req.key is None:
            self._write_bucket(req.bucket)
            body = read_small_body(req.body, req.headers, signed)
            public = xml.parse_acl(body) if body.strip() else self.canned_public(req.headers.get("x-amz-acl"), b)
            if public and self.access.block(b)["BlockPublicAcls"]:
                raise errors.access_denied("the bucket's public access block refuses public ACLs")
            self.access.set_public(b, public)
            return Response(200)
        if what == "publicAccessBlock" and m == "GET":
            return Response.xml(xml.public_access_block(self.access.block(b)))
        if what == "publicAccessBlock" and m in ("PUT", "DELETE"):
            self._write_bucket(req.bucket)
            flags = xml.parse_public_access_block(read_small_body(req.body, req.headers, signed)) if m == "PUT" \
                else None
            self.access.set_block(b, flags)
            return Response(200 if m == "PUT" else 204)
        if what == "policyStatus" and m == "GET":
            return Response.xml(xml.policy_status(self.access.is_public(req.bucket)))
        if what == "policy" and m == "PUT" and self.access.block(b)["BlockPublicPolicy"]:
            raise errors.access_denied("the bucket's public access block refuses bucket policies")
        if what == "versioning" and m == "GET":
            return Response.xml(xml.versioning())
        if what == "versioning" and m == "PUT":
            if xml.parse_versioning(read_small_body(req.body, req.headers, signed)) != "Enabled":
                raise errors.not_implemented("versioning cannot be suspended: every write to a branch is a commit")
            return Response(200)
        raise errors.not_implemented(f"{m} ?{what} is not supported: access is the key pair, or anonymous "
                                     "reads of a public bucket (no policies, no other grantees)")

    def canned_public(self, canned: str | None, b: Bucket) -> bool:
        """A canned ACL (x-amz-acl) as this gateway can honour it: public-read or private."""
        if canned in PUBLIC_CANNED and self.access.block(b)["BlockPublicAcls"]:
            raise errors.access_denied("the bucket's public access block refuses public ACLs")
        if canned == "public-read-write":
            raise errors.not_implemented("anonymous writes are not offered: use public-read")
        return canned == "public-read"  # authenticated-read: key holders only, which is private here

    def check_object_acl(self, req: "Request", b: Bucket) -> None:
        """An object's canned ACL on a write: only the block is enforced (objects share the bucket's)."""
        canned = req.headers.get("x-amz-acl")
        if canned in PUBLIC_CANNED and self.access.block(Bucket(b.project, b.repo, b.branch))["BlockPublicAcls"]:
            raise errors.access_denied("the bucket's public access block refuses public ACLs")

"""Bucket operations of the controller (a mixin of `Gateway`): HeadBucket, GetBucketLocation,
CreateBucket, DeleteBucket, and the resolution of a bucket name every operation starts with
(`_read_ref` for reads, `_write_bucket` for writes)."""
from __future__ import annotations

import re

from pipelines.s3 import errors, xml
from pipelines.s3.auth import Signed
from pipelines.s3.backend import BucketExists, BucketNotFound, CommitNotFound, CommitRef, RepoRef
from pipelines.s3.buckets import Bucket, BucketNameError, parse_bucket
from pipelines.s3.messages import Request, Response
from pipelines.s3.payload import read_small_body

REGION = "us-east-1"
S3_NEW_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


class BucketOps:
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



def _parse(name: str) -> Bucket:
    try:
        return parse_bucket(name)
    except BucketNameError as e:
        raise errors.invalid_bucket_name(name, str(e)) from None


def _find_repo(repos: list[RepoRef], b: Bucket) -> RepoRef | None:
    return next((r for r in repos if r.project == b.project and r.repo == b.repo), None)


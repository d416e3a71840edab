"""Authorization and bucket-configuration requests of the controller (a mixin of `Gateway`):
the guard every non-owner request passes, ACLs (bucket and object), bucket policies, the public
access block, versioning, PolicyStatus. Who may read what is decided in `access.py`."""
from __future__ import annotations

from pipelines.s3 import errors, metadata, xml
from pipelines.s3.access import AUTHENTICATED_READ, PRIVATE, PUBLIC_READ, BucketAccess, branch_of
from pipelines.s3.backend import check_key
from pipelines.s3.buckets import Bucket
from pipelines.s3.keys import Caller
from pipelines.s3.messages import Request, Response
from pipelines.s3.payload import read_small_body
from pipelines.s3.policy import READS, parse_policy

PUBLIC_CANNED = frozenset({PUBLIC_READ, "public-read-write", AUTHENTICATED_READ})
# S3's canned ACLs as this gateway keeps them: who besides the owner reads (no one writes).
OBJECT_CANNED = {PRIVATE: PRIVATE, PUBLIC_READ: PUBLIC_READ, "public-read-write": PUBLIC_READ,
                 AUTHENTICATED_READ: AUTHENTICATED_READ, "aws-exec-read": PRIVATE, "bucket-owner-read": PRIVATE,
                 "bucket-owner-full-control": PRIVATE}
SETTINGS = ("acl", "publicAccessBlock", "policyStatus", "policy", "versioning")
# Query parameters a non-owner's read may carry (anything else is a setting or a write).
READ_PARAMS = frozenset("""list-type prefix delimiter marker max-keys encoding-type continuation-token
start-after fetch-owner location versions key-marker version-id-marker versionId partNumber
response-content-type response-content-language response-expires response-cache-control
response-content-disposition response-content-encoding x-id AWSAccessKeyId Signature Expires""".split())
POLICY_LIMIT = 20 << 10  # S3's size limit of a bucket policy


class AccessOps:
    access: BucketAccess

    def guard(self, req: "Request") -> None:
        """Refuse at once what a caller other than the owner may never do (writes, settings,
        multipart) or may not do on this bucket (list it). Object reads are decided in get_object,
        with the object's ACL."""
        caller = req.caller
        if caller.is_owner:
            return
        extra = {p for p in req.query if p not in READ_PARAMS and not p.startswith("X-Amz-")}
        if req.method not in ("GET", "HEAD") or extra:
            raise denied(caller)
        if req.bucket is not None and req.key is None:
            action = "s3:GetBucketLocation" if "location" in req.query else \
                "s3:ListBucketVersions" if "versions" in req.query else "s3:ListBucket"
            if not self.access.allows(req.bucket, caller, action, ip=req.client_ip):
                raise denied(caller)

    def settings(self, req: "Request", signed) -> "Response | None":
        """Answer a bucket-configuration request; None when the request is not one."""
        q = [k for k in SETTINGS if k in req.query]
        if not q or req.bucket is None:
            return None
        b, ref = self._read_ref(req.bucket)
        b = branch_of(b)
        what, m = q[0], req.method
        if what == "acl" and req.key is not None:
            return self.object_acl_request(req, signed, b, ref)
        if what == "acl" and m == "GET":
            return Response.xml(xml.acl(self.access.acl(b)))
        if what == "acl" and m == "PUT":
            self._write_bucket(req.bucket)
            self.access.set_acl(b, self._acl_from(req, signed, b, bucket=True))
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
        if what == "policy":
            return self.policy_request(req, signed, b)
        if what == "versioning" and m == "GET":
            return Response.xml(xml.versioning())
        if what == "versioning" and m == "PUT":
            if xml.parse_versioning(read_small_body(req.body, req.headers, signed)) != "Enabled":
                raise errors.not_implemented("versioning cannot be suspended: every write to a branch is a commit")
            return Response(200)
        raise errors.method_not_allowed(m)

    def policy_request(self, req: "Request", signed, b: Bucket) -> "Response":
        """GetBucketPolicy, PutBucketPolicy, DeleteBucketPolicy."""
        if req.method == "GET":
            policy = self.access.policy(b)
            if policy is None:
                raise errors.S3Error(404, "NoSuchBucketPolicy", "The bucket policy does not exist", req.bucket)
            return Response(200, {"Content-Type": "application/json"}, policy.text.encode())
        if req.method not in ("PUT", "DELETE"):
            raise errors.method_not_allowed(req.method)
        self._write_bucket(req.bucket)
        if req.method == "DELETE":
            self.access.set_policy(b, None)
            return Response(204)
        body = read_small_body(req.body, req.headers, signed, POLICY_LIMIT)
        policy = parse_policy(body.decode("utf-8", "replace"), b, self.keys.reader_names())
        if policy.public and self.access.block(b)["BlockPublicPolicy"]:
            raise errors.access_denied("the bucket's public access block refuses public bucket policies")
        self.access.set_policy(b, policy)
        return Response(204)

    def object_acl_request(self, req: "Request", signed, b: Bucket, ref) -> "Response":
        """GetObjectAcl, PutObjectAcl: an object's ACL is kept with the file, so setting it is a
        commit (of the same content: the store keeps it once)."""
        key = check_key(req.key or "")
        if req.method not in ("GET", "PUT"):
            raise errors.method_not_allowed(req.method)
        if req.method == "PUT":
            if "versionId" in req.query:
                raise errors.not_implemented("an ACL is set on the current version only (every version is a commit)")
            wb = self._write_bucket(req.bucket)
            canned = self._acl_from(req, signed, b)
        info = self.backend.stat(ref, key)
        if info is None:
            raise errors.no_such_key(key)
        if req.method == "GET":
            return Response.xml(xml.acl(metadata.object_acl(info.meta)))
        with self.backend.open(ref, key) as stream:
            new = self.backend.put(wb.project, wb.repo, wb.branch, key, stream, info.size,
                                   meta=metadata.with_acl(info.meta, canned), **metadata.etag_kwargs(info.etag))
        return Response(200, {"x-amz-version-id": new.version} if new.version else {})

    def _acl_from(self, req: "Request", signed, b: Bucket, *, bucket: bool = False) -> str:
        """The ACL a PutBucketAcl/PutObjectAcl sets: its AccessControlPolicy body or its x-amz-acl."""
        body = read_small_body(req.body, req.headers, signed)
        canned = xml.parse_acl(body) if body.strip() else self.canned(req.headers.get("x-amz-acl"), b, bucket=bucket)
        if canned in PUBLIC_CANNED and self.access.block(b)["BlockPublicAcls"]:
            raise errors.access_denied("the bucket's public access block refuses public ACLs")
        return canned

    def canned(self, header: str | None, b: Bucket, *, bucket: bool = False) -> str:
        """A canned ACL (x-amz-acl) as kept here, within b's public access block."""
        value = (header or PRIVATE).strip()
        if value not in OBJECT_CANNED:
            raise errors.invalid_argument(f"unknown canned ACL {value!r}: use one of {', '.join(OBJECT_CANNED)}")
        if value in PUBLIC_CANNED and self.access.block(branch_of(b))["BlockPublicAcls"]:
            raise errors.access_denied("the bucket's public access block refuses public ACLs")
        if bucket and value == "public-read-write":
            raise errors.not_implemented("anonymous writes are not offered: use public-read")
        return OBJECT_CANNED[value]


def denied(caller: Caller) -> errors.S3Error:
    if caller.kind == "anonymous":
        return errors.access_denied("Anonymous access is not allowed here: sign the request (AWS SigV4 or SigV2)")
    return errors.access_denied(f"Access Denied: reader {caller.name!r} has read-only keys and reads what an ACL "
                                f"or the bucket policy grants ({', '.join(READS)})")

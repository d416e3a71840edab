"""Who may read what: the owner, readers and anonymous callers, by ACLs, bucket policies and the
public access block; kept per bucket in `<home>/s3-buckets.json` (0600).

Three callers (`keys.Caller`): the owner's key pair may do everything; a reader's key pair
(`pachmedia s3 keys --add-reader NAME`) and an unsigned request may only read (GET/HEAD,
ListObjects, never a write or a setting), and only what a grant allows:
- a bucket's canned ACL: `public-read` (everyone), `authenticated-read` (any key of this
  gateway: the owner and every reader), `private` (the owner); `--anonymous BUCKET` is a
  standing public-read. A bucket's grant covers its objects too;
- an object's canned ACL, given when it is written (PutObject, CopyObject, CreateMultipartUpload,
  PutObjectAcl) and kept with the file: the same three; it opens that object only;
- a bucket policy (`policy.py`): read grants to everyone or to named readers, and denials,
  which win over any grant.
The public access block limits them as on S3: IgnorePublicAcls drops both public ACLs (AWS counts
authenticated-read as public), RestrictPublicBuckets stops every read but the owner's,
BlockPublicAcls refuses public ACLs, BlockPublicPolicy public policies. A caller that may not read
gets AccessDenied whether or not the bucket or key exists.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from pipelines.s3.buckets import Bucket, BucketNameError, parse_bucket
from pipelines.s3.keys import Caller
from pipelines.s3.policy import Policy, parse_policy

BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
PRIVATE, PUBLIC_READ, AUTHENTICATED_READ = "private", "public-read", "authenticated-read"


class BucketAccess:
    """ACL, policy and public access block per bucket: the operator's `--anonymous` list plus what clients set."""

    def __init__(self, path: Path | None, configured=()) -> None:
        self.path = path
        self.configured = frozenset(parse_bucket(b) for b in configured)
        self._lock = threading.Lock()
        self._state: dict[str, dict] = json.loads(path.read_text()) if path and path.exists() else {}
        self._policies: dict[str, Policy] = {}  # parsed, by bucket name

    def _get(self, b: Bucket) -> dict:
        return self._state.get(b.name, {})

    def _set(self, b: Bucket, **fields) -> None:
        with self._lock:
            # an older file's "public" flag is now "acl" (see `acl`): written back in the new form
            state = {**self._get(b), "acl": self.acl(b), **fields}
            self._state[b.name] = {k: v for k, v in state.items() if k != "public" and v is not None}
            self._policies.pop(b.name, None)
            self._save()

    def _save(self) -> None:
        if self.path:
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(self._state, f)
            tmp.replace(self.path)

    def block(self, b: Bucket) -> dict[str, bool]:
        return {f: bool(self._get(b).get("block", {}).get(f)) for f in BLOCK_FLAGS}

    def acl(self, b: Bucket) -> str:
        """The bucket's canned ACL as set (files written before readers said `"public": true`)."""
        state = self._get(b)
        return state.get("acl") or (PUBLIC_READ if state.get("public") else PRIVATE)

    def policy(self, b: Bucket) -> Policy | None:
        text = self._get(b).get("policy")
        if text is None:
            return None
        if b.name not in self._policies:
            self._policies[b.name] = parse_policy(text, b)
        return self._policies[b.name]

    def set_acl(self, b: Bucket, canned: str) -> None:
        self._set(b, acl=canned)

    def set_block(self, b: Bucket, flags: dict[str, bool] | None) -> None:
        self._set(b, block=flags or {})

    def set_policy(self, b: Bucket, policy: Policy | None) -> None:
        self._set(b, policy=policy.text if policy else None)

    def forget(self, b: Bucket) -> None:
        with self._lock:
            self._policies.pop(b.name, None)
            if self._state.pop(b.name, None) is not None:
                self._save()

    def acl_grants(self, acl: str, b: Bucket, caller: Caller) -> bool:
        """Whether a canned ACL (a bucket's or an object's in b) lets caller read, within b's block."""
        block = self.block(b)
        if block["IgnorePublicAcls"]:
            return False
        return acl == PUBLIC_READ or (acl == AUTHENTICATED_READ and caller.kind == "reader")

    def allows(self, name: str, caller: Caller, action: str, key: str | None = None, ip: str = "",
               object_acl: str | None = None) -> bool:
        """May caller do this read (`policy.READS`) on bucket `name` (a pinned commit is as open as its
        branch), on `key` with that object's ACL when given?"""
        if caller.is_owner:
            return True
        try:
            b = branch_of(parse_bucket(name))
        except BucketNameError:
            return False
        if self.block(b)["RestrictPublicBuckets"]:
            return False
        policy = self.policy(b)
        verdict = policy.decide(caller, action, key, ip) if policy else None
        if verdict is not None:
            return verdict
        return b in self.configured or self.acl_grants(self.acl(b), b, caller) or (
            object_acl is not None and self.acl_grants(object_acl, b, caller))

    def is_public(self, name: str) -> bool:
        """PolicyStatus's IsPublic: read by anyone without the owner's keys (authenticated-read
        too, as AWS counts it) through the ACL, the policy or `--anonymous`."""
        try:
            b = branch_of(parse_bucket(name))
        except BucketNameError:
            return False
        block = self.block(b)
        if block["RestrictPublicBuckets"]:
            return False
        policy = self.policy(b)
        return b in self.configured or (self.acl(b) != PRIVATE and not block["IgnorePublicAcls"]) or \
            bool(policy and policy.public)


def branch_of(b: Bucket) -> Bucket:
    """The branch a bucket name reads (settings are per branch; a pinned commit shares them)."""
    return Bucket(b.project, b.repo, b.branch)

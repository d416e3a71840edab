"""Bucket policies as this gateway enforces them: read grants (and denials) for readers and
anonymous callers. Pure: a policy document in, a `Policy` that decides requests out.

The part of AWS's policy language kept here is enforced in full; anything else is refused
(MalformedPolicy, naming it) rather than accepted and ignored:
- Version `2012-10-17` or `2008-10-17`; Statement: one or a list, each with Effect Allow or Deny.
- Principal: `"*"`, `{"AWS": "*"}`, or readers and the owner by name (`{"AWS":
  "arn:aws:iam::<any>:user/NAME"}`, `{"CanonicalUser": "NAME"}`). NotPrincipal takes the same
  and may also name principals this gateway does not have (they match no caller).
- Action: what a non-owner may ever do is read (READS); an Allow reaching anything else (`s3:*`,
  `s3:Put*`) is refused, since readers never write. A Deny may name any action.
- Resource: this bucket (`arn:aws:s3:::<bucket>`) and its keys (`arn:aws:s3:::<bucket>/<pattern>`,
  `*` and `?` as IAM matches them), or `"*"`; every action must apply to one of them.
- Condition: IpAddress / NotIpAddress on aws:SourceIp.
Policies bind readers and anonymous callers; the owner's key pair is not bound (it can always
change or delete the policy). An explicit Deny wins over any grant.
"""
from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from pipelines.s3 import errors
from pipelines.s3.buckets import Bucket, BucketNameError, parse_bucket
from pipelines.s3.keys import OWNER_ID, Caller

BUCKET_READS = ("s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation")
OBJECT_READS = ("s3:GetObject", "s3:GetObjectVersion")
READS = BUCKET_READS + OBJECT_READS
# Owner-only actions a wildcard may reach (an Allow reaching one is refused), on objects and on buckets.
OBJECT_OWNER = tuple(f"s3:{a}" for a in """PutObject DeleteObject DeleteObjectVersion PutObjectAcl GetObjectAcl
GetObjectVersionAcl AbortMultipartUpload ListMultipartUploadParts PutObjectTagging GetObjectTagging""".split())
BUCKET_OWNER = tuple(f"s3:{a}" for a in """PutBucketAcl GetBucketAcl PutBucketPolicy GetBucketPolicy
DeleteBucketPolicy GetBucketPolicyStatus CreateBucket DeleteBucket ListAllMyBuckets ListBucketMultipartUploads
PutBucketPublicAccessBlock GetBucketPublicAccessBlock PutBucketVersioning GetBucketVersioning PutBucketTagging
GetBucketTagging PutLifecycleConfiguration GetLifecycleConfiguration PutBucketCORS GetBucketCORS""".split())
OWNER_ONLY = OBJECT_OWNER + BUCKET_OWNER
OBJECT_ACTIONS = OBJECT_READS + OBJECT_OWNER
EVERYONE = "*"
_ARN = "arn:aws:s3:::"
_USER = re.compile(r"^arn:aws:iam::[^:]*:user/(.+)$")


@dataclass(frozen=True)
class Statement:
    allow: bool
    principals: frozenset[str]  # "*", or names (readers, the owner's OWNER_ID)
    not_principal: bool
    actions: tuple[str, ...]  # patterns, lower-case (IAM compares actions case-insensitively)
    bucket: bool  # the bucket itself is a resource
    keys: tuple[str, ...]  # regexes of keys that are resources
    source_ip: tuple[tuple, bool] | None  # (networks, negated) of an (Not)IpAddress condition

    def principal_matches(self, caller: Caller) -> bool:
        named = EVERYONE in self.principals or (caller.kind == "reader" and caller.name in self.principals)
        return not named if self.not_principal else named

    def applies(self, caller: Caller, action: str, key: str | None, ip: str) -> bool:
        if not self.principal_matches(caller) or not any(fnmatchcase(action.lower(), a) for a in self.actions):
            return False
        if key is None and not self.bucket or key is not None and not any(re.fullmatch(k, key) for k in self.keys):
            return False
        if self.source_ip is not None:
            networks, negated = self.source_ip
            try:
                inside = any(ipaddress.ip_address(ip) in n for n in networks)
            except ValueError:
                inside = False
            return inside != negated
        return True

    @property
    def public(self) -> bool:
        """AWS's test: an Allow for everyone (or everyone but some) not narrowed to fixed addresses."""
        everyone = (EVERYONE in self.principals) != self.not_principal
        narrowed = self.source_ip is not None and not self.source_ip[1] and \
            not any(n.prefixlen == 0 for n in self.source_ip[0])
        return self.allow and everyone and not narrowed


@dataclass(frozen=True)
class Policy:
    text: str
    statements: tuple[Statement, ...]

    def decide(self, caller: Caller, action: str, key: str | None, ip: str) -> bool | None:
        """False: explicitly denied; True: allowed; None: the policy says nothing."""
        verdict = None
        for st in self.statements:
            if st.applies(caller, action, key, ip):
                if not st.allow:
                    return False
                verdict = True
        return verdict

    @property
    def public(self) -> bool:
        return any(st.public for st in self.statements)


def parse_policy(text: str, bucket: Bucket, names: frozenset[str] | None = None) -> Policy:
    """The policy of `bucket` (a branch); `names`: the readers that exist (None: not checked,
    for a policy read back from the settings file)."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _malformed("the policy is not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("Version", "2008-10-17") not in ("2012-10-17", "2008-10-17"):
        raise _malformed("a policy is an object with Version 2012-10-17 (or 2008-10-17) and a Statement")
    unknown = set(doc) - {"Version", "Id", "Statement"}
    if unknown:
        raise _malformed(f"unsupported policy field {sorted(unknown)[0]!r}")
    raw = doc.get("Statement")
    raw = [raw] if isinstance(raw, dict) else raw
    if not raw or not isinstance(raw, list):
        raise _malformed("the policy has no Statement")
    return Policy(text, tuple(_statement(s, bucket, names) for s in raw))


def _statement(s, bucket: Bucket, names: frozenset[str] | None) -> Statement:
    if not isinstance(s, dict):
        raise _malformed("a Statement is an object")
    unknown = set(s) - {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "Resource", "Condition"}
    if unknown:
        raise _malformed(f"unsupported statement field {sorted(unknown)[0]!r} (NotAction and NotResource are "
                         "not offered)")
    if s.get("Effect") not in ("Allow", "Deny"):
        raise _malformed("Effect must be Allow or Deny")
    allow = s["Effect"] == "Allow"
    if ("Principal" in s) == ("NotPrincipal" in s):
        raise _malformed("a statement names either Principal or NotPrincipal")
    not_principal = "NotPrincipal" in s
    principals = _principals(s.get("NotPrincipal") if not_principal else s["Principal"], names, not_principal)
    actions = tuple(a.lower() for a in _strings(s.get("Action"), "Action"))
    for a in actions:
        reached = [x for x in READS + OWNER_ONLY if fnmatchcase(x.lower(), a)]
        if not reached:
            raise _malformed(f"unknown action {a!r}: a policy here grants {', '.join(READS)}")
        if allow and any(x in OWNER_ONLY for x in reached):
            raise _malformed(f"Allow {a!r} reaches {next(x for x in reached if x in OWNER_ONLY)}: readers and "
                             f"anonymous callers only ever read ({', '.join(READS)})")
    whole, keys = _resources(_strings(s.get("Resource"), "Resource"), bucket)
    for a in actions:
        fits = [x for x in READS + OWNER_ONLY if fnmatchcase(x.lower(), a)]
        if not any((x in OBJECT_ACTIONS and keys) or (x not in OBJECT_ACTIONS and whole) for x in fits):
            raise _malformed(f"Action does not apply to any resource in statement: {a!r}")
    return Statement(allow, principals, not_principal, actions, whole, keys, _condition(s.get("Condition")))


def _principals(value, names: frozenset[str] | None, negated: bool) -> frozenset[str]:
    if value == EVERYONE:
        return frozenset({EVERYONE})
    if not isinstance(value, dict) or not value or set(value) - {"AWS", "CanonicalUser"}:
        raise _malformed("Principal is \"*\", {\"AWS\": ...} or {\"CanonicalUser\": ...}")
    found = set()
    for kind, ids in value.items():
        for p in _strings(ids, "Principal"):
            if kind == "CanonicalUser":
                name = p
            elif p == EVERYONE:
                name = EVERYONE
            else:
                m = _USER.match(p)
                name = m[1] if m else None  # an account's root or a role: not a principal here
            known = name == EVERYONE or name == OWNER_ID or names is None or name in names
            if not known and not negated:  # a grant (or denial) to no one is a mistake worth hearing of
                raise _malformed(f"Invalid principal in policy: {p!r} (principals here: \"*\", the owner "
                                 f"{OWNER_ID!r} and readers, as arn:aws:iam:::user/NAME)")
            if name is not None:
                found.add(name)
    return frozenset(found)


def _resources(values: list[str], bucket: Bucket) -> tuple[bool, tuple[str, ...]]:
    whole, keys = False, []
    for r in values:
        if r == "*":
            whole = True
            keys.append(".*")
            continue
        if not r.startswith(_ARN):
            raise _malformed(f"Policy has invalid resource {r!r}: use arn:aws:s3:::<bucket>[/<key pattern>]")
        name, slash, pattern = r[len(_ARN):].partition("/")
        try:
            named = parse_bucket(name)
        except BucketNameError:
            named = None
        if named is None or named.commit or (named.project, named.repo, named.branch) != \
                (bucket.project, bucket.repo, bucket.branch):
            raise _malformed(f"Policy has invalid resource {r!r}: a bucket's policy names that bucket")
        if slash:
            keys.append("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern))
        else:
            whole = True
    return whole, tuple(keys)


def _condition(value) -> tuple[tuple, bool] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value or set(value) - {"IpAddress", "NotIpAddress"} or len(value) > 1:
        raise _malformed("the one condition offered is IpAddress or NotIpAddress on aws:SourceIp")
    (op, test), = value.items()
    if not isinstance(test, dict) or [k.lower() for k in test] != ["aws:sourceip"]:
        raise _malformed(f"{op} takes aws:SourceIp only")
    try:
        networks = tuple(ipaddress.ip_network(c, strict=False) for c in _strings(next(iter(test.values())), op))
    except ValueError as e:
        raise _malformed(f"{op}: {e}") from None
    return networks, op == "NotIpAddress"


def _strings(value, what: str) -> list[str]:
    value = [value] if isinstance(value, str) else value
    if not value or not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _malformed(f"{what} is a string or a list of strings")
    return value


def _malformed(why: str) -> errors.S3Error:
    return errors.S3Error(400, "MalformedPolicy", why)

"""Bucket policies, pure: what parses, what is refused (and why), who a statement reaches, and
which policies AWS's rule calls public (the cases of s3-tests' policy-status tests, re-expressed)."""
from __future__ import annotations

import json

import pytest

from pipelines.s3.buckets import parse_bucket
from pipelines.s3.errors import S3Error
from pipelines.s3.keys import ANONYMOUS, Caller
from pipelines.s3.policy import parse_policy

pytestmark = pytest.mark.unit

BUCKET = parse_bucket("master.docs")
ARN = "arn:aws:s3:::master.docs"
ALT, OTHER = Caller("reader", "alt"), Caller("reader", "other")


def doc(*statements, version="2012-10-17") -> str:
    return json.dumps({"Version": version, "Statement": list(statements)})


def st(effect="Allow", principal="*", action="s3:GetObject", resource=ARN + "/*", **more) -> dict:
    return {"Effect": effect, "Principal": principal, "Action": action, "Resource": resource, **more}


def parse(text: str):
    return parse_policy(text, BUCKET, frozenset({"alt", "other"}))


@pytest.mark.parametrize("statement, public", [
    pytest.param(st(principal={"AWS": "*"}, action="s3:ListBucket", resource=[ARN, ARN + "/*"]), True,
                 id="everyone-lists"),
    pytest.param(st(principal={"AWS": "*"}, action="s3:ListBucket", resource=[ARN, ARN + "/*"],
                    Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/32"}}), False, id="one-address"),
    pytest.param(st(principal={"AWS": "*"}, Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}), True,
                 id="every-address"),
    pytest.param({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::s3tenant1:root"},
                  "Action": "s3:ListBucket", "Resource": [ARN, ARN + "/*"]}, True, id="everyone-but-one"),
    pytest.param(st(principal={"AWS": "arn:aws:iam:::user/alt"}), False, id="a-reader"),
    pytest.param(st(effect="Deny"), False, id="a-denial"),
])
def test_public_as_aws_decides(statement, public):
    assert parse(doc(statement)).public is public


@pytest.mark.parametrize("statement, why", [
    pytest.param(st(action="s3:*"), "only ever read", id="allow-everything"),
    pytest.param(st(action="s3:PutObject"), "only ever read", id="allow-a-write"),
    pytest.param(st(action="s3:Get*"), "GetObjectAcl", id="wildcard-reaching-the-acl"),
    pytest.param(st(action="s3:Fly"), "unknown action", id="unknown-action"),
    pytest.param(st(principal={"AWS": "arn:aws:iam:::user/ghost"}), "Invalid principal", id="unknown-reader"),
    pytest.param(st(principal={"Service": "lambda.amazonaws.com"}), "Principal is", id="service-principal"),
    pytest.param(st(resource="arn:aws:s3:::master.other/*"), "names that bucket", id="another-bucket"),
    pytest.param(st(resource="arn:aws:s3:::" + "0123456789abcdef" * 2 + ".master.docs/*"), "names that bucket",
                 id="a-pinned-commit"),
    pytest.param(st(resource="docs/*"), "invalid resource", id="not-an-arn"),
    pytest.param(st(action="s3:ListBucket"), "does not apply", id="list-on-keys-only"),
    pytest.param(st(resource=ARN), "does not apply", id="get-on-the-bucket-only"),
    pytest.param(st(Condition={"StringEquals": {"s3:prefix": "a"}}), "IpAddress", id="other-condition"),
    pytest.param(st(NotAction="s3:GetObject"), "NotAction", id="not-action"),
    pytest.param(st(effect="Maybe"), "Effect", id="effect"),
])
def test_refused_with_the_reason(statement, why):
    with pytest.raises(S3Error) as e:
        parse(doc(statement))
    assert e.value.code == "MalformedPolicy" and why in e.value.message


@pytest.mark.parametrize("text", ["not json", "[]", json.dumps({"Version": "2099-01-01", "Statement": [st()]}),
                                  json.dumps({"Version": "2012-10-17"})])
def test_not_a_policy(text):
    with pytest.raises(S3Error):
        parse(text)


def test_who_and_what_a_statement_reaches():
    p = parse(doc(st(principal={"AWS": ["arn:aws:iam::any:user/alt"]}, resource=ARN + "/pub/*.txt"),
                  st(principal={"CanonicalUser": "other"}, action="s3:ListBucket", resource=ARN)))
    assert p.decide(ALT, "s3:GetObject", "pub/a/b.txt", "") is True  # '*' crosses '/', as IAM's
    assert p.decide(ALT, "s3:GetObject", "pub/a.jpg", "") is None
    assert p.decide(OTHER, "s3:GetObject", "pub/a.txt", "") is None
    assert p.decide(ANONYMOUS, "s3:GetObject", "pub/a.txt", "") is None
    assert p.decide(OTHER, "s3:ListBucket", None, "") is True
    assert p.decide(ALT, "S3:listbucket", None, "") is None


def test_a_denial_wins_and_addresses_count():
    p = parse(doc(st(action=["s3:GetObject", "s3:ListBucket"], resource=[ARN, ARN + "/*"]),
                  st(effect="Deny", principal={"AWS": "arn:aws:iam:::user/alt"}, action="s3:*", resource="*"),
                  st(effect="Deny", action="s3:GetObject", resource=ARN + "/secret/*",
                     Condition={"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}})))
    assert p.decide(OTHER, "s3:GetObject", "a.txt", "192.0.2.1") is True
    assert p.decide(ALT, "s3:GetObject", "a.txt", "127.0.0.1") is False
    assert p.decide(ALT, "s3:ListBucket", None, "127.0.0.1") is False
    assert p.decide(ANONYMOUS, "s3:GetObject", "secret/k", "127.0.0.1") is True
    assert p.decide(ANONYMOUS, "s3:GetObject", "secret/k", "::1") is True
    assert p.decide(ANONYMOUS, "s3:GetObject", "secret/k", "192.0.2.1") is False


def test_the_owner_and_unknown_principals_in_not_principal():
    p = parse(doc({"Effect": "Allow", "NotPrincipal": {"AWS": ["arn:aws:iam::s3tenant1:root",
                                                               "arn:aws:iam:::user/other"]},
                   "Action": "s3:GetObject", "Resource": ARN + "/*"}))
    assert p.decide(ALT, "s3:GetObject", "k", "") is True and p.decide(OTHER, "s3:GetObject", "k", "") is None
    owners = parse(doc(st(principal={"AWS": "arn:aws:iam:::user/pachmedia"})))  # the owner may be named
    assert owners.decide(ALT, "s3:GetObject", "k", "") is None

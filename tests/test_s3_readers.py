"""A second principal: read-only reader keys (`pachmedia s3 keys --add-reader`), canned ACLs on
buckets and objects, the public access block, through boto3 against the gateway over a real
engine store. The owner writes; readers and anonymous clients read what a grant allows."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from pipelines.s3 import serve
from pipelines.s3.keys import ACCESS_ENV, SECRET_ENV, add_reader, load_keys, readers, remove_reader
from tests.fixtures.s3 import ACCESS, SECRET, boto_client, store_backend

pytestmark = pytest.mark.media
OWNER_ENV = {ACCESS_ENV: ACCESS, SECRET_ENV: SECRET}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    d = tmp_path_factory.mktemp("readers")
    e, backend = store_backend(d / "home", inputs=("docs", "open", "members", "mixed"))
    reader = add_reader(e.home, "alt")
    server = serve(backend, "127.0.0.1", 0, load_keys(e.home, OWNER_ENV), parts_dir=d / "parts", state_dir=e.home)
    owner = boto_client(server.url)
    for bucket in ("docs", "open", "members", "mixed"):
        owner.put_object(Bucket=bucket, Key="a.txt", Body=f"{bucket} a".encode())
    owner.put_bucket_acl(Bucket="open", ACL="public-read")
    owner.put_bucket_acl(Bucket="members", ACL="authenticated-read")
    owner.put_object(Bucket="mixed", Key="shared.txt", Body=b"for all", ACL="public-read")
    owner.put_object(Bucket="mixed", Key="members.txt", Body=b"for keys", ACL="authenticated-read")
    yield server, e, reader
    server.stop()
    e.close()


def owner_of(gw):
    return boto_client(gw[0].url)


def reader_client(url: str, access: str, secret: str, **config):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=access, aws_secret_access_key=secret,
                        region_name="us-east-1", config=Config(s3={"addressing_style": "path"},
                                                               retries={"max_attempts": 1}, **config))


@pytest.fixture(scope="module")
def alt(gw):
    return reader_client(gw[0].url, *gw[2])


@pytest.fixture(scope="module")
def anon(gw):
    return boto_client(gw[0].url, signature_version=UNSIGNED)


def code(call) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def body(c, bucket, key) -> bytes:
    return c.get_object(Bucket=bucket, Key=key)["Body"].read()


# who reads what: (bucket, key) -> (reader may, anonymous may)
GRANTS = [
    pytest.param("docs", "a.txt", False, False, id="private-bucket"),
    pytest.param("open", "a.txt", True, True, id="public-read-bucket"),
    pytest.param("members", "a.txt", True, False, id="authenticated-read-bucket"),
    pytest.param("mixed", "a.txt", False, False, id="private-object"),
    pytest.param("mixed", "shared.txt", True, True, id="public-read-object"),
    pytest.param("mixed", "members.txt", True, False, id="authenticated-read-object"),
]


@pytest.mark.parametrize("bucket, key, reader_may, anonymous_may", GRANTS)
def test_reads_follow_the_acls(alt, anon, bucket, key, reader_may, anonymous_may):
    for c, may in ((alt, reader_may), (anon, anonymous_may)):
        if may:
            assert body(c, bucket, key) == body(alt if reader_may else anon, bucket, key)
            assert c.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
        else:
            assert code(lambda: c.get_object(Bucket=bucket, Key=key)) == "AccessDenied"


@pytest.mark.parametrize("bucket, lists", [("docs", False), ("open", True), ("members", True), ("mixed", False)])
def test_listing_needs_the_buckets_grant(alt, bucket, lists):
    if lists:
        assert "a.txt" in [o["Key"] for o in alt.list_objects_v2(Bucket=bucket)["Contents"]]
        alt.head_bucket(Bucket=bucket)
    else:
        assert code(lambda: alt.list_objects(Bucket=bucket)) == "AccessDenied"


def test_a_reader_lists_the_buckets_it_may_read(alt, gw):
    names = {b["Name"] for b in alt.list_buckets()["Buckets"]}
    assert names == {"master.open.default", "master.members.default"}
    assert "master.docs.default" in {b["Name"] for b in owner_of(gw).list_buckets()["Buckets"]}


def test_what_does_not_exist_is_denied_as_what_is_not_granted(alt, anon):
    """A caller without a grant learns nothing: a missing bucket or key is AccessDenied, as a private one."""
    for c in (alt, anon):
        assert code(lambda: c.get_object(Bucket="no-such-repo", Key="a.txt")) == "AccessDenied"
        assert code(lambda: c.get_object(Bucket="docs", Key="no-such-key")) == "AccessDenied"
        assert code(lambda: c.list_objects(Bucket="no-such-repo")) == "AccessDenied"
    assert code(lambda: alt.get_object(Bucket="open", Key="no-such-key")) == "NoSuchKey"  # granted: it may know


@pytest.mark.parametrize("write", [
    pytest.param(lambda c: c.put_object(Bucket="open", Key="new.txt", Body=b"x"), id="put"),
    pytest.param(lambda c: c.delete_object(Bucket="open", Key="a.txt"), id="delete"),
    pytest.param(lambda c: c.delete_objects(Bucket="open", Delete={"Objects": [{"Key": "a.txt"}]}), id="delete-many"),
    pytest.param(lambda c: c.copy_object(Bucket="open", Key="b.txt", CopySource="open/a.txt"), id="copy"),
    pytest.param(lambda c: c.create_bucket(Bucket="master.made-by-reader"), id="create-bucket"),
    pytest.param(lambda c: c.delete_bucket(Bucket="open"), id="delete-bucket"),
    pytest.param(lambda c: c.put_bucket_acl(Bucket="docs", ACL="public-read"), id="bucket-acl"),
    pytest.param(lambda c: c.put_object_acl(Bucket="open", Key="a.txt", ACL="public-read"), id="object-acl"),
    pytest.param(lambda c: c.get_bucket_acl(Bucket="open"), id="read-the-acl"),
    pytest.param(lambda c: c.create_multipart_upload(Bucket="open", Key="mp"), id="multipart"),
    pytest.param(lambda c: c.list_multipart_uploads(Bucket="open"), id="list-uploads"),
    pytest.param(lambda c: c.put_public_access_block(Bucket="open", PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": True}), id="access-block"),
])
def test_readers_never_write(alt, gw, write):
    assert code(lambda: write(alt)) == "AccessDenied"
    assert body(owner_of(gw), "open", "a.txt") == b"open a"


def test_authenticated_read_is_public_in_policy_status(gw):
    owner = owner_of(gw)
    assert owner.get_bucket_policy_status(Bucket="members")["PolicyStatus"]["IsPublic"] is True
    assert owner.get_bucket_policy_status(Bucket="docs")["PolicyStatus"]["IsPublic"] is False
    grants = owner.get_bucket_acl(Bucket="members")["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"},
            "Permission": "READ"} in grants
    acl = owner.get_object_acl(Bucket="mixed", Key="shared.txt")["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
            "Permission": "READ"} in acl


def test_ignore_public_acls_and_restrict(gw, alt, anon):
    owner = owner_of(gw)
    owner.create_bucket(Bucket="master.blocking")
    owner.put_object(Bucket="master.blocking", Key="k", Body=b"k", ACL="public-read")
    owner.put_bucket_acl(Bucket="master.blocking", ACL="public-read")
    assert body(alt, "master.blocking", "k") == body(anon, "master.blocking", "k") == b"k"
    for flags, still in (({"IgnorePublicAcls": True}, False), ({"RestrictPublicBuckets": True}, False), ({}, True)):
        owner.put_public_access_block(Bucket="master.blocking", PublicAccessBlockConfiguration={
            "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False, **flags})
        for c in (alt, anon):
            if still:
                assert body(c, "master.blocking", "k") == b"k"
            else:
                assert code(lambda: c.get_object(Bucket="master.blocking", Key="k")) == "AccessDenied"
                assert code(lambda: c.list_objects(Bucket="master.blocking")) == "AccessDenied"
        assert owner.get_object(Bucket="master.blocking", Key="k")["Body"].read() == b"k"


def test_copy_and_put_object_acl_set_the_objects_acl(gw, alt):
    owner = owner_of(gw)
    owner.put_object(Bucket="docs", Key="src.txt", Body=b"src", ACL="public-read")
    owner.copy_object(Bucket="docs", Key="copy.txt", CopySource="docs/src.txt")  # a copy's ACL is its own
    assert code(lambda: alt.get_object(Bucket="docs", Key="copy.txt")) == "AccessDenied"
    owner.copy_object(Bucket="docs", Key="copy.txt", CopySource="docs/src.txt", ACL="authenticated-read")
    assert body(alt, "docs", "copy.txt") == b"src"
    owner.put_object_acl(Bucket="docs", Key="copy.txt", ACL="private")
    assert code(lambda: alt.get_object(Bucket="docs", Key="copy.txt")) == "AccessDenied"
    assert owner.get_object(Bucket="docs", Key="copy.txt")["Body"].read() == b"src"  # content kept
    assert code(lambda: owner.put_object(Bucket="docs", Key="x", Body=b"", ACL="no-such-acl")) == "InvalidArgument"


def test_a_reader_removed_stops_at_once_and_one_added_works_at_once(gw, tmp_path):
    server, e, _ = gw
    access, secret = add_reader(e.home, "later")
    later = reader_client(server.url, access, secret)
    assert body(later, "open", "a.txt") == b"open a"
    remove_reader(e.home, "later")
    assert code(lambda: later.get_object(Bucket="open", Key="a.txt")) == "InvalidAccessKeyId"


def test_keys_file_holds_readers_beside_the_owner(tmp_path):
    home = tmp_path / "home"
    a = add_reader(home, "consumer")  # before any owner pair: the file holds the reader alone
    owner = load_keys(home, {})  # generated into the same file, the reader kept
    assert readers(home) == {"consumer": a}
    assert load_keys(home, {}) == owner
    assert stat.S_IMODE((home / "s3-keys.json").stat().st_mode) == 0o600
    assert owner.caller(a[0]).name == "consumer" and owner.caller(owner.access_key).is_owner
    assert owner.caller("nobody") is None and owner.secret_for(a[0]) == a[1]
    with pytest.raises(Exception, match="exists"):
        add_reader(home, "consumer")
    with pytest.raises(Exception, match="reader name"):
        add_reader(home, "pachmedia")


def test_cli_adds_shows_and_removes_a_reader(tmp_path):
    env = {**os.environ, "PACHMEDIA_HOME": str(tmp_path / "home"), "PYTHONPATH": ROOT}
    env.pop(ACCESS_ENV, None)
    env.pop(SECRET_ENV, None)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "pipelines.cli", "s3", "keys", *args], env=env,
                              capture_output=True, text=True, cwd=ROOT)
    added = cli("--add-reader", "player")
    pair = dict(line.split("=", 1) for line in added.stdout.splitlines())
    assert added.returncode == 0 and set(pair) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert dict(line.split("=", 1) for line in cli("--reader", "player").stdout.splitlines()) == pair
    listing = cli().stdout
    assert f"# reader player: {pair['AWS_ACCESS_KEY_ID']}" in listing and pair["AWS_SECRET_ACCESS_KEY"] not in listing
    again = cli("--add-reader", "player")
    assert again.returncode == 2 and "exists" in again.stderr
    assert cli("--remove-reader", "player").returncode == 0
    assert "player" not in json.loads((tmp_path / "home" / "s3-keys.json").read_text())["readers"]


# --- bucket policies, enforced -------------------------------------------------------

def policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_a_policy_grants_and_denies_what_it_says(gw, alt, anon):
    owner = owner_of(gw)
    owner.create_bucket(Bucket="master.policed")
    for key in ("pub/a.txt", "pub/secret.txt", "team/b.txt"):
        owner.put_object(Bucket="master.policed", Key=key, Body=key.encode())
    arn = "arn:aws:s3:::master.policed"
    owner.put_bucket_policy(Bucket="master.policed", Policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{arn}/pub/*"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam:::user/alt"}, "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": [arn, f"{arn}/team/*"]},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{arn}/pub/secret.txt"}))
    assert body(anon, "master.policed", "pub/a.txt") == body(alt, "master.policed", "pub/a.txt") == b"pub/a.txt"
    assert body(alt, "master.policed", "team/b.txt") == b"team/b.txt"
    assert code(lambda: anon.get_object(Bucket="master.policed", Key="team/b.txt")) == "AccessDenied"
    assert [o["Key"] for o in alt.list_objects(Bucket="master.policed")["Contents"]] == \
        ["pub/a.txt", "pub/secret.txt", "team/b.txt"]
    assert code(lambda: anon.list_objects(Bucket="master.policed")) == "AccessDenied"
    for c in (alt, anon):  # the denial wins over the grant
        assert code(lambda: c.get_object(Bucket="master.policed", Key="pub/secret.txt")) == "AccessDenied"
    assert owner.get_object(Bucket="master.policed", Key="pub/secret.txt")["Body"].read() == b"pub/secret.txt"
    assert owner.get_bucket_policy_status(Bucket="master.policed")["PolicyStatus"]["IsPublic"] is True
    assert json.loads(owner.get_bucket_policy(Bucket="master.policed")["Policy"])["Statement"][2]["Effect"] == "Deny"
    owner.delete_bucket_policy(Bucket="master.policed")
    assert code(lambda: anon.get_object(Bucket="master.policed", Key="pub/a.txt")) == "AccessDenied"
    assert code(lambda: owner.get_bucket_policy(Bucket="master.policed")) == "NoSuchBucketPolicy"


def test_a_policy_denial_wins_over_a_public_acl(gw, alt, anon):
    owner = owner_of(gw)
    owner.create_bucket(Bucket="master.denying")
    owner.put_object(Bucket="master.denying", Key="k", Body=b"k", ACL="public-read")
    assert body(anon, "master.denying", "k") == b"k"
    owner.put_bucket_policy(Bucket="master.denying", Policy=policy(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::master.denying/*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}))  # the tests come from 127.0.0.1
    for c in (alt, anon):
        assert code(lambda: c.get_object(Bucket="master.denying", Key="k")) == "AccessDenied"
    assert owner.get_bucket_policy_status(Bucket="master.denying")["PolicyStatus"]["IsPublic"] is False


def test_a_source_address_condition(gw, anon):
    owner = owner_of(gw)
    owner.create_bucket(Bucket="master.local")
    owner.put_object(Bucket="master.local", Key="k", Body=b"k")
    arn = "arn:aws:s3:::master.local/*"
    for cidr, reads in (("10.0.0.0/32", False), ("127.0.0.0/8", True)):
        owner.put_bucket_policy(Bucket="master.local", Policy=policy(
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": arn,
             "Condition": {"IpAddress": {"aws:SourceIp": cidr}}}))
        if reads:
            assert body(anon, "master.local", "k") == b"k"
        else:
            assert code(lambda: anon.get_object(Bucket="master.local", Key="k")) == "AccessDenied"


def test_block_public_policy_refuses_public_policies_only(gw, alt):
    owner = owner_of(gw)
    owner.create_bucket(Bucket="master.guarded")
    owner.put_object(Bucket="master.guarded", Key="k", Body=b"k")
    owner.put_public_access_block(Bucket="master.guarded", PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": True, "RestrictPublicBuckets": False})
    arn = "arn:aws:s3:::master.guarded/*"
    assert code(lambda: owner.put_bucket_policy(Bucket="master.guarded", Policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": arn}))) == "AccessDenied"
    owner.put_bucket_policy(Bucket="master.guarded", Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam:::user/alt"}, "Action": "s3:GetObject", "Resource": arn}))
    assert body(alt, "master.guarded", "k") == b"k"
    assert code(lambda: owner.put_bucket_policy(Bucket="master.guarded", Policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": arn}))) == "MalformedPolicy"


def test_a_new_bucket_has_no_settings_of_a_deleted_one(gw, anon):
    owner = owner_of(gw)
    owner.create_bucket(Bucket="master.reborn", ACL="public-read")
    owner.put_object(Bucket="master.reborn", Key="k", Body=b"k")
    assert body(anon, "master.reborn", "k") == b"k"
    owner.delete_object(Bucket="master.reborn", Key="k")
    owner.delete_bucket(Bucket="master.reborn")
    owner.create_bucket(Bucket="master.reborn")
    owner.put_object(Bucket="master.reborn", Key="k", Body=b"k")
    assert code(lambda: anon.get_object(Bucket="master.reborn", Key="k")) == "AccessDenied"


def test_settings_of_an_older_home_still_hold(tmp_path):
    """s3-buckets.json from before readers kept `"public": true`: that bucket stays public-read."""
    e, backend = store_backend(tmp_path / "home", inputs=("docs", "other"))
    try:
        (e.home / "s3-buckets.json").write_text(json.dumps({"master.docs.default": {"public": True},
                                                            "master.other.default": {"public": False}}))
        server = serve(backend, "127.0.0.1", 0, load_keys(e.home, OWNER_ENV), state_dir=e.home)
        try:
            owner, anon = boto_client(server.url), boto_client(server.url, signature_version=UNSIGNED)
            for bucket in ("docs", "other"):
                owner.put_object(Bucket=bucket, Key="k", Body=b"k")
            assert body(anon, "docs", "k") == b"k"
            assert code(lambda: anon.get_object(Bucket="other", Key="k")) == "AccessDenied"
            owner.put_public_access_block(Bucket="docs", PublicAccessBlockConfiguration={
                "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
                "RestrictPublicBuckets": False})  # a write of the bucket's settings: the new form
            assert json.loads((e.home / "s3-buckets.json").read_text())["master.docs.default"]["acl"] == "public-read"
            assert body(anon, "docs", "k") == b"k"
        finally:
            server.stop()
    finally:
        e.close()

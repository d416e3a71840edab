"""What S3 clients expect of buckets, metadata, ETags, conditions and multipart, through
boto3 (SigV4 and SigV2) against the gateway over a real engine store (issue 17)."""
from __future__ import annotations

import hashlib
import io
import json

import pytest
from botocore.exceptions import ClientError

from pipelines.s3 import Keys, serve
from tests.fixtures.s3 import ACCESS, SECRET, boto_client, seed_output, store_backend

pytestmark = pytest.mark.media
MB = 1 << 20


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    d = tmp_path_factory.mktemp("semantics")
    e, backend = store_backend(d / "home", inputs=("docs",))
    seed_output(e, "out", {"a.json": b"{}"})
    server = serve(backend, "127.0.0.1", 0, Keys(ACCESS, SECRET), parts_dir=d / "parts")
    yield server, e
    server.stop()
    e.close()


@pytest.fixture(scope="module")
def s3(gw):
    return boto_client(gw[0].url)


def code(exc) -> str:
    return exc.value.response["Error"]["Code"]


# --- buckets -------------------------------------------------------------------------

def test_create_and_delete_bucket_as_pachd(s3, gw):
    s3.create_bucket(Bucket="master.newrepo")
    s3.create_bucket(Bucket="dev.newrepo")
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="dev.newrepo")
    assert code(e) == "BucketAlreadyOwnedByYou"
    assert {"master.newrepo.default", "dev.newrepo.default"} <= {b["Name"] for b in s3.list_buckets()["Buckets"]}
    s3.put_object(Bucket="dev.newrepo", Key="f.txt", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="dev.newrepo")
    assert code(e) == "BucketNotEmpty"
    s3.delete_object(Bucket="dev.newrepo", Key="f.txt")
    s3.delete_bucket(Bucket="dev.newrepo")
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="dev.newrepo")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert gw[1].store.repo("newrepo")  # its commits stay, as pachd's DeleteBranch


@pytest.mark.parametrize("name, error", [
    pytest.param("master.out", "BucketAlreadyOwnedByYou", id="pipeline-output"),
    pytest.param("master.my_repo", "InvalidBucketName", id="not-an-s3-name"),
    pytest.param("a.b.c.d", "InvalidBucketName", id="too-many-parts"),
])
def test_create_bucket_refusals(s3, name, error):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name)
    assert code(e) == error


def test_list_buckets_pages_with_max_buckets(s3):
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    first = s3.list_buckets(MaxBuckets=1)
    assert [b["Name"] for b in first["Buckets"]] == names[:1] and first["ContinuationToken"]
    rest = s3.list_buckets(MaxBuckets=100, ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == names[1:]


# --- objects: metadata, ETag, times --------------------------------------------------

def test_metadata_round_trip_and_replace_on_copy(s3):
    s3.put_object(Bucket="docs", Key="m.bin", Body=b"hi", ContentType="text/x-custom", CacheControl="max-age=60",
                  ContentEncoding="gzip", ContentDisposition="attachment", Metadata={"Mtime": "1700000000.5"})
    head = s3.head_object(Bucket="docs", Key="m.bin")
    assert (head["ContentType"], head["CacheControl"], head["ContentEncoding"], head["ContentDisposition"]) == \
        ("text/x-custom", "max-age=60", "gzip", "attachment")
    assert head["Metadata"] == {"mtime": "1700000000.5"}
    assert head["ETag"] == '"%s"' % hashlib.md5(b"hi").hexdigest()
    s3.copy_object(Bucket="docs", Key="kept.bin", CopySource="docs/m.bin")
    assert s3.head_object(Bucket="docs", Key="kept.bin")["Metadata"] == {"mtime": "1700000000.5"}
    s3.copy_object(Bucket="docs", Key="m.bin", CopySource="docs/m.bin", MetadataDirective="REPLACE",
                   Metadata={"k": "v"}, ContentType="text/plain")
    head = s3.head_object(Bucket="docs", Key="m.bin")
    assert head["Metadata"] == {"k": "v"} and head["ContentType"] == "text/plain"
    got = s3.get_object(Bucket="docs", Key="m.bin", ResponseContentType="image/png")
    assert got["ContentType"] == "image/png"


def test_copy_onto_itself_needs_new_metadata(s3):
    s3.put_object(Bucket="docs", Key="self.bin", Body=b"s")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="docs", Key="self.bin", CopySource="docs/self.bin")
    assert code(e) == "InvalidRequest"


def test_last_modified_is_per_file(s3):
    s3.put_object(Bucket="docs", Key="old.txt", Body=b"1")
    before = s3.head_object(Bucket="docs", Key="old.txt")["LastModified"]
    s3.put_object(Bucket="docs", Key="newer.txt", Body=b"2")  # a later commit
    listed = {o["Key"]: o["LastModified"].replace(microsecond=0) for o in s3.list_objects_v2(Bucket="docs")["Contents"]}
    assert listed["old.txt"] == before <= listed["newer.txt"]  # HTTP dates have whole seconds
    assert s3.head_object(Bucket="docs", Key="old.txt")["LastModified"] == before


# --- conditions ----------------------------------------------------------------------

def test_conditional_put_and_copy(s3):
    s3.put_object(Bucket="docs", Key="c.txt", Body=b"v1")
    etag = s3.head_object(Bucket="docs", Key="c.txt")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="docs", Key="c.txt", Body=b"v2", IfNoneMatch="*")
    assert code(e) == "PreconditionFailed"
    s3.put_object(Bucket="docs", Key="c.txt", Body=b"v2", IfMatch=etag)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="docs", Key="c.txt", Body=b"v3", IfMatch=etag)  # no longer that ETag
    assert code(e) == "PreconditionFailed"
    s3.put_object(Bucket="docs", Key="fresh.txt", Body=b"x", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="docs", Key="d.txt", CopySource="docs/c.txt", CopySourceIfMatch=etag)
    assert code(e) == "PreconditionFailed"
    s3.copy_object(Bucket="docs", Key="d.txt", CopySource="docs/c.txt", CopySourceIfNoneMatch=etag)
    assert s3.get_object(Bucket="docs", Key="d.txt")["Body"].read() == b"v2"


# --- multipart -----------------------------------------------------------------------

def test_multipart_etag_part_reads_copy_and_listing(s3):
    parts_data = [b"a" * (5 * MB), b"b" * (5 * MB), b"tail"]
    s3.put_object(Bucket="docs", Key="src.bin", Body=b"0123456789" * (MB // 2))
    up = s3.create_multipart_upload(Bucket="docs", Key="mp.bin", ContentType="video/mp4")["UploadId"]
    listed = s3.list_multipart_uploads(Bucket="docs")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("mp.bin", up)]
    etags = [s3.upload_part(Bucket="docs", Key="mp.bin", UploadId=up, PartNumber=n + 1, Body=d)["ETag"]
             for n, d in enumerate(parts_data[:2])]
    copied = s3.upload_part_copy(Bucket="docs", Key="mp.bin", UploadId=up, PartNumber=3,
                                 CopySource="docs/src.bin", CopySourceRange="bytes=0-3")
    etags.append(copied["CopyPartResult"]["ETag"])
    body = {"Parts": [{"PartNumber": n + 1, "ETag": t} for n, t in enumerate(etags)]}
    done = s3.complete_multipart_upload(Bucket="docs", Key="mp.bin", UploadId=up, MultipartUpload=body)
    again = s3.complete_multipart_upload(Bucket="docs", Key="mp.bin", UploadId=up, MultipartUpload=body)
    assert again["ETag"] == done["ETag"]  # a retried Complete gets the same answer
    md5s = b"".join(hashlib.md5(d).digest() for d in parts_data[:2] + [b"0123"])
    assert done["ETag"] == '"%s-3"' % hashlib.md5(md5s).hexdigest()
    head = s3.head_object(Bucket="docs", Key="mp.bin", PartNumber=2)
    assert head["PartsCount"] == 3 and head["ContentLength"] == 5 * MB
    assert s3.get_object(Bucket="docs", Key="mp.bin", PartNumber=3)["Body"].read() == b"0123"
    assert s3.head_object(Bucket="docs", Key="mp.bin")["ContentType"] == "video/mp4"
    assert s3.list_multipart_uploads(Bucket="docs").get("Uploads", []) == []


# --- listing -------------------------------------------------------------------------

def test_listing_edges(s3):
    s3.put_object(Bucket="docs", Key="sp ace/x.txt", Body=b"x")
    zero = s3.list_objects(Bucket="docs", MaxKeys=0)
    assert zero["IsTruncated"] is False and "Contents" not in zero
    v1 = s3.list_objects(Bucket="docs", Prefix="sp ace/")  # boto3 asks for url encoding and decodes keys
    assert v1["Prefix"] == "sp ace/" and [o["Key"] for o in v1["Contents"]] == ["sp ace/x.txt"]
    v2 = s3.list_objects_v2(Bucket="docs", Prefix="sp ace/")  # in v2 it decodes Prefix too
    assert v2["Prefix"] == "sp ace/" and v2["KeyCount"] == 1


# --- SigV2 ---------------------------------------------------------------------------

def test_sigv2_clients_read_and_write(gw):
    v2 = boto_client(gw[0].url, signature_version="s3")
    v2.put_object(Bucket="docs", Key="v2.txt", Body=b"signed the old way", Metadata={"a": "b"})
    assert v2.get_object(Bucket="docs", Key="v2.txt")["Body"].read() == b"signed the old way"
    url = v2.generate_presigned_url("get_object", Params={"Bucket": "docs", "Key": "v2.txt"}, ExpiresIn=60)
    import urllib.request
    assert urllib.request.urlopen(url, timeout=30).read() == b"signed the old way"
    bad = boto_client(gw[0].url, secret="wrong", signature_version="s3")
    with pytest.raises(ClientError) as e:
        bad.get_object(Bucket="docs", Key="v2.txt")
    assert code(e) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError):
        v2.put_object(Bucket="master.out", Key="x", Body=io.BytesIO(b"x"))  # outputs stay read-only


# --- public reads: canned ACLs and the public access block ---------------------------

def test_a_bucket_made_public_by_acl_and_private_again(s3, gw):
    from botocore import UNSIGNED
    s3.put_object(Bucket="docs", Key="pub.txt", Body=b"for all")
    anon = boto_client(gw[0].url, signature_version=UNSIGNED)
    with pytest.raises(ClientError):
        anon.get_object(Bucket="docs", Key="pub.txt")
    s3.put_bucket_acl(Bucket="docs", ACL="public-read")
    assert anon.get_object(Bucket="docs", Key="pub.txt")["Body"].read() == b"for all"
    assert s3.get_bucket_policy_status(Bucket="docs")["PolicyStatus"]["IsPublic"] is True
    grants = s3.get_bucket_acl(Bucket="docs")["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
            "Permission": "READ"} in grants
    with pytest.raises(ClientError):
        anon.put_object(Bucket="docs", Key="x", Body=b"x")  # reads only
    s3.put_bucket_acl(Bucket="docs", ACL="private")
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket="docs", Key="pub.txt")
    assert code(e) == "AccessDenied"


def test_public_access_block(s3, gw):
    flags = {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
             "RestrictPublicBuckets": False}
    s3.create_bucket(Bucket="master.blocked")
    assert not any(s3.get_public_access_block(Bucket="master.blocked")["PublicAccessBlockConfiguration"].values())
    s3.put_public_access_block(Bucket="master.blocked", PublicAccessBlockConfiguration=flags)
    assert s3.get_public_access_block(Bucket="master.blocked")["PublicAccessBlockConfiguration"] == flags
    for call in (lambda: s3.put_bucket_acl(Bucket="master.blocked", ACL="public-read"),
                 lambda: s3.put_object(Bucket="master.blocked", Key="k", Body=b"", ACL="public-read"),
                 lambda: s3.put_bucket_policy(Bucket="master.blocked", Policy=public_policy("master.blocked"))):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDenied"
    s3.delete_public_access_block(Bucket="master.blocked")
    s3.put_bucket_acl(Bucket="master.blocked", ACL="public-read")


def public_policy(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]})


def test_acl_settings_survive_a_restart(tmp_path):
    from botocore import UNSIGNED
    e, backend = store_backend(tmp_path / "home", inputs=("docs",))
    try:
        for attempt in range(2):
            server = serve(backend, "127.0.0.1", 0, Keys(ACCESS, SECRET), state_dir=e.home)
            try:
                if attempt == 0:
                    boto_client(server.url).put_object(Bucket="docs", Key="a.txt", Body=b"a")
                    boto_client(server.url).put_bucket_acl(Bucket="docs", ACL="public-read")
                anon = boto_client(server.url, signature_version=UNSIGNED)
                assert anon.get_object(Bucket="docs", Key="a.txt")["Body"].read() == b"a"
            finally:
                server.stop()
        assert oct((e.home / "s3-buckets.json").stat().st_mode & 0o777) == "0o600"
    finally:
        e.close()


def test_grants_to_unknown_principals_are_refused(s3):
    policy = s3.get_bucket_acl(Bucket="docs")
    grants = policy["Grants"] + [{"Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": "x@example.com"},
                                  "Permission": "FULL_CONTROL"}]
    with pytest.raises(ClientError) as e:
        s3.put_bucket_acl(Bucket="docs", AccessControlPolicy={"Grants": grants, "Owner": policy["Owner"]})
    assert code(e) == "UnresolvableGrantByEmailAddress"

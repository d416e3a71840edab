"""Storage classes: `x-amz-storage-class` kept with each file and given back (HEAD/GET, listings,
multipart), a copy's class is its request's (S3: STANDARD unless given), and a copy onto
itself may change only the class. A file is a file: every class reads back at once."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from pipelines.s3 import Keys, serve
from pipelines.s3.metadata import STORAGE_CLASSES
from tests.fixtures.s3 import ACCESS, SECRET, boto_client, store_backend

pytestmark = pytest.mark.media
MB = 1 << 20


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    d = tmp_path_factory.mktemp("storage-class")
    e, backend = store_backend(d / "home", inputs=("docs",))
    server = serve(backend, "127.0.0.1", 0, Keys(ACCESS, SECRET), parts_dir=d / "parts")
    yield boto_client(server.url)
    server.stop()
    e.close()


def listed(s3, key: str) -> str:
    found = [o for o in s3.list_objects(Bucket="docs", Prefix=key)["Contents"] if o["Key"] == key]
    v2 = [o for o in s3.list_objects_v2(Bucket="docs", Prefix=key)["Contents"] if o["Key"] == key]
    assert found[0]["StorageClass"] == v2[0]["StorageClass"]
    return found[0]["StorageClass"]


@pytest.mark.parametrize("cls", ["STANDARD_IA", "GLACIER", "DEEP_ARCHIVE", "REDUCED_REDUNDANCY"])
def test_a_class_is_kept_and_given_back(s3, cls):
    s3.put_object(Bucket="docs", Key=f"{cls}.bin", Body=cls.encode(), StorageClass=cls)
    assert s3.head_object(Bucket="docs", Key=f"{cls}.bin")["StorageClass"] == cls
    got = s3.get_object(Bucket="docs", Key=f"{cls}.bin")
    assert got["StorageClass"] == cls and got["Body"].read() == cls.encode()  # no restore needed
    assert listed(s3, f"{cls}.bin") == cls


def test_standard_is_the_default_and_not_a_header(s3):
    s3.put_object(Bucket="docs", Key="plain.bin", Body=b"p")
    s3.put_object(Bucket="docs", Key="said.bin", Body=b"p", StorageClass="STANDARD")
    for key in ("plain.bin", "said.bin"):
        assert "StorageClass" not in s3.head_object(Bucket="docs", Key=key)  # S3 names only the others
        assert listed(s3, key) == "STANDARD"


def test_an_unknown_class_is_refused(s3):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="docs", Key="x.bin", Body=b"x", StorageClass="LUKEWARM")
    assert e.value.response["Error"]["Code"] == "InvalidStorageClass"
    assert "STANDARD_IA" in e.value.response["Error"]["Message"]
    assert "LUKEWARM" not in STORAGE_CLASSES


def test_a_copy_takes_the_class_it_asks_for(s3):
    s3.put_object(Bucket="docs", Key="cold.bin", Body=b"c", StorageClass="GLACIER", Metadata={"k": "v"})
    s3.copy_object(Bucket="docs", Key="copied.bin", CopySource="docs/cold.bin")
    assert listed(s3, "copied.bin") == "STANDARD"  # as S3: a copy is STANDARD unless it says
    assert s3.head_object(Bucket="docs", Key="copied.bin")["Metadata"] == {"k": "v"}
    s3.copy_object(Bucket="docs", Key="copied.bin", CopySource="docs/cold.bin", StorageClass="ONEZONE_IA")
    assert s3.head_object(Bucket="docs", Key="copied.bin")["StorageClass"] == "ONEZONE_IA"


def test_a_copy_onto_itself_may_change_only_the_class(s3):
    s3.put_object(Bucket="docs", Key="self.bin", Body=b"s", Metadata={"k": "v"})
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="docs", Key="self.bin", CopySource="docs/self.bin")
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    s3.copy_object(Bucket="docs", Key="self.bin", CopySource="docs/self.bin", StorageClass="STANDARD_IA")
    head = s3.head_object(Bucket="docs", Key="self.bin")
    assert (head["StorageClass"], head["Metadata"]) == ("STANDARD_IA", {"k": "v"})
    with pytest.raises(ClientError):  # the same class again changes nothing
        s3.copy_object(Bucket="docs", Key="self.bin", CopySource="docs/self.bin", StorageClass="STANDARD_IA")
    s3.copy_object(Bucket="docs", Key="self.bin", CopySource="docs/self.bin", StorageClass="STANDARD")
    assert "StorageClass" not in s3.head_object(Bucket="docs", Key="self.bin")
    assert s3.get_object(Bucket="docs", Key="self.bin")["Body"].read() == b"s"


def test_multipart_keeps_the_class_of_its_creation(s3):
    up = s3.create_multipart_upload(Bucket="docs", Key="big.bin", StorageClass="INTELLIGENT_TIERING")
    parts = [s3.upload_part(Bucket="docs", Key="big.bin", UploadId=up["UploadId"], PartNumber=n,
                            Body=bytes([n]) * (5 * MB if n == 1 else 10))["ETag"] for n in (1, 2)]
    uploads = s3.list_multipart_uploads(Bucket="docs")["Uploads"]
    assert [u["StorageClass"] for u in uploads if u["UploadId"] == up["UploadId"]] == ["INTELLIGENT_TIERING"]
    assert s3.list_parts(Bucket="docs", Key="big.bin", UploadId=up["UploadId"])["StorageClass"] == \
        "INTELLIGENT_TIERING"
    s3.complete_multipart_upload(Bucket="docs", Key="big.bin", UploadId=up["UploadId"], MultipartUpload={
        "Parts": [{"ETag": etag, "PartNumber": n} for n, etag in enumerate(parts, 1)]})
    assert s3.head_object(Bucket="docs", Key="big.bin")["StorageClass"] == "INTELLIGENT_TIERING"
    assert listed(s3, "big.bin") == "INTELLIGENT_TIERING"

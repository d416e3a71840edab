"""The conformance runner's pure parts: Pachyderm's selection and reading nose's output."""
from __future__ import annotations

import pytest

from tests.s3conformance.report import (attribute_filter, collected, markdown, nose_name, parse_run, select,
                                        split_by_signature)
from tests.s3conformance.selection import IGNORED, ignore_reason

pytestmark = pytest.mark.unit

B3 = "s3tests_boto3.functional.test_s3."


@pytest.mark.parametrize("test_id, reason", [
    pytest.param(B3 + "test_bucket_acl_default", "acl_post_metadata_misc", id="acl"),
    pytest.param("s3tests.functional.test_s3_website.test_routing_generator", "website", id="module-wide"),
    pytest.param(B3 + "test_multipart_upload", "ceph_extensions", id="exact-not-prefix"),
    pytest.param(B3 + "test_multipart_upload_small", None, id="a-longer-name-is-not-ignored"),
    pytest.param(B3 + "test_bucket_list_empty", None, id="selected"),
])
def test_ignore_list(test_id, reason):
    assert ignore_reason(test_id) == reason


def test_selection_keeps_order_and_drops_ignored():
    ids = [B3 + "test_bucket_list_empty", B3 + "test_bucket_acl_default", B3 + "test_multipart_upload_small"]
    assert select(ids) == [ids[0], ids[2]]


def test_every_ignored_id_is_a_suite_id():
    ids = [i for group in IGNORED.values() for i in group]
    assert all(i.startswith(("s3tests.functional.", "s3tests_boto3.functional.")) for i in ids)
    assert len(ids) >= 200


def test_attribute_filter_ands_every_exclusion():
    assert attribute_filter().split(",")[:2] == ["!list-objects-v2", "!cors"]


NOSE = """\
s3tests_boto3.functional.test_s3.test_bucket_list_empty ... ok
s3tests_boto3.functional.test_s3.test_bucket_notexist ... ERROR
s3tests.functional.test_s3.test_object_storage_class ... SKIP: no storage classes
s3tests_boto3.functional.test_s3.test_object_copy_to_itself ... FAIL

======================================================================
ERROR: s3tests_boto3.functional.test_s3.test_bucket_notexist
----------------------------------------------------------------------
Traceback (most recent call last):
  File "x.py", line 1, in f
    raise ClientError
botocore.exceptions.ClientError: An error occurred (NotImplemented)

======================================================================
FAIL: s3tests_boto3.functional.test_s3.test_object_copy_to_itself
----------------------------------------------------------------------
Traceback (most recent call last):
  File "y.py", line 2, in g
AssertionError: 200 != 400

----------------------------------------------------------------------
Ran 4 tests in 1.0s
"""


def test_parse_run_outcomes_and_causes():
    res = parse_run(NOSE)
    assert res.passed == [B3 + "test_bucket_list_empty"]
    assert res.outcome["s3tests.functional.test_s3.test_object_storage_class"] == "SKIP"
    assert res.cause[B3 + "test_bucket_notexist"].endswith("(NotImplemented)")
    assert res.cause[B3 + "test_object_copy_to_itself"] == "AssertionError: 200 != 400"


def test_boto2_sigv4_tests_run_with_their_environment():
    ids = ["s3tests.functional.test_headers.test_object_create_bad_ua_empty_aws4",
           "s3tests.functional.test_headers.test_object_create_bad_ua_empty_aws2", B3 + "test_bucket_list_empty"]
    (plain, no_env), (v4, env) = split_by_signature(ids)
    assert (plain, no_env, v4, env["S3_USE_SIGV4"]) == (ids[1:], {}, ids[:1], "1")


def test_collected_reads_collect_only_lines():
    assert collected(NOSE)[0] == B3 + "test_bucket_list_empty"
    assert nose_name(B3 + "test_bucket_list_empty") == "s3tests_boto3.functional.test_s3:test_bucket_list_empty"


def test_markdown_counts_and_groups_by_cause():
    res = parse_run(NOSE)
    text = markdown(list(res.outcome), res, "4c8bbbef" * 5, "gw")
    assert "**1 of 4 passed**" in text
    assert "`AssertionError: 200 != 400` (1)" in text

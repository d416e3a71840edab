"""Bucket names `[commit.]branch.repo[.project]`: worked examples, as pachd parses them."""
import pytest

from pipelines.s3.buckets import Bucket, BucketNameError, bucket_name, parse_bucket

pytestmark = pytest.mark.unit

C = "0123456789abcdef0123456789abcdef"  # a dashless UUID: pachd's commit id form


@pytest.mark.parametrize("name, project, repo, branch, commit", [
    pytest.param("media", "default", "media", "master", None, id="repo-only"),
    pytest.param("dev.media", "default", "media", "dev", None, id="branch.repo"),
    pytest.param("master.media.default", "default", "media", "master", None, id="full"),
    pytest.param("master.media.video", "video", "media", "master", None, id="other-project"),
    pytest.param(f"{C}.master.media", "default", "media", "master", C, id="commit.branch.repo"),
    pytest.param(f"{C}.dev.media.video", "video", "media", "dev", C, id="commit-full"),
    pytest.param(f"{C}.media", "default", "media", "master", C, id="commit.repo"),
    pytest.param("my_branch.my-repo", "default", "my-repo", "my_branch", None, id="underscore-dash"),
    pytest.param("0123456789abcdef.media", "default", "media", "0123456789abcdef", None, id="short-hex-is-a-branch"),
    pytest.param(C.upper() + ".media", "default", "media", C.upper(), None, id="upper-hex-is-a-branch"),
])
def test_parse(name, project, repo, branch, commit):
    assert parse_bucket(name) == Bucket(project=project, repo=repo, branch=branch, commit=commit)


@pytest.mark.parametrize("name, why", [
    pytest.param("", "repo", id="empty"),
    pytest.param(C, "use", id="commit-only"),
    pytest.param("a.b.c.d", "use", id="four-parts"),
    pytest.param(f"{C}.a.b.c.d", "use", id="commit-and-four-parts"),
    pytest.param("master..media", "branch|repo", id="empty-part"),
    pytest.param("master.me dia", "repo", id="space"),
    pytest.param("master.media/x", "repo", id="slash"),
    pytest.param("x" * 64, "repo", id="repo-too-long"),
])
def test_invalid(name, why):
    with pytest.raises(BucketNameError, match=why):
        parse_bucket(name)


@pytest.mark.parametrize("name", ["media", "dev.media", "master.media.video", f"{C}.dev.media.video"])
def test_full_name_round_trips(name):
    b = parse_bucket(name)
    assert parse_bucket(b.name) == b


def test_list_buckets_form():
    assert bucket_name("default", "media", "master") == "master.media.default"

"""The S3 gateway over the real engine, with boto3: an upload through S3 is a commit the
DAG processes; its outputs appear in the output buckets; the consumer example syncs a
package; bad keys and unsafe names are refused."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from pipelines.engine import Engine
from pipelines.pfs.s3_driver import StoreBackend
from pipelines.scheduler import Background
from pipelines.s3.keys import Keys
from pipelines.s3.server import serve
from tests.fixtures.media import make_video

pytestmark = pytest.mark.media

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import sync_package  # noqa: E402


def s3(url: str, key="AKPACH", secret="s3cret"):
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=key, aws_secret_access_key=secret,
                        region_name="us-east-1", config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                                               retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    d = tmp_path_factory.mktemp("s3e")
    e = Engine(d / "home")
    runner = Background(e, log=open(d / "autorun.log", "w")).start()
    gw = serve(StoreBackend(e, on_write=runner.poke), "127.0.0.1", 0, Keys("AKPACH", "s3cret"), parts_dir=d / "parts")
    yield gw.url, d, e
    gw.stop()
    runner.stop()
    e.close()


def wait_for(fn, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return fn()
        except ClientError:
            time.sleep(0.5)
    raise AssertionError("timed out")


def test_upload_through_s3_runs_the_dag(gateway):
    url, d, e = gateway
    c = s3(url)
    clip = make_video(d / "clip.mp4", seconds=3, size="640x360")
    c.upload_file(str(clip), "master.media", "clip.mp4")
    rec = wait_for(lambda: json.loads(c.get_object(Bucket="master.catalog", Key="clip.mp4.json")["Body"].read()))
    assert rec["status"] == "ready"
    buckets = {b["Name"] for b in c.list_buckets()["Buckets"]}
    assert {"master.media.default", "master.transcode.default", "master.catalog.default"} <= buckets
    master = c.get_object(Bucket="master.transcode", Key="clip.mp4/hls/master.m3u8")
    assert master["ContentType"] == "application/vnd.apple.mpegurl"
    assert master["Body"].read().startswith(b"#EXTM3U")
    part = c.get_object(Bucket="master.transcode", Key="clip.mp4/dash/manifest.mpd", Range="bytes=0-4")
    assert part["Body"].read() == b"<?xml" and part["ContentRange"].startswith("bytes 0-4/")
    listing = c.list_objects_v2(Bucket="master.transcode", Prefix="clip.mp4/", Delimiter="/")
    assert {p["Prefix"] for p in listing["CommonPrefixes"]} == {"clip.mp4/dash/", "clip.mp4/hls/"}


def test_consumer_example_syncs_a_package(gateway, tmp_path):
    url, d, e = gateway
    c = s3(url)
    wait_for(lambda: c.head_object(Bucket="master.catalog", Key="clip.mp4.json"))
    keys = sync_package.sync(sync_package.client(url, "AKPACH", "s3cret"), "clip.mp4", tmp_path / "pkg")
    assert "clip.mp4/hls/master.m3u8" in keys and (tmp_path / "pkg/dash/manifest.mpd").is_file()
    assert json.loads((tmp_path / "pkg/catalog.json").read_text())["name"] == "clip.mp4"


def test_wrong_keys_and_unsafe_names_are_refused(gateway):
    url, d, e = gateway
    with pytest.raises(ClientError) as err:
        s3(url, secret="wrong").list_buckets()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as err:
        s3(url).put_object(Bucket="master.media", Key="dir/x.mp4", Body=b"x")
    assert err.value.response["Error"]["Code"] == "InvalidArgument"
    assert "uploads are flat" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        s3(url).put_object(Bucket="master.transcode", Key="x", Body=b"x")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

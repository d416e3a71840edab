"""Against a real Pachyderm (only where PACHD_ADDRESS is set): deploy, put a clip, wait,
check each output repo and the catalog record. Never a fake server."""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.fixtures.media import make_video

ADDRESS = os.environ.get("PACHD_ADDRESS")
pytestmark = pytest.mark.skipif(not ADDRESS, reason="PACHD_ADDRESS not set: no Pachyderm cluster to deploy to "
                                "(set it to grpc://HOST:30650 to run this)")


def test_deploy_put_wait_and_read_outputs(tmp_path):
    from pachyderm_sdk.api import pfs
    from pipelines.cluster.deploy import connect, deploy
    project = f"pachmedia-test-{int(time.time())}"
    deploy(ADDRESS, project)
    again = deploy(ADDRESS, project)
    assert all(c.action == "unchanged" for c in again if c.kind == "pipeline")
    client = connect(ADDRESS)
    clip = make_video(tmp_path / "clip.mp4", seconds=3)
    branch = pfs.Branch.from_uri(f"{project}/media@master")
    with client.pfs.commit(branch=branch) as c:
        with open(clip, "rb") as f:
            c.put_file_from_file(path="/clip.mp4", file=f)
    c.wait_all()  # every downstream job of this commit set
    for repo, path in (("scan", "/clean/clip.mp4.json"), ("probe", "/valid/clip.mp4.json"),
                       ("transcode", "/clip.mp4/hls/master.m3u8"), ("labels", "/clip.mp4/labels.json"),
                       ("catalog", "/clip.mp4.json")):
        f = pfs.File.from_uri(f"{project}/{repo}@master:{path}")
        assert client.pfs.path_exists(file=f), (repo, path)
    rec = json.loads(client.pfs.pfs_file(pfs.File.from_uri(f"{project}/catalog@master:/clip.mp4.json")).read())
    assert rec["status"] == "ready"

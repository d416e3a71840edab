"""deploy, put a clip, wait, check each output repo and the catalog record, with
pachyderm-sdk -- against a real Pachyderm where PACHD_ADDRESS is set (in a new project),
and otherwise against the local pachd, `pachmedia serve` started fresh and empty (its one
project, default). The same client code for both: the point of the local pachd."""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.fixtures.media import make_video
from tests.fixtures.pachd import serving

CLUSTER = os.environ.get("PACHD_ADDRESS")
pytestmark = pytest.mark.media


@pytest.fixture
def target(tmp_path):
    """(address, project): the cluster's, or a local pachd's."""
    if CLUSTER:
        yield CLUSTER, f"pachmedia-test-{int(time.time())}"
        return
    with serving(tmp_path / "pachd-home", "--empty") as server:
        yield server.address, "default"


def test_deploy_put_wait_and_read_outputs(tmp_path, target):
    from pachyderm_sdk.api import pfs
    from pipelines.cluster.deploy import connect, deploy
    address, project = target
    deploy(address, project, say=lambda line: None)
    again = deploy(address, project, say=lambda line: None)
    assert all(c.action == "unchanged" for c in again if c.kind == "pipeline")
    client = connect(address)
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
    client._channel.close()

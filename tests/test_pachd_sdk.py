"""The proof with the real client: pachyderm-sdk drives `pachmedia serve` (a subprocess on
free loopback ports) the way its docs do -- create repos, put files, create the six
pipelines from specs/, wait for the commit set, list jobs and datums, read outputs --
and `pachmedia deploy --pachd` runs against it as against a cluster."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pachyderm_sdk.api import pfs, pps

from pipelines import SPECS_DIR
from pipelines.pps.spec import dag_order, load_specs
from tests.fixtures.media import make_video
from tests.fixtures.pachd import ROOT, serving

pytestmark = pytest.mark.media
SETTINGS = ("scan", "policy", "preview", "transcode", "labels")


def test_sdk_drives_the_six_pipelines(tmp_path):
    from stages.common import DEFAULTS_DIR
    specs = load_specs(SPECS_DIR)
    clip = make_video(tmp_path / "clip.mp4", seconds=2)
    with serving(tmp_path / "home", "--empty") as server:
        client = server.client()
        for name in ("media", "settings"):
            client.pfs.create_repo(repo=pfs.Repo(name=name), description=f"{name} (test)")
        with client.pfs.commit(branch=pfs.Branch.from_uri("settings@master")) as c:
            for kind in SETTINGS:
                c.put_file_from_bytes(f"/{kind}.json", (DEFAULTS_DIR / f"{kind}.json").read_bytes())
        for name in dag_order(specs):
            client.pps.create_pipeline_v2(create_pipeline_request_json=json.dumps(specs[name]))
        assert {p.pipeline.name for p in client.pps.list_pipeline()} == set(specs)

        with client.pfs.commit(branch=pfs.Branch.from_uri("media@master")) as commit:
            with open(clip, "rb") as f:
                commit.put_file_from_file(path="/clip.mp4", file=f)
        infos = commit.wait_all()
        assert {i.commit.repo.name for i in infos} == {"media", *specs}
        assert all(i.commit.id == commit.id and not i.error for i in infos)

        jobs = {j.job.pipeline.name: j for j in client.pps.list_job() if j.job.id == commit.id}
        assert set(jobs) == set(specs)
        assert all(j.state == pps.JobState.JOB_SUCCESS and j.data_processed == 1 for j in jobs.values())
        datums = list(client.pps.list_datum(job=jobs["scan"].job))
        assert len(datums) == 1 and datums[0].state == pps.DatumState.SUCCESS
        assert [f.file.path for f in datums[0].data] == ["/clip.mp4", "/scan.json"]
        again = client.pps.inspect_datum(datum=datums[0].datum)
        assert again.datum.id == datums[0].datum.id

        record = json.loads(client.pfs.pfs_file(pfs.File.from_uri("catalog@master:/clip.mp4.json")).read())
        assert record["status"] == "ready"
        manifest = client.pfs.pfs_file(pfs.File.from_uri("transcode@master:/clip.mp4/hls/master.m3u8")).read()
        assert manifest.startswith(b"#EXTM3U")
        assert client.pfs.path_exists(pfs.File.from_uri("scan@master:/clean/clip.mp4.json"))
        logs = list(client.pps.get_logs(pipeline=pps.Pipeline(name="probe")))
        assert all(m.pipeline_name == "probe" for m in logs)

        # stop, commit, start: the stopped pipeline catches up on the heads when started
        probe = pps.Pipeline(name="probe")
        client.pps.stop_pipeline(pipeline=probe)
        assert client.pps.inspect_pipeline(pipeline=probe).state == pps.PipelineState.PIPELINE_PAUSED
        with client.pfs.commit(branch=pfs.Branch.from_uri("media@master")) as second:
            with open(clip, "rb") as f:
                second.put_file_from_file(path="/again.mp4", file=f)
        second.wait_all()
        assert not client.pfs.path_exists(pfs.File.from_uri("probe@master:/valid/again.mp4.json"))
        client.pps.start_pipeline(pipeline=probe)
        client.pfs.inspect_commit(commit=pfs.Commit.from_uri("catalog@master"), wait=pfs.CommitState.FINISHED)
        assert client.pfs.path_exists(pfs.File.from_uri("probe@master:/valid/again.mp4.json"))
        assert client.pfs.path_exists(pfs.File.from_uri("catalog@master:/again.mp4.json"))


def test_deploy_against_the_local_pachd(tmp_path):
    env = os.environ | {"PYTHONPATH": str(ROOT), "PACHMEDIA_HOME": str(tmp_path / "cli-home")}
    with serving(tmp_path / "home", "--empty") as server:
        run = lambda: subprocess.run([sys.executable, "-m", "pipelines.cli", "deploy", "--pachd", server.address],
                                     capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
                                     stdin=subprocess.DEVNULL)
        first = run()
        assert first.returncode == 0, first.stderr
        assert "created repo media" in first.stdout and "created pipeline catalog" in first.stdout
        second = run()
        assert second.returncode == 0, second.stderr
        assert [ln for ln in second.stdout.splitlines() if " pipeline " in ln] == \
            [f"unchanged pipeline {n}" for n in dag_order(load_specs(SPECS_DIR))]
        client = server.client()
        assert {f.file.path for f in client.pfs.list_file(file=pfs.File.from_uri("settings@master:/"))} == \
            {f"/{k}.json" for k in SETTINGS}

"""A new user's flow through the CLI: put file starts processing by itself, wait commit
returns when the DAG has settled, get/list/inspect/lineage read the results."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.fixtures.media import make_video

import pytest

pytestmark = pytest.mark.media


def cli(home, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_put_processes_automatically_and_wait_returns_when_settled(tmp_path):
    home = tmp_path / "home"
    clip = make_video(tmp_path / "clip.mp4", seconds=2, size="320x180")
    r = cli(home, "put", "file", "media@master:/clip.mp4", "-f", str(clip))
    assert r.returncode == 0 and "Processing in the background" in r.stdout, r.stderr
    r = cli(home, "wait", "commit", "media@master", "-q")
    assert r.returncode == 0, r.stderr
    assert "catalog" in r.stdout and "JOB_SUCCESS" in r.stdout
    rec = json.loads(cli(home, "get", "file", "catalog@master:/clip.mp4.json").stdout)
    assert rec["status"] == "ready"
    listing = cli(home, "list", "file", "transcode@master:/clip.mp4").stdout
    assert "/clip.mp4/hls/" in listing and "dir" in listing
    r = cli(home, "lineage", "transcode@master:/clip.mp4/package.json")
    assert r.returncode == 0 and "media@" in r.stdout and "[upload" in r.stdout
    repos = {json.loads(x)["repo"]["name"] for x in cli(home, "list", "repo", "--raw").stdout.replace("}\n{", "}\x00{").split("\x00")}
    assert {"media", "settings", "scan", "probe", "transcode", "labels", "catalog"} <= repos


def test_errors_are_one_clear_line(tmp_path):
    home = tmp_path / "home"
    for args, needle, code in [
        (("get", "file", "nope@master:/x"), "error: repo 'nope' not found", 1),
        (("put", "file", "media@master:/../x.mp4", "-f", "/etc/hostname", "--no-run"), "error: unsafe file name", 2),
        (("put", "file", "transcode@master:/x", "-f", "/etc/hostname", "--no-run"), "only input repos", 2),
        (("get", "file", "media@master:/missing.mp4"), "error:", 1),
        (("inspect", "job", "scan@deadbeef"), "error: job scan@deadbeef not found", 1),
    ]:
        r = cli(home, *args)
        assert r.returncode == code, (args, r.stderr)
        assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)

"""First play: an upload whose preview has landed (and nothing after it: no ladder, no
labels, no catalog record yet) is listed and plays on the page in Chromium; when the
ladder lands, both players switch to it where they were and play on."""
from __future__ import annotations

import json
import subprocess

import pytest

from pipelines.engine import Engine
from tests.fixtures.media import make_video
from tests.fixtures.playback import ROOT, serving

pytestmark = pytest.mark.browser

LATER = ("transcode", "labels", "catalog")


def test_the_preview_plays_first_and_the_page_switches_to_the_ladder(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", seconds=30, size="640x360")
    e = Engine(tmp_path / "home")
    try:
        for name in LATER:  # as on a cluster while they are still at work
            e.stop_pipeline(name)
        e.put_files("media", "master", [("/clip.mp4", clip)])
        jobs = e.run(show_progress=False)
        assert [(j.pipeline, j.state) for j in jobs] == [(p, "JOB_SUCCESS") for p in ("scan", "probe", "preview")]
        with serving(e, tmp_path) as url:
            node = subprocess.Popen(["node", str(ROOT / "tests/playback/check.mjs"), url, "clip.mp4",
                                     str(tmp_path / "switch.png"), "switch"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
            try:
                first = node.stdout.readline()
                assert first.startswith("PREVIEW "), first + node.stderr.read()
                preview = json.loads(first.split(" ", 1)[1])
                assert preview["errors"] == [] and preview["source"] == "preview", preview
                assert "/master.preview/clip.mp4/hls/master.m3u8" in preview["hlsUrl"]
                assert preview["hls"] > 1 and preview["dash"] > 1 and preview["renditions"].startswith("Preview")
                for name in LATER:
                    e.start_pipeline(name)
                later = e.run(show_progress=False)
                assert {j.pipeline for j in later} >= set(LATER) and all(j.state == "JOB_SUCCESS" for j in later)
                out, err = node.communicate(timeout=180)
            finally:
                node.kill()
        assert node.returncode == 0, err
        got = json.loads(out.strip().splitlines()[-1])
        assert got["console"] == [], got["console"]
        full = got["full"]
        assert full["errors"] == [] and full["source"] == "full" and full["switches"] == 1, full
        assert "/master.transcode/clip.mp4/hls/master.m3u8" in full["hlsUrl"]
        assert full["renditions"].startswith("Renditions:")
        for player in ("hls", "dash"):  # where it was, then on: never back to the start
            assert full["switchedAt"][player] >= preview[player] > 1
            assert full[player] > full["switchedAt"][player] + 1, full
    finally:
        e.close()


def test_a_home_without_a_preview_still_lists_and_plays_the_ladder(tmp_path):
    """A home whose DAG has no preview (made before it, opened without the upgrade, as an
    older pachmedia left it): the page lists the catalog and plays the ladder, and never asks
    for the absent master.preview bucket (a 404 the browser would log): the console is clean."""
    from tests.fixtures.old_home import make_old_home, old_specs
    from tests.fixtures.playback import browse
    clip = make_video(tmp_path / "clip.mp4", seconds=4, size="640x360")
    e = make_old_home(tmp_path / "home", old_specs(tmp_path / "old-specs"))
    try:
        e.put_files("media", "master", [("/clip.mp4", clip)])
        assert all(j.state == "JOB_SUCCESS" for j in e.run(show_progress=False))
        assert not e.store.has_repo("preview")
        with serving(e, tmp_path) as url:
            got = browse(url, "clip.mp4", tmp_path / "shot.png", "video")
    finally:
        e.close()
    assert got["errors"] == [] and got["assets"] == 1, got
    assert got["hls"]["currentTime"] > 1 and got["dash"]["currentTime"] > 1
    assert got["hls"]["videoWidth"] == 640
    assert got["console"] == [], got["console"]

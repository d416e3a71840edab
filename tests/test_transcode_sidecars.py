"""Caption sidecars through the whole DAG (issue 16 point 4): clip.srt / clip.vtt beside
clip.mp4 are probed as sidecars (never assets that fail), grouped with the video on the
name without its extension (specs/transcode.json), and packaged as its WebVTT
renditions. Infected or orphan sidecars attach to nothing; a sidecar added later
re-packages only its video."""
from __future__ import annotations

import json

import pytest

from pipelines.engine import Engine
from pipelines.services.signatures import EICAR
from stages.core.captions import read_webvtt
from tests.fixtures import ladder_media as lm
from tests.fixtures.media import make_video

pytestmark = pytest.mark.media


def read(e: Engine, repo: str, path: str) -> bytes | None:
    f = e.store.file(repo, e.store.head(repo), path)
    if f is None:
        return None
    with e.store.objects.open(f.hash) as fh:
        return fh.read()


def record(e: Engine, repo: str, path: str) -> dict | None:
    data = read(e, repo, path)
    return json.loads(data) if data is not None else None


@pytest.fixture(scope="module")
def dag(tmp_path_factory):
    d = tmp_path_factory.mktemp("sidecars")
    up = d / "uploads"
    up.mkdir()
    make_video(up / "clip.mp4", seconds=2, size="320x240")
    lm.write_srt(up / "clip.srt")
    lm.write_vtt(up / "clip.vtt")
    make_video(up / "talk.mp4", seconds=2, size="320x240")
    (up / "talk.srt").write_bytes(EICAR)                      # infected: never attached
    lm.write_srt(up / "orphan.srt")                           # no video of that name
    make_video(up / "noext.mkv", seconds=2, size="320x240")
    (up / "noext.mkv").rename(up / "noext")                   # an upload without an extension
    e = Engine(d / "home")
    e.put_files("media", "master", [(f"/{p.name}", p) for p in sorted(up.iterdir())])
    jobs = e.run(show_progress=False)
    yield e, jobs, d
    e.close()


def test_every_job_succeeds(dag):
    _, jobs, _ = dag
    assert all(j.state == "JOB_SUCCESS" for j in jobs), [(j.pipeline, j.state) for j in jobs]


def test_sidecars_are_probed_as_sidecars_and_catalogued_as_such(dag):
    e, _, _ = dag
    for name, cues in (("clip.srt", 2), ("clip.vtt", 1), ("orphan.srt", 2)):
        probe = record(e, "probe", f"/sidecar/{name}.json")
        assert probe and (probe["status"], probe["kind"], probe["cues"]) == ("sidecar", "subtitles", cues), probe
        assert record(e, "probe", f"/rejected/{name}.json") is None
        cat = record(e, "catalog", f"/{name}.json")
        assert (cat["status"], cat["kind"]) == ("sidecar", "subtitles"), cat
        assert read(e, "transcode", f"/{name}/package.json") is None  # not an asset of its own
    assert record(e, "catalog", "/talk.srt.json")["status"] == "infected"


def test_a_video_gets_the_sidecars_of_its_name_as_caption_renditions(dag):
    e, _, _ = dag
    pkg = record(e, "transcode", "/clip.mp4/package.json")
    assert [(c["origin"], c["sidecar"], c["name"]) for c in pkg["captions"]] == [
        ("sidecar", "clip.srt", "clip.srt"), ("sidecar", "clip.vtt", "clip.vtt")]
    cues = read_webvtt(read(e, "transcode", "/clip.mp4/dash/text-0.vtt").decode())
    assert cues[0][2] == "Hello <b>world</b>" and "-->" not in cues[1][2]
    master = read(e, "transcode", "/clip.mp4/hls/master.m3u8").decode()
    assert master.count("TYPE=SUBTITLES") == 2
    assert record(e, "catalog", "/clip.mp4.json")["status"] == "ready"
    assert record(e, "transcode", "/talk.mp4/package.json")["captions"] == []  # its sidecar was infected


def test_an_upload_without_an_extension_is_still_packaged(dag):
    e, _, _ = dag
    assert record(e, "transcode", "/noext/package.json")["renditions"]
    assert record(e, "catalog", "/noext.json")["status"] == "ready"


def test_a_sidecar_added_later_repackages_only_its_video(dag):
    e, _, d = dag
    srt = lm.write_srt(d / "noext.srt")
    e.put_files("media", "master", [("/noext.srt", srt)])
    jobs = {j.pipeline: j for j in e.run(show_progress=False)}
    assert all(j.state == "JOB_SUCCESS" for j in jobs.values())
    counts = jobs["transcode"].counts
    assert counts.get("SUCCESS") == 1 and counts.get("FAILED", 0) == 0, counts  # the noext group alone
    assert [c["sidecar"] for c in record(e, "transcode", "/noext/package.json")["captions"]] == ["noext.srt"]

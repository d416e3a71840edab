"""The whole DAG on the embedded engine, from the real specs: real and hostile media in
ONE commit (EICAR, a truncated MP4, a playlist posing as an MP4, a zero-byte file beside
good clips, which must come out whole); verdicts, packages, labels, catalog records and
lineage out; then a settings
commit, a delete and a reprocess, each re-running only what it should."""
from __future__ import annotations

import json
import shutil

import pytest

from pipelines.engine import Engine
from pipelines.pps.explain import summarize as explain
from pipelines.pps.lineage import trace
from pipelines.services.signatures import EICAR
from stages.core import records
from tests.fixtures.media import OPENCV_DOC, make_audio, make_video

pytestmark = pytest.mark.media


def counts(job):
    c = job.counts
    return c.get("SUCCESS", 0), c.get("SKIPPED", 0), c.get("FAILED", 0)


def read(e: Engine, repo: str, path: str) -> bytes:
    f = e.store.file(repo, e.store.head(repo), path)
    assert f is not None, f"{repo}:{path} missing"
    with e.store.objects.open(f.hash) as fh:
        return fh.read()


@pytest.fixture(scope="module")
def dag(tmp_path_factory):
    d = tmp_path_factory.mktemp("dag")
    up = d / "uploads"
    up.mkdir()
    make_video(up / "clip.mp4", seconds=3, size="640x360")
    shutil.copy(OPENCV_DOC / "Megamind.avi", up / "megamind.avi")
    make_audio(up / "tone.mp3", seconds=2)
    (up / "eicar.mp4").write_bytes(EICAR)
    data = (up / "clip.mp4").read_bytes()
    (up / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (up / "empty.mp4").write_bytes(b"")
    (up / "playlist.mp4").write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n{up / 'clip.mp4'}\n#EXT-X-ENDLIST\n")
    e = Engine(d / "home")
    c = e.put_files("media", "master", [(f"/{p.name}", p) for p in sorted(up.iterdir())])
    jobs = e.run(show_progress=False, slots=2)  # side by side whatever the machine's cores
    yield e, c.id, jobs, up
    e.close()


def test_every_pipeline_ran_once_and_succeeded(dag):
    e, cid, jobs, _ = dag
    assert [(j.pipeline, j.state) for j in jobs] == [
        ("scan", "JOB_SUCCESS"), ("probe", "JOB_SUCCESS"), ("preview", "JOB_SUCCESS"),
        ("transcode", "JOB_SUCCESS"), ("labels", "JOB_SUCCESS"), ("catalog", "JOB_SUCCESS")]
    assert {j.id for j in jobs} == {cid}
    by = {j.pipeline: counts(j) for j in jobs}
    assert by == {"scan": (7, 0, 0), "probe": (6, 0, 0), "preview": (3, 0, 0), "labels": (3, 0, 0),
                  "transcode": (3, 0, 0), "catalog": (7, 0, 0)}


def test_the_real_stages_ran_side_by_side_each_after_what_it_reads(dag):
    """From the times the job store recorded: preview, transcode and labels each started
    after probe finished, catalog after all three, and the three overlapped (2 slots)."""
    e, cid, jobs, _ = dag
    by = {j.pipeline: j for j in jobs}
    spans = {p: [(d.started, d.finished) for d in e.jobs.datums(p, cid) if d.state == "SUCCESS"] for p in by}
    for p, reads in (("probe", ["scan"]), ("preview", ["probe"]), ("transcode", ["probe"]), ("labels", ["probe"]),
                     ("catalog", ["scan", "probe", "preview", "transcode", "labels"])):
        for up in reads:
            assert by[up].finished <= by[p].started <= min(s for s, _ in spans[p]), (p, up)
    side = ["preview", "transcode", "labels"]
    overlaps = {(a, b) for a in side for b in side if a < b
                for a0, a1 in spans[a] for b0, b1 in spans[b] if a0 < b1 and b0 < a1}
    assert overlaps, spans


def test_catalog_records_say_what_happened_to_each_upload(dag):
    e, cid, _, up = dag
    status = {}
    for f in e.store.files("catalog", e.store.head("catalog")):
        rec = json.loads(read(e, "catalog", f.path))
        records.validate("catalog", rec)
        status[rec["name"]] = (rec["status"], rec.get("probe", {}).get("reason") or rec.get("scan", {}).get("signature"))
        assert rec["provenance"]["upload"]["sha256"] == records.sha256_file(up / rec["name"])
    assert status == {
        "clip.mp4": ("ready", None), "megamind.avi": ("ready", None), "tone.mp3": ("ready", None),
        "eicar.mp4": ("infected", "Pachmedia.Test.EICAR.UNOFFICIAL"),
        "truncated.mp4": ("rejected", "truncated"), "playlist.mp4": ("rejected", "unsupported_container"),
        "empty.mp4": ("rejected", "empty_file")}
    clip = json.loads(read(e, "catalog", "/clip.mp4.json"))
    assert clip["package"]["hls"] == "clip.mp4/hls/master.m3u8" and clip["labels"]["scenes"] >= 1
    assert clip["preview"]["hls"] == "clip.mp4/hls/master.m3u8" and clip["preview"]["renditions"][0]["height"] == 360
    assert clip["provenance"]["commits"]["transcode"] == cid


def test_good_clips_beside_hostile_files_are_fully_processed(dag):
    e, cid, _, _ = dag
    for name in ("clip.mp4", "megamind.avi", "tone.mp3"):
        pkg = json.loads(read(e, "transcode", f"/{name}/package.json"))
        assert pkg["renditions"] or pkg["audio"], name  # tone.mp3: an audio-only package
        for path in (f"/{name}/hls/master.m3u8", f"/{name}/dash/manifest.mpd"):
            assert read(e, "transcode", path), path
        assert json.loads(read(e, "labels", f"/{name}/labels.json"))
        assert json.loads(read(e, "catalog", f"/{name}.json"))["status"] == "ready"
    made = {f.path.split("/")[1] for repo in ("transcode", "labels") for f in e.store.files(repo, cid)}
    assert made == {"clip.mp4", "megamind.avi", "tone.mp3"}, "hostile uploads reach no package or labels"
    previews = {f.path.split("/")[1] for f in e.store.files("preview", cid)}
    assert previews == {"clip.mp4", "megamind.avi"}, "videos only"


def test_lineage_of_a_transcode_output_reaches_the_upload_and_settings(dag):
    e, cid, _, up = dag
    node = trace(e, "transcode", cid, "/clip.mp4/hls/master.m3u8")
    sources = {(s.repo, s.path): s for s in node.sources()}
    assert sources[("media", "/clip.mp4")].hash == records.sha256_file(up / "clip.mp4")
    assert ("settings", "/transcode.json") in sources and ("settings", "/policy.json") in sources
    assert ("settings", "/scan.json") in sources  # through probe -> scan
    assert sorted(n.repo for n in node.inputs) == ["media", "probe", "settings"]  # in pachd's SortInput order


def test_settings_commit_reruns_only_transcode(dag, tmp_path):
    e, _, _, _ = dag
    settings = json.loads(read(e, "settings", "/transcode.json"))
    settings["rungs"] = [r for r in settings["rungs"] if r["height"] <= 360]
    p = tmp_path / "transcode.json"
    p.write_text(json.dumps(settings))
    c = e.put_files("settings", "master", [("/transcode.json", p)])
    by = {j.pipeline: counts(j) for j in e.run(show_progress=False)}
    assert by["transcode"] == (3, 0, 0)
    assert by["scan"] == (0, 7, 0) and by["probe"] == (0, 6, 0) and by["labels"] == (0, 3, 0)
    assert by["preview"] == (0, 3, 0)
    pkg = json.loads(read(e, "transcode", "/clip.mp4/package.json"))
    assert [r["name"] for r in pkg["renditions"]] == ["360p"] and pkg["settings_commit"] == c.id
    why = explain(e.jobs.datums("transcode", c.id))
    assert why["counts"] == {"changed": 3} and why["inputs"]["changed"] == ["settings:/transcode.json"]


def test_deleting_an_upload_removes_its_outputs_downstream(dag):
    e, _, _, _ = dag
    e.delete_files("media", "master", ["/tone.mp3"])
    jobs = {j.pipeline: counts(j) for j in e.run(show_progress=False)}
    assert all(p == 0 and f == 0 for p, _, f in jobs.values()), jobs
    for repo, path in (("scan", "/clean/tone.mp3.json"), ("transcode", "/tone.mp3/package.json"),
                       ("catalog", "/tone.mp3.json")):
        assert e.store.file(repo, e.store.head(repo), path) is None
    assert e.store.file("catalog", e.store.head("catalog"), "/clip.mp4.json") is not None


def test_reprocess_one_path_reruns_one_datum_per_pipeline_downstream(dag):
    e, _, _, _ = dag
    set_id, chosen = e.request_reprocess("transcode", paths=["media:/clip.mp4"])
    assert len(chosen) == 1
    by = {j.pipeline: counts(j) for j in e.run(show_progress=False)}
    assert by == {"transcode": (1, 1, 0), "catalog": (1, 5, 0)}, by

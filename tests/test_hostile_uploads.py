"""No upload can stop the others. A crafted GIF (screen 16x16, frame 2000x2000) and names near
NAME_MAX used to fail datums in every later job; a content problem must be a record
(rejected/unscanned with a reason code) and only an infrastructure fault may fail a datum."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipelines.engine import Engine
from pipelines.errors import InvalidName
from stages.common import MAX_NAME_BYTES, output_name
from stages.core import records
from tests.fixtures.hostile import LIES, lying_gif, make_corpus, tell_lie
from tests.fixtures.media import make_video
from tests.fixtures.stages import run_stage, stage_record

pytestmark = pytest.mark.media


def probe_to(media: Path, out: Path, *extra: str) -> dict:
    run_stage("probe", media, out, *extra)
    [rec_path] = list(out.glob(f"*/{media.name}.json"))
    return stage_record(out, media.name, "probe") | {"_path": str(rec_path)}


def selected_video(rec: dict) -> dict:
    return next(s for s in rec["streams"] if s["index"] == rec["selected"]["video"])


def test_a_still_is_sized_by_the_reader_the_later_stages_use(tmp_path):
    """FFmpeg reports the GIF's screen (16x16); Pillow, which makes the derivatives and the
    labels, reads the 2000x2000 frame. The probe record must say what Pillow will open."""
    (tmp_path / "m").mkdir()
    gif = lying_gif(tmp_path / "m" / "lying.gif")
    rec = probe_to(gif, tmp_path / "probe")
    assert rec["status"] == "valid", rec
    v = selected_video(rec)
    assert (v["width"], v["height"]) == (2000, 2000), v
    for stage in ("transcode", "labels"):
        run_stage(stage, gif, tmp_path / stage, "--probe", rec["_path"])
    pkg = records.read_json(tmp_path / "transcode" / "lying.gif" / "package.json")
    assert pkg["images"]["webp"]["width"] == 2000
    assert (tmp_path / "labels" / "lying.gif" / "labels.json").is_file()


def test_the_pixel_limit_applies_to_the_size_pillow_reads(tmp_path):
    (tmp_path / "m").mkdir()
    gif = lying_gif(tmp_path / "m" / "lying.gif")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"max_image_pixels": 1_000_000}))
    rec = probe_to(gif, tmp_path / "probe", "--settings", str(policy))
    assert rec["status"] == "rejected" and rec["reason"] == "dimensions_too_large", rec
    assert "2000x2000" in rec["message"]


def test_a_still_pillow_cannot_decode_is_rejected_by_probe(tmp_path):
    """A WebP whose VP8 header claims 2000x1: FFmpeg decodes what it can; Pillow (libwebp) refuses."""
    corpus = make_corpus(tmp_path / "corpus")
    (tmp_path / "m").mkdir()
    bad = tmp_path / "m" / "bad.webp"
    [lie] = [x for x in LIES if x.name == "webp-size"]
    bad.write_bytes(tell_lie(corpus["still.webp"], lie, 2000, 1))
    rec = probe_to(bad, tmp_path / "probe")
    assert rec["status"] == "rejected" and rec["reason"] == "decode_error", rec


@pytest.mark.parametrize("stage", ["transcode", "labels"])
def test_a_still_that_disagrees_with_its_record_is_a_rejection_not_a_failed_datum(tmp_path, stage):
    """A record made before stills were sized by Pillow (16x16) and the real frame (2000x2000):
    the stage refuses to decode past the record, writes why, and exits 0."""
    (tmp_path / "m").mkdir()
    gif = lying_gif(tmp_path / "m" / "lying.gif")
    rec = probe_to(gif, tmp_path / "probe")
    stale = {k: v for k, v in rec.items() if k != "_path"}
    for s in stale["streams"]:
        s["width"] = s["height"] = 16
    stale_path = tmp_path / "stale.json"
    stale_path.write_text(json.dumps(stale))
    r = run_stage(stage, gif, tmp_path / "out", "--probe", str(stale_path))
    assert "Traceback" not in r.stderr
    made = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert made == ["lying.gif/rejected.json"], made
    rej = records.read_json(tmp_path / "out" / "lying.gif" / "rejected.json")
    records.validate("rejection", rej)
    assert rej["stage"] == stage and rej["reason"] == "dimensions_mismatch" and "2000x2000" in rej["message"]


# --- names near NAME_MAX ----------------------------------------------------------------

def long_name(n: int, ext: str = ".png") -> str:
    return "n" * (n - len(ext)) + ext


@pytest.mark.parametrize("n", range(MAX_NAME_BYTES + 1, 256))
def test_names_the_stages_could_not_write_are_refused_at_put(tmp_path, n):
    src = tmp_path / "x.png"
    src.write_bytes(b"x")
    with Engine(tmp_path / "home", specs_dir=tmp_path / "no-specs", init=False) as e:
        e.store.create_repo("media")
        with pytest.raises(InvalidName, match=f"limited to {MAX_NAME_BYTES} bytes"):
            e.put_files("media", "master", [("/" + long_name(n), src)])


@pytest.mark.parametrize("stage", ["scan", "probe", "transcode", "labels"])
def test_a_stage_given_a_longer_name_writes_a_record_not_a_failure(tmp_path, stage, clamd):
    """A cluster's pachd takes any name `pachctl put file` sends: a 250-byte name reaches the
    stages there. Each writes under the same name that fits (output_name: its first bytes and a
    hash, so joins on it still meet), never ENAMETOOLONG; scan says why the upload goes no further."""
    name = long_name(253, ".mp4")
    media = tmp_path / "m" / name
    media.parent.mkdir()
    make_video(media, seconds=1, size="160x120")
    extra = ("--clamd", clamd) if stage == "scan" else ()
    r = run_stage(stage, media, tmp_path / "out", *extra)
    assert "Traceback" not in r.stderr
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert written and all(len(p.name.encode()) <= 255 for p in written)
    short = output_name(name)
    assert len(short.encode()) <= MAX_NAME_BYTES and short != name
    assert all(short in (p.name, p.name[:-len(".json")], p.parent.name) or short in p.parts for p in written), written
    if stage == "scan":
        [rec_path] = written
        rec = records.read_json(rec_path)
        records.validate("scan", rec)
        assert rec["name"] == name and rec["verdict"] == "unscanned" and rec["reason"] == "name_too_long", rec
        assert f"{MAX_NAME_BYTES} bytes" in rec["message"]


@pytest.fixture(scope="module")
def dag(tmp_path_factory):
    """One commit: the crafted GIF, a still whose name is as long as names may be, and a clip."""
    d = tmp_path_factory.mktemp("hostile-dag")
    up = d / "uploads"
    up.mkdir()
    lying_gif(up / "lying.gif")
    make_corpus(d / "corpus")
    shutil.copy(d / "corpus" / "still.png", up / long_name(MAX_NAME_BYTES))
    make_video(up / "clip.mp4", seconds=2, size="320x240")
    e = Engine(d / "home")
    c = e.put_files("media", "master", [(f"/{p.name}", p) for p in sorted(up.iterdir())])
    jobs = e.run(show_progress=False)
    yield e, c.id, jobs
    e.close()


def catalog(e: Engine) -> dict[str, dict]:
    out = {}
    for f in e.store.files("catalog", e.store.head("catalog")):
        with e.store.objects.open(f.hash) as fh:
            rec = json.loads(fh.read())
        records.validate("catalog", rec)
        out[rec["name"]] = rec
    return out


def test_the_crafted_gif_and_a_long_name_stop_nothing(dag):
    e, cid, jobs = dag
    assert [(j.pipeline, j.state) for j in jobs if j.state != "JOB_SUCCESS"] == []
    status = {n: r["status"] for n, r in catalog(e).items()}
    assert status == {"lying.gif": "ready", long_name(MAX_NAME_BYTES): "ready", "clip.mp4": "ready"}, status


def test_deleting_the_crafted_upload_removes_its_outputs(dag):
    e, _, _ = dag
    e.delete_files("media", "master", ["/lying.gif"])
    jobs = e.run(show_progress=False)
    assert [(j.pipeline, j.state) for j in jobs if j.state != "JOB_SUCCESS"] == []
    for repo in ("scan", "probe", "transcode", "labels", "catalog"):
        left = [f.path for f in e.store.files(repo, e.store.head(repo)) if "lying.gif" in f.path]
        assert left == [], (repo, left)
    assert set(catalog(e)) == {long_name(MAX_NAME_BYTES), "clip.mp4"}


def test_a_still_wider_than_webp_allows_gets_its_derivatives(tmp_path):
    """WebP stops at 16383 pixels a side; a valid 17000x4 PNG is still a still: its WebP is scaled to fit."""
    from PIL import Image
    (tmp_path / "m").mkdir()
    strip = tmp_path / "m" / "strip.png"
    Image.linear_gradient("L").resize((17000, 4)).save(strip)
    rec = probe_to(strip, tmp_path / "probe")
    assert rec["status"] == "valid", rec
    run_stage("transcode", strip, tmp_path / "out", "--probe", rec["_path"])
    pkg = records.read_json(tmp_path / "out" / "strip.png" / "package.json")
    webp = pkg["images"]["webp"]
    assert webp["width"] <= 16383 and webp["height"] >= 1
    with Image.open(tmp_path / "out" / "strip.png" / "optimized.webp") as img:
        assert img.size == (webp["width"], webp["height"])

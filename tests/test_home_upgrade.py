"""A home written by an earlier version is migrated when opened (or refused with one clear
line), never misread: a home made before the preview pipeline gets it, its settings file
and the catalog's join of it when opened (or on `pachmedia init`), with one line saying so;
what was done is not redone beyond what the preview needs; a user's own pipelines (or a
catalog that is not pachmedia's spec) are left alone; a home from a newer pachmedia is
refused."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from pipelines import SPECS_DIR
from pipelines.app import DAG_VERSION
from pipelines.engine import Engine
from pipelines.errors import PachmediaError
from pipelines.pps.spec import load_specs, validate_spec
from tests.fixtures.media import make_video
from tests.fixtures.old_home import make_old_home, old_specs

pytestmark = pytest.mark.media

CURRENT = load_specs(SPECS_DIR)


def settings_files(e: Engine) -> list[str]:
    return sorted(f.path for f in e.list_files("settings", e.head("settings")))


def cli(home, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"PACHMEDIA_NO_AUTORUN": "1"}
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "--home", str(home), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_opening_an_old_home_adds_the_preview_once_with_one_line(tmp_path):
    make_old_home(tmp_path / "home", old_specs(tmp_path / "old-specs")).close()
    with Engine(tmp_path / "home", init=False) as e:  # as it is on disk: what the old version left
        assert "preview" not in {p["name"] for p in e.list_pipelines()} and "/preview.json" not in settings_files(e)
        assert e.jobs.dag_version() == 0
    with Engine(tmp_path / "home") as e:
        [line] = e.upgraded
        assert line.startswith("upgraded this home (made before pachmedia's preview): added pipeline preview, "
                               "settings/preview.json, the catalog's join of it"), line
        pipelines = {p["name"]: p["spec"] for p in e.list_pipelines()}
        assert set(pipelines) == set(CURRENT)
        assert pipelines["catalog"] == validate_spec(CURRENT["catalog"], engine=True)  # now joins the preview
        assert pipelines["preview"] == validate_spec(CURRENT["preview"], engine=True)
        assert settings_files(e) == ["/labels.json", "/policy.json", "/preview.json", "/scan.json", "/transcode.json"]
        assert e.jobs.dag_version() == DAG_VERSION
    with Engine(tmp_path / "home") as e:
        assert e.upgraded == []  # once
        assert len(e.list_commits("settings", "master")) == 2


def test_pachmedia_init_on_an_old_home_upgrades_it(tmp_path):
    make_old_home(tmp_path / "home", old_specs(tmp_path / "old-specs")).close()
    r = cli(tmp_path / "home", "init")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("upgraded this home") and "already initialised" not in r.stdout
    again = cli(tmp_path / "home", "init")
    assert again.stdout.strip().endswith("(already initialised)") and "upgraded" not in again.stdout + again.stderr


def test_any_command_on_an_old_home_says_what_opening_it_added(tmp_path):
    make_old_home(tmp_path / "home", old_specs(tmp_path / "old-specs")).close()
    r = cli(tmp_path / "home", "list", "pipeline")
    assert r.returncode == 0 and r.stderr.count("\n") == 1 and r.stderr.startswith("upgraded this home"), r.stderr
    assert "preview" in r.stdout


def test_a_catalog_that_is_not_pachmedias_spec_is_left_alone(tmp_path):
    specs = old_specs(tmp_path / "old-specs")
    mine = json.loads((specs / "catalog.json").read_text()) | {"datumTries": 7}  # the user's own catalog
    (specs / "catalog.json").write_text(json.dumps(mine))
    make_old_home(tmp_path / "home", specs).close()
    with Engine(tmp_path / "home") as e:
        [line] = e.upgraded
        assert "catalog left as it is (not pachmedia's spec)" in line
        catalog = e.inspect_pipeline("catalog")["spec"]
        assert catalog["datumTries"] == 7 and "preview" not in json.dumps(catalog["input"])
        assert "preview" in {p["name"] for p in e.list_pipelines()}


def test_a_home_of_the_users_own_pipelines_gets_nothing(tmp_path):
    with Engine(tmp_path / "home", init=False) as e:
        e.create_repo("raw")
        e.create_pipeline({"pipeline": {"name": "copy"}, "transform": {"cmd": ["cp", "-r", "/pfs/raw", "/pfs/out"]},
                           "input": {"pfs": {"repo": "raw", "glob": "/*"}}})
    with Engine(tmp_path / "home") as e:
        assert e.upgraded == []
        assert [p["name"] for p in e.list_pipelines()] == ["copy"] and not e.store.has_repo("preview")


def test_a_home_from_a_newer_pachmedia_is_refused_with_one_line(tmp_path):
    Engine(tmp_path / "home").close()
    with sqlite3.connect(tmp_path / "home" / "meta.db") as db:  # as a later version would record it
        db.execute("UPDATE counters SET value=? WHERE name='dag_version'", (DAG_VERSION + 1,))
    with pytest.raises(PachmediaError, match="written by a newer pachmedia"):
        Engine(tmp_path / "home")
    r = cli(tmp_path / "home", "list", "repo")
    assert r.returncode == 1 and r.stdout == "" and r.stderr.count("\n") == 1
    assert r.stderr.startswith("error: this home was written by a newer pachmedia"), r.stderr


def test_an_old_home_with_processed_media_makes_only_what_the_preview_needs(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", seconds=2, size="320x240")
    old = make_old_home(tmp_path / "home", old_specs(tmp_path / "old-specs"))
    try:
        old.put_files("media", "master", [("/clip.mp4", clip)])
        assert {j.pipeline: j.state for j in old.run(show_progress=False)} == {
            p: "JOB_SUCCESS" for p in ("scan", "probe", "transcode", "labels", "catalog")}
        assert "preview" not in json.loads(read(old, "catalog", "/clip.mp4.json"))
    finally:
        old.close()
    with Engine(tmp_path / "home") as e:
        assert len(e.upgraded) == 1
        jobs = e.run(show_progress=False)
        assert all(j.state == "JOB_SUCCESS" for j in jobs), [(j.pipeline, j.state) for j in jobs]
        processed = {}
        for j in jobs:
            processed[j.pipeline] = processed.get(j.pipeline, 0) + j.counts.get("SUCCESS", 0)
        # what was done stays done: only the preview is made, and the catalog records it
        assert processed == {"scan": 0, "probe": 0, "preview": 1, "transcode": 0, "labels": 0, "catalog": 1}, processed
        rec = json.loads(read(e, "catalog", "/clip.mp4.json"))
        assert rec["status"] == "ready" and rec["preview"]["hls"] == "clip.mp4/hls/master.m3u8"
        assert e.inspect_file("preview", e.head("preview"), "/clip.mp4/hls/master.m3u8") is not None


def read(e: Engine, repo: str, path: str) -> bytes:
    f = e.inspect_file(repo, e.head(repo), path)
    assert f is not None, f"{repo}:{path} missing"
    with e.open_object(f.hash) as fh:
        return fh.read()

"""A home made before commit sets named their branches (and branches had triggers) opens,
gains the columns, and its pending commit sets are processed with branch semantics."""
from __future__ import annotations

import io
import sqlite3

import pytest

from .helpers import new_engine, pfs, sh_spec, tree

pytestmark = pytest.mark.unit


def put(e, repo, branch, files):
    return e.put_files(repo, branch, [(p, io.BytesIO(b)) for p, b in files.items()]).id


def test_an_old_home_migrates_and_its_pending_sets_run_per_branch(tmp_path):
    e = new_engine(tmp_path, "rb")
    e.create_pipeline(sh_spec("m", pfs("rb", "/*"), 'cp "$rb" /pfs/out/'))
    on_master = put(e, "rb", "master", {"/a": b"A"})
    on_dev = put(e, "rb", "dev", {"/b": b"B"})
    home = e.home
    e.close()
    db = sqlite3.connect(home / "meta.db")  # as an older pachmedia left it
    for table, cols in (("commit_sets", ("branches", "heads")), ("branches", ("trigger", "created"))):
        for col in cols:
            db.execute(f"ALTER TABLE {table} DROP COLUMN {col}")
    db.commit()
    db.close()
    e = new_engine(tmp_path)
    cols = {r["name"] for r in e.store.db.execute("PRAGMA table_info(commit_sets)")}
    assert {"branches", "heads"} <= cols
    assert {"trigger", "created"} <= {r["name"] for r in e.store.db.execute("PRAGMA table_info(branches)")}
    [job] = e.run(show_progress=False)
    assert job.id == on_master, f"the dev commit {on_dev} starts nothing in a pipeline reading master"
    assert tree(e, "m") == {"/a": b"A"}
    e.close()


def test_a_reference_input_changing_alone_reruns_nothing(tmp_path):
    e = new_engine(tmp_path, "data", "ref")
    put(e, "ref", "master", {"/r": b"v1"})
    e.create_pipeline(sh_spec("p", {"cross": [pfs("data", "/*"), pfs("ref", "/", reference=True)]},
                              'cp "$data" /pfs/out/'))
    put(e, "data", "master", {"/a": b"A"})
    e.run(show_progress=False)
    put(e, "ref", "master", {"/r": b"v2"})
    [job] = e.run(show_progress=False)
    assert job.counts == {"SKIPPED": 1}, "the datum's hash leaves the reference input out (pachd's HashDatum)"
    e.close()

"""pachd makes a pipeline's output branch when the pipeline is created (an empty first
commit on master), so `catalog@master` and the S3 bucket `master.catalog` exist right
after init, before any job has run."""
from __future__ import annotations

from pipelines.engine import Engine
from pipelines.pfs.s3_driver import StoreBackend

from .helpers import new_engine, pfs, put, sh_spec, tree

import pytest

pytestmark = pytest.mark.media


def test_every_output_branch_exists_right_after_init(tmp_path):
    with Engine(tmp_path / "home") as e:
        assert e.jobs.jobs() == []
        for name in ("scan", "probe", "transcode", "labels", "catalog"):
            head = e.resolve(name, "master")  # no "has no finished commit yet"
            assert head.finished is not None and head.origin == "AUTO" and e.store.files(name, head.id) == []
        catalog = next(r for r in StoreBackend(e).list_repos() if r.repo == "catalog")
        assert "master" in catalog.branches
        ref = StoreBackend(e).resolve("default", "catalog", "master", None)
        assert list(StoreBackend(e).list_objects(ref, "", "")) == []
        assert not e.pending(), "an empty output branch is not work to do"


def test_the_first_job_commits_on_top_of_the_empty_branch(tmp_path):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("copy", pfs("in", "/*"), 'cp "$in" /pfs/out/'))
    first = e.store.head("copy")
    assert first is not None and tree(e, "copy") == {}
    e.create_pipeline(sh_spec("copy", pfs("in", "/*"), 'cp "$in" /pfs/out/ # v2'))
    assert e.store.head("copy") == first, "updating a pipeline keeps its branch"
    cid = put(e, "in", {"/a": b"A"}, tmp_path / "s")
    [job] = e.run(show_progress=False)
    assert job.state == "JOB_SUCCESS"
    c = e.store.commit("copy", cid)
    assert e.store.head("copy") == cid and c.parent == first
    assert tree(e, "copy") == {"/a": b"A"}
    e.close()

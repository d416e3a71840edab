"""Datums per input type, with the datum sets written out by hand (as Pachyderm's
TestIterators does), and DatumID/HashDatum as pachd computes them
(src/server/worker/common/common.go), with worked examples."""
from __future__ import annotations

import hashlib

import pytest

from pipelines.pfs.fsck import fsck
from pipelines.pps.datums import (DatumInput, FileEntry, InputCommit, datum_id, datums, hash_datum, legacy_hash,
                                  legacy_id, tree_hash)
from tests.engine.helpers import counts, new_engine, pfs as engine_pfs, put, sh_spec, tree

pytestmark = pytest.mark.unit

REPOS = {
    "a": ["/a-1.txt", "/b-1.txt", "/c-2.txt", "/dir/x.mp4", "/dir/y.mp4"],
    "b": ["/1.json", "/3.json"],
    "c": ["/x", "/y", "/z"],
    "empty": [],
    "k": ["/1.k", "/2.k", "/4.k"],
}


def content(repo: str, path: str) -> str:
    return hashlib.sha256(f"{repo}{path}".encode()).hexdigest()


def resolve(pfs: dict) -> InputCommit:
    repo = pfs["repo"]
    files = tuple(FileEntry(p, content(repo, p), 1) for p in REPOS[repo])
    return InputCommit(repo, pfs.get("branch", "master"), f"commit-{repo}", files)


def pfs(repo, glob, **kw):
    return {"pfs": {"repo": repo, "glob": glob, **kw}}


def shape(ds):
    """Each datum's (input name, path) pairs, sorted: a datum set compared as a set."""
    return [tuple(sorted((i.name, i.path) for i in d.inputs)) for d in ds]


def blake2b_256(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def test_pfs_directory_datum_carries_every_file_under_it():
    [d] = [d for d in datums(pfs("a", "/*"), resolve) if d.inputs[0].path == "/dir"]
    assert [f.path for f in d.inputs[0].files] == ["/dir/x.mp4", "/dir/y.mp4"]
    assert d.inputs[0].file_path == "/dir/"
    assert d.mounts()[0][0] == "a/dir/x.mp4"
    assert d.env("/pfs")["a"] == "/pfs/a/dir"


@pytest.mark.parametrize("spec,expected", [
    pytest.param(pfs("c", "/*"), [(("c", "/x"),), (("c", "/y"),), (("c", "/z"),)], id="pfs"),
    pytest.param({"cross": [pfs("b", "/*"), pfs("c", "/*")]},
                 [(("b", "/1.json"), ("c", "/x")), (("b", "/1.json"), ("c", "/y")), (("b", "/1.json"), ("c", "/z")),
                  (("b", "/3.json"), ("c", "/x")), (("b", "/3.json"), ("c", "/y")), (("b", "/3.json"), ("c", "/z"))],
                 id="cross"),
    pytest.param({"cross": [pfs("c", "/*"), pfs("empty", "/*")]}, [], id="cross-with-empty"),
    pytest.param({"union": [pfs("b", "/*"), pfs("c", "/x")]}, [(("b", "/1.json"),), (("b", "/3.json"),), (("c", "/x"),)],
                 id="union"),
    pytest.param({"join": [pfs("a", "/*-(?).txt", joinOn="$1"), pfs("b", "/(?).json", joinOn="$1")]},
                 [(("a", "/a-1.txt"), ("b", "/1.json")), (("a", "/b-1.txt"), ("b", "/1.json"))], id="join"),
    pytest.param({"join": [pfs("a", "/*-(?).txt", joinOn="$1", outerJoin=True), pfs("b", "/(?).json", joinOn="$1")]},
                 [(("a", "/a-1.txt"), ("b", "/1.json")), (("a", "/b-1.txt"), ("b", "/1.json")), (("a", "/c-2.txt"),)],
                 id="left-outer-join"),
    pytest.param({"join": [pfs("a", "/*-(?).txt", joinOn="$1", outerJoin=True),
                           pfs("b", "/(?).json", joinOn="$1", outerJoin=True)]},
                 [(("a", "/a-1.txt"), ("b", "/1.json")), (("a", "/b-1.txt"), ("b", "/1.json")), (("a", "/c-2.txt"),),
                  (("b", "/3.json"),)], id="full-outer-join"),
    pytest.param({"group": [pfs("a", "/(*)-(?).txt", groupBy="$2"), pfs("b", "/(?).json", groupBy="$1")]},
                 [(("a", "/a-1.txt"), ("a", "/b-1.txt"), ("b", "/1.json")), (("a", "/c-2.txt"),), (("b", "/3.json"),)],
                 id="group"),
    pytest.param({"cross": [{"join": [pfs("a", "/*-(?).txt", joinOn="$1"), pfs("b", "/(?).json", joinOn="$1")]},
                            pfs("c", "/x")]},
                 [(("a", "/a-1.txt"), ("b", "/1.json"), ("c", "/x")), (("a", "/b-1.txt"), ("b", "/1.json"), ("c", "/x"))],
                 id="cross-of-join"),
    # src/server/worker/datum/worker.go processMergeTask: when a key misses an input, only
    # the outerJoin inputs of each combination are kept (inner ones never ride along)
    pytest.param({"join": [pfs("a", "/*-(?).txt", joinOn="$1", outerJoin=True), pfs("b", "/(?).json", joinOn="$1"),
                           pfs("k", "/(?).k", joinOn="$1")]},
                 [(("a", "/a-1.txt"), ("b", "/1.json"), ("k", "/1.k")), (("a", "/b-1.txt"), ("b", "/1.json"), ("k", "/1.k")),
                  (("a", "/c-2.txt"),)], id="outer-join-3-inputs-keeps-only-outer"),
    pytest.param({"join": [pfs("a", "/*-(?).txt", joinOn="$1", outerJoin=True), pfs("b", "/(?).json", joinOn="$1"),
                           pfs("k", "/(?).k", joinOn="$1", outerJoin=True)]},
                 [(("a", "/a-1.txt"), ("b", "/1.json"), ("k", "/1.k")), (("a", "/b-1.txt"), ("b", "/1.json"), ("k", "/1.k")),
                  (("a", "/c-2.txt"), ("k", "/2.k")), (("k", "/4.k"),)], id="outer-join-3-inputs-two-outer"),
    # src/server/pfs/server/server_file.go globFile walks only the commit's entries: an empty
    # commit has no root, so "/" gives no datum, and a cross with it none either
    pytest.param(pfs("empty", "/"), [], id="root-glob-on-empty-commit"),
    pytest.param({"cross": [pfs("c", "/*"), pfs("empty", "/")]}, [], id="cross-with-empty-root"),
    pytest.param(pfs("c", "/"), [(("c", "/"),)], id="root-glob"),
    # worker.go processKeyTask keys each input of a multi-input datum by its own key
    pytest.param({"group": [{"join": [pfs("a", "/(?)-(?).txt", joinOn="$2", groupBy="$1"),
                                      pfs("b", "/(?).json", joinOn="$1", groupBy="$1")]}]},
                 [(("b", "/1.json"), ("b", "/1.json")), (("a", "/a-1.txt"),), (("a", "/b-1.txt"),)],
                 id="group-of-a-join-splits-its-inputs"),
    pytest.param({"join": [{"cross": [pfs("b", "/(?).json", joinOn="$1"), pfs("c", "/x")]},
                           pfs("k", "/(?).k", joinOn="$1")]},
                 [(("b", "/1.json"), ("k", "/1.k"))], id="join-of-a-cross-keys-each-input"),
    pytest.param(pfs("a", "/(a|c)-*"), [(("a", "/a-1.txt"),), (("a", "/c-2.txt"),)], id="capture-alternatives"),
])
def test_datum_sets(spec, expected):
    assert sorted(shape(datums(spec, resolve))) == sorted(tuple(sorted(d)) for d in expected)


def test_join_key_reaches_the_environment():
    spec = {"join": [pfs("a", "/*-(?).txt", joinOn="$1"), pfs("b", "/(?).json", joinOn="$1")]}
    env = datums(spec, resolve)[0].env("/pfs")
    assert env["PACH_DATUM_a_JOIN_ON"] == "1" and env["b"] == "/pfs/b/1.json" and env["b_COMMIT"] == "commit-b"


def test_datum_id_worked_example():
    """DatumID of one pfs input `images` (repo images, branch master) matching /cat.png:
    BLAKE2b-256 over name, repo, branch and path, each followed by its length as a
    big-endian int64. The bytes are spelt out; the digest was checked with coreutils
    (`printf '...' | b2sum -l 256`)."""
    files = (FileEntry("/cat.png", hashlib.sha256(b"meow").hexdigest(), 4),)
    [d] = datums(pfs("images", "/*"), lambda p: InputCommit("images", "master", "c1", files))
    layout = (b"images" + b"\0" * 7 + b"\x06" + b"images" + b"\0" * 7 + b"\x06"
              + b"master" + b"\0" * 7 + b"\x06" + b"/cat.png" + b"\0" * 7 + b"\x08")
    assert d.id == blake2b_256(layout) == "698479f9ed6ef90f06a1ceef954994f914c38932c98d65622d567cbfd7453679"
    # HashDatum: the id's hex text, the file's hash as bytes (sha256 of "meow" is
    # 404cdd7b...3e52), then the salt
    assert d.hash("salt-1") == blake2b_256(d.id.encode() + bytes.fromhex(files[0].hash) + b"salt-1")
    assert d.hash("salt-1") == "41ab90b0e5b7b0fbbe4a5080153d1f6f90250f71b177d9e33982c965b0feb678"


def test_a_directory_is_hashed_with_its_trailing_slash_and_its_tree():
    """pachd's FileInfo path for a directory ends with `/`, and its hash is BLAKE2b-256
    over its children's hashes in path order (a subdirectory's the same way)."""
    files = tuple(FileEntry(p, content("t", p), 1) for p in ("/d/sub/z", "/d/x"))
    [d] = datums(pfs("t", "/d"), lambda p: InputCommit("t", "master", "c1", files))
    i = d.inputs[0]
    assert i.path == "/d" and i.file_path == "/d/"
    id_layout = b"".join(f.encode() + len(f).to_bytes(8, "big") for f in ("t", "t", "master", "/d/"))
    assert d.id == blake2b_256(id_layout)
    sub = bytes.fromhex(blake2b_256(bytes.fromhex(content("t", "/d/sub/z"))))
    tree = blake2b_256(sub + bytes.fromhex(content("t", "/d/x")))
    assert i.hash == tree_hash(files, "/d/").hex() == tree
    assert d.hash("s") == blake2b_256(d.id.encode() + bytes.fromhex(tree) + b"s")


def test_root_datum_path_is_slash():
    [d] = datums(pfs("c", "/"), resolve)
    assert d.inputs[0].file_path == "/" and d.id == blake2b_256(
        b"".join(f.encode() + len(f).to_bytes(8, "big") for f in ("c", "c", "master", "/")))


def test_inputs_are_sorted_by_name_as_sort_input_does():
    """pps.SortInput at create pipeline: a cross's children by their written `name`,
    stably (unnamed pfs inputs sort as ""), so the datum's inputs and its id follow."""
    named = {"cross": [pfs("c", "/x", name="zeta"), pfs("b", "/1.json", name="alpha")]}
    [d] = datums(named, resolve)
    assert [i.name for i in d.inputs] == ["alpha", "zeta"]
    assert d.id == datum_id(d.inputs) == datum_id(sorted(d.inputs, key=lambda i: i.name))
    unnamed = {"cross": [pfs("c", "/x"), pfs("b", "/1.json")]}
    assert [i.name for i in datums(unnamed, resolve)[0].inputs] == ["c", "b"]


def test_datums_come_in_id_order_one_per_id():
    """pachd keeps a level's datums in a file set keyed by datum id."""
    ds = datums({"union": [pfs("c", "/*"), pfs("c", "/*"), pfs("b", "/*")]}, resolve)
    assert [d.id for d in ds] == sorted({d.id for d in ds}) and len(ds) == 5


def test_group_inputs_follow_the_childs_datum_order():
    [d] = [d for d in datums({"group": [pfs("a", "/(*)-(?).txt", groupBy="$2")]}, resolve)
           if d.inputs[0].group_by == "1"]
    singles = {i.path: datum_id([i]) for i in d.inputs}
    assert [i.path for i in d.inputs] == sorted(singles, key=singles.get)


def test_id_ignores_content_and_hash_does_not():
    [d1] = datums(pfs("c", "/x"), resolve)
    other = InputCommit("c", "master", "commit-2", (FileEntry("/x", "f" * 64, 1),))
    [d2] = datums(pfs("c", "/x"), lambda p: other)
    assert d1.id == d2.id
    assert d1.hash("s") != d2.hash("s") and d1.hash("s") != d1.hash("t")


def test_a_reference_input_is_left_out_of_the_hash():
    [d] = datums(pfs("c", "/x", reference=True), resolve)
    [plain] = datums(pfs("c", "/x"), resolve)
    assert d.id == plain.id and d.hash("s") == blake2b_256(d.id.encode() + b"s") != plain.hash("s")


def test_fields_cannot_run_together():
    ab = InputCommit("ab", "master", "c", (FileEntry("/c", "0" * 64, 1),))
    a = InputCommit("a", "master", "c", (FileEntry("/bc", "0" * 64, 1),))
    [d1] = datums({"pfs": {"repo": "ab", "glob": "/c", "name": "x"}}, lambda p: ab)
    [d2] = datums({"pfs": {"repo": "a", "glob": "/bc", "name": "x"}}, lambda p: a)
    assert d1.id != d2.id


def test_hash_datum_is_over_inputs_in_order():
    x = DatumInput("x", "x", "master", "c", "/*", "/1", (FileEntry("/1", "00" * 32, 1),))
    y = DatumInput("y", "y", "master", "c", "/*", "/2", (FileEntry("/2", "11" * 32, 1),))
    assert hash_datum("s", [x, y]) != hash_datum("s", [y, x])


def forge_pre_upgrade_records(e, pipeline: str) -> int:
    """Rewrite a pipeline's records as an earlier version made them: sha256 ids and
    hashes (datums.legacy_id/legacy_hash), also where outputs and files name the datum."""
    n = 0
    with e.store.tx():
        for job in e.jobs.jobs(pipeline):
            for d in e.jobs.datums(pipeline, job.id):
                old_id, old_hash = legacy_id(d.inputs), legacy_hash(d.inputs, job.salt)
                e.store.db.execute("UPDATE datums SET id=?, hash=? WHERE pipeline=? AND job=? AND id=?",
                                   (old_id, old_hash, pipeline, job.id, d.id))
                e.store.db.execute("UPDATE datum_outputs SET datum=? WHERE pipeline=? AND job=? AND datum=?",
                                   (old_id, pipeline, job.id, d.id))
                e.store.db.execute("UPDATE files SET datum=? WHERE repo=? AND job=? AND datum=?",
                                   (old_id, pipeline, job.id, d.id))
                n += 1
    return n


def test_the_first_job_after_the_upgrade_skips_what_an_earlier_version_did(tmp_path):
    """A home made before ids and hashes were pachd's: its records are recognised, unchanged
    datums are skipped (their outputs adopted under the new ids), and from then on the
    new records skip as usual."""
    e = new_engine(tmp_path, "in")
    try:
        e.create_pipeline(sh_spec("copy", engine_pfs("in", "/*"), 'cp "$in" /pfs/out/"$(basename "$in")".out'))
        put(e, "in", {"/a": b"A", "/b": b"B", "/c": b"C"}, tmp_path / "s")
        [first] = e.run(show_progress=False)
        assert counts(first) == (3, 0, 0)
        assert forge_pre_upgrade_records(e, "copy") == 3
        put(e, "in", {"/a": b"A2", "/d": b"D"}, tmp_path / "s")
        [second] = e.run(show_progress=False)
        assert counts(second) == (2, 2, 0)  # /a changed and /d is new; /b and /c skipped
        skipped = e.jobs.datums("copy", second.id, state="SKIPPED")
        assert sorted(d.inputs[0]["path"] for d in skipped) == ["/b", "/c"]
        assert all(d.id == datum_id([DatumInput("in", "in", "master", "", "", d.inputs[0]["path"],
                                                (FileEntry(d.inputs[0]["path"], "", 0),))]) for d in skipped)
        assert tree(e, "copy") == {"/a.out": b"A2", "/b.out": b"B", "/c.out": b"C", "/d.out": b"D"}
        assert not fsck(e, verify_hashes=False).problems
        put(e, "in", {"/e": b"E"}, tmp_path / "s")
        [third] = e.run(show_progress=False)
        assert counts(third) == (1, 4, 0)
        assert tree(e, "copy")["/b.out"] == b"B" and not fsck(e, verify_hashes=False).problems
    finally:
        e.close()

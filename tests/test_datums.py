"""Datums per input type, with the datum sets written out by hand (as Pachyderm's
TestIterators does), plus DatumID/HashDatum as Pachyderm's worker computes them."""
from __future__ import annotations

import hashlib
import struct

import pytest

from pipelines.pps.datums import FileEntry, InputCommit, datums
from pipelines.pps.globs import glob_paths

pytestmark = pytest.mark.unit

REPOS = {
    "a": ["/a-1.txt", "/b-1.txt", "/c-2.txt", "/dir/x.mp4", "/dir/y.mp4"],
    "b": ["/1.json", "/3.json"],
    "c": ["/x", "/y", "/z"],
    "empty": [],
    "k": ["/1.k", "/2.k", "/4.k"],
}


def resolve(pfs: dict) -> InputCommit:
    repo = pfs["repo"]
    files = tuple(FileEntry(p, hashlib.sha256(f"{repo}{p}".encode()).hexdigest(), 1) for p in REPOS[repo])
    return InputCommit(repo, pfs.get("branch", "master"), f"commit-{repo}", files)


def pfs(repo, glob, **kw):
    return {"pfs": {"repo": repo, "glob": glob, **kw}}


def shape(ds):
    return [tuple((i.name, i.path) for i in d.inputs) for d in ds]


@pytest.mark.parametrize("pattern,expected", [
    pytest.param("/", ["/"], id="root"),
    pytest.param("/*", ["/a-1.txt", "/b-1.txt", "/c-2.txt", "/dir"], id="star"),
    pytest.param("/*/*", ["/dir/x.mp4", "/dir/y.mp4"], id="star-star-segments"),
    pytest.param("/**", ["/a-1.txt", "/b-1.txt", "/c-2.txt", "/dir", "/dir/x.mp4", "/dir/y.mp4"], id="globstar"),
    pytest.param("/?-1.txt", ["/a-1.txt", "/b-1.txt"], id="question"),
    pytest.param("/[ac]-*", ["/a-1.txt", "/c-2.txt"], id="class"),
    pytest.param("/[!ac]-*", ["/b-1.txt"], id="negated-class"),
    pytest.param("/dir/*.mp4", ["/dir/x.mp4", "/dir/y.mp4"], id="nested"),
    pytest.param("/{a,c}-*", ["/a-1.txt", "/c-2.txt"], id="alternatives"),
    pytest.param("/nothing*", [], id="no-match"),
])
def test_glob(pattern, expected):
    assert glob_paths(pattern, REPOS["a"]) == expected


def test_pfs_directory_datum_carries_every_file_under_it():
    [d] = [d for d in datums(pfs("a", "/*"), resolve) if d.inputs[0].path == "/dir"]
    assert [f.path for f in d.inputs[0].files] == ["/dir/x.mp4", "/dir/y.mp4"]
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
    assert shape(datums(spec, resolve)) == expected


def test_join_key_reaches_the_environment():
    spec = {"join": [pfs("a", "/*-(?).txt", joinOn="$1"), pfs("b", "/(?).json", joinOn="$1")]}
    env = datums(spec, resolve)[0].env("/pfs")
    assert env["PACH_DATUM_a_JOIN_ON"] == "1" and env["b"] == "/pfs/b/1.json" and env["b_COMMIT"] == "commit-b"


def test_datum_id_is_pachyderms_length_prefixed_sha256():
    [d] = datums(pfs("c", "/x"), resolve)
    h = hashlib.sha256()
    for field in ("c", "c", "master", "/x"):
        h.update(field.encode())
        h.update(struct.pack(">q", len(field)))
    assert d.id == h.hexdigest()
    salted = hashlib.sha256(d.id.encode() + d.inputs[0].files[0].hash.encode() + b"salt").hexdigest()
    assert d.hash("salt") == salted


def test_id_ignores_content_and_hash_does_not():
    [d1] = datums(pfs("c", "/x"), resolve)
    other = InputCommit("c", "master", "commit-2", (FileEntry("/x", "f" * 64, 1),))
    [d2] = datums(pfs("c", "/x"), lambda p: other)
    assert d1.id == d2.id
    assert d1.hash("s") != d2.hash("s") and d1.hash("s") != d1.hash("t")


def test_fields_cannot_run_together():
    ab = InputCommit("ab", "master", "c", (FileEntry("/c", "0" * 64, 1),))
    a = InputCommit("a", "master", "c", (FileEntry("/bc", "0" * 64, 1),))
    [d1] = datums({"pfs": {"repo": "ab", "glob": "/c", "name": "x"}}, lambda p: ab)
    [d2] = datums({"pfs": {"repo": "a", "glob": "/bc", "name": "x"}}, lambda p: a)
    assert d1.id != d2.id

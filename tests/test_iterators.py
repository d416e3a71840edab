"""Pachyderm's TestIterators and TestJoinTrailingSlash, every case, re-expressed as our data:
github.com/pachyderm/pachyderm at e237475e99, src/server/worker/datum/iterator_test.go.
One repo of 50 files /foo0 .. /foo49 and the exact datum sets Pachyderm expects for pfs
(`!(**)` matches nothing), union, cross, empty and nested-empty crosses, join, outer join,
groups, a group of a join, a union with a group, and s3 inputs. Compared as its validateDI
does: a multiset of keys, each the sorted parts of the datum's input paths run together
(pachd's paths: a directory's, and the root, end with `/`)."""
from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from pipelines.pps.datums import FileEntry, InputCommit, datums

pytestmark = pytest.mark.unit

FILES = tuple(FileEntry(f"/foo{i}", hashlib.sha256(b"input").hexdigest(), 5) for i in range(50))


def resolve(pfs: dict) -> InputCommit:
    return InputCommit(pfs["repo"], "master", "c1", FILES)


def pfs(glob: str, join_on: str = "", group_by: str = "", outer: bool = False) -> dict:
    """client.NewPFSInputOpts("", project, repo, "", glob, joinOn, groupBy, outerJoin, ...)."""
    d = {"repo": "data", "glob": glob}
    if join_on:
        d["joinOn"] = join_on
    if group_by:
        d["groupBy"] = group_by
    if outer:
        d["outerJoin"] = True
    return {"pfs": d}


def stable_key(key: str) -> str:
    return "/".join(sorted(p for p in key.split("/") if p))


def keys(input_spec: dict, resolver=resolve) -> Counter:
    return Counter(stable_key("".join(i.file_path for i in d.inputs)) for d in datums(input_spec, resolver))


def expect(*datum_keys: str) -> Counter:
    return Counter(stable_key(k) for k in datum_keys)


IN0 = pfs("!(**)")
IN1, IN2 = pfs("/foo?1"), pfs("/foo*2")
IN3 = {"union": [IN1, IN2]}
IN4 = {"cross": [IN1, IN2]}
IN6 = {"cross": [IN3, IN0, IN2, IN4]}
IN21 = {"join": [pfs("/foo(?)(?)", "$1$2", "$1"), pfs("/foo(?)(?)", "$2$1", "$2")]}
IN27 = {"pfs": {"repo": "data", "glob": "/", "s3": True}}  # client.NewS3PFSInput("", project, repo, "")
CROSS = [f"/foo{a}/foo{b}" for a in (11, 21, 31, 41) for b in (12, 2, 22, 32, 42)]

CASES = [
    pytest.param(IN0, expect(), id="ZeroDatums"),
    pytest.param(IN1, expect("/foo11", "/foo21", "/foo31", "/foo41"), id="Basic-1"),
    pytest.param(IN2, expect("/foo12", "/foo2", "/foo22", "/foo32", "/foo42"), id="Basic-2"),
    pytest.param(IN3, expect("/foo11", "/foo12", "/foo2", "/foo21", "/foo22", "/foo31", "/foo32", "/foo41", "/foo42"),
                 id="Union"),
    pytest.param(IN4, expect(*CROSS), id="Cross"),
    pytest.param(IN6, expect(), id="EmptyCross"),
    pytest.param({"cross": [IN6, IN1]}, expect(), id="NestedEmptyCross"),
    pytest.param({"join": [pfs("/foo(?)(?)", "$1$2"), pfs("/foo(?)(?)", "$2$1")]},
                 expect(*[f"/foo{a}{b}/foo{b}{a}" for a in range(1, 5) for b in range(1, 5)]), id="Join"),
    pytest.param({"join": [pfs("/foo1(?)", "$1", outer=True), pfs("/foo(?)1", "$1", outer=True)]},
                 expect("/foo10", "/foo11/foo11", "/foo12/foo21", "/foo13/foo31", "/foo14/foo41",
                        "/foo15", "/foo16", "/foo17", "/foo18", "/foo19"), id="OuterJoin"),
    pytest.param({"group": [pfs("/foo(?)(?)", group_by="$1")]},
                 expect(*["".join(f"/foo{a}{b}" for b in range(10)) for a in range(1, 5)]), id="GroupSingle"),
    pytest.param({"group": [pfs("/foo(?)(?)", group_by="$1"), pfs("/foo(?)(?)", group_by="$2")]},
                 expect("/foo10/foo20/foo30/foo40",
                        *["".join(f"/foo{a}{b}" for b in range(10)) + "".join(f"/foo{c}{a}" for c in range(1, 5))
                          for a in range(1, 5)],
                        *["".join(f"/foo{c}{b}" for c in range(1, 5)) for b in range(5, 10)]), id="GroupDoubles"),
    pytest.param({"group": [IN21]},
                 expect(*["".join(f"/foo{a}{b}/foo{b}{a}" for b in range(1, 5)) for a in range(1, 5)]),
                 id="GroupJoin"),
    pytest.param({"union": [pfs("/foo(?)(?)"), {"group": [pfs("/foo(?)(?)", group_by="$2")]}]},
                 expect(*["".join(f"/foo{a}{b}" for a in range(1, 5)) for b in range(10)],
                        *[f"/foo{i}" for i in range(10, 50)]), id="UnionGroup"),
    pytest.param(IN27, expect("/"), id="PlainS3"),
    pytest.param({"cross": [IN1, IN2, IN27]}, expect(*[k + "/" for k in CROSS]), id="S3MixedCross"),
    pytest.param({"cross": [IN27, IN27, IN27]}, expect("///"), id="S3OnlyCrossUnionJoin"),
]


@pytest.mark.parametrize("spec,expected", CASES)
def test_iterators(spec, expected):
    assert keys(spec) == expected


def test_s3_inputs_are_marked_on_every_datum():
    """PlainS3 also checks that every datum's input has S3 set."""
    ds = datums(IN27, resolve)
    assert len(ds) == 1 and all(i.s3 for d in ds for i in d.inputs)
    assert not any(i.s3 for d in datums(IN1, resolve) for i in d.inputs)


@pytest.mark.parametrize("glob", ["/(*)", "/(*)/"])
def test_join_trailing_slash(glob):
    """TestJoinTrailingSlash: the same (cleaned) glob matches and extracts the key."""
    files = tuple(FileEntry(f"/foo-{j}", "0" * 64, 3) for j in range(10))
    spec = {"join": [{"pfs": {"repo": "a", "glob": glob, "joinOn": "$1"}},
                     {"pfs": {"repo": "b", "glob": glob, "joinOn": "$1"}}]}
    got = keys(spec, lambda p: InputCommit(p["repo"], "master", "c", files))
    assert got == expect(*[f"/foo-{j}/foo-{j}" for j in range(10)])

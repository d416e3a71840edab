"""Globs as pachd applies them to a commit: the pattern cleaned as a path
(src/internal/pfsfile CleanPath), listed paths filtered by its literal prefix and matched
with a directory's trailing `/` trimmed (pfs/server globFile, globMatchFunction), the root
only for `/`, and joinOn/groupBy filled by ohmyglob's Replace (worker/datum processPFSTask).
The matcher itself is pinned by ohmyglob's own tables (test_globs_ohmyglob.py and friends)."""
from __future__ import annotations

import pytest

from pipelines.pps.globs import GlobError, clean, compile_glob, glob_paths, template_groups

pytestmark = pytest.mark.unit

TREE = ["/a-1.txt", "/b-1.txt", "/c-2.txt", "/dir/x.mp4", "/dir/y.mp4", "/dir/sub/z.mp4", "/9.json"]
TOP = ["/9.json", "/a-1.txt", "/b-1.txt", "/c-2.txt", "/dir"]


@pytest.mark.parametrize("pattern,cleaned", [
    ("", "/"), ("/", "/"), ("//", "/"), (".", "/"), ("*", "/*"), ("//*", "/*"), ("/./*", "/*"),
    ("/*/", "/*"), ("a/b/", "/a/b"), ("/a/../*", "/*"), ("/../*", "/*"), ("../x", "/../x"),
    ("/dir//*.mp4", "/dir/*.mp4"), ("!(**)", "/!(**)"),
])
def test_clean_is_pfsfile_clean_path(pattern, cleaned):
    assert clean(pattern) == cleaned


@pytest.mark.parametrize("pattern,expected", [
    pytest.param("/", ["/"], id="root"),
    pytest.param("", ["/"], id="empty-is-root"),
    pytest.param("/*", TOP, id="star"),
    pytest.param("*", TOP, id="no-leading-slash"),
    pytest.param("//*", TOP, id="double-slash"),
    pytest.param("/./*", TOP, id="dot-segment"),
    pytest.param("/*/", TOP, id="trailing-slash"),
    pytest.param("/dir", ["/dir"], id="a-directory-by-name"),
    pytest.param("/dir/*", ["/dir/sub", "/dir/x.mp4", "/dir/y.mp4"], id="directory-children"),
    pytest.param("/**", sorted(TOP + ["/dir/sub", "/dir/sub/z.mp4", "/dir/x.mp4", "/dir/y.mp4"]), id="globstar"),
    pytest.param("/**.mp4", ["/dir/sub/z.mp4", "/dir/x.mp4", "/dir/y.mp4"], id="globstar-crosses-segments"),
    pytest.param("/*.mp4", [], id="star-stays-in-its-segment"),
    pytest.param("/?-1.txt", ["/a-1.txt", "/b-1.txt"], id="question"),
    pytest.param("/[ac]-*", ["/a-1.txt", "/c-2.txt"], id="class"),
    pytest.param("/[!ac]-*", ["/b-1.txt"], id="negated-class"),
    pytest.param("/[^ac]-*", ["/b-1.txt"], id="caret-negated-class"),
    pytest.param("/[a!c]-*", ["/b-1.txt"], id="bang-anywhere-negates-the-class"),
    pytest.param("/[[:digit:]]*", ["/9.json"], id="posix-class"),
    pytest.param("/[[:alpha:]]-?.txt", ["/a-1.txt", "/b-1.txt", "/c-2.txt"], id="posix-alpha"),
    pytest.param("/[![:alpha:]]*", ["/9.json"], id="negated-posix-class"),
    pytest.param("/{a,c}-*", ["/a-1.txt", "/c-2.txt"], id="alternatives"),
    pytest.param("/!(a-1.txt)", ["/9.json", "/b-1.txt", "/c-2.txt", "/dir"], id="extglob-not"),
    pytest.param("/*.!(txt)", ["/9.json"], id="extglob-not-extension"),
    pytest.param("/@(a|b)-1.txt", ["/a-1.txt", "/b-1.txt"], id="extglob-one-of"),
    pytest.param("/+([a-c])-?.txt", ["/a-1.txt", "/b-1.txt", "/c-2.txt"], id="extglob-one-or-more"),
    pytest.param("/dir/*(sub)", ["/dir/sub"], id="extglob-any-number"),
    pytest.param("/?(a)-1.txt", ["/a-1.txt"], id="extglob-optional"),
    pytest.param("!(**)", [], id="extglob-nothing"),
    pytest.param("/*\\-1.txt", ["/a-1.txt", "/b-1.txt"], id="escape-after-a-glob-character"),
    # pachd lists only paths with the pattern's literal prefix, where a `\` counts as itself
    pytest.param("/\\a-1.txt", [], id="escape-in-the-literal-prefix-matches-nothing"),
    pytest.param("/nothing*", [], id="no-match"),
])
def test_glob_paths(pattern, expected):
    assert glob_paths(pattern, TREE) == expected


def test_root_exists_only_in_a_commit_with_files():
    assert glob_paths("/", []) == [] and glob_paths("/*", []) == []


def test_directories_are_matched_without_their_trailing_slash():
    g = compile_glob("/(*)")
    assert g.match("/dir/") and g.replace("/dir/", "$1") == "dir"
    assert not compile_glob("/*").match("/")


@pytest.mark.parametrize("pattern,path,template,expected", [
    ("/(*)-(?).txt", "/a-1.txt", "$2", "1"),
    ("/(*)-(?).txt", "/a-1.txt", "${1}x", "ax"),
    ("/(*)-(?).txt", "/a-1.txt", "$2$1", "1a"),
    ("/(*)-(?).txt", "/a-1.txt", "$$1", "$1"),
    ("/(*)-(?).txt", "/a-1.txt", "$0", "/a-1.txt"),
    ("/(*)-(?).txt", "/a-1.txt", "$3", ""),
    ("/(*)-(?).txt", "/a-1.txt", "cost: $", "cost: $"),
    ("/(*)-(?).txt", "/a-1.txt", "${1", "${1"),
    ("/@(a|b)-(?).txt", "/b-1.txt", "$1/$2", "b/1"),
    ("/!(a)-(?).txt", "/c-2.txt", "$1$2", "c2"),
    ("/+([a-c])-*", "/b-1.txt", "$1", "b"),
    ("/(*)", "/nomatch/deeper", "$1", ""),
    ("//(*).txt", "/a-1.txt", "$1", "a-1"),
])
def test_templates_are_ohmyglob_replace(pattern, path, template, expected):
    assert compile_glob(pattern).replace(path, template) == expected


@pytest.mark.parametrize("template,groups", [
    ("$1", [1]), ("${2}-$1", [2, 1]), ("$$1", []), ("$$$1", [1]), ("$", []), ("a$b", []), ("", []),
])
def test_template_groups(template, groups):
    assert template_groups(template) == groups


@pytest.mark.parametrize("template", ["$01", "${00}"])
def test_a_group_number_ohmyglob_cannot_take_is_refused(template):
    """ohmyglob's Replace indexes its captures with -1 for these: pachd's worker panics."""
    with pytest.raises(GlobError, match="capture group number"):
        template_groups(template)


@pytest.mark.parametrize("pattern", ["/[a-", "/[z-a]", "/^(x)"])
def test_a_bad_pattern_is_a_clear_error(pattern):
    with pytest.raises(GlobError, match="glob"):
        compile_glob(pattern)


def test_extended_groups_count_as_capture_groups():
    assert compile_glob("/@(a|b)/*(x)/!(y)/(z)").groups == 4


def test_a_pipeline_with_an_extended_glob_runs(tmp_path):
    """Refused before; as pachctl takes it: no leading `/`, a negation, a capture."""
    from pipelines.pps.spec import validate_spec
    from tests.engine.helpers import new_engine, pfs, put, sh_spec, tree
    spec = sh_spec("names", pfs("in", "!(*.tmp)", joinOn="$1"), 'basename "$in" > /pfs/out/"$(basename "$in")"')
    validate_spec(spec)
    e = new_engine(tmp_path, "in")
    try:
        e.create_pipeline(spec)
        put(e, "in", {"/a.txt": b"A", "/b.tmp": b"B", "/dir/c.txt": b"C"}, tmp_path / "s")
        [job] = e.run(show_progress=False)
        assert tree(e, "names") == {"/a.txt": b"a.txt\n", "/dir": b"dir\n"}
        assert sorted(d.why["inputs"][0] for d in e.jobs.datums("names", job.id)) == ["in:/a.txt", "in:/dir/c.txt"]
    finally:
        e.close()

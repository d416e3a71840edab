"""Local files: `put file -r` never follows a symlink out of the folder it was given (a link to
/etc/passwd must not be committed), `debug datum --dir` never empties a folder it did not make,
and $PACHMEDIA_HOME (objects, metadata, keys, logs, datum sandboxes) is private to its owner."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.engine import Engine
from tests.engine.helpers import new_engine, pfs, put, sh_spec

pytestmark = pytest.mark.unit


def committed(home: Path, repo: str) -> dict[str, bytes]:
    with Engine(home, init=False) as e:
        c = e.resolve(repo, "master")
        out = {}
        for f in e.store.files(repo, c.id):
            with e.store.objects.open(f.hash) as fh:
                out[f.path] = fh.read()
        return out


def test_put_file_r_skips_symlinks_and_says_so(tmp_path, capsys):
    secret = tmp_path / "outside" / "passwd"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    up = tmp_path / "upload"
    (up / "sub").mkdir(parents=True)
    (up / "real.txt").write_text("mine")
    (up / "sub" / "also.txt").write_text("mine too")
    (up / "passwd.txt").symlink_to(secret)           # a file link pointing out of the folder
    (up / "etc").symlink_to(secret.parent)           # a folder link
    (up / "sub" / "inside.txt").symlink_to(up / "real.txt")  # even one pointing inside: a link is not a file
    (up / "dangling.txt").symlink_to(tmp_path / "nowhere")
    home = tmp_path / "home"
    assert main(["--home", str(home), "create", "repo", "docs"]) == 0
    capsys.readouterr()
    rc = main(["--home", str(home), "put", "file", "-r", "docs@master:/", "-f", str(up), "--no-run"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert committed(home, "docs") == {"/real.txt": b"mine", "/sub/also.txt": b"mine too"}
    for link in ("passwd.txt", "etc", "sub/inside.txt", "dangling.txt"):
        assert f"skipped symlink {up / link}" in err, err  # each one named, on stderr
    assert "4 symlinks skipped" in err


def test_put_file_r_refuses_a_folder_of_only_links(tmp_path, capsys):
    up = tmp_path / "upload"
    up.mkdir()
    (up / "passwd.mp4").symlink_to("/etc/passwd")
    home = tmp_path / "home"
    rc = main(["--home", str(home), "put", "file", "-r", "media@master:/", "-f", str(up), "--no-run"])
    out, err = capsys.readouterr()
    assert rc != 0 and "skipped symlink" in err and "nothing to put" in err, err


@pytest.fixture
def one_datum(tmp_path):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("copy", pfs("in", "/*"), 'cp "$in" /pfs/out/'))
    cid = put(e, "in", {"/a": b"a"}, tmp_path / "s")
    e.run(show_progress=False)
    [d] = e.jobs.datums("copy", cid)
    home = e.home
    e.close()
    return home, cid, d.id


def test_debug_datum_refuses_a_folder_it_did_not_make(one_datum, tmp_path, capsys):
    home, cid, datum = one_datum
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    rc = main(["--home", str(home), "debug", "datum", f"copy@{cid}", datum[:12], "--dir", str(precious)])
    err = capsys.readouterr().err
    assert rc != 0
    assert str(precious) in err and "not made by" in err, err
    assert (precious / "thesis.tex").read_text() == "years of work"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--home", str(home), "debug", "datum", f"copy@{cid}", datum[:12], "--dir", str(empty)]) != 0
    assert list(empty.iterdir()) == []


def test_debug_datum_reuses_a_folder_it_made(one_datum, tmp_path, capsys):
    home, cid, datum = one_datum
    dbg = tmp_path / "dbg"
    for _ in range(2):  # the second time it is the folder the first made: laid out afresh
        rc = main(["--home", str(home), "debug", "datum", f"copy@{cid}", datum[:12], "--dir", str(dbg), "--run"])
        assert rc == 0, capsys.readouterr().err
        assert (dbg / "pfs" / "out" / "a").read_bytes() == b"a"


def loose(home: Path) -> list[str]:
    """Everything under home that its group or others could read, write or enter."""
    found = []
    for p in [home, *home.rglob("*")]:
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            continue
        if st.st_mode & 0o077:
            found.append(f"{p.relative_to(home.parent)} {stat.filemode(st.st_mode)}")
    return found


def test_a_new_home_is_private_under_a_permissive_umask(tmp_path):
    old = os.umask(0o022)
    try:
        e = new_engine(tmp_path, "in")
        e.create_pipeline(sh_spec("copy", pfs("in", "/*"), 'cp "$in" /pfs/out/'))
        put(e, "in", {"/a": b"a"}, tmp_path / "s")
        e.run(show_progress=False)
        home = e.home
        e.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert (home / "meta.db").exists()
    assert loose(home) == []


def test_an_existing_home_is_tightened_when_opened(tmp_path):
    home = tmp_path / "home"
    Engine(home, specs_dir=tmp_path / "no-specs", init=False).close()
    (home / "s3-keys.json").write_text("{}")
    for p in [home, *home.rglob("*")]:  # what an older pachmedia under umask 022 (or a chmod) left
        p.chmod(0o777 if p.is_dir() else 0o666)
    assert loose(home)
    Engine(home, specs_dir=tmp_path / "no-specs", init=False).close()
    assert loose(home) == []

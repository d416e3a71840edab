"""Puts to one branch from several processes at once: each commit lands on top of the
others (pachd serialises commits on a branch), so no file is lost."""
from __future__ import annotations

import io
import multiprocessing

from pipelines.engine import Engine
from pipelines.pfs.fsck import fsck
from tests.engine.helpers import new_engine

import pytest

pytestmark = pytest.mark.media


def _writer(home: str, tag: str, n: int) -> None:
    e = Engine(home, init=False)
    for i in range(n):
        e.put_files("in", "master", [(f"/{tag}-{i}", io.BytesIO(f"{tag}{i}".encode() * 1000))])
    e.close()


def test_concurrent_puts_from_processes_lose_nothing(tmp_path):
    e = new_engine(tmp_path, "in")
    home = str(e.home)
    e.close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(home, tag, 25)) for tag in ("a", "b", "c")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    e = Engine(home, init=False)
    head = e.store.head("in")
    paths = {f.path for f in e.store.files("in", head)}
    assert paths == {f"/{t}-{i}" for t in "abc" for i in range(25)}
    commits = e.store.commits("in")
    assert len(commits) == 75
    # a chain: every commit's parent is the one before it, whoever made it
    by_seq = sorted(commits, key=lambda c: c.seq)
    assert [c.parent for c in by_seq[1:]] == [c.id for c in by_seq[:-1]]
    assert fsck(e).ok
    e.close()

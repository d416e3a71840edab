"""The store's re-entrant transaction (pipelines/pfs/db.py Tx) when an interrupt lands as
BEGIN returns (Ctrl-C while BEGIN IMMEDIATE waited for another process's write): nothing is
left open and the lock is free for the run's other threads. Real SQLite; the interrupt is
raised by a thin wrapper around its execute."""
from __future__ import annotations

import sqlite3
import threading
from types import SimpleNamespace

import pytest

from pipelines.pfs.db import Tx

pytestmark = pytest.mark.unit


class InterruptedBegin:
    """A connection whose first BEGIN succeeds and then 'receives' Ctrl-C."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db, self.fired = db, False

    def execute(self, sql: str, *args):
        cur = self.db.execute(sql, *args)
        if sql.startswith("BEGIN") and not self.fired:
            self.fired = True
            raise KeyboardInterrupt
        return cur

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction


def test_an_interrupt_as_begin_returns_leaves_no_transaction_and_no_held_lock(tmp_path):
    db = sqlite3.connect(tmp_path / "t.db", isolation_level=None, check_same_thread=False)
    db.execute("CREATE TABLE t(x)")
    store = SimpleNamespace(lock=threading.RLock(), db=InterruptedBegin(db))
    with pytest.raises(KeyboardInterrupt):
        with Tx(store):
            pytest.fail("the body ran after the interrupt")
    assert not db.in_transaction, "the transaction BEGIN opened was left open"
    other = {}

    def another_job():
        other["got"] = store.lock.acquire(timeout=2)
        if other["got"]:
            store.lock.release()

    t = threading.Thread(target=another_job)
    t.start()
    t.join()
    assert other["got"], "the interrupted Tx kept the store's lock: the run's other jobs would hang"
    with Tx(store) as conn:  # and the store still works
        conn.execute("INSERT INTO t VALUES (1)")
        with Tx(store) as inner:  # nested: no second BEGIN
            inner.execute("INSERT INTO t VALUES (2)")
    assert not db.in_transaction
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 2

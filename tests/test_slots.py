"""The run's slot pool (pipelines/pps/slots.py): who gets a free slot, the cap, the one
cancel, nice, and where priority and the pool's size come from. Pure logic with threads;
waiting is observed through the pool's own queue, never through sleeps."""
from __future__ import annotations

import threading
import time

import pytest

from pipelines.errors import SpecError, UsageError
from pipelines.pps.slots import BACKGROUND_NICE, PRIORITY_ANNOTATION, Slots, default_slots, priority_of

pytestmark = pytest.mark.unit


def _until(cond, what: str) -> None:
    deadline = time.monotonic() + 10
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def _waiter(claim, got: list, release: threading.Event):
    def go():
        with claim.slot() as held:
            got.append((claim.name, bool(held)))
            if held:
                release.wait(10)
    t = threading.Thread(target=go)
    t.start()
    return t


def test_a_free_slot_goes_to_the_highest_priority_then_dag_order_then_first_come():
    pool = Slots(1)
    holder = pool.enter("holder")
    got, release = [], threading.Event()
    held = holder.slot()
    assert held.__enter__()
    claims = [pool.enter("lo-early", 0, 5), pool.enter("lo-dag-first", 0, 1), pool.enter("hi", 2, 9),
              pool.enter("lo-late", 0, 5)]
    threads = []
    for n, c in enumerate(claims):
        threads.append(_waiter(c, got, release))
        _until(lambda: len(pool._waiting) == n + 1, "the waiter to queue")  # queued in this order
    release.set()  # each gives its slot back as soon as it has it: one at a time, in order
    held.__exit__(None, None, None)
    for t in threads:
        t.join(10)
    assert [name for name, _ in got] == ["hi", "lo-dag-first", "lo-early", "lo-late"]


def test_a_worker_keeps_its_slot_past_a_lower_job_and_yields_to_a_higher_one():
    """Between two datums of a job the slot is not up for grabs by a job behind it (with
    preview at parallelism 1 that gap let transcode take the slot); one ahead gets it."""
    pool = Slots(1)
    mid = pool.enter("mid", 1, 3)
    held = mid.slot().__enter__()
    got, release = [], threading.Event()
    release.set()
    low = _waiter(pool.enter("low", 0, 1), got, release)
    _until(lambda: len(pool._waiting) == 1, "low to queue")
    assert held.renew() and got == []  # kept: low is behind
    high = _waiter(pool.enter("high", 2, 9), got, release)
    _until(lambda: len(pool._waiting) == 2, "high to queue")
    renewed = threading.Thread(target=held.renew)  # gives the slot to high, queues again ahead of low
    renewed.start()
    _until(lambda: got == [("high", True)], "high's turn")
    renewed.join(10)
    assert held.ok and got == [("high", True)]
    held.__exit__(None, None, None)
    for t in (low, high):
        t.join(10)
    assert got == [("high", True), ("low", True)]


def test_never_more_datums_than_slots():
    pool = Slots(2)
    inside, peak, lock = [0], [0], threading.Lock()

    def datum(claim):
        with claim.slot() as held:
            assert held
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.01)
            with lock:
                inside[0] -= 1
    claims = [pool.enter(f"job{i}") for i in range(3)]
    threads = [threading.Thread(target=datum, args=(claims[i % 3],)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak[0] == 2


def test_cancel_stops_every_waiter_and_every_later_job():
    pool = Slots(1)
    first = pool.enter("a")
    held = first.slot()
    assert held.__enter__()
    got, release = [], threading.Event()
    t = _waiter(pool.enter("b"), got, release)
    _until(lambda: pool._waiting, "b to queue")
    assert pool.cancel() == 0  # nothing registered a process group
    t.join(10)
    assert got == [("b", False)] and first.stop.is_set()
    assert pool.enter("c").stop.is_set()


def test_a_jobs_own_stop_leaves_the_others_waiting():
    pool = Slots(1)
    held = pool.enter("a").slot()
    assert held.__enter__()
    got, release = [], threading.Event()
    timed_out, other = pool.enter("timed-out"), pool.enter("other")
    t1, t2 = _waiter(timed_out, got, release), _waiter(other, got, release)
    _until(lambda: len(pool._waiting) == 2, "both to queue")
    timed_out.stop_job()
    t1.join(10)
    assert got == [("timed-out", False)]
    held.__exit__(None, None, None)
    _until(lambda: len(got) == 2, "the other job's slot")
    release.set()
    t2.join(10)
    assert got[1] == ("other", True) and not pool.cancelled.is_set()


def test_nice_only_below_a_higher_job_in_the_pool_and_never_when_serial():
    pool = Slots(2)
    lo = pool.enter("lo", 0)
    assert lo.nice() == 0
    hi = pool.enter("hi", 1)
    assert (lo.nice(), hi.nice()) == (BACKGROUND_NICE, 0)
    hi.leave()
    assert lo.nice() == 0
    serial = Slots(1)
    low = serial.enter("lo", 0)
    serial.enter("hi", 1)
    assert low.nice() == 0


@pytest.mark.parametrize("annotations,want", [(None, 0), ({}, 0), ({PRIORITY_ANNOTATION: "1"}, 1),
                                               ({PRIORITY_ANNOTATION: " -2 "}, -2), ({"other": "x"}, 0)])
def test_priority_comes_from_the_specs_annotation(annotations, want):
    spec = {"metadata": {"annotations": annotations}} if annotations is not None else {}
    assert priority_of(spec) == want


def test_a_priority_that_is_not_an_integer_is_refused_naming_the_key():
    with pytest.raises(SpecError, match=f"metadata.annotations.{PRIORITY_ANNOTATION}: expected an integer"):
        priority_of({"metadata": {"annotations": {PRIORITY_ANNOTATION: "high"}}})


def test_slots_come_from_the_environment_or_the_cores(monkeypatch):
    monkeypatch.setenv("PACHMEDIA_SLOTS", "3")
    assert default_slots() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("PACHMEDIA_SLOTS", bad)
        with pytest.raises(UsageError, match="PACHMEDIA_SLOTS"):
            default_slots()
    monkeypatch.delenv("PACHMEDIA_SLOTS")
    import os
    assert default_slots() == len(os.sched_getaffinity(0))

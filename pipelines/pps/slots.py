"""The run's one pool of datum slots, shared by every job running at once (as a cluster's
workers share its nodes): at most `n` datums run at a time across all jobs, each job
still at most its own parallelismSpec.

A free slot goes to the waiting datum of the highest priority (then the pipeline earlier in
DAG order, then the one waiting longest). Priority comes from the spec, in a place pachd
keeps and passes to Kubernetes untouched: `metadata.annotations["pachmedia.io/priority"]`,
an integer, 0 when absent (specs/preview.json says 1: the fast rendition plays first).
While a job of higher priority is in the pool, a datum that starts runs at nice +10, so the
kernel favours the high one's processes too (nice is inherited by everything the datum
starts and can only be raised, never lowered, by an unprivileged process).

The pool also holds the run's one cancel: `cancel()` (Ctrl-C, SIGTERM) stops every job's
queued datums and kills every running datum's process group; a job's own `Claim.stop_job()`
(jobTimeout) does the same for that job alone. With n == 1 the pool is serial: one job at a
time in DAG order, one datum at a time, nothing reniced (the engine before concurrency).
"""
from __future__ import annotations

import heapq
import itertools
import os
import threading
from typing import Callable

from pipelines.errors import SpecError, UsageError
from pipelines.pps.process import kill_group

SLOTS_ENV = "PACHMEDIA_SLOTS"
PRIORITY_ANNOTATION = "pachmedia.io/priority"
BACKGROUND_NICE = 10


def default_slots() -> int:
    """PACHMEDIA_SLOTS, else the cores this process may use."""
    text = os.environ.get(SLOTS_ENV, "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise UsageError(f"{SLOTS_ENV}={text!r}: expected a whole number of datum slots, 1 or more "
                            "(1 runs jobs one at a time)")
        return int(text)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def priority_of(spec: dict) -> int:
    """The spec's scheduling priority (0 unless its annotation says otherwise)."""
    annotations = (spec.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(PRIORITY_ANNOTATION)
    if text in (None, ""):
        return 0
    try:
        return int(str(text).strip())
    except ValueError:
        raise SpecError(f"metadata.annotations.{PRIORITY_ANNOTATION}: expected an integer (higher runs "
                        f"first), not {text!r}") from None


class Slots:
    def __init__(self, n: int | None = None) -> None:
        self.n = n if n is not None else default_slots()
        self._free = self.n
        self._cond = threading.Condition()
        self._waiting: list[tuple] = []          # heap of (-priority, order, arrival)
        self._arrival = itertools.count()
        self._claims: set["Claim"] = set()
        self._groups: dict[tuple["Claim", str], int] = {}   # (job, datum) -> its running process group
        self.cancelled = threading.Event()

    @property
    def serial(self) -> bool:
        return self.n == 1

    def enter(self, name: str, priority: int = 0, order: int = 0) -> "Claim":
        """A job joins the pool (its `stop` is already set if the run was cancelled)."""
        claim = Claim(self, name, priority, order)
        with self._cond:
            self._claims.add(claim)
            if self.cancelled.is_set():
                claim.stop.set()
        return claim

    def cancel(self) -> int:
        """Stop every job: nothing queued starts, every running datum's group is killed.
        Returns how many groups were killed."""
        with self._cond:
            self.cancelled.set()
            for c in self._claims:
                c.stop.set()
            self._cond.notify_all()
        return self._kill(lambda c: True)

    # -- used through a Claim ----------------------------------------------------------------
    def _acquire(self, claim: "Claim") -> bool:
        ticket = (-claim.priority, claim.order, next(self._arrival))
        with self._cond:
            heapq.heappush(self._waiting, ticket)
            try:
                while not claim.stop.is_set() and not (self._free and self._waiting[0] == ticket):
                    self._cond.wait(0.5)
                if claim.stop.is_set():
                    return False
                self._free -= 1
                return True
            finally:
                self._waiting.remove(ticket)
                heapq.heapify(self._waiting)
                self._cond.notify_all()

    def _outranked(self, claim: "Claim") -> bool:
        """Whether a datum of a job ahead of this one (priority, then DAG order) is waiting."""
        with self._cond:
            return any(t[:2] < (-claim.priority, claim.order) for t in self._waiting)

    def _release(self) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()

    def _nice(self, claim: "Claim") -> int:
        if self.serial:
            return 0
        with self._cond:
            higher = any(c.priority > claim.priority for c in self._claims)
        return BACKGROUND_NICE if higher else 0

    def _kill(self, which: Callable[["Claim"], bool]) -> int:
        with self._cond:
            groups = [g for (c, _), g in self._groups.items() if which(c)]
        return sum(1 for g in groups if kill_group(g))

    def _leave(self, claim: "Claim") -> None:
        with self._cond:
            self._claims.discard(claim)
            self._cond.notify_all()


class Claim:
    """One job's place in the pool: its priority, its stop (the run's cancel or its own
    jobTimeout), the slots it holds and the process groups of its running datums."""

    def __init__(self, pool: Slots, name: str, priority: int, order: int) -> None:
        self.pool, self.name, self.priority, self.order = pool, name, priority, order
        self.stop = threading.Event()
        self.not_started = 0        # datums left queued when the job was stopped

    def slot(self) -> "_Held":
        """`with claim.slot() as held:` a slot for this job's datums (falsy: the job is stopping)."""
        return _Held(self)

    def nice(self) -> int:
        """The nice value a datum starting now runs at."""
        return self.pool._nice(self)

    def started(self, datum: str, pgid: int) -> None:
        """A datum's process (each try, each errCmd) started in its own group."""
        with self.pool._cond:
            self.pool._groups[self, datum] = pgid
        if self.stop.is_set():  # stopped while the datum was starting
            kill_group(pgid)

    def ended(self, datum: str) -> None:
        with self.pool._cond:
            self.pool._groups.pop((self, datum), None)

    def stop_job(self) -> int:
        """This job alone (jobTimeout): nothing queued starts, its running datums killed."""
        self.stop.set()
        with self.pool._cond:
            self.pool._cond.notify_all()
        return self.pool._kill(lambda c: c is self)

    def leave(self) -> None:
        self.pool._leave(self)


class _Held:
    """A slot held by one of a job's workers, datum after datum: kept while no job ahead of
    this one waits (given back and queued for again otherwise). Handing it back after each
    datum would let a waiting job of lower priority take it in the gap before the worker
    queued again: with `preview` at parallelism 1 it then waited for a whole transcode."""

    def __init__(self, claim: Claim) -> None:
        self.claim, self.ok = claim, False

    def __bool__(self) -> bool:
        return self.ok

    def __enter__(self) -> "_Held":
        self.ok = self.claim.pool._acquire(self.claim)
        return self

    def renew(self) -> bool:
        """Before the next datum: still this worker's slot (False: the job is stopping)."""
        pool = self.claim.pool
        if self.claim.stop.is_set():
            return False
        if self.ok and not pool._outranked(self.claim):
            return True
        if self.ok:
            pool._release()
        self.ok = pool._acquire(self.claim)
        return self.ok

    def __exit__(self, *exc) -> bool:
        if self.ok:
            self.claim.pool._release()
            self.ok = False
        return False

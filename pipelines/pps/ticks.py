"""Cron ticks, as pachd's pipeline monitor (makeCronCommits, cronTick) and its PFS master
(runCronTrigger) make them, for a long-running pachmedia process to call.

- A cron input: each tick of its schedule commits an empty file named by the tick time
  (RFC 3339, UTC) to its tick repo's master, after deleting the earlier ones when
  `overwrite` is set. Ticks count from the newest tick file, or from `start` (default:
  when the pipeline was created or last updated) if that is later; missed ticks are each
  committed, as pachd does, at most MAX_TICKS per call.
- A trigger with `cronSpec`: on each tick its branch moves to the watched branch's head,
  a commit set of its own. Missed ticks make one move.
"""
from __future__ import annotations

import io
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pipelines.pfs.store import new_id
from pipelines.pps import cron
from pipelines.pps.spec import cron_inputs

if TYPE_CHECKING:
    from pipelines.engine import Engine
    from pipelines.scheduler import Scheduler

MAX_TICKS = 100
RFC3339 = "%Y-%m-%dT%H:%M:%SZ"


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


class Ticker:
    def __init__(self, engine: "Engine", scheduler: "Scheduler") -> None:
        self.e = engine
        self.s = scheduler
        self._trigger_prev: dict[tuple[str, str], datetime] = {}
        self._next: datetime | None = None

    def tick(self, now: datetime | None = None) -> int:
        """Make what is due at `now`; returns how many commits/moves were made."""
        now = now or datetime.now(timezone.utc)
        made, upcoming = 0, []
        for p in self.e.jobs.pipelines():
            for c in cron_inputs(p["spec"]["input"]):
                n, nxt = self._cron_input(c, p, now)
                made += n
                upcoming.append(nxt)
        for repo in [r["name"] for r in self.e.store.repos()]:
            for branch, trig, head, created in self.e.store.triggers(repo):
                if trig.get("cronSpec"):
                    n, nxt = self._cron_trigger(repo, branch, trig, head, created, now)
                    made += n
                    upcoming.append(nxt)
        self._next = min((t for t in upcoming if t is not None), default=None)
        return made

    def seconds_to_next(self) -> float | None:
        """Seconds until the next tick known at the last `tick` (None: none scheduled)."""
        if self._next is None:
            return None
        return max(0.0, (self._next - datetime.now(timezone.utc)).total_seconds())

    def _cron_input(self, c: dict, pipeline: dict, now: datetime) -> tuple[int, datetime | None]:
        schedule = cron.parse(c["spec"])
        start = _parse_time(c["start"]) if c.get("start") else datetime.fromtimestamp(pipeline["updated"], timezone.utc)
        latest = start
        head = self.e.store.head(c["repo"], "master")
        names = [f.path.rsplit("/", 1)[-1] for f in self.e.store.files(c["repo"], head)] if head else []
        if names:
            try:
                latest = max(start, _parse_time(names[-1]))
            except ValueError:
                pass  # not a tick file: count from start
        made = 0
        nxt = schedule.next(latest)
        while nxt is not None and nxt <= now and made < MAX_TICKS:
            deletes = ["/"] if c.get("overwrite") and self.e.store.head(c["repo"], "master") and \
                self.e.store.files(c["repo"], self.e.store.head(c["repo"], "master")) else []
            self.e.put_files(c["repo"], "master", [(f"/{nxt.strftime(RFC3339)}", io.BytesIO(b""))],
                             deletes=deletes, description=f"cron tick of {pipeline['name']}")
            made += 1
            nxt = schedule.next(nxt)
        return made, nxt

    def _cron_trigger(self, repo: str, branch: str, trig: dict, head: str | None, created: float,
                      now: datetime) -> tuple[int, datetime | None]:
        schedule = cron.parse(trig["cronSpec"])
        key = (repo, branch)
        if key not in self._trigger_prev:  # pachd counts from the head commit's start
            since = self.e.store.commit(repo, head).started if head else created
            self._trigger_prev[key] = datetime.fromtimestamp(since, timezone.utc)
        nxt = schedule.next(self._trigger_prev[key])
        if nxt is None or nxt > now:
            return 0, nxt
        while nxt is not None and nxt <= now:
            self._trigger_prev[key] = nxt
            nxt = schedule.next(nxt)
        target = self.e.store.head(repo, trig.get("branch") or "master")
        if not target:
            return 0, nxt
        with self.e.store.tx():
            self.e.store.set_head(repo, branch, target)
            self.s.queue(new_id(), f"cron trigger {repo}@{branch} moved to {target}", branches=[(repo, branch)])
        return 1, nxt

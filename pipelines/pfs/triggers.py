"""Branch triggers as pachd keeps them (src/server/pfs/server/master_trigger.go): a branch
with a trigger follows another branch of its repo, moving to that branch's head when the
trigger's conditions hold. Pure: the store gives the numbers, this decides.

Conditions (isTriggered): `size` (bytes added since the trigger branch's head, docker
units), `commits` (commits since then), `rateLimitSpec` (a cron period has passed since
the head was finished). With `all` every condition set must hold, otherwise any; with
none set a trigger fires only when `all` is true, exactly as pachd's fold does.
`cronSpec` triggers move on schedule instead (the scheduler's tick).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from pipelines.errors import SpecError
from pipelines.pps import cron

_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


def human_size(text: str) -> int:
    """docker/go-units FromHumanSize: decimal units, "1MB" = 1e6 bytes (so is "1MiB")."""
    m = _SIZE.match(text.strip())
    if not m:
        raise ValueError(f"invalid size: {text!r} (e.g. 500MB, 1.5G)")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


def check(trigger: dict, where: str) -> None:
    """pachd's validateTrigger, raising SpecError naming the key path."""
    for key, parse in (("rateLimitSpec", cron.parse), ("cronSpec", cron.parse), ("size", human_size)):
        if trigger.get(key):
            try:
                parse(trigger[key])
            except ValueError as e:
                raise SpecError(f"{where}.{key}: {e}") from None
    if int(trigger.get("commits") or 0) < 0:
        raise SpecError(f"{where}.commits: can't trigger on a negative number of commits")


@dataclass(frozen=True)
class Head:
    size: int          # bytes in the commit
    finished: float    # unix time


def fires(trigger: dict, old: Head | None, new: Head, commits: int) -> bool:
    """Whether the trigger branch moves from `old` (None: it has no head yet) to `new`.
    `commits` is how many commits lead from `old` to `new` (counted as pachd does, up to
    trigger.commits)."""
    every = bool(trigger.get("all"))
    result = every

    def merge(cond: bool) -> None:
        nonlocal result
        result = (result and cond) if every else (result or cond)
    if trigger.get("size"):
        merge(new.size - (old.size if old else 0) >= human_size(trigger["size"]))
    if trigger.get("rateLimitSpec"):
        since = datetime.fromtimestamp(old.finished if old else 0, timezone.utc)
        nxt = cron.parse(trigger["rateLimitSpec"]).next(since)
        merge(nxt is not None and nxt < datetime.fromtimestamp(new.finished, timezone.utc))
    if int(trigger.get("commits") or 0):
        merge(commits == int(trigger["commits"]))
    return result


def count_commits(store, repo: str, new: str, old: str | None, wanted: int) -> int:
    """Commits from `new` back to `old`, up to `wanted`, as pachd's isTriggered counts them
    (a root commit counts unless the engine made it)."""
    n, c = 0, store.commit(repo, new)
    while n < wanted:
        if c.parent is None:
            n += c.origin != "AUTO"
            break
        if c.id == old:
            break
        c = store.commit(repo, c.parent)
        n += 1
    return n


def fire(store, repo: str, branch: str) -> list[str]:
    """repo@branch has a new head: move every branch whose trigger watches it and holds
    (and, in turn, the branches watching those: trigger chains). Returns the branches
    moved, in order. Call inside the transaction that moved `branch`."""
    watching = store.triggers(repo)
    heads = {branch: store.head(repo, branch)}
    moved: list[str] = []

    def visit(b: str) -> None:
        for name, trig, head, created in watching:
            if trig.get("branch", "master") != b or trig.get("cronSpec") or name in heads or head == heads[b]:
                continue
            new = store.commit(repo, heads[b])
            old = Head(store.commit_size(repo, head), store.commit(repo, head).finished or 0) if head \
                else Head(0, created)
            n = count_commits(store, repo, new.id, head, int(trig.get("commits") or 0))
            if fires(trig, old, Head(store.commit_size(repo, new.id), new.finished or 0), n):
                store.set_head(repo, name, new.id)
                heads[name] = new.id
                moved.append(name)
                visit(name)
    if heads[branch]:
        visit(branch)
    return moved

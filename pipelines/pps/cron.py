"""Cron schedules as pachd reads them (cronutil.ParseCronExpression over robfig/cron's
ParseStandard): five fields `minute hour day-of-month month day-of-week` (names like JAN
and MON, ranges, steps, lists, `?` for `*`), the descriptors @yearly @annually @monthly
@weekly @daily @midnight @hourly, `@every <Go duration>` and Pachyderm's `@never`.

Times are UTC, as a pachd pod's. Day-of-month and day-of-week combine as robfig does:
when either is `*` both must match, otherwise either may.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone


class CronError(ValueError):
    """A schedule that does not parse; the message says which part and why."""


_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
_DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
_BOUNDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, _MONTHS),
           ("day of week", 0, 6, _DAYS))
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Schedule:
    fields: tuple[frozenset[int], ...] = ()
    star_dom: bool = False
    star_dow: bool = False
    every: float | None = None      # @every: a constant delay in seconds
    never: bool = False

    def next(self, after: datetime) -> datetime | None:
        """The first tick strictly after `after` (None: there is none)."""
        after = after.astimezone(timezone.utc)
        if self.never:
            return None
        if self.every is not None:
            return after.replace(microsecond=0) + timedelta(seconds=self.every)
        minute, hour, dom, month, dow = self.fields
        t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t.year + 5
        while t.year <= limit:
            if t.month not in month:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day(t, dom, dow):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if t.hour not in hour:
                t = t.replace(minute=0) + timedelta(hours=1)
                continue
            if t.minute not in minute:
                t += timedelta(minutes=1)
                continue
            return t
        return None

    def _day(self, t: datetime, dom: frozenset[int], dow: frozenset[int]) -> bool:
        d, w = t.day in dom, (t.isoweekday() % 7) in dow
        return (d and w) if (self.star_dom or self.star_dow) else (d or w)


def parse(spec: str) -> Schedule:
    text = spec.strip()
    if text == "@never":
        return Schedule(never=True)
    if text.startswith("@every"):
        return Schedule(every=max(1.0, float(round(_go_duration(text[len("@every"):].strip())))))
    if text.startswith("@"):
        if text not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor {text!r} (one of {', '.join(sorted(_DESCRIPTORS))}, "
                            "@every <duration>, @never)")
        text = _DESCRIPTORS[text]
    parts = text.split()
    if len(parts) != 5:
        raise CronError(f"expected exactly 5 fields (minute hour day-of-month month day-of-week), found "
                        f"{len(parts)}: {spec!r}")
    fields = tuple(_field(p, *b) for p, b in zip(parts, _BOUNDS))
    return Schedule(fields, star_dom=parts[2] in ("*", "?"), star_dow=parts[4] in ("*", "?"))


def _field(text: str, label: str, lo: int, hi: int, names: dict[str, int]) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = _number(step_text, label, {}) if step_text else 1
        if step < 1:
            raise CronError(f"{label}: step must be at least 1 in {part!r}")
        if rng in ("*", "?"):
            a, b = lo, hi
        elif "-" in rng:
            a_text, _, b_text = rng.partition("-")
            a, b = _number(a_text, label, names), _number(b_text, label, names)
        else:
            a = _number(rng, label, names)
            b = hi if step_text else a
        if not (lo <= a <= b <= hi):
            raise CronError(f"{label}: {part!r} is outside {lo}-{hi} (or its range is backwards)")
        out.update(range(a, b + 1, step))
    return frozenset(out)


def _number(text: str, label: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise CronError(f"{label}: {text!r} is not a number" + (f" or a name ({', '.join(names)})" if names else ""))
    return int(text)


def _go_duration(text: str) -> float:
    """A Go duration ("1h30m", "90s", "1.5h") in seconds."""
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise CronError(f"@every: {text!r} is not a duration like 1h30m or 90s")
    return sum(float(n) * _GO_UNITS[u] for n, u in parts)

"""Cron schedules as pachd parses them (robfig/cron ParseStandard + @never): worked
examples, each next tick computed by hand from the cron rules."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pipelines.pps.cron import CronError, parse

pytestmark = pytest.mark.unit


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("spec,after,expected", [
    pytest.param("*/15 * * * *", "2024-03-01T10:07:30", "2024-03-01T10:15:00", id="step"),
    pytest.param("0 * * * *", "2024-03-01T10:00:00", "2024-03-01T11:00:00", id="strictly-after"),
    pytest.param("@hourly", "2024-03-01T23:30:00", "2024-03-02T00:00:00", id="hourly-day-wrap"),
    pytest.param("@daily", "2024-12-31T12:00:00", "2025-01-01T00:00:00", id="daily-year-wrap"),
    pytest.param("@weekly", "2024-03-06T00:00:00", "2024-03-10T00:00:00", id="weekly-sunday"),
    pytest.param("@monthly", "2024-01-31T00:00:00", "2024-02-01T00:00:00", id="monthly"),
    pytest.param("@yearly", "2024-06-01T00:00:00", "2025-01-01T00:00:00", id="yearly"),
    pytest.param("30 2 * * MON-FRI", "2024-03-01T03:00:00", "2024-03-04T02:30:00", id="weekday-names"),
    pytest.param("0 0 29 FEB *", "2024-03-01T00:00:00", "2028-02-29T00:00:00", id="leap-day"),
    pytest.param("0 0 1 * 1", "2024-03-01T12:00:00", "2024-03-04T00:00:00", id="dom-or-dow"),
    pytest.param("0 0 1 * *", "2024-03-01T12:00:00", "2024-04-01T00:00:00", id="dom-only"),
    pytest.param("0 12 ? * SUN", "2024-03-01T00:00:00", "2024-03-03T12:00:00", id="question-mark"),
    pytest.param("5,10 8-9/1 * * *", "2024-03-01T08:06:00", "2024-03-01T08:10:00", id="list-range"),
    pytest.param("@every 90s", "2024-03-01T00:00:00.5", "2024-03-01T00:01:30", id="every-seconds"),
    pytest.param("@every 1h30m", "2024-03-01T00:00:00", "2024-03-01T01:30:00", id="every-go-duration"),
])
def test_next_tick(spec, after, expected):
    assert parse(spec).next(t(after)) == t(expected)


def test_never_has_no_tick():
    assert parse("@never").next(t("2024-01-01T00:00:00")) is None


@pytest.mark.parametrize("spec,message", [
    pytest.param("* * * *", "expected exactly 5 fields", id="four-fields"),
    pytest.param("60 * * * *", "minute: '60' is outside 0-59", id="minute-range"),
    pytest.param("* * * FOO *", "month: 'FOO' is not a number or a name", id="bad-name"),
    pytest.param("@fortnightly", "unrecognized descriptor", id="descriptor"),
    pytest.param("@every soon", "@every: 'soon' is not a duration", id="every"),
    pytest.param("*/0 * * * *", "step must be at least 1", id="step-zero"),
])
def test_bad_schedules_say_why(spec, message):
    with pytest.raises(CronError, match=message):
        parse(spec)

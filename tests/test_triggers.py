"""Trigger conditions as pachd's isTriggered folds them (master_trigger.go)."""
from __future__ import annotations

import pytest

from pipelines.errors import SpecError
from pipelines.pfs.triggers import Head, check, fires, human_size

pytestmark = pytest.mark.unit

DAY = 86400.0
OLD = Head(size=1_000, finished=10 * DAY)


@pytest.mark.parametrize("trigger,new,commits,expected", [
    pytest.param({"branch": "master"}, Head(10**9, 20 * DAY), 5, False, id="no-condition-never"),
    pytest.param({"branch": "master", "all": True}, Head(0, 20 * DAY), 1, True, id="no-condition-all-always"),
    pytest.param({"size": "1MB"}, Head(1_001_000, 11 * DAY), 1, True, id="size-reached"),
    pytest.param({"size": "1MB"}, Head(999_999, 11 * DAY), 1, False, id="size-short"),
    pytest.param({"commits": 3}, Head(0, 11 * DAY), 3, True, id="commits-reached"),
    pytest.param({"commits": 3}, Head(0, 11 * DAY), 2, False, id="commits-short"),
    pytest.param({"rateLimitSpec": "@daily"}, Head(0, 10.5 * DAY), 1, False, id="rate-limited"),
    pytest.param({"rateLimitSpec": "@daily"}, Head(0, 11.5 * DAY), 1, True, id="rate-period-passed"),
    pytest.param({"size": "1MB", "commits": 2}, Head(2_000_000, 11 * DAY), 1, True, id="any-of"),
    pytest.param({"size": "1MB", "commits": 2, "all": True}, Head(2_000_000, 11 * DAY), 1, False, id="all-of"),
    pytest.param({"size": "1MB", "commits": 2, "all": True}, Head(2_000_000, 11 * DAY), 2, True, id="all-hold"),
])
def test_conditions(trigger, new, commits, expected):
    assert fires(trigger, OLD, new, commits) is expected


def test_an_empty_trigger_branch_counts_from_nothing():
    assert fires({"size": "1KB"}, None, Head(1000, DAY), 1)


@pytest.mark.parametrize("text,value", [("1MB", 10**6), ("1MiB", 10**6), ("1.5k", 1500), ("10", 10), ("2 GB", 2 * 10**9)])
def test_human_size_is_go_units(text, value):
    assert human_size(text) == value


@pytest.mark.parametrize("trigger,message", [
    pytest.param({"size": "lots"}, r"input\.pfs\.trigger\.size: invalid size", id="size"),
    pytest.param({"cronSpec": "* *"}, r"input\.pfs\.trigger\.cronSpec: expected exactly 5 fields", id="cron"),
    pytest.param({"rateLimitSpec": "@soon"}, r"rateLimitSpec: unrecognized descriptor", id="rate"),
    pytest.param({"commits": -1}, "negative number of commits", id="commits"),
])
def test_bad_triggers_name_the_key(trigger, message):
    with pytest.raises(SpecError, match=message):
        check(trigger, "input.pfs.trigger")

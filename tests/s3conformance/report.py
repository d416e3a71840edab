"""Pure parts of the conformance run: nose's verbose output in, selection and report out."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .selection import EXCLUDED_ATTRIBUTES, WHY, ignore_reason

SHIM = Path(__file__).resolve().parent / "shim"  # boto2's SigV4 region for a non-AWS host

_RESULT = re.compile(r"^(?P<id>s3tests(?:_boto3)?\.functional\.\w+\.\w+) \.\.\. (?P<result>ok|FAIL|ERROR|SKIP\b.*)$")
_HEADER = re.compile(r"^(?P<kind>FAIL|ERROR): (?P<id>\S+)")
_SEPARATOR = re.compile(r"^(=|-){20,}$")


def attribute_filter() -> str:
    """nose's `-a` argument: every excluded attribute absent (one -a: conditions ANDed)."""
    return ",".join(f"!{a}" for a in EXCLUDED_ATTRIBUTES)


def collected(nose_output: str) -> list[str]:
    """Test ids from `nosetests --collect-only -v` (each listed as `<id> ... ok`)."""
    return [m["id"] for m in map(_RESULT.match, nose_output.splitlines()) if m]


def select(ids: list[str]) -> list[str]:
    """The collected ids minus Pachyderm's ignore list, in the suite's order."""
    return [i for i in ids if ignore_reason(i) is None]


def split_by_signature(ids: list[str]) -> list[tuple[list[str], dict[str, str]]]:
    """The boto2 `*_aws4` tests skip themselves unless S3_USE_SIGV4 is set, and the `*_aws2`
    ones skip when it is: two runs, each with the environment its tests need."""
    v4 = [i for i in ids if i.startswith("s3tests.functional.") and i.endswith("_aws4")]
    rest = [i for i in ids if i not in set(v4)]
    return [(group, env) for group, env in ((rest, {}), (v4, {"S3_USE_SIGV4": "1", "PYTHONPATH": str(SHIM)}))
            if group]


def nose_name(test_id: str) -> str:
    """`pkg.mod.func` -> `pkg.mod:func`, the form nose takes on its command line."""
    module, _, func = test_id.rpartition(".")
    return f"{module}:{func}"


@dataclass
class Results:
    outcome: dict[str, str] = field(default_factory=dict)  # id -> ok | FAIL | ERROR | SKIP
    cause: dict[str, str] = field(default_factory=dict)  # id -> last line of its traceback

    @property
    def passed(self) -> list[str]:
        return [i for i, o in self.outcome.items() if o == "ok"]

    @property
    def failed(self) -> list[str]:
        return [i for i, o in self.outcome.items() if o != "ok"]


def parse_run(nose_output: str) -> Results:
    """Outcomes from `nosetests -v` lines, causes from the FAIL/ERROR sections after them."""
    res = Results()
    current, last = None, ""
    for line in nose_output.splitlines():
        m = _RESULT.match(line)
        if m:
            res.outcome[m["id"]] = m["result"].split()[0].rstrip(":")
            continue
        h = _HEADER.match(line)
        if h:
            _close(res, current, last)
            current, last = h["id"], ""
            continue
        if current and _SEPARATOR.match(line.strip()) and last:
            _close(res, current, last)
            current, last = None, ""
        elif current and line.strip() and not line.startswith(("Traceback", "  ", "-----")):
            last = line.strip()
    _close(res, current, last)
    return res


def _close(res: Results, test: str | None, last: str) -> None:
    if test and last:
        res.cause.setdefault(test.replace(":", "."), last[:300])


def markdown(selected: list[str], res: Results, suite_commit: str, gateway: str) -> str:
    boto3 = [i for i in selected if i.startswith("s3tests_boto3.")]
    passed = set(res.passed)
    lines = [f"# s3-tests conformance ({suite_commit[:8]}, Pachyderm's selection) against {gateway}", "",
             f"**{len(passed & set(selected))} of {len(selected)} passed** "
             f"(boto3 {len(passed & set(boto3))}/{len(boto3)}, "
             f"boto2 {len(passed) - len(passed & set(boto3))}/{len(selected) - len(boto3)})", ""]
    not_run = [i for i in selected if i not in res.outcome]
    by_cause: dict[str, list[str]] = defaultdict(list)
    for i in selected:
        if i in res.outcome and res.outcome[i] != "ok":
            by_cause[res.cause.get(i, res.outcome[i])].append(i)
    if by_cause:
        lines += ["## Failures by cause", ""]
        for cause, ids in sorted(by_cause.items(), key=lambda kv: -len(kv[1])):
            lines.append(f"- `{cause}` ({len(ids)})")
            lines += [f"  - {i}" for i in ids]
    if not_run:
        lines += ["", "## Selected but not run", ""] + [f"- {i}" for i in not_run]
    lines += ["", "## Not selected (Pachyderm's ignore list)", ""]
    lines += [f"- {reason}: {why}" for reason, why in WHY.items()]
    return "\n".join(lines) + "\n"

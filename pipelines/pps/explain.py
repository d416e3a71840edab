"""Why a job's datums ran, summarised (pure): counts by reason and the inputs named."""
from __future__ import annotations

from collections import Counter


def summarize(datums, removed: list[list[str]] = ()) -> dict:
    """`removed`: for each datum the previous job had and this one has not (its outputs
    left the output commit), the input files ("repo:/path") that are gone."""
    reasons: Counter = Counter()
    detail: dict[str, list[str]] = {}
    if removed:
        reasons["removed"] = len(removed)
        detail["removed"] = [f for files in removed for f in files]
    for d in datums:
        if d.state == "SKIPPED":
            reasons["skipped"] += 1
            continue
        why = d.why or {"reason": "resumed"}
        r = why["reason"]
        reasons[r] += 1
        if r == "new":
            items = [p for p in why.get("inputs", []) if not p.startswith("settings:")][:1] or why.get("inputs", [])[:1]
        else:
            items = why.get("inputs", []) + why.get("removed", [])
        detail.setdefault(r, []).extend(items)
        if d.state == "FAILED":
            reasons["failed"] += 1
    return {"counts": dict(reasons), "inputs": {k: sorted(set(v)) for k, v in detail.items()}}


def line(summary: dict) -> str:
    c, ins = summary["counts"], summary["inputs"]

    def part(key: str, label: str) -> str:
        n = c.get(key, 0)
        names = ins.get(key) or []
        shown = f" ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})" if names and n else ""
        return f"{n} {label}{shown}"
    parts = [part("new", "new"), part("changed", "changed")]
    for key, label in (("removed", "removed"), ("salt", "salt change"), ("pipeline", "pipeline change"),
                       ("retry", "retried"), ("reprocess", "reprocessed"), ("resumed", "resumed")):
        if c.get(key):
            parts.append(part(key, label))
    parts.append(f"{c.get('skipped', 0)} skipped")
    if c.get("failed"):
        parts.append(f"{c['failed']} failed")
    return ", ".join(parts)

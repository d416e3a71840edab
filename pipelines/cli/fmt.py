"""Shared output helpers: pachctl-like tables, sizes, ages, --raw JSON."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..engine import Engine


def engine(args) -> Engine:
    return Engine(Path(args.home) if getattr(args, "home", None) else None)


def add_raw(p) -> None:
    p.add_argument("--raw", action="store_true", help="JSON on stdout, in Pachyderm's message shapes")


def raw(objs) -> None:
    if isinstance(objs, list):
        for o in objs:
            print(json.dumps(o, indent=2))
    else:
        print(json.dumps(objs, indent=2))


def table(headers: list[str], rows: list[list]) -> None:
    rows = [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    print(line(headers))
    for r in rows:
        print(line(r))


def size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.3g}{unit}"
        n /= 1024
    return str(n)


def ago(t: float | None) -> str:
    if not t:
        return "-"
    d = time.time() - t
    for unit, sec in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if d >= sec:
            n = int(d // sec)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return f"{int(d)} seconds ago"


def duration(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    d = b - a
    return f"{d:.1f}s" if d < 120 else f"{d / 60:.1f}m"


def err(msg: str) -> None:
    print(msg, file=sys.stderr)

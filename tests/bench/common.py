"""Timing and memory helpers for the benchmarks: wall and CPU time of child processes,
peak RSS, and the results table (figure, ours, baseline, ratio, machine, date)."""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PY = sys.executable


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float


def run(args: list[str], **kw) -> Run:
    """Run a command; wall time, its CPU time (user+sys) from wait4 and its own peak RSS
    (through the small launcher in peak.py: this script's RSS would otherwise count)."""
    t = time.perf_counter()
    p = subprocess.Popen([PY, str(Path(__file__).with_name("peak.py")), *args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, cwd=kw.pop("cwd", ROOT), **kw)
    err_bytes = p.stderr.read()  # drained while it runs: a chatty child never blocks
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.stderr.close()
    err = err_bytes.decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{args[:4]} failed: {err[-500:]}")
    peak = [line for line in err.splitlines() if line.startswith("peak-rss-kib ")]
    return Run(wall, ru.ru_utime + ru.ru_stime, int(peak[-1].split()[1]) / 1024)


def median(values: list[float]) -> float:
    """The middle measurement: one slow outlier on a shared 2-core machine does not make a figure."""
    return sorted(values)[len(values) // 2]


def median_of(n: int, fn) -> float:
    """The median of n measurements, each a call returning seconds."""
    return median([fn() for _ in range(n)])


def timed(fn) -> tuple[float, float, object]:
    """Wall and CPU time of a call in this process (children included)."""
    t, c0 = time.perf_counter(), _cpu()
    out = fn()
    return time.perf_counter() - t, _cpu() - c0, out


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


@dataclass
class Row:
    figure: str
    ours: float
    baseline: float | None
    unit: str
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.ours / self.baseline if self.baseline else None


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.machine()}"


def report(rows: list[Row], out_dir: Path) -> str:
    date = time.strftime("%Y-%m-%d")
    lines = ["| figure | ours | baseline | ratio | machine | date |", "|---|---|---|---|---|---|"]
    for r in rows:
        base = f"{r.baseline:.3g} {r.unit}" if r.baseline is not None else "-"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        note = f" ({r.note})" if r.note else ""
        lines.append(f"| {r.figure}{note} | {r.ours:.3g} {r.unit} | {base} | {ratio} | {machine()} | {date} |")
    table = "\n".join(lines)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.md").write_text(table + "\n")
    (out_dir / "results.json").write_text(json.dumps(
        {"machine": machine(), "date": date, "rows": [asdict(r) | {"ratio": r.ratio} for r in rows]}, indent=2))
    return table

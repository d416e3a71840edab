"""Progress of several jobs at once (pipelines/progress.py) on a real terminal (a pty) and
on a pipe: bars advanced from many threads end as one whole summary line per job, never a
line written into another. The terminal's screen is rebuilt from what was written to it
(a small emulator of the few control sequences tqdm uses)."""
from __future__ import annotations

import fcntl
import io
import os
import re
import struct
import termios
import threading
import time

import pytest

from pipelines.progress import Bar

pytestmark = pytest.mark.unit

COLS = 80


def screen(data: str, cols: int = COLS, rows: int = 30) -> list[str]:
    """The screen after `data`: \\r, \\n, cursor up (ESC[nA), erase to line end (ESC[K), wrapping."""
    grid = [[" "] * cols for _ in range(rows)]
    r = c = i = 0
    while i < len(data):
        m = re.match(r"\x1b\[(\d*)([A-Za-z])", data[i:])
        if m:
            if m.group(2) == "A":
                r = max(0, r - int(m.group(1) or 1))
            elif m.group(2) == "K":
                grid[r][c:] = [" "] * (cols - c)
            i += len(m.group(0))
            continue
        ch = data[i]
        if ch == "\r":
            c = 0
        elif ch == "\n":
            r += 1
        else:
            if c >= cols:
                r, c = r + 1, 0
            grid[r][c] = ch
            c += 1
        i += 1
    return ["".join(line).rstrip() for line in grid]


def run_jobs(stream, jobs: int = 3, datums: int = 40) -> None:
    """Jobs finishing one after another while the others still draw (as datums take time)."""
    def job(n: int) -> None:
        bar = Bar(datums, f"job{n}@0123abcd", stream=stream)
        for k in range(datums):
            bar.note(f"d{k} 50%")
            bar.advance(1)
            time.sleep(0.005 * (jobs - n))
        bar.close()
    threads = [threading.Thread(target=job, args=(n,)) for n in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)


def test_concurrent_bars_on_a_terminal_end_as_one_whole_line_per_job():
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, COLS, 0, 0))
    got = bytearray()
    reader = threading.Thread(target=lambda: _drain(master, got))
    reader.start()
    with open(slave, "w", closefd=True) as tty:
        assert tty.isatty()
        run_jobs(tty)
        tty.write("END\n")
        tty.flush()
    reader.join(10)
    os.close(master)
    lines = [line for line in screen(got.decode(errors="replace")) if line]
    assert len(lines) == 4 and lines[-1] == "END", lines  # every bar gone, one line per job left
    summaries = [re.fullmatch(r"(job\d)@0123abcd: 40/40 datums in \d+\.\ds", line) for line in lines[:-1]]
    assert all(summaries) and sorted(m.group(1) for m in summaries) == ["job0", "job1", "job2"], lines


def _drain(fd: int, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal's other side closed
            return
        if not chunk:
            return
        into += chunk
        if b"END\n" in into:
            return


def test_concurrent_progress_on_a_pipe_is_whole_lines():
    out = io.StringIO()
    run_jobs(out)
    lines = out.getvalue().splitlines()
    assert lines and all(re.fullmatch(r"job\d@0123abcd: \d+/40( d\d+ 50%)?", line) for line in lines), lines
    assert sorted(line for line in lines if line.endswith("40/40")) == [f"job{n}@0123abcd: 40/40" for n in range(3)]

"""Progress on long work: a bar per running job on a terminal (tqdm keeps each on its own
line, however many jobs run at once, and redraws them around a finished job's summary
line), plain lines otherwise (one write per line, under one lock, so lines never mix)."""
from __future__ import annotations

import sys
import threading
import time

from tqdm import tqdm

_lines = threading.Lock()


class Bar:
    def __init__(self, total: int, desc: str, unit: str = "datum", stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        self._last = 0.0
        self._t0 = time.monotonic()
        # leave=False: a finished bar's line is freed for the next job's (its summary is written
        # above the bars still running), so bars never overwrite each other
        self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, leave=False,
                         dynamic_ncols=True) if self.tty else None

    def advance(self, n: int = 1, note: str = "") -> None:
        self.n += n
        if self._bar:
            self._bar.update(n)
            if note:
                self._bar.set_postfix_str(note, refresh=False)
        elif self.n == self.total or time.monotonic() - self._last > 5:
            self._last = time.monotonic()
            self._say(f"{self.desc}: {self.n}/{self.total} {note}".rstrip())

    def note(self, text: str) -> None:
        if self._bar:
            self._bar.set_postfix_str(text)
        elif time.monotonic() - self._last > 10:
            self._last = time.monotonic()
            self._say(f"{self.desc}: {self.n}/{self.total} {text}")

    def close(self) -> None:
        if self._bar:
            # the summary first (above every bar), then the bar's line cleared; tqdm leaves the
            # cursor at the end of a cleared line below the first, so go back to its start
            tqdm.write(f"{self.desc}: {self.n}/{self.total} {self.unit}s in {time.monotonic() - self._t0:.1f}s",
                       file=self.stream)
            with tqdm.get_lock():
                self._bar.close()
                self.stream.write("\r")
                self.stream.flush()

    def _say(self, line: str) -> None:
        with _lines:
            print(line, file=self.stream, flush=True)

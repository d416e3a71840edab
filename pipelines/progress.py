"""Progress on long work: a bar on a terminal (tqdm), plain lines otherwise."""
from __future__ import annotations

import sys
import time

from tqdm import tqdm


class Bar:
    def __init__(self, total: int, desc: str, unit: str = "datum", stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total, self.desc, self.n = total, desc, 0
        self._last = 0.0
        self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, leave=True,
                         dynamic_ncols=True) if self.tty else None

    def advance(self, n: int = 1, note: str = "") -> None:
        self.n += n
        if self._bar:
            self._bar.update(n)
            if note:
                self._bar.set_postfix_str(note, refresh=False)
        elif self.n == self.total or time.monotonic() - self._last > 5:
            self._last = time.monotonic()
            print(f"{self.desc}: {self.n}/{self.total} {note}".rstrip(), file=self.stream, flush=True)

    def note(self, text: str) -> None:
        if self._bar:
            self._bar.set_postfix_str(text)
        elif time.monotonic() - self._last > 10:
            self._last = time.monotonic()
            print(f"{self.desc}: {self.n}/{self.total} {text}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar:
            self._bar.close()

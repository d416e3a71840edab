"""The tree stays pyflakes-clean: an unused import or variable, a name used before it is
defined or an f-string without a placeholder is a slip (or a bug) caught here, not in review."""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent


def test_pyflakes_finds_nothing():
    from pyflakes.api import checkRecursive
    from pyflakes.reporter import Reporter

    class Collect(Reporter):
        def __init__(self):
            self.lines: list[str] = []

        def unexpectedError(self, filename, msg):
            self.lines.append(f"{filename}: {msg}")

        def syntaxError(self, filename, msg, lineno, offset, text):
            self.lines.append(f"{filename}:{lineno}: {msg}")

        def flake(self, message):
            self.lines.append(str(message))

    report = Collect()
    checkRecursive([str(ROOT / d) for d in ("pipelines", "stages", "tests")], report)
    assert report.lines == []

"""docs/security.md names a test for each claim: every test it names exists (a renamed or
removed test makes the claim untested, and this fails)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "security.md").read_text()


def _named() -> list[tuple[str, str | None]]:
    """(file, test) for `tests/x.py::name` and for `::name` following it in the same cell."""
    out = []
    for cell in re.findall(r"\|([^|\n]*tests/[^|\n]*)", DOC):
        current = None
        for path, name in re.findall(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`", cell):
            current = path or current
            if current:
                out.append((current, name or None))
    return out


NAMED = _named()


def test_the_doc_names_tests():
    assert len({f for f, _ in NAMED}) >= 10 and sum(1 for _, n in NAMED if n) >= 25


@pytest.mark.parametrize("path, name", NAMED, ids=[f"{p}::{n}" if n else p for p, n in NAMED])
def test_every_named_test_exists(path, name):
    source = ROOT / path
    assert source.is_file(), f"docs/security.md names {path}, which does not exist"
    if name:
        assert re.search(rf"^(async )?def {name}\(", source.read_text(), re.M), f"{path} has no test {name}"

"""How a CLI module declares its commands: pachctl's `verb noun` shape
(`list job`, `put file`) or a bare verb (`run`, `lineage`)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Command:
    verb: str                       # "list", "put", "run", "deploy"
    noun: str | None                # "file", "job"; None for a bare verb
    help: str
    configure: Callable[[argparse.ArgumentParser], None]  # adds arguments
    run: Callable[[argparse.Namespace], int]              # returns the exit status

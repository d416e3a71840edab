"""Where a home keeps each datum's working folders and logs (the executor's disk layout)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.pps.process import stderr_path


@dataclass(frozen=True)
class Workspace:
    home: Path

    @property
    def work_dir(self) -> Path:
        return self.home / "work"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    def datum_dir(self, pipeline: str, job: str, datum: str) -> Path:
        """Where a datum's tries are laid out (each in a fresh try<N>-<token> folder)."""
        return self.work_dir / pipeline / job / datum

    def log_path(self, pipeline: str, job: str, datum: str) -> Path:
        """A datum's log: stdout and stderr, every try, as they came."""
        return self.logs_dir / pipeline / job / f"{datum}.log"

    def stderr_path(self, pipeline: str, job: str, datum: str) -> Path:
        """Only the datum's stderr (its failure reason is the last lines of it)."""
        return stderr_path(self.log_path(pipeline, job, datum))

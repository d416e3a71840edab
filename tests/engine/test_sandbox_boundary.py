"""What the engine takes back from a datum is bounded and never followed: its progress
file (a link or a FIFO the datum made is not read through) and its stderr (one endless line
or a flood cannot fill the engine's memory or the disk past the datum's file size limit).
And what it gives one is whole: a clamd that failed to start is never an address of None."""
from __future__ import annotations

import os
import threading
from collections import deque

import pytest

from pipelines.errors import ServiceError
from pipelines.pps.process import LINE_MAX, _pump_stderr, _read_progress, stderr_path
from pipelines.services import Services
from pipelines.services.clamd_daemon import ClamdService

pytestmark = pytest.mark.unit


def test_progress_is_read_from_a_regular_file_only(tmp_path):
    host_file = tmp_path / "elsewhere"
    host_file.write_text("0.42 reading")
    progress = tmp_path / "progress"
    progress.write_text("0.25 encoding")
    assert _read_progress(progress) == 0.25
    progress.unlink()
    progress.symlink_to(host_file)  # a datum's link, resolved on the host, would read this
    assert _read_progress(progress) is None
    progress.unlink()
    os.mkfifo(progress)  # opening a FIFO for reading would block the engine
    assert _read_progress(progress) is None
    progress.unlink()
    assert _read_progress(progress) is None


def test_a_flood_on_stderr_is_drained_but_kept_only_up_to_the_file_size_limit(tmp_path):
    log = tmp_path / "datum.log"
    r, w = os.pipe()
    flood = b"x" * (5 << 20)  # one 5 MiB line, no newline

    def write():
        with os.fdopen(w, "wb") as f:
            f.write(flood)
            f.write(b"\nlast words\n")
    writer = threading.Thread(target=write)
    writer.start()
    tail: deque[str] = deque(maxlen=20)
    _pump_stderr(os.fdopen(r, "rb"), log, tail, budget=1 << 20)
    writer.join()
    for path in (log, stderr_path(log)):
        size = path.stat().st_size
        assert (1 << 20) <= size < (1 << 20) + 100, size
        assert path.read_bytes().endswith(b"[stderr cut: the datum's file size limit]\n")
    assert all(len(line) <= LINE_MAX for line in tail)
    assert tail[-1] == "last words"  # the reason for a failure still comes from the end


def test_a_clamd_that_failed_to_start_is_started_again_not_handed_out_as_none(tmp_path, monkeypatch):
    starts = []

    def start(self):
        starts.append(self)
        if len(starts) == 1:
            raise ServiceError("clamd did not answer PING within 30s")
        return "unix:///run/clamd.sock"
    monkeypatch.setattr(ClamdService, "start", start)
    monkeypatch.delenv("PACHMEDIA_CLAMD_ADDRESS", raising=False)
    services = Services(tmp_path)
    wants = {"env": {"CLAMD_ADDRESS": "tcp://clamd:3310"}}
    with pytest.raises(ServiceError):
        services.env_for(wants)
    assert services.env_for(wants) == {"CLAMD_ADDRESS": "unix:///run/clamd.sock"}  # the next job starts it again
    assert len(starts) == 2

"""The engine's services (pipelines/services): jobs of different pipelines run side by side,
so two asking for clamd at once must get the one daemon, started once. The daemon is a fake
here (its start is slow on purpose, to open the window); tests/test_scan.py runs the real one."""
from __future__ import annotations

import threading
import time

import pytest

from pipelines import services as services_mod
from pipelines.services import clamd_daemon

pytestmark = pytest.mark.unit


class SlowClamd:
    started: list[str] = []

    def __init__(self, home) -> None:
        self.home = home

    def start(self) -> str:
        time.sleep(0.05)  # as a real start takes seconds: a second caller arrives meanwhile
        SlowClamd.started.append(str(self.home))
        return f"unix://{self.home}/clamd.sock#{len(SlowClamd.started)}"

    def stop(self) -> None:
        pass


def test_concurrent_jobs_share_one_clamd(tmp_path, monkeypatch):
    SlowClamd.started = []
    monkeypatch.setattr(clamd_daemon, "ClamdService", SlowClamd)
    monkeypatch.delenv("PACHMEDIA_CLAMD_ADDRESS", raising=False)
    svc = services_mod.Services(tmp_path)
    go = threading.Barrier(6)
    got: list[str] = []

    def job():
        go.wait()
        got.append(svc.env_for({"env": {"CLAMD_ADDRESS": ""}})["CLAMD_ADDRESS"])

    threads = [threading.Thread(target=job) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(SlowClamd.started) == 1, f"clamd started {len(SlowClamd.started)} times"
    assert got == [got[0]] * 6


def test_a_failed_start_is_tried_again(tmp_path, monkeypatch):
    calls = []

    class Flaky(SlowClamd):
        def start(self) -> str:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("clamd did not come up")
            return "unix://ok"

    monkeypatch.setattr(clamd_daemon, "ClamdService", Flaky)
    svc = services_mod.Services(tmp_path)
    with pytest.raises(RuntimeError):
        svc.clamd()
    assert svc.clamd() == "unix://ok"
    assert svc.clamd() == "unix://ok" and len(calls) == 2

"""Services the embedded engine runs for the stages (on a cluster they are Kubernetes
Services): started when a pipeline's transform first asks for one, stopped with the engine."""
from __future__ import annotations

import os
import threading
from pathlib import Path


class Services:
    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self._clamd = None
        self._clamd_addr: str | None = None
        # jobs of different pipelines run side by side: two asking at once must share one clamd
        self._lock = threading.Lock()

    def env_for(self, transform: dict) -> dict[str, str]:
        """The addresses a transform's env names (CLAMD_ADDRESS), its services started."""
        env = {}
        if "CLAMD_ADDRESS" in (transform.get("env") or {}):
            env["CLAMD_ADDRESS"] = os.environ.get("PACHMEDIA_CLAMD_ADDRESS") or self.clamd()
        return env

    def clamd(self) -> str:
        with self._lock:
            if self._clamd is None:
                from pipelines.services.clamd_daemon import ClamdService
                svc = ClamdService(self.home / "clamd")
                self._clamd_addr = svc.start()  # kept only once started: a failed start is tried again, never None
                self._clamd = svc
            return self._clamd_addr

    def stop(self) -> None:
        with self._lock:
            if self._clamd is not None:
                self._clamd.stop()
                self._clamd = None

"""A clamd the engine runs itself: Debian's clamd, the project's hardened config and
(unless PACHMEDIA_CLAMAV_DB names a real one) the project's signature DB, on a Unix
socket under the engine's home. Reused if one from the same home is already up."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pyclamd

from ..errors import ServiceError
from .signatures import build_signature_db

# ClamAV cannot scan a stream past ~2 GB; the upload limit stays under it.
MAX_STREAM = 2000 * 1024 * 1024

CONFIG = """\
# written by pachmedia: a hardened clamd for untrusted uploads
Foreground yes
LocalSocket {sock}
LocalSocketMode 600
PidFile {pid}
LogFile {log}
LogTime yes
TemporaryDirectory {tmp}
DatabaseDirectory {db}
# a stream over the limit must be refused, never half-scanned and called clean
StreamMaxLength {limit}
MaxFileSize {limit}
MaxScanSize {scan}
# without these, archives past the limits and encrypted archives come back OK
AlertExceedsMax yes
AlertEncrypted yes
AlertEncryptedArchive yes
AlertEncryptedDoc yes
MaxRecursion 16
MaxFiles 10000
MaxThreads 4
ReadTimeout 120
CommandReadTimeout 30
SelfCheck 0
"""


class ClamdService:
    def __init__(self, home: Path, *, upload_limit_bytes: int = MAX_STREAM, start_timeout: float = 60) -> None:
        self.home = Path(home)
        self.limit = min(int(upload_limit_bytes), MAX_STREAM)
        self.timeout = start_timeout
        self.sock = self.home / "clamd.sock"
        self.pid_file = self.home / "clamd.pid"
        self.log = self.home / "clamd.log"
        self.conf = self.home / "clamd.conf"
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"unix://{self.sock}"

    def _client(self) -> pyclamd.ClamdUnixSocket:
        return pyclamd.ClamdUnixSocket(filename=str(self.sock), timeout=5)

    def alive(self) -> bool:
        try:
            return self.sock.exists() and self._client().ping()
        except (pyclamd.ConnectionError, OSError, ValueError):
            return False

    def write_config(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "tmp").mkdir(exist_ok=True)
        db = os.environ.get("PACHMEDIA_CLAMAV_DB") or str(build_signature_db(self.home / "db"))
        self.conf.write_text(CONFIG.format(sock=self.sock, pid=self.pid_file, log=self.log, tmp=self.home / "tmp",
                                           db=db, limit=self.limit, scan=min(self.limit * 2, 4000 * 1024 * 1024)))
        return self.conf

    def start(self) -> str:
        if self.alive():
            return self.address
        binary = shutil.which("clamd") or ("/usr/sbin/clamd" if Path("/usr/sbin/clamd").exists() else None)
        if not binary:
            raise ServiceError("clamd not found: install Debian's clamav-daemon (make setup does)")
        self.write_config()
        self.sock.unlink(missing_ok=True)
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([binary, "--config-file", str(self.conf)], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.alive():
                return self.address
            if self.proc.poll() is not None:
                raise ServiceError(f"clamd exited with status {self.proc.returncode} at start; see {self.log}:\n"
                                   + _tail(self.log))
            time.sleep(0.05)
        self.stop()
        raise ServiceError(f"clamd did not answer PING within {self.timeout:g}s; see {self.log}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> "ClamdService":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _tail(path: Path, n: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""

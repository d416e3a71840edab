"""A clamd the engine runs itself: Debian's clamd, the project's hardened config and
(unless PACHMEDIA_CLAMAV_DB names a real one) the project's signature DB, on a Unix
socket under the engine's home. Reused if one from the same home is already up.

The hardened part of clamd.conf (CONFIG) is written once, here: the embedded clamd gets
it with local paths (LOCAL), the cluster's clamd (images/k8s/clamd.yaml, a ConfigMap) gets
it with the official image's paths (CLUSTER); tests/test_images.py keeps the manifest equal
to `cluster_config()`.

clamd never outlives the process that started it: it is started with a parent-death
signal (Linux), and a stale clamd left in the pid file (same home, same config) is
stopped before a new one starts.
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyclamd

from pipelines.errors import ServiceError
from pipelines.services.signatures import build_signature_db

MIB = 1024 * 1024
# ClamAV cannot scan a stream past ~2 GB; the upload limit stays under it.
MAX_STREAM = 2000 * MIB
# clamd's own bound on one scan; a legit upload at the limit scans in well under it
# (~60 MB/s per core: 2000 MiB in ~35 s), a scan past it is reported, never called clean.
MAX_SCAN_TIME_MS = 180_000

# The limits every clamd of ours runs with, embedded or in the cluster.
CONFIG = """\
# a stream over the limit must be refused, never half-scanned and called clean
StreamMaxLength {limit}
# everything one upload may make clamd look at (itself plus all it unpacks)
MaxScanSize {scan}
# above MaxScanSize on purpose: ClamAV silently cuts an archive member at MaxFileSize and
# scans the rest as if whole; a cut member can never fit MaxScanSize, so a zip bomb is
# reported (Heuristics.Limits.Exceeded.MaxScanSize) instead of cut short and called OK
MaxFileSize {file}
MaxScanTime {scan_ms}
# without these, archives past the limits and encrypted archives come back OK
AlertExceedsMax yes
AlertEncrypted yes
AlertEncryptedArchive yes
AlertEncryptedDoc yes
MaxRecursion 16
MaxFiles 10000
ReadTimeout 120
CommandReadTimeout 30
"""

LOCAL = """\
# written by pachmedia: a hardened clamd for untrusted uploads
Foreground yes
LocalSocket {sock}
LocalSocketMode 600
PidFile {pid}
LogFile {log}
LogTime yes
TemporaryDirectory {tmp}
DatabaseDirectory {db}
MaxThreads 4
SelfCheck 0
"""

# The official clamav/clamav image: its entrypoint (/init-unprivileged) runs
# `clamd --foreground` on /etc/clamav/clamd.conf and waits for /tmp/clamd.sock before it
# says clamd started; freshclam (NotifyClamd) and the readiness probe (clamdcheck.sh: PING
# to localhost:3310) use these sockets. No User line: the pod already runs as clamav.
CLUSTER = """\
# pachmedia: a hardened clamd for untrusted uploads (rendered by pipelines/services/clamd_daemon.py)
Foreground yes
LocalSocket /tmp/clamd.sock
TCPSocket 3310
DatabaseDirectory /var/lib/clamav
TemporaryDirectory /tmp
LogTime yes
MaxThreads 8
"""


def limits(upload_limit_bytes: int = MAX_STREAM) -> dict[str, int]:
    """The size/time limits for an upload limit (capped at what ClamAV can stream)."""
    limit = min(int(upload_limit_bytes), MAX_STREAM)
    scan = limit + min(limit, 32 * MIB)
    # a cut member is at most 8 KiB (one inflate buffer) short of MaxFileSize: stay above
    return {"limit": limit, "scan": scan, "file": scan + MIB, "scan_ms": MAX_SCAN_TIME_MS}


def render_config(site: str, upload_limit_bytes: int = MAX_STREAM, **paths: object) -> str:
    return site.format(**paths) + CONFIG.format(**limits(upload_limit_bytes))


def cluster_config() -> str:
    """The clamd.conf the cluster's ConfigMap holds (images/k8s/clamd.yaml)."""
    return render_config(CLUSTER)


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
        self.conf.write_text(render_config(LOCAL, self.limit, sock=self.sock, pid=self.pid_file, log=self.log,
                                           tmp=self.home / "tmp", db=db))
        return self.conf

    def start(self) -> str:
        if self.alive():
            return self.address
        binary = shutil.which("clamd") or ("/usr/sbin/clamd" if Path("/usr/sbin/clamd").exists() else None)
        if not binary:
            raise ServiceError("clamd not found: install Debian's clamav-daemon (make setup does)")
        self.stop_stale()
        self.write_config()
        self.sock.unlink(missing_ok=True)
        with open(self.log, "a") as log:
            self.proc = _spawn([binary, "--config-file", str(self.conf)], stdout=log, stderr=log,
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

    def stale_pid(self) -> int | None:
        """The pid in our pid file if that process is a clamd running our config (else None)."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid > 0 and is_our_clamd(pid, self.conf) else None

    def stop_stale(self) -> None:
        """Stop a clamd an earlier engine of this home left behind (it did not answer PING)."""
        pid = self.stale_pid()
        if pid is None:
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            if _wait_gone(pid, wait):
                break
        self.pid_file.unlink(missing_ok=True)

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


def is_our_clamd(pid: int, conf: Path) -> bool:
    """Whether `pid` is a live clamd started with `--config-file conf` (a reused pid is not)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if not _alive(pid) or not argv or Path(os.fsdecode(argv[0])).name != "clamd":
        return False
    args = [os.fsdecode(a) for a in argv[1:]]
    want = str(conf)
    return f"--config-file={want}" in args or \
        any(a in ("--config-file", "-c") and args[i + 1:i + 2] == [want] for i, a in enumerate(args))


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (its state, from /proc/<pid>/stat)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


# -- starting clamd so that it dies with us ----------------------------------------------------
PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int):
    """preexec_fn: SIGTERM clamd when the thread that forked it dies (Linux)."""
    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return preexec


_spawner: queue.Queue | None = None
_spawner_lock = threading.Lock()


def _spawn(args: list[str], **kw) -> subprocess.Popen:
    """Popen with a parent-death signal. The signal follows the *thread* that forked, so
    fork from the main thread or from one daemon thread that lives as long as the process
    (an engine may start clamd from a worker thread that ends long before the engine)."""
    if not sys.platform.startswith("linux"):
        return subprocess.Popen(args, **kw)
    kw["preexec_fn"] = _die_with_parent(os.getpid())
    if threading.current_thread() is threading.main_thread():
        return subprocess.Popen(args, **kw)
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = queue.Queue()
            threading.Thread(target=_spawn_loop, args=(_spawner,), name="pachmedia-spawner", daemon=True).start()
    done: concurrent.futures.Future = concurrent.futures.Future()
    _spawner.put((done, args, kw))
    return done.result()


def _spawn_loop(jobs: queue.Queue) -> None:
    while True:
        done, args, kw = jobs.get()
        try:
            done.set_result(subprocess.Popen(args, **kw))
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            done.set_exception(e)


def _tail(path: Path, n: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""

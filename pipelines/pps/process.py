"""One command of a try as a process: started in its own process group, its stderr
pumped line by line into the datum's log (bounded), its progress file read without
following links, `datumTimeout` and cancellation enforced; and the process groups a
killed engine left behind found and ended (`kill_orphan`)."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.errors import Interrupted
from pipelines.pps import sandbox as sb

if TYPE_CHECKING:
    from pipelines.pps.runner import DatumRun, Launch


def stderr_path(log: Path) -> Path:
    return log.with_name(log.name + ".stderr")



LINE_MAX = 64 * 1024  # a datum's stderr is read in lines of at most this: one endless line cannot fill memory


def _pump_stderr(pipe, log: Path, tail: deque, budget: int) -> None:
    """Copy the datum's stderr, line by line, to its log and its .stderr file (at most
    `budget` bytes, as the datum's own files: then it is drained, not kept); keep the tail."""
    with pipe, open(log, "ab") as both, open(stderr_path(log), "ab") as err:
        for line in iter(lambda: pipe.readline(LINE_MAX), b""):
            tail.append(line.decode(errors="replace").rstrip("\n"))
            if budget <= 0:
                continue
            if len(line) >= budget:
                line = line[:budget] + b"\n[stderr cut: the datum's file size limit]\n"
            budget -= len(line)
            for f in (both, err):
                f.write(line)
                f.flush()


def _read_progress(path: Path) -> float | None:
    """The fraction a stage wrote to its progress file; never following a link the datum made."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return float(os.read(fd, 64).split()[0])
    except (ValueError, IndexError, OSError):
        return None
    finally:
        os.close(fd)


def execute(how: "Launch", run: "DatumRun", on_progress, on_start=None,
             cancel: threading.Event | None = None) -> tuple[int, str | None]:
    tail: deque[str] = deque(maxlen=20)
    stdin = how.stdin
    try:
        with open(run.log, "ab") as out:
            proc = subprocess.Popen(how.argv, cwd=how.workdir or how.cwd, env=how.env, stdout=out, stderr=subprocess.PIPE,
                                    stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                    start_new_session=True)
    except OSError as e:
        if how.workdir is not None and not how.workdir.is_dir():
            return 127, f"cannot start {how.cmd[0]}: working directory {how.workdir} does not exist (transform.workingDir)"
        return 127, f"cannot start {how.argv[0]}: {e.strerror}"
    pump = threading.Thread(target=_pump_stderr, args=(proc.stderr, run.log, tail, run.limits.file_size),
                            daemon=True)
    pump.start()
    if on_start:
        on_start(proc.pid)  # start_new_session: the pid is the process group id
    if stdin:
        try:
            proc.stdin.write((stdin + "\n").encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
    deadline = time.monotonic() + run.timeout if run.timeout else None
    progress_file = sb.TryDirs(how.cwd).run / "progress"
    while True:
        try:
            rc = proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if cancel is not None and cancel.is_set():
                _kill(proc)
                pump.join(timeout=2)
                raise Interrupted("interrupted")
            if on_progress and (fraction := _read_progress(progress_file)) is not None:
                on_progress(fraction)
            if deadline and time.monotonic() > deadline:
                _kill(proc)
                pump.join(timeout=2)
                return -9, f"datum timed out after {run.timeout:g}s (datumTimeout)"
    pump.join(timeout=5)  # a background child may still hold stderr open
    if cancel is not None and cancel.is_set():
        raise Interrupted("interrupted")
    if rc == 0:
        return 0, None
    said = " | ".join(line for line in list(tail)[-3:] if line.strip())[-500:]
    reason = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}" + (f": {said}" if said else "")
    limit = sb.explain_exit(rc, list(tail), run.limits)
    return rc, f"{limit} [{reason}]" if limit else reason


def kill_group(pgid: int) -> bool:
    """SIGKILL a datum's process group (the stage and whatever it started); False if gone."""
    try:
        os.killpg(pgid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


def _kill(proc: subprocess.Popen) -> None:
    kill_group(proc.pid)  # start_new_session: the pid is the group id
    proc.wait()


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group pgid, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry))
    return members


def _environ(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return {}
    return dict(kv.decode(errors="replace").partition("=")[::2] for kv in raw.split(b"\0") if b"=" in kv)


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def kill_orphan(pgid: int, job: str, datum_id: str, sandbox: Path | None = None, timeout: float = 10.0) -> bool:
    """End the process group a killed engine left running for this datum. It is ours only
    if one of its members carries this datum's PACH_JOB_ID and PACH_DATUM_ID, or works
    inside its sandbox (a reused group id of someone else's is left alone). Returns True
    when a group was killed."""
    members = group_members(pgid)
    inside = str(sandbox) + os.sep if sandbox else None

    def ours(pid: int) -> bool:
        env = _environ(pid)
        if env.get("PACH_DATUM_ID") == datum_id and env.get("PACH_JOB_ID") == job:
            return True
        return bool(inside) and (_cwd(pid) + os.sep).startswith(inside)
    if not any(ours(pid) for pid in members) or not kill_group(pgid):
        return False
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return True

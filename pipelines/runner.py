"""Runs one datum the way a Pachyderm worker does, on this machine.

The datum's files are linked read-only under `<sandbox>/pfs/<input>/<path>`, an empty
`<sandbox>/pfs/out` is made, and the spec's `transform.cmd` (and `stdin`) runs with
every `/pfs` in its arguments, stdin and env rewritten to the sandbox, plus the env
Pachyderm sets (`<input>`, `<input>_COMMIT`, `PACH_JOB_ID`, `PACH_DATUM_ID`,
`PACH_OUTPUT_COMMIT_ID`). `datumTries` retries, `datumTimeout` kills, `errCmd` may
recover a failed datum. What the datum wrote under out/ goes into the object store.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import PROJECT_ROOT
from .objects import ObjectStore

_PFS = re.compile(r"(?<![\w.-])/pfs(?=/|$|\s|\")")


def parse_duration(text: str | None) -> float | None:
    """Protobuf JSON durations ("600s", "1.5s"), as specs write them."""
    if not text:
        return None
    return float(text[:-1]) if text.endswith("s") else float(text)


@dataclass
class DatumRun:
    """Everything needed to run one datum; `mounts` are (relative dest, object id)."""
    pipeline: str
    job: str
    datum_id: str
    transform: dict
    mounts: list[tuple[str, str]]
    env: dict[str, str]              # the datum's Pachyderm env with /pfs paths (rewritten here)
    sandbox: Path
    log: Path
    tries: int = 3
    timeout: float | None = None
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class DatumResult:
    state: str                       # SUCCESS | FAILED | RECOVERED
    tries: int
    reason: str | None
    outputs: list[tuple[str, str, int]]   # (path, sha256, size)
    started: float
    finished: float


def rewrite_pfs(text: str, pfs: Path) -> str:
    return _PFS.sub(str(pfs).replace("\\", "\\\\"), text)


def command_for(transform: dict, pfs: Path) -> list[str]:
    cmd = [rewrite_pfs(a, pfs) for a in transform.get("cmd") or ["bash"]]
    if cmd and cmd[0] in ("python3", "python"):
        cmd[0] = sys.executable   # the image's python3 is this venv's python here
    return cmd


def environment(run: DatumRun, pfs: Path, output_commit: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACH_")}
    env.update({k: rewrite_pfs(str(v), pfs) for k, v in (run.transform.get("env") or {}).items()})
    env.update({k: rewrite_pfs(v, pfs) for k, v in run.env.items()})
    env.update({"PACH_JOB_ID": run.job, "PACH_DATUM_ID": run.datum_id, "PACH_OUTPUT_COMMIT_ID": output_commit,
                "PACHMEDIA_PROGRESS": str(run.sandbox / "progress")})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env.update(run.extra_env)
    return env


def prepare_sandbox(run: DatumRun, objects: ObjectStore) -> Path:
    """Lay out <sandbox>/pfs: inputs linked read-only, out empty. Returns pfs."""
    if run.sandbox.exists():
        shutil.rmtree(run.sandbox)
    pfs = run.sandbox / "pfs"
    for dest, oid in run.mounts:
        objects.link(oid, pfs / dest)
    (pfs / "out").mkdir(parents=True, exist_ok=True)
    return pfs


def collect_outputs(out: Path, objects: ObjectStore) -> list[tuple[str, str, int]]:
    outputs = []
    for p in sorted(out.rglob("*")):
        if p.is_symlink():
            raise ValueError(f"datum wrote a symlink {p.relative_to(out)}: outputs must be regular files")
        if p.is_file():
            oid, size = objects.add_file(p)
            outputs.append(("/" + p.relative_to(out).as_posix(), oid, size))
    return outputs


def run_datum(run: DatumRun, objects: ObjectStore, output_commit: str,
              on_progress: Callable[[float], None] | None = None) -> DatumResult:
    started = time.time()
    run.log.parent.mkdir(parents=True, exist_ok=True)
    reason = None
    tries = max(1, run.tries)
    for attempt in range(1, tries + 1):
        pfs = prepare_sandbox(run, objects)
        cmd = command_for(run.transform, pfs)
        env = environment(run, pfs, output_commit)
        stdin = "\n".join(rewrite_pfs(line, pfs) for line in run.transform.get("stdin") or []) or None
        with open(run.log, "a") as log:
            log.write(f"--- try {attempt}/{tries}: {' '.join(cmd)}\n")
            log.flush()
            rc, reason = _execute(cmd, env, stdin, run, log, on_progress)
        if rc == 0:
            try:
                outputs = collect_outputs(pfs / "out", objects)
            except (ValueError, OSError) as e:
                reason = str(e)
            else:
                shutil.rmtree(run.sandbox, ignore_errors=True)
                return DatumResult("SUCCESS", attempt, None, outputs, started, time.time())
    # Pachyderm runs errCmd once the tries are used up; success there means "recovered".
    if run.transform.get("errCmd"):
        err = [rewrite_pfs(a, pfs) for a in run.transform["errCmd"]]
        with open(run.log, "a") as log:
            rc, _ = _execute(err, env, "\n".join(run.transform.get("errStdin") or []) or None, run, log, None)
        if rc == 0:
            return DatumResult("RECOVERED", tries, reason, [], started, time.time())
    return DatumResult("FAILED", tries, reason, [], started, time.time())


def _execute(cmd, env, stdin, run: DatumRun, log, on_progress) -> tuple[int, str | None]:
    try:
        proc = subprocess.Popen(cmd, cwd=run.sandbox, env=env, stdout=log, stderr=log,
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, text=True,
                                start_new_session=True)
    except OSError as e:
        return 127, f"cannot start {cmd[0]}: {e.strerror}"
    if stdin:
        try:
            proc.stdin.write(stdin + "\n")
            proc.stdin.close()
        except BrokenPipeError:
            pass
    deadline = time.monotonic() + run.timeout if run.timeout else None
    progress_file = run.sandbox / "progress"
    while True:
        try:
            rc = proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if on_progress and progress_file.exists():
                try:
                    on_progress(float(progress_file.read_text().split()[0]))
                except (ValueError, IndexError, OSError):
                    pass
            if deadline and time.monotonic() > deadline:
                _kill(proc)
                return -9, f"datum timed out after {run.timeout:g}s (datumTimeout)"
    if rc == 0:
        return 0, None
    return rc, f"exit status {rc}: {_tail(run.log)}" if rc > 0 else f"killed by signal {-rc}"


def _kill(proc: subprocess.Popen) -> None:
    import signal
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line for line in text[-lines:] if not line.startswith("--- try"))[-500:]

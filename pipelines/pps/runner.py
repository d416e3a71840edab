"""Runs one datum the way a Pachyderm worker does, on this machine.

Each attempt gets a fresh folder `<sandbox>/try<N>-<token>/`: the datum's files are
private read-only copies (reflinks where possible, never links to the store) under
`pfs/<input>/<path>`, an empty `pfs/out`, a scratch `tmp/` and `run/` (the progress file).
The spec's `transform.cmd` (and `stdin`) then runs in the datum sandbox (pps/sandbox.py:
bubblewrap namespaces, `/pfs` at `/pfs`, cmd, stdin and env exactly as written) or, where
namespaces are unavailable or PACHMEDIA_SANDBOX=folder, in the folder itself with every `/pfs`
in cmd, stdin and env rewritten to it. Either way the environment is allow-listed (Pachyderm's
variables `<input>`, `<input>_COMMIT`, `PACH_JOB_ID`, `PACH_DATUM_ID`, `PACH_OUTPUT_COMMIT_ID`,
`PACH_DATUM_<input>_JOIN_ON/GROUP_BY`, the spec's `env`, the services it asks for) and rlimits
apply. `datumTries` retries, `datumTimeout` kills; `errCmd` runs after each failed try and
may recover the datum; `acceptReturnCode` and `workingDir` as Pachyderm's worker. What the
datum wrote under out/ goes into the object store. A pipeline with `s3` inputs or s3Out gets,
for each try, its own S3 gateway (pps/s3_sidecar.py), reached through pps/s3relay.py in front
of the command; with s3Out the outputs are what it wrote to bucket `out` (the try's s3out/).

Each command runs as a process (pps/process.py): stdout to the datum's log, stderr there
too and to `<log>.stderr`; a failed datum's reason is the last lines of its stderr (or the
limit that killed it). The datum runs in its own process group (its id is handed to
`on_start`, so a killed engine's successor can end it with `kill_orphan`; in the sandbox it
dies with its engine anyway); setting `cancel` ends the attempt and raises Interrupted.
"""
from __future__ import annotations

import os
import posixpath
import re
import shutil
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from pipelines import PROJECT_ROOT
from pipelines.pfs.objects import ObjectStore
from pipelines.pps import sandbox as sb
from pipelines.pps.process import execute
from pipelines.pps.s3_sidecar import RELAY, S3Job, Sidecar

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
    env: dict[str, str]              # the datum's Pachyderm env, with /pfs paths as on a cluster
    sandbox: Path
    log: Path
    tries: int = 3
    timeout: float | None = None
    extra_env: dict[str, str] = field(default_factory=dict)   # services: CLAMD_ADDRESS
    limits: sb.Limits = field(default_factory=lambda: sb.limits_for({}, os.cpu_count() or 1))
    # dest -> (object id, size) of every input file, for outputs that are symlinks to one
    # (an `emptyFiles` input is mounted empty: its mount's object id is "")
    sources: dict[str, tuple[str, int]] = field(default_factory=dict)
    s3: S3Job | None = None          # `s3` inputs / s3Out: each try gets its gateway at S3_ENDPOINT


@dataclass
class DatumResult:
    state: str                       # SUCCESS | FAILED | RECOVERED
    tries: int
    reason: str | None
    outputs: list[tuple[str, str, int]]   # (path, sha256, size)
    started: float
    finished: float


@dataclass(frozen=True)
class Launch:
    """How one command of a try starts: the spec's command as it runs in this mode, what
    runs it (rlimits, then the sandbox), its whole environment, stdin, and the host folder
    it starts in (the try's)."""
    cmd: list[str]
    wrapper: list[str]
    env: dict[str, str]
    stdin: str | None
    cwd: Path
    mode: str                        # bwrap | folder
    workdir: Path | None = None      # folder mode's transform.workingDir (Popen starts there)

    @property
    def argv(self) -> list[str]:
        return self.wrapper + self.cmd


def rewrite_pfs(text: str, pfs: Path) -> str:
    """Only without namespaces: /pfs in a command, stdin or env -> the try's pfs folder."""
    return _PFS.sub(str(pfs).replace("\\", "\\\\"), text)


def relay_argv(script: str, socket: str, port: int) -> list[str]:
    """What runs in front of a command that reaches a try's S3 gateway (pps/s3relay.py)."""
    return [sys.executable, "-I", "-S", script, "--unix", socket, "--port", str(port), "--"]


def launch(run: DatumRun, dirs: sb.TryDirs, output_commit: str, mode: str, *, err: bool = False,
           s3: Sidecar | None = None) -> Launch:
    """transform.cmd/stdin (errCmd/errStdin with err) as it runs in this mode; with `s3` (the
    try's gateway) behind the relay, which adds S3_ENDPOINT, and with the gateway's keys."""
    t = run.transform
    cmd = list(t.get("errCmd" if err else "cmd") or ["bash"])
    stdin = "\n".join(t.get("errStdin" if err else "stdin") or []) or None
    pach = {**run.env, "PACH_JOB_ID": run.job, "PACH_DATUM_ID": run.datum_id, "PACH_OUTPUT_COMMIT_ID": output_commit,
            **(s3.env() if s3 else {})}
    spec_env = {str(k): str(v) for k, v in (t.get("env") or {}).items()}
    workdir = t.get("workingDir")
    if mode == "bwrap":
        services, sockets = sb.socket_binds(run.extra_env)
        env = sb.datum_env(sb.image_env(sb.python_bin(), sb.APP, sb.SCRATCH, sb.RUN), spec_env, pach, services)
        files, relay = [], []
        if s3:  # in the datum's own network namespace: a fixed port, as a worker's sidecar has
            sockets, files = sockets + [(str(s3.socket), sb.S3_SOCKET)], [(str(RELAY), sb.S3_RELAY)]
            relay = relay_argv(sb.S3_RELAY, sb.S3_SOCKET, sb.S3_PORT)
        wrapper = sb.bwrap_argv(_host(), dirs, [], cwd=workdir or sb.APP, sockets=sockets, files=files,
                                out=not (run.s3 and run.s3.out)) + sb.background_argv(run.limits.nice) + relay
        workdir = None
    else:
        def fix(text: str) -> str:
            return rewrite_pfs(text, dirs.pfs)
        base = sb.image_env(sb.python_bin(), str(PROJECT_ROOT), str(dirs.scratch), str(dirs.run))
        env = sb.datum_env(base, {k: fix(v) for k, v in spec_env.items()}, {k: fix(v) for k, v in pach.items()},
                           run.extra_env)
        cmd, stdin = [fix(a) for a in cmd], fix(stdin) if stdin else None
        wrapper = sb.background_argv(run.limits.nice) + (
            relay_argv(str(RELAY), str(s3.socket), 0) if s3 else [])  # the host's loopback: any free port
        workdir = fix(workdir) if workdir else None
    return Launch(cmd, run.limits.prlimit() + wrapper, env, stdin, dirs.root, mode,
                  Path(workdir) if workdir else None)


_host_layout: sb.HostLayout | None = None
_noted = False


def _host() -> sb.HostLayout:
    global _host_layout
    if _host_layout is None:
        _host_layout = sb.host_layout(PROJECT_ROOT)
    return _host_layout


def sandbox_mode() -> str:
    """bwrap or folder (PACHMEDIA_SANDBOX; auto: bwrap where it works). Falling back is said once."""
    global _noted
    mode, why = sb.choose_mode()
    if mode == "folder" and why and not why.startswith("PACHMEDIA_SANDBOX") and not _noted:
        _noted = True
        print(f"pachmedia: no datum sandbox here ({why}): datums run in plain folders, with the "
              f"allow-listed environment and rlimits only", file=sys.stderr)
    return mode


def output_dir(run: DatumRun, dirs: sb.TryDirs) -> Path:
    """Where a try's outputs are taken from: pfs/out, or with s3Out the folder bucket `out`
    writes into (pachd links no /pfs/out then: outputs go through S3 only)."""
    return dirs.root / "s3out" if run.s3 and run.s3.out else dirs.pfs / "out"


def prepare_sandbox(run: DatumRun, objects: ObjectStore) -> sb.TryDirs:
    """Lay out a try's folder: pfs/ (inputs as private read-only copies, an `s3` input an
    empty folder as pachd makes it, out empty), tmp/, run/."""
    if run.sandbox.exists():
        shutil.rmtree(run.sandbox)
    dirs = sb.TryDirs(run.sandbox)
    for dest, oid in run.mounts:
        if oid:
            objects.materialize(oid, dirs.pfs / dest)
        else:  # emptyFiles: the name, no content
            (dirs.pfs / dest).parent.mkdir(parents=True, exist_ok=True)
            (dirs.pfs / dest).touch(mode=0o444)
    for name, _, _ in run.s3.inputs if run.s3 else ():
        (dirs.pfs / name).mkdir(parents=True, exist_ok=True)
    output_dir(run, dirs).mkdir(parents=True, exist_ok=True)
    dirs.pfs.mkdir(exist_ok=True)
    sb.lay_out(dirs)
    return dirs


def collect_outputs(out: Path, objects: ObjectStore,
                    sources: dict[str, tuple[str, int]] | None = None) -> list[tuple[str, str, int]]:
    """What the datum left in out/. A symlink to one of the datum's input files outputs that
    file (pachd's upload follows links: how emptyFiles pipelines copy), taken from the
    store by the input's object id, never by reading the link: any other link is refused."""
    outputs = []
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out)
        if p.is_symlink():
            source = (sources or {}).get(_link_dest(os.readlink(p), out.parent, rel) or "")
            if source is None:
                raise ValueError(f"datum wrote a symlink {rel}: outputs must be regular files "
                                 "(or links to the datum's input files)")
            outputs.append(("/" + rel.as_posix(), *source))
        elif p.is_file():
            oid, size = objects.add_file(p)
            outputs.append(("/" + rel.as_posix(), oid, size))
    return outputs


def _link_dest(target: str, pfs: Path, rel: Path) -> str | None:
    """A link's target as `<input>/<path>` under /pfs (as the sandbox or the folder sees
    it), worked out from the text alone; None if it points anywhere else."""
    for root in ("/pfs", str(pfs)):
        if not target.startswith("/"):
            target = posixpath.join("/pfs/out", rel.parent.as_posix(), target)
        t = posixpath.normpath(target)
        if t.startswith(root + "/"):
            return t[len(root) + 1:]
    return None


def accepted(rc: int, transform: dict) -> bool:
    """Success as Pachyderm's worker judges it: exit 0, or a code in acceptReturnCode."""
    return rc == 0 or (rc > 0 and rc in {int(c) for c in transform.get("acceptReturnCode") or []})



def run_datum(run: DatumRun, objects: ObjectStore, output_commit: str,
              on_progress: Callable[[float], None] | None = None, *,
              on_start: Callable[[int], None] | None = None,
              cancel: threading.Event | None = None) -> DatumResult:
    started = time.time()
    run.log.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(run.sandbox, ignore_errors=True)  # what an earlier, killed engine left
    try:
        mode = sandbox_mode()
    except sb.SandboxError as e:
        return DatumResult("FAILED", 0, str(e), [], started, time.time())
    reason, recovered = None, False
    tries = max(1, run.tries)
    try:
        for attempt in range(1, tries + 1):
            trial = replace(run, sandbox=run.sandbox / f"try{attempt}-{uuid.uuid4().hex[:8]}")
            s3: Sidecar | None = None
            try:
                try:
                    dirs = prepare_sandbox(trial, objects)
                except OSError as e:
                    reason = f"cannot lay out the datum's /pfs: {e.strerror or e}"
                    continue
                try:
                    if run.s3:
                        s3 = run.s3.serve(trial.sandbox / "s3", output_dir(trial, dirs), run.limits.file_size)
                except (OSError, RuntimeError) as e:
                    reason = f"cannot start the datum's S3 gateway (S3_ENDPOINT): {getattr(e, 'strerror', None) or e}"
                    continue
                try:
                    how = launch(trial, dirs, output_commit, mode, s3=s3)
                except sb.SandboxError as e:
                    return DatumResult("FAILED", attempt, str(e), [], started, time.time())
                _log_line(run.log, f"--- try {attempt}/{tries} ({mode}): {' '.join(how.cmd)}\n")
                rc, reason = execute(how, trial, on_progress, on_start, cancel)
                if accepted(rc, run.transform):
                    if s3:  # no write through it may land while (or after) the outputs are taken
                        s3.stop()
                        s3 = None
                    try:
                        outputs = collect_outputs(output_dir(trial, dirs), objects, run.sources)
                    except (ValueError, OSError) as e:
                        reason = str(e)
                    else:
                        return DatumResult("SUCCESS", attempt, None, outputs, started, time.time())
                # Pachyderm's Datum.run: errCmd after each failed try, in the same /pfs; once it
                # succeeds the datum ends RECOVERED if its last try fails too (handleFailed).
                if run.transform.get("errCmd"):
                    err = launch(trial, dirs, output_commit, mode, err=True, s3=s3)
                    _log_line(run.log, f"--- errCmd after try {attempt}/{tries}: {' '.join(err.cmd)}\n")
                    err_rc, _ = execute(err, trial, None, on_start, cancel)
                    recovered = recovered or accepted(err_rc, run.transform)
            finally:
                if s3:
                    s3.stop()
                shutil.rmtree(trial.sandbox, ignore_errors=True)
    finally:
        shutil.rmtree(run.sandbox, ignore_errors=True)
    return DatumResult("RECOVERED" if recovered else "FAILED", tries, reason, [], started, time.time())


def _log_line(log: Path, text: str) -> None:
    with open(log, "a") as f:
        f.write(text)

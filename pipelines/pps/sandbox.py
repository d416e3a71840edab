"""The datum sandbox: one datum runs the way a Pachyderm worker's container runs it.

Under bubblewrap (`bwrap`) a datum gets its own user, mount, pid, network, ipc, uts and
cgroup namespaces and sees only:
  /pfs/<input>...   its inputs, read-only          /pfs/out   writable, nothing else in /pfs
  /usr, /lib*, /bin, /sbin, a few /etc files       read-only (the image's system)
  the venv's python and the project's stages       read-only; stages at /app as in images/*
  /tmp              a private scratch folder of this try
  /run/sockets/...  clamd's Unix socket, only when the spec asks for CLAMD_ADDRESS, and the
                    try's S3 gateway's, only for `s3` inputs or s3Out (with its relay)
No network (a fresh loopback only), no other file of the host or of $PACHMEDIA_HOME, no
capabilities, no nested user namespaces, uid 10001 as the images' USER, and an allow-listed
environment. rlimits (memory, CPU time, file size) are set on bwrap and inherited by
everything the stage starts (ffmpeg, ffprobe). The datum dies with its engine.

Pure: the limits, the environment, the bwrap arguments, the reason a limit killed a datum.
I/O (thin, at the end): what this host has (`host_layout`) and whether bwrap works here
(`availability`); `choose_mode` reads PACHMEDIA_SANDBOX.
"""
from __future__ import annotations

import functools
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import PachmediaError, SpecError

SANDBOX_UID = 10001                     # images/*/Dockerfile: USER 10001
APP = "/app"                            # the images' WORKDIR: stages/ and specs/records/
PFS = "/pfs"
SCRATCH = "/tmp"
RUN = "/run/pachmedia"                  # the progress file lives here
SOCKETS = "/run/sockets"                # services' Unix sockets are bound under it
S3_SOCKET = f"{SOCKETS}/s3.sock"        # the try's S3 gateway (pps/s3_sidecar.py)
S3_RELAY = "/opt/pachmedia/s3relay.py"  # what carries 127.0.0.1:S3_PORT to it
S3_PORT = 1600                          # pachd's S3GATEWAY_PORT (the worker sidecar's) default

GiB = 1 << 30
DEFAULT_MEMORY = 4 * GiB                # a 1080p ladder in one ffmpeg needs ~2 GiB of data segment
DEFAULT_FILE_SIZE = 4 * GiB             # outputs of a 2 GB upload (the scan limit) stay well under
DEFAULT_CPU_WALL = 6 * 3600             # CPU seconds per core when the spec has no datumTimeout
CPU_GRACE = 5                           # SIGXCPU at the soft limit, SIGKILL this much later

# Host files under /etc a stage may need (dynamic linker, time zone, Debian's alternatives,
# fontconfig, MIME types); never passwd/shadow/hosts/ssl of the host: passwd and group are made.
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "fonts", "mime.types")
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")

MODES = ("auto", "bwrap", "folder")


class SandboxError(PachmediaError):
    """The datum sandbox was required and cannot run here, or a datum asks for what it forbids."""


# -- limits -------------------------------------------------------------------------------------
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?\s*([KMGTPE]i?|[kmunp])?\s*$")
_SUFFIX = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "m": 1e-3, "u": 1e-6, "n": 1e-9, "p": 1e-12}


def parse_quantity(value, where: str) -> float:
    """A Kubernetes quantity ("256Mi", "2G", "1.5", "500m", 2) as a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        m = _QUANTITY.match(str(value))
        if not m:
            raise SpecError(f"{where}: {value!r} is not a quantity (e.g. \"512Mi\", \"2Gi\", \"1.5\", \"500m\")")
        number = float(m.group(1)) * 10 ** int(m.group(2) or 0) * _SUFFIX[m.group(3) or ""]
    if not number > 0 or math.isinf(number):
        raise SpecError(f"{where}: {value!r} must be a positive quantity")
    return number


@dataclass(frozen=True)
class Limits:
    """rlimits of every process of a datum (each process on its own: rlimits are not a cgroup)."""
    memory: int           # RLIMIT_DATA: heap and private mappings, what malloc can get
    cpu_seconds: int      # RLIMIT_CPU soft limit
    file_size: int        # RLIMIT_FSIZE: the largest file a datum may write
    memory_from: str = "default"
    cpu_from: str = "default"
    file_size_from: str = "default"
    nice: int = 0         # raised for a datum of lower priority while a higher one runs (pps/slots.py)

    def prlimit(self) -> list[str]:
        """util-linux prlimit in front of the command: it sets the limits and execs it (after
        coreutils nice, when the datum is to run at a lower priority: inherited by all it starts)."""
        return (["nice", "-n", str(self.nice)] if self.nice else []) + ["prlimit", f"--data={self.memory}", f"--cpu={self.cpu_seconds}:{self.cpu_seconds + CPU_GRACE}",
                f"--fsize={self.file_size}", "--core=0", "--"]


def background_argv(nice: int) -> list[str]:
    """In front of the command, inside its session: the session's autogroup at `nice` too.
    With autogroups (Linux's default) CPU time is shared between sessions first, and each
    datum is a session of its own (setsid, then bwrap --new-session), so a nice value alone
    would only weigh against the datum's own processes. Raising it needs no privilege."""
    if not nice:
        return []
    return ["/bin/sh", "-c", f'echo {int(nice)} > /proc/self/autogroup 2>/dev/null; exec "$@"', "sh"]


def limits_for(spec: dict, cpu_count: int) -> Limits:
    """From `resourceLimits` (memory, disk, cpu cores) and `datumTimeout` where the spec
    gives them; defaults otherwise. CPU time = cores x the datum's wall-clock budget."""
    res = spec.get("resourceLimits") or {}
    memory, memory_from = DEFAULT_MEMORY, "default"
    if res.get("memory") not in (None, ""):
        memory, memory_from = math.ceil(parse_quantity(res["memory"], "resourceLimits.memory")), "resourceLimits.memory"
    size, size_from = DEFAULT_FILE_SIZE, "default"
    if res.get("disk") not in (None, ""):
        size, size_from = math.ceil(parse_quantity(res["disk"], "resourceLimits.disk")), "resourceLimits.disk"
    cores, cores_from = cpu_count, ""
    if res.get("cpu") not in (None, "", 0):
        cores, cores_from = parse_quantity(res["cpu"], "resourceLimits.cpu"), "resourceLimits.cpu"
    wall, wall_from = _seconds(spec.get("datumTimeout")), "datumTimeout"
    if not wall:
        wall, wall_from = DEFAULT_CPU_WALL, ""
    cpu_from = " x ".join(filter(None, [cores_from, wall_from])) or "default"
    return Limits(memory, max(1, math.ceil(cores * wall)), size, memory_from, cpu_from, size_from)


def _seconds(text) -> float | None:
    if not text:
        return None
    return float(str(text)[:-1]) if str(text).endswith("s") else float(text)


def _size(n: int) -> str:
    for unit, div in (("GiB", GiB), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.3g} {unit}"
    return f"{n} bytes"


_OOM = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory", "Unable to allocate")


def explain_exit(rc: int, stderr_tail: list[str], limits: Limits) -> str | None:
    """Why a datum died when a limit did it, in words (None when no limit is to blame).
    rc is the exit status (bwrap and sh report a signal N as 128+N) or -N for a signal."""
    sig = -rc if rc < 0 else rc - 128 if rc > 128 else 0
    text = "\n".join(stderr_tail)
    if sig == signal.SIGXFSZ or "File too large" in text:
        return (f"a file outgrew the datum's file size limit of {_size(limits.file_size)} "
                f"({limits.file_size_from}; raise resourceLimits.disk)")
    if sig == signal.SIGXCPU:
        return (f"the datum used up its CPU time limit of {limits.cpu_seconds}s "
                f"({limits.cpu_from}; raise resourceLimits.cpu or datumTimeout)")
    if any(marker in text for marker in _OOM):
        return (f"the datum ran out of memory under its limit of {_size(limits.memory)} per process "
                f"({limits.memory_from}; raise resourceLimits.memory)")
    return None


# -- environment --------------------------------------------------------------------------------
def datum_env(base: dict[str, str], transform_env: dict, pachyderm: dict[str, str],
              services: dict[str, str]) -> dict[str, str]:
    """The whole environment of a datum, built up from nothing: the image's basics (base),
    the spec's `transform.env`, the services the engine runs for it (CLAMD_ADDRESS) and
    Pachyderm's own variables, later ones winning. Nothing of the engine's environment
    (PACHMEDIA_S3_SECRET_KEY, AWS_*, ...) gets in unless the spec names it."""
    env = dict(base)
    env.update({str(k): str(v) for k, v in (transform_env or {}).items()})
    env.update(services)
    env.update(pachyderm)
    return env


def image_env(python_bin: str, app: str, scratch: str, run: str) -> dict[str, str]:
    """The basics an image's environment gives a stage (python:3.11-slim + images/*/Dockerfile)."""
    return {"PATH": os.pathsep.join([python_bin, "/usr/local/bin", "/usr/bin", "/bin"]), "HOME": scratch,
            "TMPDIR": scratch, "LANG": "C.UTF-8", "PYTHONPATH": app, "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1", "PACHMEDIA_PROGRESS": f"{run}/progress"}


def socket_binds(services: dict[str, str]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Services' addresses as the sandbox sees them, and the Unix sockets to bind in.
    The sandbox has no network: a TCP address cannot be reached from it."""
    env, binds = {}, []
    for name, address in services.items():
        if address.startswith("unix://"):
            inside = f"{SOCKETS}/{name.lower()}.sock"
            binds.append((address[len("unix://"):], inside))
            env[name] = "unix://" + inside
        else:
            raise SandboxError(f"{name}={address}: a datum's sandbox has no network, so only a Unix socket "
                               f"reaches it; give a unix:///path address (PACHMEDIA_CLAMD_ADDRESS for clamd) "
                               f"or run datums without the sandbox (PACHMEDIA_SANDBOX=folder)")
    return env, binds


# -- the bwrap command --------------------------------------------------------------------------
@dataclass(frozen=True)
class HostLayout:
    """What of this host a datum sees, read-only: system dirs (a symlink target or None for
    a directory), /etc entries, python prefixes (venv and base), and (host, inside) pairs
    for the project's files that images/* copy to /app."""
    system: tuple[tuple[str, str | None], ...]
    etc: tuple[str, ...]
    python: tuple[str, ...]
    app: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TryDirs:
    """One try's folder on the host: pfs/<input>/..., pfs/out, tmp/ (scratch), run/ (progress)
    and the passwd/group files written for the sandbox user."""
    root: Path

    @property
    def pfs(self) -> Path:
        return self.root / "pfs"

    @property
    def scratch(self) -> Path:
        return self.root / "tmp"

    @property
    def run(self) -> Path:
        return self.root / "run"


def passwd_lines(uid: int = SANDBOX_UID) -> tuple[str, str]:
    return (f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\npachmedia:x:{uid}:{uid}::{SCRATCH}:/usr/sbin/nologin\n"
            f"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            f"root:x:0:\npachmedia:x:{uid}:\nnogroup:x:65534:\n")


def bwrap_argv(host: HostLayout, dirs: TryDirs, cmd: list[str], *, cwd: str = APP,
               sockets: list[tuple[str, str]] = (), files: list[tuple[str, str]] = (), out: bool = True,
               bwrap: str = "bwrap") -> list[str]:
    """The bwrap command line that runs cmd (as written in the spec) in a datum's sandbox.
    The environment is the one bwrap is started with (already allow-listed). `files` are
    bound read-only; without `out` (s3Out: outputs go through S3) there is no /pfs/out."""
    a = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
         "--unshare-cgroup", "--disable-userns", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
         "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--hostname", "datum"]
    for path, target in host.system:
        a += ["--symlink", target, path] if target is not None else ["--ro-bind", path, path]
    for name in host.etc:
        a += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    a += ["--ro-bind", str(dirs.root / "passwd"), "/etc/passwd", "--ro-bind", str(dirs.root / "group"), "/etc/group"]
    # the private /tmp first: a venv or project under /tmp is bound over it, not hidden by it
    a += ["--bind", str(dirs.scratch), SCRATCH]
    for prefix in host.python:
        a += ["--ro-bind", prefix, prefix]
    for src, inside in host.app:
        a += ["--ro-bind", src, inside]
    a += ["--proc", "/proc", "--dev", "/dev", "--ro-bind", str(dirs.pfs), PFS]
    if out:
        a += ["--bind", str(dirs.pfs / "out"), f"{PFS}/out"]
    a += ["--bind", str(dirs.run), RUN]
    for src, inside in sockets:
        a += ["--bind", src, inside]
    for src, inside in files:
        a += ["--ro-bind", src, inside]
    return a + ["--chdir", cwd, "--", *cmd]


# -- this host (I/O) ----------------------------------------------------------------------------
def host_layout(project_root: Path) -> HostLayout:
    system = []
    for path in SYSTEM:
        if os.path.islink(path):
            system.append((path, os.readlink(path)))
        elif os.path.isdir(path):
            system.append((path, None))
    etc = tuple(name for name in ETC if os.path.exists(f"/etc/{name}"))
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
    python = tuple(sorted(p for p in prefixes if not any(p == s or p.startswith(s + "/") for s, _ in system)))
    app = tuple((str(project_root / rel), f"{APP}/{rel}") for rel in ("stages", "specs/records")
                if (project_root / rel).is_dir())
    return HostLayout(tuple(system), etc, python, app)


def python_bin() -> str:
    """The venv's bin folder: `python3` in a spec's cmd finds this venv's python first."""
    return str(Path(sys.prefix) / "bin")


def lay_out(dirs: TryDirs) -> None:
    """The try's own folders and files besides pfs/ (made by the runner)."""
    for d in (dirs.scratch, dirs.run):
        d.mkdir(parents=True, exist_ok=True)
    passwd, group = passwd_lines()
    (dirs.root / "passwd").write_text(passwd)
    (dirs.root / "group").write_text(group)


@functools.cache
def availability(bwrap: str | None = None) -> str | None:
    """None when bwrap can make a datum's namespaces here, else why not (one line)."""
    exe = bwrap or shutil.which("bwrap")
    if not exe:
        return "bwrap is not installed (Debian: apt-get install bubblewrap)"
    probe = [exe, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--disable-userns",
             "--uid", str(SANDBOX_UID), "--cap-drop", "ALL", "--die-with-parent", "--new-session",
             "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "true"]
    try:
        r = subprocess.run(probe, capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bwrap cannot run: {e}"
    if r.returncode != 0:
        said = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        return f"{said} (no unprivileged user namespaces here?)"
    return None


def choose_mode(environ: dict[str, str] | None = None) -> tuple[str, str | None]:
    """("bwrap", None) or ("folder", why) from PACHMEDIA_SANDBOX: auto (the default: bwrap
    where it works), bwrap (required: an error where it cannot run) or folder (no namespaces)."""
    wanted = (environ if environ is not None else os.environ).get("PACHMEDIA_SANDBOX") or "auto"
    if wanted not in MODES:
        raise SandboxError(f"PACHMEDIA_SANDBOX={wanted!r}: use one of {', '.join(MODES)}")
    if wanted == "folder":
        return "folder", "PACHMEDIA_SANDBOX=folder"
    why = availability()
    if why is None:
        return "bwrap", None
    if wanted == "bwrap":
        raise SandboxError(f"PACHMEDIA_SANDBOX=bwrap but the datum sandbox cannot run here: {why}")
    return "folder", why

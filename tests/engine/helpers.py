"""Small pipelines (plain sh) for testing the engine's semantics without media."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipelines.engine import Engine


def sh_spec(name: str, input: dict, script: str, **extra) -> dict:
    spec = {"pipeline": {"name": name}, "transform": {"cmd": ["sh", "-c", script]}, "input": input,
            "datumTries": 1}
    spec.update(extra)
    return spec


def pfs(repo: str, glob: str, **kw) -> dict:
    return {"pfs": {"repo": repo, "glob": glob, **kw}}


def new_engine(tmp_path: Path, *repos: str) -> Engine:
    e = Engine(tmp_path / "home", specs_dir=tmp_path / "no-specs", init=False)
    for r in repos:
        e.store.create_repo(r)
    return e


def put(e: Engine, repo: str, files: dict[str, bytes], tmp: Path, deletes=()) -> str:
    tmp.mkdir(parents=True, exist_ok=True)
    items = []
    for i, (path, data) in enumerate(files.items()):
        src = tmp / f"src-{len(list(tmp.iterdir()))}-{i}"
        src.write_bytes(data)
        items.append((path, src))
    return e.put_files(repo, "master", items, deletes=deletes).id


def tree(e: Engine, repo: str, ref: str = "master") -> dict[str, bytes]:
    c = e.resolve(repo, ref)
    out = {}
    for f in e.store.files(repo, c.id):
        with e.store.objects.open(f.hash) as fh:
            out[f.path] = fh.read()
    return out


def counts(job) -> tuple[int, int, int]:
    c = job.counts
    return c.get("SUCCESS", 0), c.get("SKIPPED", 0), c.get("FAILED", 0)


def dump(obj) -> str:
    return json.dumps(obj, indent=1)


def start_cli(home: Path, *args: str, stderr=subprocess.PIPE, **kw) -> subprocess.Popen:
    """`pachmedia --home HOME ARGS...` as a separate process (to be killed, interrupted or waited on)."""
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "--home", str(home), *args],
                            stdout=subprocess.PIPE, stderr=stderr, text=True, **kw)


# A datum runs in its sandbox and cannot write to the test's folders: tests count runs by
# what datums print (their logs). Tests whose datums must keep state on the host between
# tries or runs (a marker file) run them without namespaces: PACHMEDIA_SANDBOX=folder.
def logged(home: Path, pipeline: str, word: str) -> list[str]:
    """The lines containing `word` that a pipeline's datums printed, over all its jobs (not
    the engine's `--- try N/M (mode): cmd` lines)."""
    return [line for log in sorted((Path(home) / "logs" / pipeline).glob("*/*.log"))
            for line in log.read_text(errors="replace").splitlines() if word in line and not line.startswith("--- try")]


def datum_processes(datum_id: str) -> list[int]:
    """Live processes carrying PACH_DATUM_ID=datum_id (the datum and all it started, in or
    out of its sandbox): what must be gone once a datum is killed."""
    found = []
    want = f"PACH_DATUM_ID={datum_id}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if want in env and state not in ("Z", "X"):
            found.append(int(entry))
    return found

"""debug datum pipeline@job DATUM — lay out that datum's /pfs in a folder (inputs
linked read-only, out empty), print the exact command and environment, and with
--run run it there: a stage author iterates without a job."""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from pipelines.errors import UsageError
from pipelines.pps.runner import command_for, environment, rewrite_pfs
from pipelines.cli.base import Command
from pipelines.cli.fmt import engine, job_ref

MARKER = ".pachmedia-debug-datum"  # what a folder this command made holds: only such a folder is emptied


def check_folder(sandbox: Path) -> None:
    """Laying a datum out empties its folder: refuse any existing path this command did not make."""
    if sandbox.is_symlink() or (sandbox.exists() and not (sandbox / MARKER).is_file()):
        raise UsageError(f"--dir {sandbox}: that path exists and was not made by `debug datum` (no {MARKER} in "
                         "it); laying a datum out empties its folder, so give a path that does not exist yet")


def debug_datum(args) -> int:
    with engine(args) as e:
        pipeline, job = job_ref(e, args.target, verb="debug datum", need_job=True)
        job_id = job.id  # the full id, whatever prefix was given
        ex = e.executor()
        spec, d = ex.find_datum(pipeline, job_id, args.datum)
        sandbox = Path(args.dir or f"debug-{pipeline}-{d.id[:12]}").absolute()
        run = ex.datum_run(pipeline, job_id, spec, d, sandbox, e.services.env_for(spec["transform"]) if args.run else {})
        check_folder(sandbox)
        pfs = ex.lay_out(run)
        (sandbox / MARKER).write_text(f"datum {d.id} of {pipeline}@{job_id}\n")
        for dest, _ in run.mounts:
            os.chmod(pfs / dest, 0o444)
        cmd = command_for(spec["transform"], pfs)
        env = environment(run, pfs, job_id)
        shown = {k: v for k, v in env.items() if os.environ.get(k) != v}
        stdin = "\n".join(rewrite_pfs(l, pfs) for l in spec["transform"].get("stdin") or [])
        print(f"# datum {d.id} of {pipeline}@{job_id}, laid out in {sandbox}")
        print("# inputs (read-only): " + ", ".join(dest for dest, _ in run.mounts))
        print(f"cd {shlex.quote(str(sandbox))}")
        print(" ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(shown.items())) + " \\")
        print("  " + shlex.join(cmd) + (f" <<'EOF'\n{stdin}\nEOF" if stdin else ""))
        if not args.run:
            return 0
        rc = subprocess.run(cmd, cwd=sandbox, env=env, input=stdin or None, text=True).returncode
        outputs = sorted(p.relative_to(pfs / "out").as_posix() for p in (pfs / "out").rglob("*") if p.is_file())
        print(f"# exit status {rc}; {len(outputs)} output file(s) in {pfs / 'out'}")
        return rc


def _args(p) -> None:
    p.add_argument("target", metavar="pipeline@job")
    p.add_argument("datum", help="datum id (or a unique prefix)")
    p.add_argument("--dir", help="where to lay it out (default ./debug-<pipeline>-<datum>)")
    p.add_argument("--run", action="store_true", help="run it there and exit with its status")


COMMANDS = [Command("debug", "datum", "Lay out one datum's /pfs and print (or --run) its exact command.", _args,
                    debug_datum)]

"""debug datum pipeline@job DATUM — lay out that datum's /pfs in a folder (inputs
copied read-only, out empty), print the exact command and environment, and with
--run run it there, in the same sandbox a job runs it in: a stage author iterates without a job."""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from pipelines.errors import UsageError
from pipelines.pps.runner import launch, sandbox_mode
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
        dirs = ex.lay_out(run)
        (sandbox / MARKER).write_text(f"datum {d.id} of {pipeline}@{job_id}\n")
        for dest, _ in run.mounts:
            os.chmod(dirs.pfs / dest, 0o444)
        how = launch(run, dirs, job_id, sandbox_mode())
        print(f"# datum {d.id} of {pipeline}@{job_id}, laid out in {sandbox}")
        print("# inputs (read-only): " + ", ".join(dest for dest, _ in run.mounts))
        if how.mode == "bwrap":
            print(f"# in the datum sandbox (bwrap): /pfs is {dirs.pfs}, no network, only this environment")
        print(f"cd {shlex.quote(str(how.cwd))}")
        print("env -i " + " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(how.env.items())) + " \\")
        print("  " + shlex.join(how.wrapper) + " \\")
        print("  " + shlex.join(how.cmd) + (f" <<'EOF'\n{how.stdin}\nEOF" if how.stdin else ""))
        if not args.run:
            return 0
        rc = subprocess.run(how.argv, cwd=how.cwd, env=how.env, input=how.stdin, text=True).returncode
        out = dirs.pfs / "out"
        outputs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        print(f"# exit status {rc}; {len(outputs)} output file(s) in {out}")
        return rc


def _args(p) -> None:
    p.add_argument("target", metavar="pipeline@job")
    p.add_argument("datum", help="datum id (or a unique prefix)")
    p.add_argument("--dir", help="where to lay it out (default ./debug-<pipeline>-<datum>)")
    p.add_argument("--run", action="store_true", help="run it there and exit with its status")


COMMANDS = [Command("debug", "datum", "Lay out one datum's /pfs and print (or --run) its exact command.", _args,
                    debug_datum)]

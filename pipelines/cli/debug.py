"""debug datum pipeline@job DATUM — lay out that datum's /pfs in a folder (inputs
copied read-only, out empty), print the exact command and environment, and with
--run run it there, in the same sandbox a job runs it in: a stage author iterates without a job."""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from pipelines.errors import UsageError
from pipelines.pps.runner import launch, output_dir, sandbox_mode
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
        out = output_dir(run, dirs)
        # the gateway a job's try has, for the run only (its keys are made for it)
        s3 = run.s3.serve(sandbox / "s3", out, run.limits.file_size) if run.s3 and args.run else None
        try:
            how = launch(run, dirs, job_id, sandbox_mode(), s3=s3)
            print(f"# datum {d.id} of {pipeline}@{job_id}, laid out in {sandbox}")
            print("# inputs (read-only): " + ", ".join(dest for dest, _ in run.mounts))
            if run.s3:
                buckets = [name for name, _, _ in run.s3.inputs] + (["out"] if run.s3.out else [])
                print(f"# S3 buckets {', '.join(buckets)} at S3_ENDPOINT: "
                      + ("this run's gateway, set by its relay" if s3 else "served with --run only"))
            if how.mode == "bwrap":
                print(f"# in the datum sandbox (bwrap): /pfs is {dirs.pfs}, no network, only this environment")
            print(f"cd {shlex.quote(str(how.cwd))}")
            print("env -i " + " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(how.env.items())) + " \\")
            print("  " + shlex.join(how.wrapper) + " \\")
            print("  " + shlex.join(how.cmd) + (f" <<'EOF'\n{how.stdin}\nEOF" if how.stdin else ""))
            if not args.run:
                return 0
            rc = subprocess.run(how.argv, cwd=how.cwd, env=how.env, input=how.stdin, text=True).returncode
        finally:
            if s3:
                s3.stop()
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

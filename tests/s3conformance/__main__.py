"""`make s3-conformance S3TESTS_DIR=...`: ceph/s3-tests, with Pachyderm's selection, against
a real gateway (`pachmedia s3 serve`) over a fresh home.

The suite is not shipped (fetch ceph/s3-tests and check out SUITE_COMMIT yourself). It runs
in its own venv (made once under --out): nose is dead on Python >= 3.10, so the suite runs
under pynose (a maintained nose fork, same CLI and attribute plugin); boto 2.49 (the boto2
tests) still imports on Python 3.11. Report: <out>/report.md and report.json.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .report import attribute_filter, collected, markdown, nose_name, parse_run, select, split_by_signature
from .selection import SUITE_COMMIT

ROOT = Path(__file__).resolve().parents[2]
# What the suite's requirements.txt names, pinned to versions that work on Python 3.11;
# boto3 left at the version pip picks (what people run now), see docs/s3.md.
SUITE_PACKAGES = ("pynose==1.5.5", "boto==2.49.0", "boto3", "PyYAML", "munch", "gevent", "isodate",
                  "requests", "pytz", "httplib2", "lxml")
ACCESS, SECRET = "S3TESTSACCESSKEY", "s3tests-secret-key-not-for-production"
ALT_READER = "alt"  # the suite's second user: a read-only reader (`pachmedia s3 keys --add-reader alt`)
# Extra classes the storage-class tests cycle through (besides STANDARD): any S3 names.
STORAGE_CLASSES = "STANDARD_IA, GLACIER"

CONF = """[DEFAULT]
host = 127.0.0.1
port = {port}
is_secure = False
[fixtures]
bucket prefix = master.{{random}}
[s3 main]
display_name = Main
user_id = main
email = main@example.com
api_name = us-east-1
storage_classes = {classes}
access_key = {access}
secret_key = {secret}
[s3 alt]
display_name = {alt}
user_id = {alt}
email = {alt}@example.com
access_key = {alt_access}
secret_key = {alt_secret}
[s3 tenant]
display_name = Tenant
user_id = main
email = main@example.com
access_key = {access}
secret_key = {secret}
"""


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.s3conformance", description=__doc__.split("\n")[0])
    ap.add_argument("--suite", default=os.environ.get("S3TESTS_DIR"),
                    help="a checkout of ceph/s3-tests (default: $S3TESTS_DIR)")
    ap.add_argument("--out", default=str(ROOT / "build" / "s3-conformance"), help="venv, logs and report")
    ap.add_argument("--only", nargs="*", help="run only these test ids (pkg.module.function)")
    args = ap.parse_args()
    if not args.suite or not (Path(args.suite) / "s3tests_boto3").is_dir():
        sys.exit("s3-conformance: set S3TESTS_DIR to a checkout of ceph/s3-tests "
                 f"(at {SUITE_COMMIT[:8]}); it is not shipped with pachmedia")
    suite, out = Path(args.suite).resolve(), Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    commit = _suite_commit(suite)
    if commit and commit != SUITE_COMMIT:
        print(f"s3-conformance: warning: the suite is at {commit[:8]}, Pachyderm's set is {SUITE_COMMIT[:8]}")
    nose = _venv(out / "venv")
    with tempfile.TemporaryDirectory(prefix="pachmedia-s3conf-") as home:
        port = _free_port()
        alt_access, alt_secret = _add_reader(Path(home) / "pachmedia", ALT_READER)
        conf = Path(home) / "s3tests.conf"
        conf.write_text(CONF.format(port=port, access=ACCESS, secret=SECRET, classes=STORAGE_CLASSES, alt=ALT_READER,
                                    alt_access=alt_access, alt_secret=alt_secret))
        env = {**os.environ, "S3TEST_CONF": str(conf), "AWS_EC2_METADATA_DISABLED": "true"}
        env.pop("AWS_PROFILE", None)
        listing = subprocess.run([str(nose), "--collect-only", "-v", "-a", attribute_filter()], cwd=suite,
                                 env=env, capture_output=True, text=True)
        chosen = select(collected(listing.stderr + listing.stdout))
        if args.only:
            chosen = [i for i in chosen if i in set(args.only)] or list(args.only)
        print(f"s3-conformance: {len(chosen)} tests selected")
        gateway = _start_gateway(Path(home) / "pachmedia", port, out / "gateway.log")
        log = ""
        try:
            started = time.monotonic()
            for group, extra in split_by_signature(chosen):
                run = subprocess.run([str(nose), "-v", *map(nose_name, group)], cwd=suite, env={**env, **extra},
                                     capture_output=True, text=True)
                log += run.stderr + run.stdout
            took = time.monotonic() - started
        finally:
            gateway.terminate()
            gateway.wait(timeout=30)
    (out / "nose.log").write_text(log)
    res = parse_run(log)
    (out / "report.md").write_text(markdown(chosen, res, commit or SUITE_COMMIT, "pachmedia s3 serve"))
    (out / "report.json").write_text(json.dumps({"suite_commit": commit, "selected": chosen,
                                                 "outcome": res.outcome, "cause": res.cause,
                                                 "seconds": round(took)}, indent=1))
    passed = sum(1 for i in chosen if res.outcome.get(i) == "ok")
    print(f"s3-conformance: report in {out / 'report.md'} ({round(took)} s)")
    print(f"conformance: {passed} passed, {len(chosen) - passed} failed")
    return 0


def _suite_commit(suite: Path) -> str | None:
    r = subprocess.run(["git", "-C", str(suite), "rev-parse", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def _venv(venv: Path) -> Path:
    stamp = venv / ".s3tests-installed"
    if stamp.exists() and stamp.read_text() == "\n".join(SUITE_PACKAGES):
        return venv / "bin" / "nosetests"
    print(f"s3-conformance: making the suite's venv in {venv}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *SUITE_PACKAGES], check=True)
    stamp.write_text("\n".join(SUITE_PACKAGES))
    return venv / "bin" / "nosetests"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gateway_env(home: Path) -> dict[str, str]:
    return {**os.environ, "PACHMEDIA_HOME": str(home), "PACHMEDIA_S3_ACCESS_KEY": ACCESS,
            "PACHMEDIA_S3_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT)}


def _add_reader(home: Path, name: str) -> tuple[str, str]:
    """A reader's key pair, made as a user makes one: `pachmedia s3 keys --add-reader NAME`."""
    out = subprocess.run([sys.executable, "-m", "pipelines.cli", "s3", "keys", "--add-reader", name],
                         env=_gateway_env(home), capture_output=True, text=True, cwd=ROOT)
    pairs = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    if out.returncode or not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(pairs):
        sys.exit(f"s3-conformance: could not add reader {name}: {out.stderr.strip()}")
    return pairs["AWS_ACCESS_KEY_ID"], pairs["AWS_SECRET_ACCESS_KEY"]


def _start_gateway(home: Path, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "s3", "serve", "--port", str(port), "--no-run"],
                            env=_gateway_env(home), stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"s3-conformance: the gateway exited ({proc.returncode}); see {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    sys.exit(f"s3-conformance: the gateway did not listen on {port} within 60 s; see {log}")


if __name__ == "__main__":
    sys.exit(main())

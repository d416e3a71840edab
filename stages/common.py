"""The thin shell every stage shares: inputs from args or Pachyderm's env, settings,
progress, and the rule that only infrastructure faults fail a datum."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from stages.core import records

DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"

# The longest upload name every output path can hold: NAME_MAX (255 bytes) less what the
# stages add to a name (`<name>.json`: 5 bytes) and a margin for tools that add their own
# suffix (`.tmp`, `.part`). `put file` and the S3 gateway refuse longer names.
MAX_NAME_BYTES = 240


class StageError(RuntimeError):
    """An infrastructure or configuration fault: the datum fails (and is retried).
    Bad media never raises this; it becomes a record."""


class ContentRejected(Exception):
    """Bad media found by a stage after probe accepted it (a frame over the pixel limit,
    a still its reader cannot decode, a package that does not verify): the stage writes
    `<name>/rejected.json` (write_rejection) and the datum succeeds."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def output_name(name: str) -> str:
    """The name a stage writes an upload's outputs under: the name itself whenever it fits
    (every name `put file` and the S3 gateway accept); a longer one (a cluster's pachd
    takes any name) becomes its first bytes + "~" + 16 hex of its sha256, the same in every
    stage, so joins on it still meet and nothing hits ENAMETOOLONG."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:16]
    head = raw[:MAX_NAME_BYTES - 17].decode("utf-8", "ignore")  # never half a character
    return f"{head}~{digest}"


def content_or_record(stage: str, out: Path, name: str, make: Callable[[], Any]) -> Any:
    """Run a media stage's work; bad media found on the way (ContentRejected) becomes
    `out/<name>/rejected.json` instead of its outputs (staged() left none), and the datum
    succeeds: one upload never fails the job that holds the others."""
    try:
        return make()
    except ContentRejected as e:
        print(f"{name}: rejected ({e.reason}: {e.message})")
        return write_rejection(out, name, stage, e)


def write_rejection(out: Path, name: str, stage: str, err: ContentRejected) -> dict[str, Any]:
    """`out/<name>/rejected.json`: why this stage made nothing of an upload probe accepted."""
    rec = {"name": name, "stage": stage, "status": "rejected", "reason": err.reason,
           "message": err.message[:1000], "rejected_at": records.utc_now()}
    records.write_record(out / output_name(name) / "rejected.json", "rejection", rec)
    return rec


def add_input(parser: argparse.ArgumentParser, name: str, help: str) -> None:
    """`--<name>`, defaulting to env `<name>`: the path Pachyderm gives a datum's input."""
    parser.add_argument(f"--{name}", default=os.environ.get(name) or None,
                        help=f"{help} (default: ${name}, as Pachyderm sets it)")


def required(value: str | None, name: str) -> Path:
    if not value:
        raise StageError(f"no --{name} given and ${name} is not set")
    p = Path(value)
    if not p.exists():
        raise StageError(f"--{name} {value}: no such file or directory")
    return p


def files_under(path: Path) -> Iterator[Path]:
    """A datum's input is a file or a directory of files (glob `/` or `/*` on a folder)."""
    if path.is_file():
        yield path
        return
    for p in sorted(path.rglob("*")):
        if p.is_file():
            yield p


def default_settings(kind: str) -> dict[str, Any]:
    """Defaults for `settings/<kind>.json`, kept once in stages/defaults/."""
    return json.loads((DEFAULTS_DIR / f"{kind}.json").read_text())


def load_settings(kind: str, path: str | os.PathLike | None) -> dict[str, Any]:
    """Defaults overlaid with the committed settings file, validated against
    specs/records/settings-<kind>.schema.json. A bad settings file is a StageError."""
    settings = default_settings(kind)
    if path:
        p = Path(path)
        if p.is_dir():  # glob matched nothing below the dir: Pachyderm mounts the dir
            p = p / f"{kind}.json"
        if p.is_file():
            try:
                settings.update(records.read_json(p))
            except (OSError, ValueError) as e:
                raise StageError(f"settings {p}: not valid JSON ({e})") from e
    try:
        records.validate(f"settings-{kind}", settings)
    except records.RecordError as e:
        raise StageError(f"settings/{kind}.json: {e}") from e
    return settings


def provenance_env(*inputs: str) -> dict[str, Any]:
    """Commit ids of the inputs and the job, from Pachyderm's env (None off-cluster)."""
    return {
        "job": os.environ.get("PACH_JOB_ID"),
        "datum": os.environ.get("PACH_DATUM_ID"),
        "inputs": {name: os.environ.get(f"{name}_COMMIT") for name in inputs},
    }


class Progress:
    """Per-datum progress. The embedded engine sets PACHMEDIA_PROGRESS to a file it
    polls; elsewhere (a cluster, a terminal) a line goes to stderr every 10 %."""

    def __init__(self) -> None:
        self._file = os.environ.get("PACHMEDIA_PROGRESS")
        self._last_logged = -1

    def update(self, fraction: float, note: str = "") -> None:
        fraction = max(0.0, min(1.0, fraction))
        if self._file:
            tmp = f"{self._file}.tmp"
            with open(tmp, "w") as f:
                f.write(f"{fraction:.4f} {time.time():.3f} {note}\n")
            os.replace(tmp, self._file)
        step = int(fraction * 10)
        if step != self._last_logged:
            self._last_logged = step
            print(f"progress {fraction * 100:5.1f}% {note}".rstrip(), file=sys.stderr, flush=True)


@contextmanager
def staged(out: Path, name: str) -> Iterator[Path]:
    """Build an asset's outputs in a hidden folder next to their place and move them in
    only when the block completes: a failure never leaves half an asset in /pfs/out.
    The staging folder's name has a fixed length (any upload name fits beside it)."""
    name = output_name(name)
    staging = out / f".staging-{hashlib.sha256(name.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        final = out / name
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def media_stage_args(prog: str, description: str, settings_kind: str, argv: list[str] | None):
    """The shared command line of the stages that read one upload and its probe record:
    returns (upload path, probe record or None, settings, output folder)."""
    ap = argparse.ArgumentParser(prog=prog, description=description)
    add_input(ap, "media", "the upload")
    add_input(ap, "probe", "its probe record (probe/valid/<name>.json)")
    add_input(ap, "settings", f"{settings_kind}.json")
    ap.add_argument("--out", required=True, help="output folder (/pfs/out)")
    args = ap.parse_args(argv)
    media = required(args.media, "media")
    if not media.is_file():
        raise StageError(f"--media {media}: expected one upload file")
    settings = load_settings(settings_kind, args.settings)
    probe = None
    if args.probe and Path(args.probe).is_file():
        try:
            probe = records.read_json(args.probe)
        except (OSError, ValueError) as e:
            raise StageError(f"--probe {args.probe}: unreadable record ({e})") from None
    return media, probe, settings, Path(args.out)


def run_main(main) -> None:
    """Run a stage's main(): a StageError is one clear line and exit status 1."""
    try:
        sys.exit(main())
    except StageError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)

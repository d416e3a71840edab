"""scan: every upload streamed to clamd; only a complete stream answered OK is clean.

`python -m stages.scan --media PATH --settings scan.json --out DIR` writes
`DIR/clean|infected|unscanned/<name>.json`. clamd's address comes from
`CLAMD_ADDRESS` (unix:///path or tcp://host:3310). If clamd cannot be reached at all
the datum fails (exit 1, nothing written) and is retried; everything else about a
file (too large, a broken stream, an encrypted archive) is an `unscanned` verdict.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from stages.core import records
from stages.core.verdicts import decide_verdict
from stages.io.clamd_client import Clamd, ClamdUnavailable, StreamResult
from stages.common import MAX_NAME_BYTES, StageError, add_input, files_under, load_settings, output_name, required, \
    run_main


def name_verdict(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A clean upload whose name no output path can hold (over MAX_NAME_BYTES: `put file`
    and the gateway refuse those, a cluster's pachd does not) goes no further: unscanned,
    saying why, so it is a record in the catalog instead of a failed datum downstream (pure)."""
    size = len(name.encode("utf-8", "surrogateescape"))
    if size <= MAX_NAME_BYTES or fields["verdict"] != "clean":
        return fields
    return {"verdict": "unscanned", "reason": "name_too_long",
            "message": f"ClamAV found nothing, but its name is {size} bytes and uploads are limited to "
                       f"{MAX_NAME_BYTES} bytes so that every output named after them fits the filesystem; "
                       "rename it and upload it again"}


def scan_file(path: Path, clamd: Clamd, settings: dict, engine: str) -> dict[str, Any]:
    size = path.stat().st_size
    if size > settings["max_bytes"]:
        result = StreamResult(None, None, records.sha256_file(path), 0)
    else:
        result = clamd.instream(path, chunk=settings["chunk_bytes"])
    fields = name_verdict(path.name, decide_verdict(result.reply, result.error, size, settings["max_bytes"],
                                                    result.sent))
    engine_version, _, db = engine.partition("/")
    return {"name": path.name, "size": size, "sha256": result.sha256, "scanner": "clamd",
            "engine": engine_version, "database": db or "unknown", "reply": result.reply or "",
            "scanned_at": records.utc_now(), **fields}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stages.scan", description=__doc__.splitlines()[0])
    add_input(ap, "media", "the upload (a file, or a folder of uploads)")
    add_input(ap, "settings", "scan.json")
    ap.add_argument("--out", required=True, help="output folder (/pfs/out)")
    ap.add_argument("--clamd", default=os.environ.get("CLAMD_ADDRESS"), help="clamd address (default $CLAMD_ADDRESS)")
    args = ap.parse_args(argv)
    media = required(args.media, "media")
    settings = load_settings("scan", args.settings)
    if not args.clamd:
        raise StageError("no clamd address: set CLAMD_ADDRESS (unix:///path or tcp://host:3310) or --clamd")
    try:
        clamd = Clamd(args.clamd, timeout=settings["timeout_s"])
        engine = clamd.version()
        for path in files_under(media):
            rec = scan_file(path, clamd, settings, engine)
            records.write_record(Path(args.out) / rec["verdict"] / f"{output_name(path.name)}.json", "scan", rec)
            print(f"{path.name}: {rec['verdict']}" + (f" ({rec.get('signature') or rec.get('reason')})"
                                                      if rec["verdict"] != "clean" else ""))
    except (ClamdUnavailable, ValueError) as e:
        raise StageError(str(e)) from None
    return 0


if __name__ == "__main__":
    run_main(main)

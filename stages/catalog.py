"""catalog: one record per asset, joining what scan, probe, preview, transcode and labels
wrote (outer join: an infected or rejected upload still gets its record).

`python -m stages.catalog --out DIR` with `--scan/--probe/--preview/--transcode/--labels`
defaulting to Pachyderm's env; writes `OUT/<name>.json` (kind "catalog").
The core, `build_record`, takes the records as dicts and is pure.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from stages.core import records
from stages.common import StageError, add_input, output_name, run_main

INPUTS = ("scan", "probe", "preview", "transcode", "labels")


def _pick(d: dict | None, *keys: str) -> dict:
    return {k: d[k] for k in keys if d and d.get(k) is not None}


def rejection_of(package: dict | None, labels: dict | None) -> dict | None:
    """transcode's or labels' rejected.json (bad media found after probe accepted it), if either wrote one."""
    return next((r for r in (package, labels) if r and r.get("status") == "rejected"), None)


def status_of(scan: dict | None, probe: dict | None, package: dict | None, labels: dict | None) -> str:
    if scan is None:
        return "pending"
    if scan.get("verdict") != "clean":
        return scan.get("verdict", "unscanned")
    if probe is None:
        return "pending"
    if probe.get("status") in ("rejected", "sidecar"):  # sidecar: captions of another upload, not an asset
        return probe["status"]
    if rejection_of(package, labels):
        return "rejected"
    return "ready" if package is not None and labels is not None else "processing"


def _streams(probe: dict, kind: str) -> list[dict]:
    """The streams of a kind the other stages use: the probe's selection (its main track
    first), or every one of that kind for a record that has no selection (rejected)."""
    streams = [s for s in probe.get("streams") or [] if s.get("codec_type") == kind]
    sel = probe.get("selected")
    if not isinstance(sel, dict):
        return streams
    by_index = {s.get("index"): s for s in streams}
    main = sel.get(kind)
    chosen = [main] if main is not None else []
    if kind == "audio":
        chosen += [i for i in sel.get("audio_tracks") or [] if i != main]
    return [by_index[i] for i in chosen if i in by_index]


def build_record(name: str, scan: dict | None, probe: dict | None, package: dict | None,
                 labels: dict | None, sources: list[dict], commits: dict[str, str | None],
                 job: str | None, now: str, preview: dict | None = None) -> dict[str, Any]:
    rec: dict[str, Any] = {"name": name, "status": status_of(scan, probe, package, labels), "cataloged_at": now}
    if rejection := rejection_of(package, labels):
        rec["rejection"] = _pick(rejection, "stage", "reason", "message")
        package, labels = (None if r and r.get("status") == "rejected" else r for r in (package, labels))
    if scan:
        rec["scan"] = _pick(scan, "verdict", "signature", "reason", "message", "sha256", "size", "engine", "database")
    if probe:
        p = _pick(probe, "status", "reason", "message", "kind", "duration", "bitrate", "size", "cues")
        container = probe.get("container")
        if isinstance(container, dict):
            p["container"] = container.get("demuxer") or container.get("format_name")
        elif container:
            p["container"] = container
        video, audio = _streams(probe, "video"), _streams(probe, "audio")
        if video:
            p["video"] = _pick(video[0], "codec_name", "width", "height", "rotation", "fps")
        if audio:
            p["audio"] = _pick(audio[0], "codec_name", "channels", "sample_rate")
        if probe.get("left_out"):
            p["left_out"] = [_pick(x, "index", "codec_type", "codec_name", "reason", "message")
                             for x in probe["left_out"]]
        rec["probe"] = p
        rec["kind"] = probe.get("kind") or ("video" if video else "audio" if audio else "unknown")
    if package:
        base = f"{name}/"
        still = package.get("kind") == "image"
        rec["package"] = {
            "repo": "transcode",
            "hls": None if still else (package.get("hls") or {}).get("master", base + "hls/master.m3u8"),
            "dash": None if still else (package.get("dash") or {}).get("manifest", base + "dash/manifest.mpd"),
            "renditions": [_pick(r, "name", "width", "height", "bandwidth", "codecs", "playlist")
                           for r in package.get("renditions") or []],
        }
        for key in ("poster", "storyboard", "audio", "audio_tracks", "captions", "conform", "segment_seconds", "images",
                    "waveform", "peaks"):
            if package.get(key) is not None:
                rec["package"][key] = package[key]
        if package.get("exif"):
            rec["package"]["exif"] = package["exif"]
    if preview and preview.get("hls"):  # what plays until the ladder lands (the page switches then)
        rec["preview"] = {"repo": "preview", "hls": preview["hls"].get("master"),
                          "dash": (preview.get("dash") or {}).get("manifest"),
                          "renditions": [_pick(r, "name", "width", "height", "bandwidth", "codecs", "playlist")
                                         for r in preview.get("renditions") or []]}
        if preview.get("poster"):
            rec["preview"]["poster"] = preview["poster"]
    if labels:
        rec["labels"] = {"repo": "labels", "path": f"{name}/labels.json",
                         "summary": labels.get("summary") or {},
                         "scenes": len(labels.get("scenes") or [])}
    upload = next((s for s in (scan, probe) if s and s.get("sha256")), None)
    rec["provenance"] = {
        "upload": {"repo": "media", "path": f"/{name}", "sha256": upload["sha256"] if upload else None},
        "commits": commits,
        "records": sources,
        "job": job,
    }
    return rec


def _read(path: Path | None) -> dict | None:
    if path is None or not path.is_file():
        return None
    try:
        return records.read_json(path)
    except (OSError, ValueError) as e:
        raise StageError(f"{path}: unreadable record ({e})") from e


def _record_file(value: str | None, suffix: str | None) -> Path | None:
    """scan/probe inputs are record files; preview/transcode/labels are the asset's folder,
    holding its record (`suffix`) or, when the stage found the upload bad, rejected.json."""
    if not value:
        return None
    p = Path(value)
    if suffix and p.is_dir():
        return next((p / n for n in (suffix, "rejected.json") if (p / n).is_file()), None)
    return p if p.exists() else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stages.catalog", description=__doc__.splitlines()[0])
    for name in INPUTS:
        add_input(ap, name, f"the asset's {name} output")
    ap.add_argument("--name", help="asset name (default: the join key Pachyderm sets)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    scan_p, probe_p = _record_file(args.scan, None), _record_file(args.probe, None)
    pkg_p, labels_p = _record_file(args.transcode, "package.json"), _record_file(args.labels, "labels.json")
    preview_p = _record_file(args.preview, "package.json")
    name = args.name or next((os.environ.get(f"PACH_DATUM_{i}_JOIN_ON") for i in INPUTS
                              if os.environ.get(f"PACH_DATUM_{i}_JOIN_ON")), None)
    if not name:
        for p, strip in ((scan_p, ".json"), (probe_p, ".json")):
            if p:
                name = p.name[: -len(strip)]
                break
        else:
            for v in (args.preview, args.transcode, args.labels):
                if v:
                    name = Path(v).name
                    break
    if not name:
        raise StageError("no input names an asset: give --scan, --probe, --preview, --transcode or --labels")
    sources = [{"repo": repo, "path": str(p), "sha256": records.sha256_file(p)}
               for repo, p in (("scan", scan_p), ("probe", probe_p), ("preview", preview_p), ("transcode", pkg_p),
                               ("labels", labels_p)) if p]
    for s in sources:  # paths as they are in the repo, not in this datum's sandbox
        s["path"] = "/" + s["path"].split(f"/{s['repo']}/", 1)[-1]
    read = [_read(p) for p in (scan_p, probe_p, pkg_p, labels_p)]
    # the join key is output_name(upload name); the records hold the name itself
    name = next((r["name"] for r in read if r and r.get("name")), name)
    rec = build_record(name, *read, sources, {i: os.environ.get(f"{i}_COMMIT") for i in INPUTS},
                       os.environ.get("PACH_JOB_ID"), records.utc_now(), _read(preview_p))
    records.write_record(Path(args.out) / f"{output_name(name)}.json", "catalog", rec)
    return 0


if __name__ == "__main__":
    run_main(main)

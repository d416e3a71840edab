"""What a package's manifests name, and the check that runs before a transcode datum
may succeed: every file a manifest names exists, every rendition decodes with the same
safe flags as uploads, and its duration matches the source within tolerance."""
from __future__ import annotations

import math
import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from . import media_io

_URI_ATTR = re.compile(r'URI="([^"]+)"')
_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


class PackageInvalid(Exception):
    """The package is not publishable; the message says why."""


def hls_uris(playlist: Path) -> list[str]:
    """URIs a playlist names (media lines and URI="..." attributes), in order."""
    uris = []
    for line in playlist.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            uris += _URI_ATTR.findall(line)
        else:
            uris.append(line)
    return uris


def iso_duration(text: str) -> float:
    """`PT1H2M3.5S` -> seconds."""
    m = re.fullmatch(r"P(?:\d+D)?T?(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?", text or "")
    if not m:
        raise PackageInvalid(f"MPD duration {text!r} is not an ISO 8601 duration")
    h, mi, s = (float(x) if x else 0.0 for x in m.groups())
    return h * 3600 + mi * 60 + s


def dash_files(mpd: Path) -> dict[str, list[str]]:
    """Representation id -> [init, segment, ...] file names the MPD names."""
    root = ET.parse(mpd).getroot()
    total = iso_duration(root.get("mediaPresentationDuration", ""))
    out: dict[str, list[str]] = {}
    for rep in root.iter(f"{{{_NS['d']}}}Representation"):
        rid = rep.get("id")
        tpl = rep.find("d:SegmentTemplate", _NS)
        if tpl is None:
            raise PackageInvalid(f"representation {rid} has no SegmentTemplate")
        seg = int(tpl.get("duration")) / int(tpl.get("timescale", "1"))
        count = max(1, math.ceil(total / seg - 1e-6))
        start = int(tpl.get("startNumber", "1"))
        fill = lambda t, n=None: re.sub(r"\$Number%0(\d+)d\$", lambda m: str(n).zfill(int(m.group(1))),
                                        t.replace("$RepresentationID$", rid)).replace("$Number$", str(n))
        out[rid] = [fill(tpl.get("initialization"))] + [fill(tpl.get("media"), start + i) for i in range(count)]
    return out


def check_package(pkg: Path, expect_duration: float, tolerance: float, kinds: dict[str, str]) -> dict:
    """Raise PackageInvalid unless the package under pkg/ (hls/, dash/) is complete and
    every representation decodes. kinds: representation id -> "video" | "audio"."""
    mpd = pkg / "dash" / "manifest.mpd"
    master = pkg / "hls" / "master.m3u8"
    for p in (mpd, master):
        if not p.is_file():
            raise PackageInvalid(f"{p.relative_to(pkg)} is missing")
    reps = dash_files(mpd)
    for rid, names in reps.items():
        for n in names:
            if not (pkg / "dash" / n).is_file():
                raise PackageInvalid(f"manifest.mpd names dash/{n}, which does not exist")
    for media in hls_uris(master):
        playlist = pkg / "hls" / media
        if not playlist.is_file():
            raise PackageInvalid(f"master.m3u8 names hls/{media}, which does not exist")
        for uri in hls_uris(playlist):
            if not (playlist.parent / uri).resolve().is_file():
                raise PackageInvalid(f"hls/{media} names {uri}, which does not exist")
    durations = {}
    for rid, names in reps.items():
        durations[rid] = _check_representation(pkg / "dash", names, expect_duration, tolerance,
                                               kinds.get(rid, "video"), rid)
    return {"representations": len(reps), "durations": durations}


def _check_representation(folder: Path, names: list[str], expect: float, tol: float, kind: str, rid: str) -> float:
    """init + segments form a fragmented MP4: probe it and decode a little of it."""
    with tempfile.NamedTemporaryFile(suffix=".mp4", dir=folder.parent.parent) as joined:
        for n in names:
            joined.write((folder / n).read_bytes())
        joined.flush()
        ff, complaint = media_io.probe(joined.name)
        if ff is None:
            raise PackageInvalid(f"representation {rid} does not parse: {complaint[-200:]}")
        streams = [s for s in ff.get("streams", []) if s.get("codec_type") == kind]
        if not streams:
            raise PackageInvalid(f"representation {rid} has no {kind} stream")
        dur = float(ff["format"].get("duration") or streams[0].get("duration") or 0)
        if abs(dur - expect) > tol:
            raise PackageInvalid(f"representation {rid} lasts {dur:.2f}s; the source lasts {expect:.2f}s")
        # spot-check: the first and the last two seconds decode without an error
        for seek in ([], ["-sseof", "-2"]):
            args = [media_io.FFMPEG, "-nostdin", "-v", "error", "-xerror", *seek,
                    *media_io.ffmpeg_input_args(joined.name, "mov"),
                    "-map", "0:v:0" if kind == "video" else "0:a:0", "-t", "2", "-f", "null", "-"]
            rc, _, err = media_io.run_tool(args, 300)
            if rc != 0:
                where = "at the end" if seek else "at the start"
                raise PackageInvalid(f"representation {rid} does not decode {where}: "
                                     f"{(err.strip().splitlines() or ['decoder error'])[-1]}")
        return round(dur, 3)

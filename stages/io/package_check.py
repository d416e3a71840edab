"""What a package's manifests name, and the check that runs before a transcode datum
may succeed: every file a manifest names exists, every rendition decodes with the same
safe flags as uploads, and its duration matches the source within tolerance."""
from __future__ import annotations

import math
import re
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stages.core.captions import read_webvtt
from stages.io import media_io

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


def dash_files(mpd: Path) -> dict[str, dict]:
    """Representation id -> {"mime": "video/mp4", "files": [init, segment, ...]} as the MPD names them."""
    root = ET.parse(mpd).getroot()
    total = iso_duration(root.get("mediaPresentationDuration", ""))
    out: dict[str, dict] = {}
    for aset in root.iter(f"{{{_NS['d']}}}AdaptationSet"):
        for rep in aset.findall("d:Representation", _NS):
            rid = rep.get("id")
            mime = rep.get("mimeType") or aset.get("mimeType") or "video/mp4"
            tpl = rep.find("d:SegmentTemplate", _NS)
            base = rep.find("d:BaseURL", _NS)
            if tpl is None and base is not None and mime == "text/vtt":  # a caption track: one whole file
                out[rid] = {"mime": mime, "files": [(base.text or "").strip()]}
                continue
            if tpl is None:
                raise PackageInvalid(f"representation {rid} has no SegmentTemplate")
            seg = int(tpl.get("duration")) / int(tpl.get("timescale", "1"))
            count = max(1, math.ceil(total / seg - 1e-6))
            start = int(tpl.get("startNumber", "1"))
            fill = lambda t, n=None: re.sub(r"\$Number%0(\d+)d\$", lambda m: str(n).zfill(int(m.group(1))),
                                            t.replace("$RepresentationID$", rid)).replace("$Number$", str(n))
            out[rid] = {"mime": mime, "files": [fill(tpl.get("initialization"))]
                        + [fill(tpl.get("media"), start + i) for i in range(count)]}
    return out


def check_package(pkg: Path, expect_duration: float, tolerance: float, *, max_pixels: int) -> dict:
    """Raise PackageInvalid unless the package under pkg/ (hls/, dash/) is complete and
    every representation decodes (MP4 and WebM representations alike), under the
    source's per-frame limit (no rendition is larger than its source)."""
    mpd = pkg / "dash" / "manifest.mpd"
    master = pkg / "hls" / "master.m3u8"
    for p in (mpd, master):
        if not p.is_file():
            raise PackageInvalid(f"{p.relative_to(pkg)} is missing")
    reps = dash_files(mpd)
    for rid, rep in reps.items():
        for n in rep["files"]:
            if not (pkg / "dash" / n).is_file():
                raise PackageInvalid(f"manifest.mpd names dash/{n}, which does not exist")
    for media in hls_uris(master):
        playlist = pkg / "hls" / media
        if not playlist.is_file():
            raise PackageInvalid(f"master.m3u8 names hls/{media}, which does not exist")
        for uri in hls_uris(playlist):
            if not (playlist.parent / uri).resolve().is_file():
                raise PackageInvalid(f"hls/{media} names {uri}, which does not exist")
    texts = {rid: rep for rid, rep in reps.items() if rep["mime"] == "text/vtt"}
    for rid, rep in texts.items():
        _check_captions(pkg / "dash" / rep["files"][0], expect_duration + tolerance, rid)
    with tempfile.TemporaryDirectory(dir=pkg.parent) as tmp, ThreadPoolExecutor(max_workers=2) as pool:
        joined = {rid: (_join(pkg / "dash", rep["files"], Path(tmp) / f"rep-{rid}"), _kind(rep["mime"]))
                  for rid, rep in reps.items() if rid not in texts}
        # the probes and the two decode spot-checks are independent: run them side by side
        probes = {rid: pool.submit(_check_duration, *item, expect_duration, tolerance, rid, max_pixels)
                  for rid, item in joined.items()}
        spots = {"at the start": [], "at the end": ["-sseof", "-2"]}
        decodes = {where: pool.submit(_decodes, list(joined.items()), seek, max_pixels)
                   for where, seek in spots.items()}
        durations = {rid: f.result() for rid, f in probes.items()}
        for where, f in decodes.items():
            if f.result() is None:
                continue
            for rid, item in joined.items():  # one by one, to name the culprit
                problem = _decodes([(rid, item)], spots[where], max_pixels)
                if problem:
                    raise PackageInvalid(f"representation {rid} does not decode {where}: {problem}")
    return {"representations": len(reps), "durations": durations}


def _check_captions(path: Path, end: float, rid: str) -> None:
    """A caption track parses as WebVTT and its cues start inside the presentation."""
    try:
        cues = read_webvtt(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise PackageInvalid(f"caption track {rid} is not valid WebVTT: {e}") from None
    late = [c for c in cues if c[0] > end]
    if late:
        raise PackageInvalid(f"caption track {rid} has a cue at {late[0][0]:.2f}s, after the end ({end:.2f}s)")


def _kind(mime: str) -> tuple[str, str]:
    """(stream type, demuxer) of a representation from its MIME type."""
    return ("video" if mime.startswith("video/") else "audio", "matroska" if mime.endswith("/webm") else "mov")


def _join(folder: Path, names: list[str], out: Path) -> Path:
    """init + segments form one fragmented MP4 (or WebM) that ffprobe and ffmpeg read whole."""
    with open(out, "wb") as f:
        for n in names:
            f.write((folder / n).read_bytes())
    return out


def _check_duration(path: Path, kind: tuple[str, str], expect: float, tol: float, rid: str, max_pixels: int) -> float:
    stream_type, demuxer = kind
    ff, complaint = media_io.probe_as(path, demuxer, max_pixels=max_pixels)
    if ff is None:
        raise PackageInvalid(f"representation {rid} does not parse: {complaint[-200:]}")
    streams = [s for s in ff.get("streams", []) if s.get("codec_type") == stream_type]
    if not streams:
        raise PackageInvalid(f"representation {rid} has no {stream_type} stream")
    dur = float(ff["format"].get("duration") or streams[0].get("duration") or 0) or media_io.last_packet_end(
        path, demuxer, max_pixels=max_pixels)
    if abs(dur - expect) > tol:
        raise PackageInvalid(f"representation {rid} lasts {dur:.2f}s; the source lasts {expect:.2f}s")
    return round(dur, 3)


def _decodes(reps: list[tuple[str, tuple[Path, tuple[str, str]]]], seek: list[str], max_pixels: int) -> str | None:
    """None if two seconds of each representation decode without an error."""
    args = media_io.ffmpeg_base(xerror=True)
    for _, (path, (_, demuxer)) in reps:
        args += [*seek, "-t", "2", *media_io.ffmpeg_input_args(path, demuxer, max_pixels=max_pixels)]
    for i, (_, (_, (stream_type, _))) in enumerate(reps):
        args += ["-map", f"{i}:{stream_type[0]}:0"]
    rc, _, err = media_io.run_tool(args + ["-f", "null", "-"], 300)
    return None if rc == 0 else ((err.strip().splitlines() or ["decoder error"])[-1][:200])

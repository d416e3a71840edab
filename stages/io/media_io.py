"""The one place that builds ffprobe/ffmpeg command lines for untrusted media.

A default ffprobe/ffmpeg follows what the file says: an HLS/DASH manifest or an
ffconcat script renamed `.mp4` makes it open other files (other users' uploads).
`-protocol_whitelist file`, concat `-safe 1` and `-allowed_extensions` do not stop
that; a demuxer allow-list does. So: probe with both allow-lists, then decode with the
same lists and the probed demuxer forced, always on a `file:` URL built from a path we
chose (never a URL or name taken from user data).

Every run is bounded: `-max_pixels` (the policy's per-frame limit) goes before every
input, so a decoder refuses a frame larger than the policy allows wherever it is in the
stream (a header cannot vouch for frame 1000: MJPEG, VP9 and AV1 change size mid-stream),
and every process has a deadline (run_tool, Piped).
"""
from __future__ import annotations

import os
import re
import subprocess
import threading
from collections import deque
from pathlib import Path

from stages.common import ContentRejected, StageError

FFPROBE = os.environ.get("PACHMEDIA_FFPROBE", "ffprobe")
FFMPEG = os.environ.get("PACHMEDIA_FFMPEG", "ffmpeg")

# Demuxers allowed to open an upload. Each reads only the file it is given (mov follows
# external data references only with -enable_drefs, which is off and never set here).
# Deliberately absent: hls, dash, concat, image2 (patterns), imf, mlv, vobsub, sdp/rtp,
# lavfi, devices: each opens other files or no file (tests/test_corpus_allowlists.py keeps
# the list and FFmpeg's reasons). Image formats are the single-file *_pipe demuxers.
ALLOWED_DEMUXERS: tuple[str, ...] = (
    "mov", "matroska", "mpegts", "avi", "mpeg", "dv", "asf", "flv", "mxf", "gxf", "rm",
    "mp3", "aac", "wav", "w64", "flac", "ogg", "aiff", "caf", "au", "ac3", "eac3", "dts", "amr", "wv",
    "png_pipe", "jpeg_pipe", "webp_pipe", "gif", "tiff_pipe", "bmp_pipe",
)
# Caption sidecars (clip.srt / clip.vtt beside clip.mp4): plain text formats whose demuxers
# read only the file given. Never media containers: probe records them as sidecars and
# transcode turns their cues into WebVTT it writes itself (stages/core/captions.py).
SIDECAR_DEMUXERS: tuple[str, ...] = ("srt", "webvtt")
FORMAT_WHITELIST = ",".join(ALLOWED_DEMUXERS + SIDECAR_DEMUXERS)
PROTOCOL_WHITELIST = "file"

_SAFE_INPUT = ["-protocol_whitelist", PROTOCOL_WHITELIST, "-format_whitelist", FORMAT_WHITELIST]


def file_url(path: str | os.PathLike) -> str:
    """`file:` + absolute path: a name starting with `http:` or `-` stays a file name."""
    return "file:" + str(Path(path).absolute())


def demuxer_of(format_name: str) -> str:
    """ffprobe's `format_name` ("mov,mp4,m4a,3gp,3g2,mj2") -> the name `-f` takes ("mov")."""
    name = format_name.split(",")[0]
    if name not in ALLOWED_DEMUXERS + SIDECAR_DEMUXERS:
        raise ValueError(f"demuxer {name!r} is not on the allow-list")
    return name


def _limits(max_pixels: int) -> list[str]:
    """Decoder options before an input: no frame over `max_pixels` is ever allocated."""
    if not isinstance(max_pixels, int) or max_pixels <= 0:
        raise ValueError(f"max_pixels must be a positive pixel count, not {max_pixels!r}")
    return ["-max_pixels", str(max_pixels)]


def ffprobe_cmd(path: str | os.PathLike, *extra: str, max_pixels: int, demuxer: str | None = None) -> list[str]:
    """ffprobe JSON of format and streams, allow-listed, frames held to `max_pixels`;
    `extra` adds -show_* options; `demuxer` forces one (only from the allow-list)."""
    forced = ["-f", demuxer_of(demuxer)] if demuxer else []
    return [FFPROBE, "-v", "error", "-hide_banner", *_SAFE_INPUT, *_limits(max_pixels),
            "-print_format", "json", "-show_format", "-show_streams", *extra,
            *forced, file_url(path)]


# Stills are probed with the single-file *_pipe demuxers, chosen from the file's first
# bytes: ffprobe would pick image2 by extension, which reads numbered sequences
# (a name like img%03d.jpg opens img001.jpg, img002.jpg, ...).
_MAGIC = ((b"\xff\xd8\xff", "jpeg_pipe"), (b"\x89PNG\r\n\x1a\n", "png_pipe"), (b"GIF87a", "gif"), (b"GIF89a", "gif"),
          (b"II*\0", "tiff_pipe"), (b"MM\0*", "tiff_pipe"), (b"BM", "bmp_pipe"))


def still_demuxer(path: str | os.PathLike) -> str | None:
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp_pipe"
    return next((d for magic, d in _MAGIC if head.startswith(magic)), None)


def ffmpeg_input_args(path: str | os.PathLike, demuxer: str, *, max_pixels: int, autorotate: bool = True) -> list[str]:
    """Input options for ffmpeg: allow-lists, frames held to `max_pixels`, the probed demuxer forced.
    autorotate=False hands on the frames as coded (the display rotation not applied): for
    filters that must see the coded fields (idet, bwdif) before the caller rotates."""
    rotate = [] if autorotate else ["-noautorotate"]
    return [*_SAFE_INPUT, *_limits(max_pixels), *rotate, "-f", demuxer_of(demuxer), "-i", file_url(path)]


# What a decoder logs when `-max_pixels` refuses a frame (libavutil/imgutils.c)
_REFUSED = re.compile(r"Picture size (\d+)x(\d+) exceeds specified max pixel count")


def oversized_frame(err: str) -> str | None:
    """"WxH" of the first frame a decoder refused for `-max_pixels`, from its log; None if none was."""
    m = _REFUSED.search(err)
    return f"{m[1]}x{m[2]}" if m else None


# Messages that blame the machine, not the upload
_MACHINE = ("No space left on device", "Cannot allocate memory", "Input/output error", "Read-only file system",
            "Disk quota exceeded", "Too many open files")


def machine_fault(rc: int, err: str, timed_out: bool = False) -> bool:
    """Whether a failed run says more about this machine than about the upload: a full disk,
    no memory, an I/O error, or a SIGKILL we did not send (the OOM killer). Everything else
    that stops a tool on an upload (its own error, a crash on this input, our deadline) is
    the upload's: a record, not a failed datum (retrying would fail the same way)."""
    if timed_out:
        return False
    return rc == -9 or any(m in err for m in _MACHINE)


def check_run(what: str, rc: int, err: str, *, max_pixels: int, oversized: str | None = None,
              timed_out: bool = False) -> None:
    """The verdict on a run that decoded an upload. A frame refused for `-max_pixels`
    (ffmpeg drops it and goes on: the output would silently lack it), our deadline passing,
    or ffmpeg stopping on this input: ContentRejected, a record. A machine fault: StageError,
    the datum fails and is retried."""
    oversized = oversized or oversized_frame(err)
    if oversized:
        raise ContentRejected("frame_too_large", f"{what}: a frame of {oversized} is over the per-frame limit of "
                                                 f"{max_pixels} pixels; it was not decoded")
    if rc == 0:
        return
    complaint = last_complaint(err, 3) or "no message"
    if machine_fault(rc, err, timed_out):
        raise StageError(f"{what} failed (exit {rc}): {complaint}")
    if timed_out:
        raise ContentRejected("timeout", f"{what}: {err}")
    raise ContentRejected("tool_failed", f"{what} failed (exit {rc}" +
                          (f", signal {-rc}" if rc < 0 else "") + f"): {complaint}")


def budget(duration_s: float, per_media_second: float, floor: float = 120) -> float:
    """A deadline for a run that reads a whole upload: `floor` seconds plus
    `per_media_second` of wall clock for each second of media."""
    return floor + per_media_second * max(0.0, duration_s)


def ffmpeg_base(*, progress: bool = False, loglevel: str = "error", xerror: bool = False) -> list[str]:
    """Start of every ffmpeg command line: no stdin, no banner, no stats, overwrite,
    `-loglevel error` (only problems reach stderr; `info` for filters that report there,
    e.g. ebur128), `-xerror` where any decoder error must stop the run (decode checks),
    `-progress pipe:1` for runs whose stdout is the progress channel."""
    args = [FFMPEG, "-nostdin", "-hide_banner", "-nostats", "-loglevel", loglevel, "-y"]
    if xerror:
        args.append("-xerror")
    if progress:
        args += ["-progress", "pipe:1"]
    return args


class StderrTail(threading.Thread):
    """Reads a process's stderr to its end in the background, keeping only the last
    `limit` bytes and counting lines. A process whose stdout we read (progress, raw
    frames, PCM) can then write megabytes of decoder errors without blocking on a full
    stderr pipe (64 KB), and memory stays bounded."""

    def __init__(self, stream, limit: int = 16384) -> None:
        super().__init__(daemon=True)
        self.stream, self.limit = stream, limit
        self.lines = 0
        self.oversized: str | None = None  # the first frame refused for -max_pixels, wherever it scrolled to
        self._carry = ""
        self._chunks: deque[bytes] = deque()
        self._held = 0
        self._cut = False  # bytes were dropped from the front

    def run(self) -> None:
        while chunk := self.stream.read1(65536):
            self.lines += chunk.count(b"\n")
            if self.oversized is None:
                text = chunk.decode(errors="replace")
                self.oversized = oversized_frame(self._carry + text)
                self._carry = text[-200:]
            self._chunks.append(chunk)
            self._held += len(chunk)
            while self._held - len(self._chunks[0]) >= self.limit:
                self._held -= len(self._chunks.popleft())
                self._cut = True

    def text(self) -> str:
        """The kept tail, from its first whole line."""
        data = b"".join(self._chunks)[-self.limit:]
        if (self._cut or self._held > self.limit) and b"\n" in data:
            data = data.split(b"\n", 1)[1]
        return data.decode(errors="replace")


def last_complaint(err: str, lines: int = 1) -> str:
    """ffmpeg's last real messages (not "Last message repeated n times"), each shortened,
    joined with " | "."""
    kept = [ln.strip()[:200] for ln in err.strip().splitlines()
            if ln.strip() and not ln.strip().startswith("Last message repeated")]
    return " | ".join(kept[-lines:])


class Piped:
    """An ffmpeg whose stdout we read as it runs, its stderr drained by a StderrTail, killed
    at its deadline even while the reader waits on stdout (then stdout ends, and finish()
    says it timed out). `with Piped(args, timeout=t) as p: ... p.stdout.read(n) ...;
    rc, err = p.finish()`; leaving the block early (an exception, a generator closed)
    kills the process."""

    def __init__(self, args: list[str], *, timeout: float, tail_bytes: int = 16384) -> None:
        self.timeout, self.timed_out = timeout, False
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stdout = self.proc.stdout
        self.stderr = StderrTail(self.proc.stderr, tail_bytes)
        self.stderr.start()
        self._watchdog = threading.Timer(timeout, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _expire(self) -> None:
        if self.proc.poll() is None:
            self.timed_out = True
            self.proc.kill()

    def finish(self) -> tuple[int, str]:
        """Wait for the end: (exit status, the tail of stderr); past the deadline, (-9, "timed out after Ns")."""
        rc = self.proc.wait()
        self._watchdog.cancel()
        self.stderr.join()
        if self.timed_out:
            return -9, f"timed out after {self.timeout:g}s"
        return rc, self.stderr.text()

    def check(self, what: str, max_pixels: int) -> str:
        """finish(), then check_run's verdict (ContentRejected / StageError); returns stderr's tail."""
        rc, err = self.finish()
        check_run(what, rc, err, max_pixels=max_pixels, oversized=self.stderr.oversized, timed_out=self.timed_out)
        return err

    def __enter__(self) -> "Piped":
        return self

    def __exit__(self, *exc) -> None:
        self._watchdog.cancel()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.stderr.join()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


def run_tool(args: list[str], timeout: float) -> tuple[int, str, str]:
    """Run ffprobe/ffmpeg (built by the functions above), bounded in time.
    Returns (exit status, stdout, stderr); a timeout is status -9 with a note."""
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                           errors="replace")
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        return -9, (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""), \
            f"timed out after {timeout:g}s"


def probe(path: str | os.PathLike, timeout: float, *, max_pixels: int) -> tuple[dict | None, str]:
    """ffprobe's JSON (format + streams) for an upload, or (None, ffprobe's complaint); the
    complaint beside JSON is what ffprobe logged (a frame refused for `max_pixels` is there,
    see oversized_frame). A HEIC (by its ftyp brands) is read by pillow-heif instead, in the
    same shape."""
    import json

    from stages.io import heif
    if heif.is_heic(path):
        return heif.probe(path)
    rc, out, err = run_tool(ffprobe_cmd(path, max_pixels=max_pixels), timeout)
    if rc != 0 and "[image2 @" in err and (still := still_demuxer(path)):
        rc, out, err = run_tool(ffprobe_cmd(path, max_pixels=max_pixels, demuxer=still), timeout)
    if rc != 0:
        return None, err.strip() or f"ffprobe exit status {rc}"
    try:
        data = json.loads(out or "{}")
    except ValueError:
        return None, "ffprobe printed something that is not JSON"
    if not data.get("format"):
        return None, err.strip() or "ffprobe found no container"
    return data, err.strip()


def probe_as(path: str | os.PathLike, demuxer: str, *, max_pixels: int, timeout: float = 60) -> tuple[dict | None, str]:
    """ffprobe with the demuxer forced (for files this project made, e.g. joined segments)."""
    import json
    rc, out, err = run_tool(ffprobe_cmd(path, max_pixels=max_pixels, demuxer=demuxer), timeout)
    if rc != 0:
        return None, err.strip() or f"ffprobe exit status {rc}"
    return json.loads(out or "{}"), err.strip()


def last_packet_end(path: str | os.PathLike, demuxer: str, *, max_pixels: int, timeout: float = 120) -> float:
    """End time of the last packet: the duration of a stream whose header has none (WebM segments)."""
    rc, out, _ = run_tool([FFPROBE, "-v", "error", *_SAFE_INPUT, *_limits(max_pixels),
                           "-show_entries", "packet=pts_time,duration_time",
                           "-of", "csv=p=0", "-f", demuxer_of(demuxer), file_url(path)], timeout)
    end = 0.0
    for line in out.splitlines() if rc == 0 else []:
        parts = [p for p in line.split(",") if p not in ("", "N/A")]
        try:
            end = max(end, sum(float(p) for p in parts[:2]))
        except ValueError:
            continue
    return end


def ffmpeg_version(timeout: float = 10) -> str:
    """The ffmpeg version string ("5.1.6-0+deb12u1"), or "unknown"."""
    rc, out, _ = run_tool([FFMPEG, "-version"], timeout)
    return out.split("\n", 1)[0].replace("ffmpeg version ", "").split(" ")[0] if rc == 0 else "unknown"

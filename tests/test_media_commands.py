"""Every ffmpeg the media stages start begins with media_io.ffmpeg_base (no stdin, no
banner, no stats, an explicit log level) and reads the upload only through the
allow-listed input options, every frame held to the policy's `-max_pixels`: checked on the
command lines a logging ffmpeg records."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stages.io import media_io
from tests.fixtures.media import make_audio, make_video
from tests.fixtures.stages import ROOT

pytestmark = pytest.mark.media

BASE = media_io.ffmpeg_base()[1:]  # without the binary's name


@pytest.fixture
def logged_ffmpeg(tmp_path) -> tuple[Path, Path]:
    """An `ffmpeg` that appends its argv (one line, fields split by \\x1f) to a log, then runs the real one."""
    log = tmp_path / "argv.log"
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(f"#!/bin/sh\nprintf '%s\\037' \"$@\" >> {log}\necho >> {log}\nexec {shutil.which('ffmpeg')} \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper, log


def calls(log: Path) -> list[list[str]]:
    return [line.rstrip("\x1f").split("\x1f") for line in log.read_text().splitlines() if line]


def stage(name: str, media: Path, out: Path, ffmpeg: Path) -> None:
    r = subprocess.run([sys.executable, "-m", f"stages.{name}", "--media", str(media), "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env=os.environ | {"PACHMEDIA_FFMPEG": str(ffmpeg)})
    assert r.returncode == 0, r.stderr


def test_every_ffmpeg_starts_with_the_base_and_the_safe_input(logged_ffmpeg, tmp_path):
    ffmpeg, log = logged_ffmpeg
    clip = make_video(tmp_path / "clip.mp4", seconds=2, size="320x240")
    tone = make_audio(tmp_path / "tone.flac", seconds=2)
    for name in ("probe", "transcode", "labels"):
        for media in (clip, tone):
            stage(name, media, tmp_path / f"out-{name}", ffmpeg)
    runs = [a for a in calls(log) if a != ["-version"]]
    assert len(runs) >= 10  # probe decode checks, the package, its checks, waveform, frames, loudness
    for argv in runs:
        level = argv.index("-loglevel")
        assert argv[:level] == BASE[:BASE.index("-loglevel")] and argv[level + 2] == "-y", argv
        for i in (i for i, a in enumerate(argv) if a == "-i"):
            head = argv[:i]
            if head[-3] == "-noautorotate":  # coded frames for deinterlacing: allowed, after the limits
                head = head[:-3] + head[-2:]
            assert head[-8:-4] == ["-protocol_whitelist", "file", "-format_whitelist",
                                   media_io.FORMAT_WHITELIST] and head[-2] == "-f", argv
            assert head[-4] == "-max_pixels" and int(head[-3]) > 0, argv  # every frame held to the policy
            assert argv[i + 1].startswith("file:/"), argv

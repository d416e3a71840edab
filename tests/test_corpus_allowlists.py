"""The allow-lists that decide what FFmpeg may run on an upload: media_io's demuxers (the
safety rule) and the default policy's containers and codecs (the choice). Nothing allowed
can open a file other than the upload, and every name is one this FFmpeg really has."""
from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from stages.io import media_io
from stages.common import default_settings
from stages.io.heif import DEMUXER as HEIF

POLICY = default_settings("policy")

# Demuxers that open files other than the one they are given, or read no file at all
# (devices, networks, filtergraphs), read from FFmpeg's libavformat (5.1 and master):
OPENS_OTHER_FILES = {
    "hls", "applehttp",  # hls.c: the playlist names variant playlists, segments, keys
    "dash",              # dashdec.c: the MPD names segment URLs and templates
    "concat",            # concatdec.c: an ffconcat script names any files (`-safe 1` does not stop it)
    "image2",            # img2dec.c: a name like img%03d.jpg or a glob reads a numbered sequence
    "imf",               # imfdec.c: the CPL and ASSETMAP name MXF track files beside it
    "mlv",               # mlvdec.c: opens <name>.M00 ... .M99 beside the upload
    "vobsub",            # mpeg.c: an .idx opens its .sub (or -sub_name)
    "sdp", "rtp", "rtsp", "sap",  # rtsp.c/sapdec.c: a session description names network streams
    "lavfi",             # lavfi.c (device): a filtergraph whose movie/amovie sources open any file
    "avisynth", "vapoursynth",  # scripts that open files (not built in Debian's FFmpeg; named anyway)
    "tee", "segment", "hds", "smoothstreaming", "fifo",  # muxers writing many files: never inputs
    "alsa", "jack", "pulse", "openal", "oss", "fbdev", "kmsgrab", "x11grab", "video4linux2", "v4l2",
    "libdc1394", "iec61883", "dv1394", "libcdio", "decklink",  # capture devices, not files
}
# The one allowed demuxer with a way to another file: mov follows data references (`dref`)
# only with -enable_drefs (default off since FFmpeg 3.x for this reason); media_io never sets it.
NEEDS_DEFAULT_OFF = {"mov": ("-enable_drefs", "-use_absolute_path")}
PILLOW_READ = {HEIF}  # not FFmpeg demuxers: HEIC is read by pillow-heif (stages/heif.py)


@cache
def ffmpeg_list(kind: str) -> str:
    return subprocess.run(["ffmpeg", "-hide_banner", f"-{kind}"], capture_output=True, text=True, check=True).stdout


def demuxers_here() -> set[str]:
    names = set()
    for line in ffmpeg_list("demuxers").splitlines():
        m = re.match(r"\s*D\S*\s+(\S+)\s", line)
        if m:
            names.update(m.group(1).split(","))
    return names


def decodable_codecs(kind: str) -> set[str]:
    """Codec names (as ffprobe reports codec_name) this FFmpeg decodes, of type V, A or S."""
    names = set()
    for line in ffmpeg_list("codecs").splitlines():
        m = re.match(r"\s*D.([VAS])\S*\s+(\S+)\s", line)
        if m and m.group(1) == kind:
            names.add(m.group(2))
    return names


@pytest.mark.unit
def test_no_allowed_demuxer_can_open_another_file():
    assert not set(media_io.ALLOWED_DEMUXERS) & OPENS_OTHER_FILES
    assert not set(POLICY["allowed_containers"]) & OPENS_OTHER_FILES


@pytest.mark.unit
def test_the_policy_allows_only_what_media_io_lets_ffmpeg_open():
    assert set(POLICY["allowed_containers"]) <= set(media_io.ALLOWED_DEMUXERS) | PILLOW_READ


@pytest.mark.unit
def test_media_io_never_turns_on_what_mov_keeps_off(tmp_path):
    upload = tmp_path / "clip.mov"
    args = media_io.ffprobe_cmd(upload, max_pixels=1, demuxer="mov") + media_io.ffmpeg_input_args(upload, "mov",
                                                                                                   max_pixels=1)
    assert not set(args) & set(NEEDS_DEFAULT_OFF["mov"])


@pytest.mark.media
def test_every_allowed_demuxer_exists_in_this_ffmpeg():
    missing = set(media_io.ALLOWED_DEMUXERS) - demuxers_here()
    assert not missing, f"not demuxers of this FFmpeg: {sorted(missing)}"


@pytest.mark.media
@pytest.mark.parametrize("key,kind", [("allowed_video_codecs", "V"), ("allowed_image_codecs", "V"),
                                      ("allowed_audio_codecs", "A"), ("allowed_subtitle_codecs", "S")])
def test_every_allowed_codec_decodes_here(key, kind):
    extra = {"hevc"} if key == "allowed_image_codecs" else set()  # HEIC: decoded by libheif, not FFmpeg
    missing = set(POLICY[key]) - decodable_codecs(kind) - extra
    assert not missing, f"{key}: this FFmpeg cannot decode {sorted(missing)}"


@pytest.mark.unit
def test_a_policy_cannot_widen_what_ffmpeg_may_open():
    from stages.common import StageError
    from stages.probe import check_containers
    check_containers(POLICY)
    with pytest.raises(StageError, match="hls"):
        check_containers(POLICY | {"allowed_containers": ["mov", "hls"]})


@pytest.mark.unit
def test_the_readme_table_names_every_allowed_container_and_codec():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## What each upload gets", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([^`]+)`", section))
    for key in ("allowed_containers", "allowed_video_codecs", "allowed_audio_codecs", "allowed_image_codecs",
                "allowed_subtitle_codecs"):
        missing = set(POLICY[key]) - named
        assert not missing, f"README's 'What each upload gets' does not name {key}: {sorted(missing)}"

"""HEIC stills (iPhone photos): FFmpeg 5.1 has no HEIF demuxer (its mov demuxer calls
one "moov atom not found"), so they are read by pillow-heif (libheif + libde265), chosen
by the file's first bytes, never by its name. probe() answers in ffprobe's JSON shape so
the policy, records and later stages treat a HEIC like any other still: Pillow (with
pillow-heif's opener) sizes it, decodes it (stages/io/still.py) and makes the
derivatives, EXIF and GPS left behind as for JPEG."""
from __future__ import annotations

import os
import struct

DEMUXER = "heif"  # the name probe records give the container (not an FFmpeg demuxer)
# ftyp brands of HEVC-coded HEIF: images (heic, heix), sequences (hevc, hevx), their
# multi-layer/image-set forms. The generic HEIF brands mif1/msf1 alone do not count:
# AVIF files carry them too (with avif), and pillow-heif does not read AVIF.
HEVC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}

try:
    import pillow_heif
except ImportError:  # the stage image lacks it: HEIC is refused with that reason
    pillow_heif = None
else:
    pillow_heif.register_heif_opener()


def brands(path: str | os.PathLike) -> set[bytes]:
    """Major and compatible brands of a leading ftyp box (empty if there is none)."""
    with open(path, "rb") as f:
        head = f.read(64)
    if len(head) < 16 or head[4:8] != b"ftyp":
        return set()
    size = min(struct.unpack(">I", head[:4])[0], len(head))
    return {head[8:12]} | {head[i:i + 4] for i in range(16, size - 3, 4)}


def is_heic(path: str | os.PathLike) -> bool:
    return bool(brands(path) & HEVC_BRANDS)


def probe(path: str | os.PathLike) -> tuple[dict | None, str]:
    """ffprobe-shaped JSON of a HEIC's primary image, from its header (nothing decoded),
    or (None, why not)."""
    if pillow_heif is None:
        return None, "HEIC (HEIF) images need pillow-heif, which this stage image does not have"
    try:
        heif = pillow_heif.open_heif(os.fspath(path), convert_hdr_to_8bit=False)
        if len(heif) == 0:  # item tables that leave libheif no image: a header, not a picture
            return None, "HEIC (HEIF) with no image in it"
        w, h = heif.size
        depth = heif.info.get("bit_depth", 8)
        count = len(heif)
    except (ValueError, RuntimeError, OSError, SyntaxError) as e:
        return None, f"HEIC (HEIF) that libheif cannot read: {e}"
    stream = {"index": 0, "codec_type": "video", "codec_name": "hevc", "width": w, "height": h,
              "pix_fmt": f"heif-{depth}bit", "disposition": {"attached_pic": 0}}
    return {"format": {"format_name": DEMUXER, "format_long_name": f"HEIF/HEIC image ({count} in the file)",
                       "tags": {}},
            "streams": [stream]}, ""

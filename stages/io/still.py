"""Still images: small/medium/large JPEG thumbnails and an optimized WebP, orientation
applied, EXIF read into the record and never copied into a published derivative (GPS
included: the record only says whether the original had it).

Pillow is the reader of stills for every stage: probe sizes a still by what Pillow reads
(a GIF's logical screen can say 16x16 while its frame is 2000x2000; FFmpeg reports the
screen) and decodes it once the same way, so what probe accepts opens later. Pillow opens
an upload only with the plugin of the format probe found (never sniffing: a file taken for
a JPEG must not reach, say, the EPS plugin, which runs Ghostscript), its size is checked
before anything is decoded, and what Pillow cannot read is ContentRejected (a record),
never a traceback."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from PIL import ExifTags, Image, ImageOps

from stages.io import heif  # importing it registers pillow-heif's opener: HEIC stills open like the rest
from stages.common import ContentRejected, StageError

# The Pillow plugin for each demuxer a still can come from (heif: stages/io/heif.py; mov:
# an AVIF, which FFmpeg reads as ISO-BMFF and probe_metadata calls a still by its brand)
PILLOW_FORMATS = {"jpeg_pipe": "JPEG", "png_pipe": "PNG", "webp_pipe": "WEBP", "gif": "GIF", "tiff_pipe": "TIFF",
                  "bmp_pipe": "BMP", heif.DEMUXER: "HEIF", "mov": "AVIF"}
WEBP_MAX_SIDE = 16383  # libwebp's limit per side

GPS_IFD = 0x8825
_SAFE_TAGS = {"Make", "Model", "Software", "DateTime", "DateTimeOriginal", "Orientation", "ExposureTime", "FNumber",
              "ISOSpeedRatings", "FocalLength", "LensModel", "ImageDescription", "Artist", "Copyright",
              "XResolution", "YResolution"}


def read_exif(img: Image.Image) -> dict[str, Any]:
    """Selected EXIF tags as strings, and whether GPS was present (its values are never kept)."""
    exif = img.getexif()
    tags: dict[str, str] = {}
    merged = dict(exif)
    try:
        merged.update(exif.get_ifd(ExifTags.IFD.Exif))
    except (KeyError, ValueError, TypeError):
        pass
    for tag, value in merged.items():
        name = ExifTags.TAGS.get(tag)
        if name in _SAFE_TAGS:
            tags[name] = str(value)[:200]
    return {"tags": tags, "gps_present": GPS_IFD in exif}


def expected_size(src: dict[str, Any], name: str) -> tuple[int, int]:
    """The still's size as its probe record gives it (what Pillow read at probe time)."""
    v = src.get("video") or {}
    w, h = v.get("width") or 0, v.get("height") or 0
    if w <= 0 or h <= 0:
        raise StageError(f"{name}: the probe gives no image size; was it probed valid?")
    return w, h


@contextmanager
def pillow_errors(name: str) -> Iterator[None]:
    """What Pillow raises on a file it cannot decode (a truncated or corrupt still, whatever
    exception its plugin chose) -> ContentRejected. An OSError with an errno (EIO, ENOSPC...)
    is the machine's, and stays an error."""
    try:
        yield
    except ContentRejected:
        raise
    except OSError as e:
        if e.errno is not None:
            raise
        raise ContentRejected("decode_error", f"{name}: Pillow cannot decode it ({e})"[:500]) from None
    except (SyntaxError, ValueError, TypeError, EOFError, IndexError, KeyError, ZeroDivisionError, OverflowError,
            MemoryError, Image.DecompressionBombError) as e:
        raise ContentRejected("decode_error", f"{name}: Pillow cannot decode it ({type(e).__name__}: {e})"[:500]) \
            from None


def open_still(src: Path, demuxer: str, max_pixels: int, expect: tuple[int, int] | None = None) -> Image.Image:
    """Pillow on an upload with the plugin of the format probe found, its header read and
    nothing decoded yet. More than `max_pixels`, or (for a stage after probe) a size other
    than `expect`, the size its probe record gives: ContentRejected, before any decoding."""
    fmt = PILLOW_FORMATS.get(demuxer)
    if fmt is None:
        raise ContentRejected("decode_error", f"{src.name}: no still reader for a {demuxer} file "
                                              "(stages/io/still.py PILLOW_FORMATS)")
    # Pillow's own bomb guard would refuse without the size; the same check is made below with it
    before, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with pillow_errors(src.name):
            img = Image.open(src, formats=[fmt])
    finally:
        Image.MAX_IMAGE_PIXELS = before
    w, h = img.size
    if expect is not None and (w, h) != tuple(expect):
        img.close()
        raise ContentRejected("dimensions_mismatch", f"{src.name}: Pillow reads {w}x{h}, its probe record says "
                                                     f"{expect[0]}x{expect[1]}; not decoded (probe it again)")
    if w * h > max_pixels or w <= 0 or h <= 0:
        img.close()
        raise ContentRejected("dimensions_too_large", f"{src.name}: Pillow reads {w}x{h} ({w * h} pixels), over "
                                                      f"the limit of {max_pixels} pixels; not decoded "
                                                      "(decompression-bomb guard)")
    return img


def eight_bit(img: Image.Image) -> Image.Image:
    """16-bit greyscale (PNG, TIFF scans, X-rays) as 8 bits. Pillow keeps it as I;16 or I,
    and a plain convert() clips every value above 255: the picture would come out white."""
    if img.mode.startswith("I;16") or img.mode == "I":
        return img.convert("I").point(lambda v: v / 257).convert("L")
    return img


def decoded_size(src: Path, demuxer: str, max_pixels: int) -> tuple[int, int]:
    """Probe's check of a still: its size as Pillow reads it, after decoding its first frame
    whole (what the later stages will do). ContentRejected if it is too large or does not decode."""
    with open_still(src, demuxer, max_pixels) as img, pillow_errors(src.name):
        img.seek(0)
        img.load()
        return img.size


def derivatives(src: Path, out: Path, sizes: dict[str, int], webp_quality: int, demuxer: str, max_pixels: int,
                expect: tuple[int, int]) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    with open_still(src, demuxer, max_pixels, expect) as img, pillow_errors(src.name):
        exif = read_exif(img)
        img.seek(0)  # an animated GIF: its first frame
        flat8 = eight_bit(img)
        oriented = ImageOps.exif_transpose(flat8.convert("RGBA" if img.mode in ("P", "LA", "RGBA") else "RGB"))
    flat = oriented
    if oriented.mode == "RGBA":  # JPEG has no alpha: flatten on white
        flat = Image.new("RGB", oriented.size, (255, 255, 255))
        flat.paste(oriented, mask=oriented.split()[-1])
    made: dict[str, Any] = {"width": oriented.width, "height": oriented.height}
    for name, long_side in sorted(sizes.items(), key=lambda kv: kv[1]):
        im = flat.copy()
        im.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)  # never upscales
        path = out / f"{name}.jpg"
        im.save(path, "JPEG", quality=85, optimize=True, progressive=True)  # no exif= : nothing copied
        made[name] = {"file": path.name, "width": im.width, "height": im.height}
    webp = out / "optimized.webp"
    full = oriented
    if max(full.size) > WEBP_MAX_SIDE:  # a panorama wider than WebP can hold: scaled to fit
        full = oriented.copy()
        full.thumbnail((WEBP_MAX_SIDE, WEBP_MAX_SIDE), Image.Resampling.LANCZOS)
    full.save(webp, "WEBP", quality=webp_quality, method=6)
    made["webp"] = {"file": webp.name, "width": full.width, "height": full.height}
    return {"images": made, "exif": exif}


def metadata_of(path: Path) -> dict[str, str]:
    """EXIF-bearing metadata keys a published file carries (tests: it must be empty)."""
    with Image.open(path) as img:
        keys = {ExifTags.TAGS.get(k, str(k)) for k in img.getexif()}
        if "exif" in img.info:
            keys.add("exif")
    return {k: "present" for k in keys}

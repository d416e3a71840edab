"""Still images: small/medium/large JPEG thumbnails and an optimized WebP, orientation
applied, EXIF read into the record and never copied into a published derivative (GPS
included: the record only says whether the original had it).

Pillow opens the upload only after probe accepted it (size, codec and pixel count from
the header, against the committed policy); its own decompression-bomb guard is then set
to exactly the pixel count probe accepted (open_still), so what probe accepts opens, and
anything else (a file whose size Pillow reads differently) is a StageError, never a
DecompressionBombError traceback."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageOps

from stages.io import heif  # noqa: F401  (registers pillow-heif's opener: HEIC stills open like the rest)
from stages.common import StageError, default_settings

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


def pixel_limit(src: dict[str, Any], name: str) -> int:
    """The pixels Pillow may open for this still: width x height as the probe record gives
    them (probe held them to the committed policy). A stage run without a probe record
    (source_info probed it itself, no policy seen) holds them to the default policy too."""
    v = src.get("video") or {}
    w, h = v.get("width") or 0, v.get("height") or 0
    if w <= 0 or h <= 0:
        raise StageError(f"{name}: the probe gives no image size; was it probed valid?")
    if not src.get("probed"):
        limit = default_settings("policy")["max_image_pixels"]
        if w * h > limit:
            raise StageError(f"{name}: {w}x{h} is {w * h} pixels, over the default policy's {limit} "
                             "(decompression-bomb guard); probe it under the committed policy first")
    return w * h


def open_still(src: Path, max_pixels: int) -> Image.Image:
    """Pillow on an upload, its decompression-bomb guard at `max_pixels` (pixel_limit).
    Pillow only warns between 1x and 2x its limit: here that refuses too."""
    before, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(src)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise StageError(f"{src.name}: Pillow refuses it as a decompression bomb against the {max_pixels} "
                         f"pixels the probe accepted ({e})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = before  # a global: this upload's limit is not the next one's
    w, h = img.size
    if w * h > max_pixels:
        img.close()
        raise StageError(f"{src.name}: Pillow reads {w}x{h} ({w * h} pixels), more than the {max_pixels} pixels "
                         "the probe accepted; not decoded (decompression-bomb guard)")
    return img


def eight_bit(img: Image.Image) -> Image.Image:
    """16-bit greyscale (PNG, TIFF scans, X-rays) as 8 bits. Pillow keeps it as I;16 or I,
    and a plain convert() clips every value above 255: the picture would come out white."""
    if img.mode.startswith("I;16") or img.mode == "I":
        return img.convert("I").point(lambda v: v / 257).convert("L")
    return img


def derivatives(src: Path, out: Path, sizes: dict[str, int], webp_quality: int, max_pixels: int) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    with open_still(src, max_pixels) as img:
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
    oriented.save(webp, "WEBP", quality=webp_quality, method=6)
    made["webp"] = {"file": webp.name, "width": oriented.width, "height": oriented.height}
    return {"images": made, "exif": exif}


def metadata_of(path: Path) -> dict[str, str]:
    """EXIF-bearing metadata keys a published file carries (tests: it must be empty)."""
    with Image.open(path) as img:
        keys = {ExifTags.TAGS.get(k, str(k)) for k in img.getexif()}
        if "exif" in img.info:
            keys.add("exif")
    return {k: "present" for k in keys}

"""Still images: small/medium/large JPEG thumbnails and an optimized WebP, orientation
applied, EXIF read into the record and never copied into a published derivative (GPS
included: the record only says whether the original had it).

Pillow opens the upload only after probe accepted it (size, codec and pixel count from
the header); its own decompression-bomb guard is set to the same pixel limit (open_still)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageOps

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


def open_still(src: Path) -> Image.Image:
    """Pillow on an upload, with its decompression-bomb guard at policy.json's pixel limit
    (probe already refused bigger headers; this is the second lock on the door)."""
    from .common import default_settings
    Image.MAX_IMAGE_PIXELS = default_settings("policy")["max_image_pixels"]
    return Image.open(src)


def derivatives(src: Path, out: Path, sizes: dict[str, int], webp_quality: int) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    with open_still(src) as img:
        exif = read_exif(img)
        img.seek(0)  # an animated GIF: its first frame
        oriented = ImageOps.exif_transpose(img.convert("RGBA" if img.mode in ("P", "LA", "RGBA") else "RGB"))
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

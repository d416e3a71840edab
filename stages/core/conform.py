"""How any video source is conformed to what every browser plays (pure): 8-bit 4:2:0,
SDR BT.709 (HDR tone-mapped), progressive, square pixels at the source's display
aspect, a constant frame rate. The result is ffmpeg filter text for the one transcode
process: `pre` runs once on the decoded source (before the split), `rung()` once per
rendition, poster and storyboard (after it).

`pre` gets the frames as coded (the decoder's autorotate off) and applies the display
rotation itself, after deinterlacing: the fields are rows of the coded frame, and a
transpose first would turn them into columns that no deinterlacer can separate. Labels'
analysis decode starts with the same filters (`coded_filters`), so both see one picture.

Debian's FFmpeg 5.1 is built with libzimg, so HDR goes through zscale + tonemap (the
`colorspace` filter has no PQ/HLG transfer, `libplacebo` needs a Vulkan device).
Tone-mapping happens after one downscale to the top rung: its cost then scales with
the top rung, not with a 4K source.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

HDR_TRANSFERS = {"smpte2084": "pq", "arib-std-b67": "hlg"}
# field_order as ffprobe reports it -> the field shown first (tb: top coded first,
# bottom displayed first)
FIELD_PARITY = {"tt": "tff", "bt": "tff", "bb": "bff", "tb": "bff"}
# the rates players and encoders know; a measured average close to one is that one
STANDARD_RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
                  Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60)]
MAX_FPS = Fraction(60)
DEFAULT_FPS = Fraction(25)
# zscale names for ffprobe's colour names (what zimg accepts; others fall back below)
_ZPRIM = {"bt2020": "bt2020", "bt709": "bt709", "smpte170m": "smpte170m", "bt470bg": "bt470bg",
          "smpte432": "smpte432", "smpte431": "smpte431"}
_ZMATRIX = {"bt2020nc": "bt2020nc", "bt2020c": "bt2020c", "bt709": "bt709", "smpte170m": "smpte170m",
            "bt470bg": "bt470bg"}
# scale (swscale) matrix names for the SDR path
_SWS_MATRIX = {"bt709": "bt709", "smpte170m": "bt601", "bt470bg": "bt601", "fcc": "fcc", "smpte240m": "smpte240m",
               "bt2020nc": "bt2020", "bt2020c": "bt2020"}
_FULL_RANGE_PIX = re.compile(r"^yuvj")


@dataclass(frozen=True)
class Conform:
    display_w: int           # what a viewer sees: SAR applied, rotation applied
    display_h: int
    fps: Fraction            # the constant output rate
    deinterlace: str | None  # "tff" / "bff" (the field shown first) or None
    hdr: str | None          # "pq" / "hlg" / None
    pre: str                 # filters on the decoded source, before the split
    in_matrix: str           # swscale matrix of what `pre` hands on
    in_range: str            # "tv" / "pc"

    def rung(self, width: int, height: int) -> str:
        """One rendition: exact size, square pixels, BT.709 limited range, 8-bit 4:2:0."""
        return (f"scale={width}:{height}:flags=bicubic:in_color_matrix={self.in_matrix}:out_color_matrix=bt709"
                f":in_range={self.in_range}:out_range=tv,setsar=1,format=yuv420p")

    def still(self, width: int, height: int) -> str:
        """A JPEG still (poster): JFIF is full range with the BT.601 matrix."""
        return (f"scale={width}:{height}:flags=bicubic:in_color_matrix={self.in_matrix}:out_color_matrix=bt601"
                f":in_range={self.in_range}:out_range=pc,setsar=1,format=yuvj420p")

    def describe(self) -> dict:
        """What was done to the source, for the package record."""
        return {"display_width": self.display_w, "display_height": self.display_h,
                "fps": f"{self.fps.numerator}/{self.fps.denominator}", "deinterlaced": self.deinterlace,
                "tone_mapped": self.hdr}


# Encoder options that tag every rendition as what `rung()` made.
COLOR_TAGS = ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv"]


def sample_aspect(stream: dict) -> Fraction:
    """The pixel aspect ratio from ffprobe's `sample_aspect_ratio` ("64:45"); 1 when absent or absurd."""
    text = str(stream.get("sample_aspect_ratio") or "")
    try:
        num, den = (int(x) for x in text.split(":"))
        sar = Fraction(num, den)
    except (ValueError, ZeroDivisionError):
        return Fraction(1)
    return sar if Fraction(1, 10) <= sar <= 10 else Fraction(1)


def display_dims(stream: dict) -> tuple[int, int]:
    """Display width x height: coded size with the SAR applied to the width, then the
    display rotation (90/270 swap the sides)."""
    w, h = int(stream.get("width") or 0), int(stream.get("height") or 0)
    dw = max(1, round(w * sample_aspect(stream)))
    return (h, dw) if int(stream.get("rotation") or 0) % 180 == 90 else (dw, h)


# the display rotation (clockwise degrees, as the probe record has it) as filters, the ones
# ffmpeg's own autorotate inserts
_ROTATE = {90: ["transpose=clock"], 180: ["hflip", "vflip"], 270: ["transpose=cclock"]}


def rotation_filters(rotation: int | None) -> list[str]:
    return list(_ROTATE.get(int(rotation or 0) % 360, []))


def constant_rate(fps: float | None) -> Fraction:
    """The output rate: the measured average snapped to a standard rate within 1 %, else
    rounded to 1/1000; capped at 60 (a 120 fps clip plays at 60); 25 when unknown."""
    if not fps or fps <= 0:
        return DEFAULT_FPS
    f = Fraction(fps).limit_denominator(1001)
    for r in STANDARD_RATES:
        if abs(f - r) <= r / 100:
            return r
    f = Fraction(round(fps * 1000), 1000)
    return min(max(f, Fraction(1)), MAX_FPS)


def parity_of(field_order: str | None, detected: str | None) -> str | None:
    """Which field comes first if the source is interlaced, else None: the stream's own
    field order when it states one, else what idet detected (`detected`: tff/bff/progressive)."""
    if field_order in FIELD_PARITY:
        return FIELD_PARITY[field_order]
    if field_order == "progressive":
        return None
    return detected if detected in ("tff", "bff") else None


def coded_filters(stream: dict, detected_field_order: str | None = None) -> tuple[str | None, list[str]]:
    """What every decode of the frames as coded (the decoder's autorotate off) applies first,
    transcode's and labels' alike: bwdif when the source is interlaced, then the display
    rotation (after it: see the module's note). Returns (the field shown first or None, filters)."""
    parity = parity_of(stream.get("field_order"), detected_field_order)
    # one frame out per frame in (the rate stays); deint=all: the flags of a stream that
    # never said it was interlaced cannot be trusted
    first = [f"bwdif=mode=send_frame:parity={parity}:deint=all"] if parity else []
    return parity, first + rotation_filters(stream.get("rotation"))


IDET_LINE = re.compile(r"Multi frame detection:\s*TFF:\s*(\d+)\s*BFF:\s*(\d+)\s*Progressive:\s*(\d+)"
                       r"\s*Undetermined:\s*(\d+)")


def read_idet(log: str) -> str | None:
    """idet's multi-frame verdict from ffmpeg's log: tff/bff when interlaced frames
    clearly outnumber progressive ones (twice as many, and a tenth of all frames),
    "progressive" otherwise; None when idet printed nothing."""
    m = None
    for m in IDET_LINE.finditer(log):
        pass
    if m is None:
        return None
    tff, bff, prog, undetermined = (int(x) for x in m.groups())
    total = tff + bff + prog + undetermined
    if tff + bff >= 2 * prog and (tff + bff) * 10 >= total and tff + bff > 0:
        return "tff" if tff >= bff else "bff"
    return "progressive"


def _sdr_matrix(stream: dict, height: int) -> str:
    """swscale matrix of an SDR source: its tag, else BT.601 below 720 lines (SD), BT.709 from there."""
    return _SWS_MATRIX.get(stream.get("color_space") or "", "bt709" if height >= 720 else "bt601")


def _range(stream: dict) -> str:
    if stream.get("color_range") == "pc" or _FULL_RANGE_PIX.match(stream.get("pix_fmt") or ""):
        return "pc"
    return "tv"


def plan(stream: dict, top: tuple[int, int] | None = None, detected_field_order: str | None = None) -> Conform:
    """The conform plan of one video stream (a probe record's stream). `top` is the
    largest rendition (HDR is tone-mapped at that size); `detected_field_order` is idet's
    verdict when the stream states no field order."""
    dw, dh = display_dims(stream)
    fps = constant_rate(stream.get("fps"))
    parity, pre = coded_filters(stream, detected_field_order)
    pre.append(f"fps={fps.numerator}/{fps.denominator}")
    hdr = HDR_TRANSFERS.get(stream.get("color_transfer") or "")
    if hdr:
        tw, th = top or (dw, dh)
        src = (f"tin={stream['color_transfer']}:pin={_ZPRIM.get(stream.get('color_primaries') or '', 'bt2020')}"
               f":min={_ZMATRIX.get(stream.get('color_space') or '', 'bt2020nc')}:rin={'full' if _range(stream) == 'pc' else 'limited'}")
        # linear light (1.0 = 100 nits), BT.709 primaries, then mobius: linear up to
        # its knee, so SDR-range content keeps its look and only highlights roll off
        pre += [f"zscale=w={tw}:h={th}:filter=bicubic:{src}:t=linear:npl=100:p=bt709",
                "format=gbrpf32le",
                "tonemap=tonemap=mobius:desat=0",
                "zscale=t=bt709:m=bt709:r=limited",
                "format=yuv420p"]
        return Conform(dw, dh, fps, parity, hdr, ",".join(pre), "bt709", "tv")
    return Conform(dw, dh, fps, parity, None, ",".join(pre), _sdr_matrix(stream, int(stream.get("height") or 0)),
                   _range(stream))

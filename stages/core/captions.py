"""Subtitle text -> WebVTT we wrote ourselves (pure).

Subtitle text is untrusted. ffmpeg (with media_io's safe flags) decodes every text
format (mov_text, SubRip, ASS/SSA, WebVTT, sidecar .srt/.vtt) to ASS events, one
`Dialogue:` line per cue, line breaks as `\\N`: a form a cue cannot break out of. Its
own WebVTT output can: a line "-->" or a blank line in a cue starts a new cue there.
From the events we write WebVTT that keeps the text and bold/italic/underline only:
every `&`, `<`, `>` escaped (so no "-->" and no markup survives), no blank lines inside
a cue, tags always balanced, bounded counts and lengths.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

TEXT_CODECS = {"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"}
BITMAP_CODECS = {"dvd_subtitle", "dvb_subtitle", "hdmv_pgs_subtitle", "xsub", "dvb_teletext", "arib_caption"}
MAX_CUES = 20000
MAX_CUE_CHARS = 1000
MAX_LINES = 8

_TIME = re.compile(r"^(\d+):([0-5]?\d):([0-5]?\d)(?:[.,](\d{1,3}))?$")
_OVERRIDE = re.compile(r"\{([^}]*)\}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_STYLE_TAGS = ("b", "i", "u")  # the only markup kept, always opened in this order


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str  # WebVTT cue text, already safe


def ass_time(text: str) -> float | None:
    """`H:MM:SS.cc` -> seconds (None when it is not a time)."""
    m = _TIME.match(text.strip())
    if not m:
        return None
    h, mi, s, frac = m.groups()
    return int(h) * 3600 + int(mi) * 60 + int(s) + (int(frac.ljust(3, "0")) / 1000 if frac else 0.0)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _style_changes(block: str, state: dict[str, bool]) -> None:
    """Apply one `{...}` override block to the bold/italic/underline state."""
    for tag, value in re.findall(r"\\(b|i|u|r)(\d*)", block):
        if tag == "r":
            state.update(b=False, i=False, u=False)
        elif value:
            state[tag] = value != "0"  # \b700 is bold too


def cue_text(ass_text: str) -> str:
    """An ASS event's text as safe WebVTT cue text ("" when nothing visible is left)."""
    text = _CONTROL.sub("", ass_text)
    state = {"b": False, "i": False, "u": False}
    out: list[str] = []
    open_tags: list[str] = []

    def sync() -> None:  # close what is open, reopen what the state says: always nested
        want = [t for t in _STYLE_TAGS if state[t]]
        if want != open_tags:
            out.extend(f"</{t}>" for t in reversed(open_tags))
            out.extend(f"<{t}>" for t in want)
            open_tags[:] = want

    pos = 0
    for m in _OVERRIDE.finditer(text):
        chunk = text[pos:m.start()]
        if chunk:
            sync()
            out.append(_plain(chunk))
        _style_changes(m.group(1), state)
        pos = m.end()
    if text[pos:]:
        sync()
        out.append(_plain(text[pos:]))
    out.extend(f"</{t}>" for t in reversed(open_tags))
    joined = "".join(out)
    lines = [ln.strip() for ln in joined.split("\n")]
    lines = [ln for ln in lines if _visible(ln)][:MAX_LINES]
    result = "\n".join(lines)
    if len(result) > MAX_CUE_CHARS:  # cut outside markup and entities, then rebalance
        result = re.sub(r"<[^>]*$|&[a-z]*$", "", result[:MAX_CUE_CHARS])
        result = re.sub(r"</?[biu]>", "", result)
    return result


def _plain(chunk: str) -> str:
    """Text between override blocks: ASS escapes to characters, then escaped for WebVTT."""
    chunk = chunk.replace("\\N", "\n").replace("\\n", "\n").replace("\\h", "\u00a0")
    return _escape(chunk)


def _visible(line: str) -> bool:
    return bool(re.sub(r"</?[biu]>|\s|\u00a0", "", line))


def parse_ass(text: str, duration: float | None = None) -> list[Cue]:
    """The cues of an ASS script (ffmpeg's `-c:s ass -f ass` output): Dialogue lines of
    its [Events] section, in time order; empty, inverted or out-of-range cues dropped."""
    cues: list[Cue] = []
    fields: list[str] | None = None
    in_events = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            in_events = line.lower() == "[events]"
            continue
        if not in_events:
            continue
        if line.lower().startswith("format:"):
            fields = [f.strip().lower() for f in line.split(":", 1)[1].split(",")]
            continue
        if not line.startswith("Dialogue:") or not fields or "text" not in fields:
            continue
        parts = line.split(":", 1)[1].split(",", len(fields) - 1)
        if len(parts) != len(fields):
            continue
        row = dict(zip(fields, parts))
        start, end = ass_time(row.get("start", "")), ass_time(row.get("end", ""))
        if start is None or end is None or end <= start:
            continue
        if duration is not None and start >= duration + 1:
            continue
        body = cue_text(row["text"])
        if body:
            cues.append(Cue(start, end, body))
        if len(cues) >= MAX_CUES:
            break
    return sorted(cues, key=lambda c: (c.start, c.end))


def vtt_time(t: float) -> str:
    ms = max(0, int(round(t * 1000)))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def webvtt(cues: list[Cue]) -> str:
    """A WebVTT file of the cues. The X-TIMESTAMP-MAP header says cue times are media
    times from 0 (what HLS players align text to)."""
    lines = ["WEBVTT", "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000", ""]
    for c in cues:
        lines += [f"{vtt_time(c.start)} --> {vtt_time(c.end)}", c.text, ""]
    return "\n".join(lines)


def read_webvtt(text: str) -> list[tuple[float, float, str]]:
    """(start, end, text) of each cue of a WebVTT file as a browser splits it: blocks
    separated by blank lines, the timing line the one with "-->". For checking what
    was written (package check, tests)."""
    cues = []
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip())
    if not blocks or not blocks[0].startswith("WEBVTT"):
        raise ValueError("not a WebVTT file (no WEBVTT header)")
    for block in blocks[1:]:
        lines = block.split("\n")
        timing = next((i for i, ln in enumerate(lines) if "-->" in ln), None)
        if timing is None:
            continue
        a, b = (p.strip().split(" ")[0] for p in lines[timing].split("-->", 1))
        start, end = _vtt_seconds(a), _vtt_seconds(b)
        if start is None or end is None:
            raise ValueError(f"bad cue timing {lines[timing]!r}")
        cues.append((start, end, "\n".join(lines[timing + 1:])))
    return cues


def _vtt_seconds(text: str) -> float | None:
    parts = text.split(":")
    try:
        if len(parts) == 2:
            parts = ["0", *parts]
        h, m, s = int(parts[0]), int(parts[1]), float(parts[2])
    except (ValueError, IndexError):
        return None
    return h * 3600 + m * 60 + s

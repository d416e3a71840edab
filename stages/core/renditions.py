"""Which audio and text renditions a package gets (pure), from the probe record.

Every usable audio track becomes an alternate audio rendition (stereo AAC, and Opus
for DASH), each with its language and whether it is the default; every text subtitle
track and every caption sidecar becomes a WebVTT rendition. What cannot (bitmap
subtitles: no OCR) the probe record lists in `left_out`, with why.
"""
from __future__ import annotations

from dataclasses import dataclass

from stages.core.languages import bcp47, language_name
from stages.core.probe_metadata import subtitle_kind as codec_kind


@dataclass(frozen=True)
class AudioTrack:
    index: int               # source stream index (mapped as 0:<index>)
    language: str | None     # BCP 47, None when the source did not say
    name: str                # what players list
    default: bool
    source_codec: str
    source_channels: int
    source_layout: str | None

    def describe(self) -> dict:
        return {"source_index": self.index, "language": self.language, "name": self.name, "default": self.default,
                "source_codec": self.source_codec, "source_channels": self.source_channels,
                "source_layout": self.source_layout, "downmixed": self.source_channels > 2}


@dataclass(frozen=True)
class TextTrack:
    key: str                 # "text-0", "text-1": file and representation names
    language: str | None
    name: str
    default: bool
    origin: str              # "stream" or "sidecar"
    index: int | None        # stream index (origin "stream")
    sidecar: str | None      # sidecar upload name (origin "sidecar")
    source_codec: str

    def describe(self) -> dict:
        out = {"language": self.language, "name": self.name, "default": self.default, "origin": self.origin,
               "source_codec": self.source_codec}
        out |= {"source_index": self.index} if self.origin == "stream" else {"sidecar": self.sidecar}
        return out


def _is_default(s: dict) -> bool:
    return bool(s.get("default") or (s.get("disposition") or {}).get("default"))


def _names(tracks: list[tuple[str | None, str | None, str]]) -> list[str]:
    """Player-facing names: the track's own title, else its language's name, else the
    fallback; numbered when two share one. (language, title, fallback) per track."""
    base = [" ".join((title or language_name(lang) or fallback).split())[:80] for lang, title, fallback in tracks]
    out = []
    for i, b in enumerate(base):
        n = base[:i + 1].count(b)
        out.append(b if base.count(b) == 1 else f"{b} {n}")
    return out


def audio_tracks(probe: dict) -> list[AudioTrack]:
    """The audio renditions, default first. `selected.audio_tracks` (the probe's decode-
    checked, allowed tracks) when the record has it, else the one `selected.audio`.
    The default is the track the source marks default, else the probe's `selected.audio`."""
    sel = probe.get("selected") or {}
    by_index = {s["index"]: s for s in probe.get("streams") or []}
    indexes = sel.get("audio_tracks")
    if indexes is None:
        indexes = [sel["audio"]] if sel.get("audio") is not None else []
    streams = [by_index[i] for i in indexes if i in by_index and by_index[i].get("codec_type") == "audio"]
    if not streams:
        return []
    marked = [s for s in streams if _is_default(s)]
    default = marked[0] if len(marked) == 1 else by_index.get(sel.get("audio"), streams[0])
    if default not in streams:
        default = streams[0]
    streams = [default] + [s for s in streams if s is not default]
    langs = [bcp47(s.get("language")) for s in streams]
    names = _names([(lang, s.get("title"), f"Audio {i + 1}") for i, (s, lang) in enumerate(zip(streams, langs))])
    return [AudioTrack(s["index"], lang, name, s is default, s.get("codec_name", "unknown"),
                       int(s.get("channels") or 0), s.get("channel_layout"))
            for s, lang, name in zip(streams, langs, names)]


def subtitle_kind(s: dict) -> str:
    """"text", "bitmap" or "unknown": the probe's `subtitle_format` when it has one, else by codec."""
    fmt = s.get("subtitle_format")
    return fmt if fmt in ("text", "bitmap") else codec_kind(s.get("codec_name") or "")


def text_tracks(probe: dict, sidecars: list[tuple[str, str]] = ()) -> list[TextTrack]:
    """The WebVTT renditions: the text subtitle streams the probe selected (every text
    one, for a record without `selected.subtitles`), then the caption sidecars joined to
    this upload, as (upload name, its demuxer)."""
    chosen = (probe.get("selected") or {}).get("subtitles")
    usable = [s for s in probe.get("streams") or [] if s.get("codec_type") == "subtitle"
              and subtitle_kind(s) == "text" and (chosen is None or s["index"] in chosen)]
    entries = [(bcp47(s.get("language")), "stream", s) for s in usable]
    entries += [(None, "sidecar", {"name": n, "codec_name": d}) for n, d in sidecars]
    names = _names([(lang, s.get("title"), s["name"] if origin == "sidecar" else "Subtitles")
                    for lang, origin, s in entries])
    # never shown by default: the viewer turns captions on
    return [TextTrack(f"text-{i}", lang, name, False, origin, s.get("index") if origin == "stream" else None,
                      s["name"] if origin == "sidecar" else None, s.get("codec_name", "unknown"))
            for i, ((lang, origin, s), name) in enumerate(zip(entries, names))]


def stem(name: str) -> str:
    """An upload's name without its extension ("clip.mp4" -> "clip"; "clip" stays):
    what transcode's spec groups on, as its glob `/{(*).*,(*)}` with `$1$2` computes it."""
    head, dot, _ = name.rpartition(".")
    return head if dot else name


def sidecars_for(upload: str, sidecars: list[str]) -> list[str]:
    """The caption sidecars of an upload: those whose stem is its stem (clip.srt and
    clip.vtt beside clip.mp4), in name order; never the upload itself."""
    return sorted(s for s in sidecars if s != upload and stem(s) == stem(upload))

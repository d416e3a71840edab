"""Names users type: `repo@branch:/path`, `repo@commit`, and which file names are safe.

One place decides what a name is, for `put file`, the S3 gateway and the engine alike:
names are NFC-normalised (the NFC and NFD spellings of "café" are one file, as macOS and
Linux clients would otherwise make two), and refused when unsafe: a separator inside a
name, `.` or `..`, a control or format character (C0/C1 controls, bidi overrides such as
U+202E that make "gpj.exe" display as "exe.jpg", zero-width and other invisible
characters, line separators, undecodable bytes), or a segment over 255 bytes. An upload's
name (a flat input repo like `media`) is held to MAX_UPLOAD_NAME_BYTES: the stages write
`<name>.json` beside it, and that must fit the filesystem's NAME_MAX too.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from pipelines.errors import InvalidName, UsageError
from stages.common import MAX_NAME_BYTES

REPO_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,63}$")
MAX_SEGMENT_BYTES = 255  # NAME_MAX
MAX_UPLOAD_NAME_BYTES = MAX_NAME_BYTES  # decided by the stages: what their output paths can hold
# Unicode categories never allowed in a name: Cc (C0, DEL, C1), Cf (format: bidi controls,
# zero-width space, BOM, soft hyphen, tags...), Cs (lone surrogates: bytes that were not
# UTF-8), Zl/Zp (line and paragraph separators).
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
# ...except the two joiners that scripts and emoji need: ZWNJ (Persian, Indic) and ZWJ
# (emoji sequences); they change how letters join, never the order text displays in.
_JOINERS = {"\u200c", "\u200d"}


@dataclass(frozen=True)
class FileRef:
    repo: str
    branch_or_commit: str | None
    path: str | None

    def __str__(self) -> str:
        s = self.repo
        if self.branch_or_commit:
            s += "@" + self.branch_or_commit
        if self.path:
            s += ":" + self.path
        return s


def parse_ref(text: str, *, default_branch: str | None = "master") -> FileRef:
    """`repo`, `repo@branch`, `repo@commit`, `repo@branch:/path` (pachctl's syntax)."""
    repo, _, rest = text.partition("@")
    ref, sep, path = rest.partition(":")
    if not sep and ":" in repo:  # repo:/path without @branch
        repo, _, path = repo.partition(":")
    check_repo_name(repo)
    return FileRef(repo, ref or default_branch, normalize_path(path) if path else None)


def check_repo_name(name: str) -> str:
    if not REPO_NAME.match(name or ""):
        raise InvalidName(f"invalid repo name {name!r}: use letters, digits, '_' and '-' (at most 63)")
    return name


def normalize_path(path: str) -> str:
    """'/a//b/' -> '/a/b', in NFC; every segment must be safe. Root is '/'."""
    if path in ("", "/"):
        return "/"
    check_characters(path)
    path = unicodedata.normalize("NFC", path)
    segments = [s for s in path.split("/") if s != ""]
    for s in segments:
        check_segment(s, path)
    return "/" + "/".join(segments)


def check_characters(text: str) -> None:
    """Refuse a control or format character, naming it and where it is."""
    for i, ch in enumerate(text):
        if unicodedata.category(ch) in _REFUSED_CATEGORIES and ch not in _JOINERS:
            what = ("a byte that is not UTF-8" if unicodedata.category(ch) == "Cs"
                    else unicodedata.name(ch, "a control character"))
            raise InvalidName(f"unsafe file name {text!r}: character {i + 1} is U+{ord(ch):04X} ({what}); "
                              "control and invisible formatting characters are not allowed in names: rename the file")


def check_segment(segment: str, whole: str | None = None) -> str:
    shown = repr(whole if whole is not None else segment)
    check_characters(segment)
    if segment in (".", ".."):
        raise InvalidName(f"unsafe file name {shown}: '.' and '..' are not allowed")
    if "\\" in segment:
        raise InvalidName(f"unsafe file name {shown}: backslashes are not allowed")
    if len(segment.encode()) > MAX_SEGMENT_BYTES:
        raise InvalidName(f"unsafe file name {shown}: a name is limited to {MAX_SEGMENT_BYTES} bytes (UTF-8)")
    return segment


def check_upload_name(name: str) -> str:
    """An asset name in a flat input repo (`media`): one safe segment, no separators, in
    NFC, and short enough for every output path the stages derive from it."""
    check_characters(name)
    name = unicodedata.normalize("NFC", name)
    if "/" in name.strip("/"):
        raise InvalidName(f"unsafe file name {name!r}: media names cannot contain '/' (uploads are flat)")
    segment = check_segment(name.strip("/"), name)
    size = len(segment.encode())
    if size > MAX_UPLOAD_NAME_BYTES:
        raise InvalidName(f"unsafe file name {name!r}: {size} bytes, and uploads are limited to "
                          f"{MAX_UPLOAD_NAME_BYTES} bytes (UTF-8) so that every output named after them fits "
                          "the filesystem; rename the file")
    return segment


def require_path(ref: FileRef, verb: str) -> str:
    if not ref.path or ref.path == "/":
        raise UsageError(f"{verb} needs a file path: {ref.repo}@{ref.branch_or_commit or 'master'}:/path")
    return ref.path

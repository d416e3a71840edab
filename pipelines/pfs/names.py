"""Names users type: `repo@branch:/path`, `repo@commit`, and which file names are safe.

One place decides what an unsafe name is, for `put file`, the S3 gateway and the
engine alike: a separator inside a name, `.` or `..`, control characters (NUL,
newline...), or a segment over 255 bytes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pipelines.errors import InvalidName, UsageError

REPO_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,63}$")
MAX_SEGMENT_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
    """'/a//b/' -> '/a/b'; every segment must be safe. Root is '/'."""
    if path in ("", "/"):
        return "/"
    segments = [s for s in path.split("/") if s != ""]
    for s in segments:
        check_segment(s, path)
    return "/" + "/".join(segments)


def check_segment(segment: str, whole: str | None = None) -> str:
    shown = repr(whole if whole is not None else segment)
    if segment in (".", ".."):
        raise InvalidName(f"unsafe file name {shown}: '.' and '..' are not allowed")
    if _CONTROL.search(segment):
        raise InvalidName(f"unsafe file name {shown}: control characters (NUL, newline, ...) are not allowed")
    if "\\" in segment:
        raise InvalidName(f"unsafe file name {shown}: backslashes are not allowed")
    if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
        raise InvalidName(f"unsafe file name {shown}: a name is limited to {MAX_SEGMENT_BYTES} bytes")
    return segment


def check_upload_name(name: str) -> str:
    """An asset name in a flat input repo (`media`): one safe segment, no separators."""
    if "/" in name.strip("/"):
        raise InvalidName(f"unsafe file name {name!r}: media names cannot contain '/' (uploads are flat)")
    return check_segment(name.strip("/"), name)


def require_path(ref: FileRef, verb: str) -> str:
    if not ref.path or ref.path == "/":
        raise UsageError(f"{verb} needs a file path: {ref.repo}@{ref.branch_or_commit or 'master'}:/path")
    return ref.path

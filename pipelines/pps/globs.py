"""Pachyderm's globs as pachd applies them to a commit (src/internal/pfsfile CleanPath,
pfs/server globFile and globMatchFunction, worker/datum processPFSTask), over ohmyglob
(the matcher, in ohmyglob.py):
- the pattern is cleaned as a path first: `//*`, `/./*` and `*` all mean `/*`;
- only paths starting with its literal prefix are listed (a `\\` before the first glob
  character is taken literally there, so such a pattern matches nothing on pachd either);
- a directory is listed with a trailing `/`, trimmed before matching;
- `/` matches the root, which exists only when the commit has a file;
- joinOn/groupBy templates are filled by ohmyglob's Replace on the trimmed path.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable

from pipelines.pps.ohmyglob import GlobError, compile_regex, replace, template_groups

__all__ = ["GlobError", "Glob", "clean", "compile_glob", "glob_paths", "template_groups"]


# --- pachd: cleaning and literal prefix -------------------------------------------------

def clean(pattern: str) -> str:
    """pfsfile.CleanPath: Go's path.Clean, then exactly one leading `/` and none trailing."""
    rooted = pattern.startswith("/")
    parts: list[str] = []
    for seg in pattern.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(seg)
    return "/" + "/".join(parts)


_GLOB_CHARS = re.compile(r"[*?\[\]{}!()@+^]")


def literal_prefix(pattern: str) -> str:
    """storage.GlobLiteralPrefix: the pattern up to its first glob character (pachd
    lists only paths with this prefix; a `\\` before it is taken literally there)."""
    m = _GLOB_CHARS.search(pattern)
    return pattern if m is None else pattern[:m.start()]


# --- the compiled glob -------------------------------------------------------------------------

@dataclass(frozen=True)
class Glob:
    pattern: str        # as cleaned by pachd
    regex: re.Pattern
    prefix: str

    @property
    def groups(self) -> int:
        return self.regex.groups

    def match(self, path: str) -> bool:
        """pachd's match of a listed path (a directory's with its trailing `/`)."""
        if path == "/" and self.pattern == "/":
            return True
        return path.startswith(self.prefix) and self.regex.search(path.rstrip("/")) is not None

    def replace(self, path: str, template: str) -> str:
        """ohmyglob's Replace on a listed path, its trailing `/` trimmed (processPFSTask)."""
        return replace(self.regex, path.rstrip("/"), template)


@functools.lru_cache(maxsize=512)
def compile_glob(pattern: str) -> Glob:
    cleaned = clean(pattern)
    return Glob(cleaned, compile_regex(cleaned), literal_prefix(cleaned))


def candidate_paths(files: Iterable[str]) -> list[str]:
    """What pachd lists for a commit: the root, each file, each directory (with `/`)."""
    paths = set()
    for f in files:
        parts = f.strip("/").split("/")
        paths.add("/")
        paths.add("/" + "/".join(parts))
        for i in range(1, len(parts)):
            paths.add("/" + "/".join(parts[:i]) + "/")
    return sorted(paths)


def glob_paths(pattern: str, files: Iterable[str]) -> list[str]:
    """Matched paths, sorted; a directory's without its trailing `/`."""
    g = compile_glob(pattern)
    return sorted(p if p == "/" else p.rstrip("/") for p in candidate_paths(files) if g.match(p))

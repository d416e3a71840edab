"""Pachyderm's glob patterns over repo paths, with capture groups for joinOn/groupBy.

`*` and `?` stay within one path segment, `**` crosses segments, `[...]` is a class
(`[!...]` negates), `{a,b}` alternatives, `( )` capture groups, `\\x` a literal.
A pattern matches files and directories; `/` matches the root (the whole commit), and
only when the commit has a file: an empty commit has no root to match, as in pachd's
globFile, which walks only the entries the commit holds.
`(a|b)` is a capture group of alternatives, as in Pachyderm's ohmyglob. Its extended
globs (`!(x)`, `@(x)`, `+(x)`, `*(x)`, `?(x)`: ohmyglob's lexer reads `*(` and `?(` as
a capture with a repeat, not as `*` then a group) are refused with a message rather
than matched differently.
"""
from __future__ import annotations

import functools
import re
from typing import Iterable

_TEMPLATE = re.compile(r"\$(\d+)|\$\{(\d+)\}")
_EXTGLOB = re.compile(r"(?<!\\)[!@+*?](?=\()")


class GlobError(ValueError):
    """A pattern that does not compile (the message says why)."""


@functools.lru_cache(maxsize=256)
def compile_glob(pattern: str) -> re.Pattern:
    if not pattern.startswith("/"):
        pattern = "/" + pattern
    if pattern != "/":
        pattern = pattern.rstrip("/")
    ext = _EXTGLOB.search(pattern)
    if ext:
        raise GlobError(f"glob {pattern!r}: extended glob {pattern[ext.start():ext.start() + 2]}...) is not "
                        f"supported by the embedded engine; write the alternatives with {{a,b}} or [...]")
    out, i, depth, groups = [], 0, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1:i + 2] in ("!", "^") else i + 1)
            if end < 0:
                raise GlobError(f"glob {pattern!r}: unclosed '['")
            body = pattern[i + 1:end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
            continue
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        elif c == "(":
            groups += 1
            out.append(c)
        elif c == ")" and groups:
            groups -= 1
            out.append(c)
        elif c == "|" and groups:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out) + r"\Z", re.DOTALL)
    except re.error as e:
        raise GlobError(f"glob {pattern!r}: {e}") from None


def expand(template: str, m: re.Match) -> str:
    """`$1`/`${1}` in joinOn/groupBy replaced by the glob's capture groups."""
    if not template:
        return ""
    return _TEMPLATE.sub(lambda t: m.group(int(t.group(1) or t.group(2))) or "", template)


def template_groups(template: str) -> list[int]:
    """The capture group numbers a joinOn/groupBy template refers to."""
    return [int(t.group(1) or t.group(2)) for t in _TEMPLATE.finditer(template)]


def candidate_paths(files: Iterable[str]) -> list[str]:
    """Every path a glob can match: the root, each file and each directory above one."""
    paths = {"/"}
    for f in files:
        parts = f.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            paths.add("/" + "/".join(parts[:i]))
    return sorted(paths)


def glob_paths(pattern: str, files: Iterable[str]) -> list[str]:
    """Matched paths (files and implied directories), sorted."""
    if pattern.strip("/") == "":
        files = list(files)
        return ["/"] if files else []  # only `/` names the root, and an empty commit has none
    rx = compile_glob(pattern)
    return [p for p in candidate_paths(files) if p != "/" and rx.match(p)]

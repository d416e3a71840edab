"""ohmyglob (github.com/pachyderm/ohmyglob at d5b47775, the gobwas/glob fork pachd links),
ported step by step: lexer, parser and compiler to a regular expression, and Replace's
template syntax. Quirks are kept, so a pattern means here what it means on a cluster:
- `*` and `?` stay within a segment, `**` crosses segments, `\\x` is a literal x;
- `[...]`: the first unescaped `!` or `^` ANYWHERE in it negates it, `[:alpha:]`-style
  names expand in place (so `[[:alpha:]]` also matches `[` and `]`);
- `{a,b}` alternatives (not captured); `(a|b)` and `@(a|b)` capture one of;
  `*(..)`, `+(..)`, `?(..)` capture a repeat, `!(..)` captures anything but;
- after a `!`, `@`, `^` or `+` that opens no group, text runs to the next `?*[{(`, even
  inside `{..}` or `(..)`; an unclosed `{` or `(` runs to the end of the pattern.
ohmyglob compiles for regexp2 (.NET syntax); the expressions it emits use only syntax that
Python's `re` reads the same way (`\\A`, classes, `(?!...)`, `$`), `\\z` spelt `\\Z`.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field


class GlobError(ValueError):
    """A pattern (or template) that does not compile; the message says why."""


# --- ohmyglob: lexer ---------------------------------------------------------------------

_BASIC = "?*[{("
_EXTENDED = _BASIC + "@!^+"
_IN_CAPTURE = _EXTENDED + ")|"
_IN_TERMS = _EXTENDED + "},"


class _Lexer:
    """syntax/lexer: tokens as (type, raw) pairs, ohmyglob's type names."""

    def __init__(self, data: str) -> None:
        self.data, self.pos, self.last = data, 0, 0
        self.terms = self.captures = 0
        self.tokens: list[tuple[str, str]] = []
        self.err: str | None = None

    def read(self) -> str:
        c = self.data[self.pos:self.pos + 1]  # "" at the end
        self.pos += len(c)
        self.last = len(c)
        return c

    def peek(self) -> str:
        return self.data[self.pos:self.pos + 1]

    def unread(self) -> None:
        self.pos -= self.last
        self.last = 0

    def next(self) -> tuple[str, str]:
        while True:
            if self.err is not None:
                return ("Error", self.err)
            if self.tokens:
                return self.tokens.pop(0)
            self._fetch()

    def _capture(self, quantifier: str) -> None:
        self.tokens.append(("CaptureOpen", quantifier + "("))
        self.captures += 1

    def _fetch(self) -> None:
        r = self.read()
        if r == "":
            self.tokens.append(("EOF", ""))
        elif r == "{":
            self.terms += 1
            self.tokens.append(("TermsOpen", r))
        elif r == "," and self.terms:
            self.tokens.append(("Separator", r))
        elif r == "}" and self.terms:
            self.tokens.append(("TermsClose", r))
            self.terms -= 1
        elif r == "|" and self.captures:
            self.tokens.append(("Separator", r))
        elif r == "[":
            self.tokens.append(("RangeOpen", r))
            self._range()
        elif r == "(":
            self._capture("@")
        elif r in "@!^+":
            if self.peek() == "(":
                self.read()
                self._capture(r)
            else:
                self.unread()
                self._text(_BASIC)  # note: basic breakers, even inside {..} or (..)
        elif r == ")" and self.captures:
            self.tokens.append(("CaptureClose", r))
            self.captures -= 1
        elif r == "?":
            if self.read() == "(":
                self._capture("?")
            else:
                self.unread()
                self.tokens.append(("Single", r))
        elif r == "*":
            s = self.read()
            if s == "*":
                if self.peek() == "(":  # `**(` is `*` then `*(`
                    self.unread()
                    self.tokens.append(("Any", r))
                else:
                    self.tokens.append(("Super", "**"))
            elif s == "(":
                self._capture("*")
            else:
                self.unread()
                self.tokens.append(("Any", r))
        else:
            self.unread()
            self._text(_IN_TERMS if self.terms else _IN_CAPTURE if self.captures else _EXTENDED)

    def _range(self) -> None:
        seen_not = in_posix = escaped = False
        data = []
        while True:
            r = self.read()
            if r == "":
                self.err = "unexpected end of input"
                return
            if not escaped:
                if r == "\\":
                    escaped = True
                    continue
                if r == "[":
                    in_posix = True
                if r == "]":
                    if not in_posix:
                        break
                    in_posix = False
                if not seen_not and r in "!^":
                    self.tokens.append(("Not", r))
                    seen_not = True
                    continue
            escaped = False
            data.append(r)
        if data:
            self.tokens.append(("Text", "".join(data)))
        self.tokens.append(("RangeClose", "]"))

    def _text(self, breakers: str) -> None:
        data, escaped = [], False
        while True:
            r = self.read()
            if r == "":
                break
            if not escaped:
                if r == "\\":
                    escaped = True
                    continue
                if r in breakers:
                    self.unread()
                    break
            escaped = False
            data.append(r)
        if data:
            self.tokens.append(("Text", "".join(data)))


def tokens(pattern: str) -> list[tuple[str, str]]:
    """The lexer's tokens up to EOF or an Error (for tests and error messages)."""
    lx, out = _Lexer(pattern), []
    while not out or out[-1][0] not in ("EOF", "Error"):
        out.append(lx.next())
    return out


# --- ohmyglob: parser ----------------------------------------------------------------------

# syntax/ast/parser.go's table, `:graph:` with its stray `]` kept
_POSIX = {":alnum:": "0-9A-Za-z", ":alpha:": "A-Za-z", ":ascii:": "\x00-\x7f", ":blank:": "\t ",
          ":cntrl:": "\x00-\x1f\x7f", ":digit:": "0-9", ":graph:": "!-~]", ":lower:": "a-z",
          ":print:": " -~", ":punct:": "!-/:-@[-`{-~", ":space:": "\t\n\v\f\r ", ":upper:": "A-Z",
          ":word:": "0-9A-Za-z_", ":xdigit:": "0-9A-Fa-f"}


@dataclass(eq=False)
class _Node:
    kind: str                      # Pattern, Text, Any, Super, Single, List, AnyOf, Capture
    value: object = None
    parent: "_Node | None" = None
    children: list["_Node"] = field(default_factory=list)

    def add(self, child: "_Node") -> "_Node":
        child.parent = self
        self.children.append(child)
        return child


def _up(node: _Node | None, pattern: str) -> _Node:
    if node is None or node.parent is None or node.parent.parent is None:
        raise GlobError(f"glob {pattern!r}: unbalanced group")
    return node.parent.parent


def _parse(pattern: str) -> _Node:
    lx = _Lexer(pattern)
    root = tree = _Node("Pattern")
    while True:
        kind, raw = lx.next()
        if kind == "EOF":
            return root
        if kind == "Error":  # the lexer's one error: a `[` never closed
            raise GlobError(f"glob {pattern!r}: unclosed '[' ({raw}; write `\\[` for the character)")
        if kind == "Text":
            tree.add(_Node("Text", raw))
        elif kind in ("Any", "Super", "Single"):
            tree.add(_Node(kind))
        elif kind == "RangeOpen":
            tree.add(_parse_range(lx, pattern))
        elif kind in ("TermsOpen", "CaptureOpen"):
            group = tree.add(_Node("AnyOf") if kind == "TermsOpen" else _Node("Capture", raw[0]))
            tree = group.add(_Node("Pattern"))
        elif kind == "Separator":
            if tree.parent is None:
                raise GlobError(f"glob {pattern!r}: unbalanced group")
            tree = tree.parent.add(_Node("Pattern"))
        elif kind in ("TermsClose", "CaptureClose"):
            tree = _up(tree, pattern)
        else:
            raise GlobError(f"glob {pattern!r}: unexpected token {kind} {raw!r}")


def _parse_range(lx: _Lexer, pattern: str) -> _Node:
    negate, chars = False, ""
    while True:
        kind, raw = lx.next()
        if kind in ("EOF", "Error"):
            raise GlobError(f"glob {pattern!r}: unclosed '[' ({raw or 'unexpected end'})")
        if kind == "Not":
            negate = True
        elif kind == "Text":
            chars = raw
            for name, expansion in _POSIX.items():
                chars = chars.replace(name, expansion)
        elif kind == "RangeClose":
            return _Node("List", (negate, chars))


# --- ohmyglob: compiler ----------------------------------------------------------------------

_CLOSE_NEG = "\uffff"   # marks where a negation's scope may need to end
_BOUNDARY = "\ufffe"    # text, `*` and `**` bound a negation's scope
_GO_META = set("\\.+*?()|[]{}^$")


def _quote(s: str) -> str:
    """Go's regexp.QuoteMeta."""
    return "".join("\\" + c if c in _GO_META else c for c in s)


def _compile_node(node: _Node, dot: str) -> str:
    k = node.kind
    if k in ("Pattern", "AnyOf", "Capture") and not node.children:
        return ""
    if k == "Pattern":
        return "".join(_compile_node(c, dot) for c in node.children)
    if k == "AnyOf":
        return "(?:" + "|".join(_compile_node(c, dot) for c in node.children) + ")"
    if k == "Capture":
        q = node.value
        if q == "!":  # each alternative gets a scope marker
            body = (_CLOSE_NEG + "|").join(_compile_node(c, dot) for c in node.children)
            return "((?:(?!(?:" + body + _CLOSE_NEG + "))" + dot + "*))"
        body = "|".join(_compile_node(c, dot) for c in node.children)
        if q in "*?+":
            return "((?:" + body + ")" + q + ")"
        if q == "@":
            return "(" + body + ")"
        raise GlobError(f"`{q}(` opens no group ohmyglob knows (write `(`, `@(`, `*(`, `+(`, `?(` or `!(`, "
                        f"or `\\{q}(` for the characters)")
    if k == "Any":
        return dot + "*" + _BOUNDARY
    if k == "Super":
        return ".*" + _BOUNDARY
    if k == "Single":
        return dot
    if k == "List":
        negate, chars = node.value
        return "[" + ("^" if negate else "") + _quote(chars) + "]"
    return _quote(node.value) + _BOUNDARY  # Text


def to_regex(pattern: str, separators: str = "/") -> str:
    """ohmyglob's compiler.Compile, in Python's spelling (`\\Z` for `\\z`). pachd
    passes '/' as the one separator: `*`, `?` and `!(..)` never cross it."""
    dot = "[^" + _quote(separators) + "]" if separators else "."
    try:
        regex = _compile_node(_parse(pattern), dot)
    except GlobError as e:
        raise GlobError(str(e) if str(e).startswith("glob ") else f"glob {pattern!r}: {e}") from None
    # a negation runs to the next boundary, or to the end when none follows it
    i = regex.find(_CLOSE_NEG + ")")
    if i > 0:
        regex = regex.replace(_CLOSE_NEG, "" if _BOUNDARY in regex[i:] else "$")
    return "\\A" + regex.replace(_BOUNDARY, "") + "\\Z"


# --- templates ($1, ${1}, $$) ----------------------------------------------------------------

def _group_number(name: str) -> int:
    """ohmyglob's number parse: -1 for non-ASCII digits, leading zeros or overflow."""
    num = 0
    for c in name:
        if not "0" <= c <= "9" or num >= 100_000_000:
            return -1
        num = num * 10 + ord(c) - ord("0")
    return -1 if name[0] == "0" and len(name) > 1 else num


def _template_parts(template: str) -> list[str | int]:
    """ohmyglob's Replace, parsed: literal text and capture group numbers."""
    out: list[str | int] = []
    original, template = template, template or ""
    while template:
        i = template.find("$")
        if i < 0:
            break
        out.append(template[:i])
        template = template[i:]
        if template[1:2] == "$":  # `$$` is a `$`
            out.append("$")
            template = template[2:]
            continue
        brace = template[1:2] == "{"
        rest = template[2:] if brace else template[1:]
        n = 0
        while n < len(rest) and rest[n].isdecimal():
            n += 1
        if n == 0 or (brace and rest[n:n + 1] != "}"):
            out.append("$")  # malformed: a literal `$`
            template = template[1:]
            continue
        num = _group_number(rest[:n])
        if num < 0:  # ohmyglob indexes its captures with -1 here: pachd's worker panics
            raise GlobError(f"template {original!r}: ${rest[:n]} is not a capture group number "
                            f"(no leading zeros, ASCII digits only)")
        out.append(num)
        template = rest[n + 1:] if brace else rest[n:]
    out.append(template)
    return out


def capture(regex: re.Pattern, fixture: str) -> list[str] | None:
    """Capture: the whole match then every group ("" for one that took no part)."""
    m = regex.search(fixture)
    return None if m is None else [m.group(0)] + [g or "" for g in m.groups()]


def replace(regex: re.Pattern, fixture: str, template: str) -> str:
    """Replace: the template with `$n` as the fixture's n-th capture ("" past the end)."""
    return expand(capture(regex, fixture) or [], template)


def expand(captures: list[str], template: str) -> str:
    """Replace's output: `$n` is captures[n] ("" past the end), `$$` a `$`."""
    return "".join(p if isinstance(p, str) else (captures[p] if p < len(captures) else "")
                   for p in _template_parts(template))


def template_groups(template: str) -> list[int]:
    """The capture group numbers a joinOn/groupBy template refers to."""
    return [p for p in _template_parts(template) if isinstance(p, int)]


def compile_regex(pattern: str, separators: str = "/") -> re.Pattern:
    """ohmyglob.Compile(pattern, separators...) as a Python pattern (no cleaning: that is pachd's)."""
    try:
        with warnings.catch_warnings():  # `[][a]`-style classes: Python reads them as .NET does
            warnings.simplefilter("ignore", FutureWarning)
            return re.compile(to_regex(pattern, separators))
    except re.error as e:
        raise GlobError(f"glob {pattern!r} does not compile: {e}") from None

"""Datums, as Pachyderm's iterators make them: pure functions of an input spec and the
file listings of the input commits.

- pfs: one datum per path the glob matches (a directory brings every file under it);
- cross: every combination (first input varies slowest); an empty input -> no datums;
- union: the datums of each input, one after another;
- join: every input of every child datum keyed by its own `joinOn` (a multi-input child
  datum is split, as Pachyderm's processKeyTask does); each key makes the cross of its
  children's inputs. When a key is missing from some child, only the `outerJoin`
  inputs of each combination make a datum (processMergeTask's filter), so with three
  or more inputs an inner input never rides along on an outer one;
- group: every input with the same `groupBy` key, from every child, in one datum.
(src/server/worker/datum/worker.go: processPFSTask, processKeyTask, processMergeTask.)

`DatumID` and `HashDatum` are computed as Pachyderm's worker does: sha256 over each
input's name, repo, branch and path, each followed by its length (8 bytes, big
endian) so fields cannot run together; the hash adds every input's content hash and
the pipeline salt.
"""
from __future__ import annotations

import bisect
import hashlib
import itertools
import struct
from dataclasses import dataclass
from typing import Callable

from pipelines.pps.globs import compile_glob, expand, glob_paths


@dataclass(frozen=True)
class FileEntry:
    path: str
    hash: str
    size: int


@dataclass(frozen=True)
class InputCommit:
    repo: str
    branch: str
    commit: str
    files: tuple[FileEntry, ...]


@dataclass(frozen=True)
class DatumInput:
    name: str
    repo: str
    branch: str
    commit: str
    glob: str
    path: str
    files: tuple[FileEntry, ...]
    join_on: str = ""
    group_by: str = ""
    outer_join: bool = False

    @property
    def hash(self) -> str:
        """Content hash of the matched path: the file's, or a directory's listing's."""
        if len(self.files) == 1 and self.files[0].path == self.path:
            return self.files[0].hash
        h = hashlib.sha256()
        for f in self.files:
            h.update(f"{f.path}\0{f.hash}\n".encode())
        return h.hexdigest()


def _field(h, text: str) -> None:
    data = text.encode()
    h.update(data)
    h.update(struct.pack(">q", len(data)))


@dataclass(frozen=True)
class Datum:
    inputs: tuple[DatumInput, ...]

    @property
    def id(self) -> str:
        h = hashlib.sha256()
        for i in self.inputs:
            _field(h, i.name)
            _field(h, i.repo)
            _field(h, i.branch)
            _field(h, i.path)
        return h.hexdigest()

    def hash(self, salt: str) -> str:
        h = hashlib.sha256(self.id.encode())
        for i in self.inputs:
            h.update(i.hash.encode())
        h.update(salt.encode())
        return h.hexdigest()

    def mounts(self) -> list[tuple[str, FileEntry]]:
        """Where each file lands under /pfs: `<input name><path in repo>`."""
        seen, out = set(), []
        for i in self.inputs:
            for f in i.files:
                dest = f"{i.name}{f.path}"
                if dest not in seen:
                    seen.add(dest)
                    out.append((dest, f))
        return out

    def env(self, pfs_root: str = "/pfs") -> dict[str, str]:
        """The variables a Pachyderm worker sets for this datum's inputs."""
        env: dict[str, str] = {}
        for i in self.inputs:
            env[i.name] = f"{pfs_root}/{i.name}" + ("" if i.path == "/" else i.path)
            env[f"{i.name}_COMMIT"] = i.commit
            if i.join_on:
                env[f"PACH_DATUM_{i.name}_JOIN_ON"] = i.join_on
            if i.group_by:
                env[f"PACH_DATUM_{i.name}_GROUP_BY"] = i.group_by
        return env


Resolver = Callable[[dict], InputCommit]


def _under(paths: list[str], files: list[FileEntry], path: str) -> tuple[FileEntry, ...]:
    """The file at `path` and every file below it, from files sorted by path: the exact
    match, then the contiguous run of paths starting with `path/` (bisect, not a scan)."""
    if path == "/":
        return tuple(files)
    lo = bisect.bisect_left(paths, path + "/")
    hi = bisect.bisect_left(paths, path + "0", lo)  # "0" is the character after "/"
    i = bisect.bisect_left(paths, path)
    exact = (files[i],) if i < len(paths) and paths[i] == path else ()
    return exact + tuple(files[lo:hi])


def _pfs(spec: dict, resolve: Resolver) -> list[Datum]:
    c = resolve(spec)
    name = spec.get("name") or spec["repo"]
    glob = spec["glob"]
    rx = compile_glob(glob)
    files = sorted(c.files, key=lambda f: f.path)
    paths = [f.path for f in files]
    out = []
    for path in glob_paths(glob, paths):
        under = _under(paths, files, path)
        m = rx.match(path)
        out.append(Datum((DatumInput(
            name, c.repo, c.branch, c.commit, glob, path, under,
            expand(spec.get("joinOn", ""), m) if m else "", expand(spec.get("groupBy", ""), m) if m else "",
            bool(spec.get("outerJoin"))),)))
    return out


def _cross(children: list[list[Datum]]) -> list[Datum]:
    if not children or any(not c for c in children):
        return []
    return [Datum(tuple(i for d in combo for i in d.inputs)) for combo in itertools.product(*children)]


def _join(children: list[list[Datum]]) -> list[Datum]:
    keys: dict[str, list[list[DatumInput]]] = {}
    for idx, datums in enumerate(children):
        for d in datums:
            for i in d.inputs:
                keys.setdefault(i.join_on, [[] for _ in children])[idx].append(i)
    out, seen = [], set()
    for key in sorted(keys):
        present = [g for g in keys[key] if g]
        for combo in itertools.product(*present):
            inputs = combo if len(present) == len(children) else tuple(i for i in combo if i.outer_join)
            d = Datum(tuple(inputs))
            if inputs and d.id not in seen:  # a datum set holds one datum per id
                seen.add(d.id)
                out.append(d)
    return out


def _group(children: list[list[Datum]]) -> list[Datum]:
    keys: dict[str, list[DatumInput]] = {}
    for datums in children:
        for d in datums:
            for i in d.inputs:
                keys.setdefault(i.group_by, []).append(i)
    return [Datum(tuple(keys[k])) for k in sorted(keys)]


def datums(input_spec: dict, resolve: Resolver) -> list[Datum]:
    """The datums of an input spec (camelCase, as in a pipeline spec), in order."""
    if "pfs" in input_spec:
        return _pfs(input_spec["pfs"], resolve)
    for kind, combine in (("cross", _cross), ("join", _join), ("group", _group)):
        if kind in input_spec:
            return combine([datums(c, resolve) for c in input_spec[kind]])
    if "union" in input_spec:
        return [d for c in input_spec["union"] for d in datums(c, resolve)]
    raise ValueError(f"unsupported input type: {sorted(input_spec)} (pfs, cross, union, join, group)")

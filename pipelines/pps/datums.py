"""Datums, as Pachyderm's iterators make them: pure functions of an input spec and the
file listings of the input commits (src/server/worker/datum: create.go, worker.go).

- the input tree is first sorted as pachd's SortInput does at create pipeline: the children
  of every cross/join/group/union by their name (the `name` written in the spec; unnamed
  pfs inputs sort as "", stably);
- pfs: one datum per path the glob matches (a directory brings every file under it);
- cross: every combination (first input varies slowest); an empty input -> no datums;
- union: the datums of each input;
- join: every input of every child datum keyed by its own `joinOn` (a multi-input child
  datum is split, as processKeyTask does); each key makes the cross of its children's
  inputs. When a key is missing from some child, only the `outerJoin` inputs of each
  combination make a datum (processMergeTask), so an inner input never rides along;
- group: every input with the same `groupBy` key, from every child, in one datum.
pachd keeps each level's datums in a file set keyed by datum id: they come out in id order
and one datum per id (the first written). The order of the inputs inside a join or group
datum follows from it, and so does the datum id, so every level here is kept the same way.

`DatumID` and `HashDatum` as src/server/worker/common/common.go computes them: BLAKE2b-256
over each input's name, repo, branch and path (a directory's with its trailing `/`), each
followed by its length as a big-endian int64; the hash over the id, each input's content
hash (bytes; `reference` inputs left out) and the pipeline salt. A file's content hash is
its object id; a directory's is pachd's: BLAKE2b-256 over its children's, in path order.
"""
from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import struct
from dataclasses import dataclass
from typing import Callable, Iterable

from pipelines.pps.globs import candidate_paths, compile_glob


def _blake2b() -> "hashlib._Hash":
    return hashlib.blake2b(digest_size=32)  # Go's blake2b.New256(nil), pachd's pfs.NewHash


@dataclass(frozen=True)
class FileEntry:
    path: str
    hash: str
    size: int

    def hash_bytes(self) -> bytes:
        try:
            return bytes.fromhex(self.hash)
        except ValueError:
            return self.hash.encode()


@dataclass(frozen=True)
class InputCommit:
    repo: str
    branch: str
    commit: str
    files: tuple[FileEntry, ...]


def tree_hash(files: tuple[FileEntry, ...], prefix: str) -> bytes:
    """pachd's directory hash (pfs/server source.go computeFileInfo): BLAKE2b-256 over the
    hashes of the directory's children in path order, a subdirectory's computed the same way.
    `files` are the files under `prefix` (which ends with `/`), sorted by path."""
    h, i = _blake2b(), 0
    while i < len(files):
        rel = files[i].path[len(prefix):]
        if "/" in rel:
            sub = prefix + rel.split("/", 1)[0] + "/"
            j = i
            while j < len(files) and files[j].path.startswith(sub):
                j += 1
            h.update(tree_hash(files[i:j], sub))
            i = j
        else:
            h.update(files[i].hash_bytes())
            i += 1
    return h.digest()


@dataclass(frozen=True)
class DatumInput:
    name: str
    repo: str
    branch: str
    commit: str
    glob: str
    path: str                      # the matched path; a directory's without its trailing `/`
    files: tuple[FileEntry, ...]
    join_on: str = ""
    group_by: str = ""
    outer_join: bool = False
    s3: bool = False               # served through the S3 gateway, not mounted (common.Input.S3)
    reference: bool = False        # left out of the datum hash (PFSInput.reference)

    @property
    def is_dir(self) -> bool:
        return not (len(self.files) == 1 and self.files[0].path == self.path)

    @property
    def file_path(self) -> str:
        """The path as pachd's FileInfo has it: a directory's ends with `/`."""
        return self.path + "/" if self.is_dir and self.path != "/" else self.path

    def hash_bytes(self) -> bytes:
        """pachd's FileInfo.Hash of the matched path."""
        if not self.is_dir:
            return self.files[0].hash_bytes()
        return tree_hash(self.files, self.file_path)

    @property
    def hash(self) -> str:
        return self.hash_bytes().hex()


def _field(h, text: str) -> None:
    data = text.encode()
    h.update(data)
    h.update(struct.pack(">q", len(data)))


def datum_id(inputs: Iterable[DatumInput]) -> str:
    """common.DatumID."""
    h = _blake2b()
    for i in inputs:
        _field(h, i.name)
        _field(h, i.repo)
        _field(h, i.branch)
        _field(h, i.file_path)
    return h.hexdigest()


def hash_datum(salt: str, inputs: Iterable[DatumInput]) -> str:
    """common.HashDatum."""
    inputs = tuple(inputs)
    h = _blake2b()
    h.update(datum_id(inputs).encode())
    for i in inputs:
        if not i.reference:
            h.update(i.hash_bytes())
    h.update(salt.encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Datum:
    inputs: tuple[DatumInput, ...]

    @functools.cached_property
    def id(self) -> str:
        return datum_id(self.inputs)

    def hash(self, salt: str) -> str:
        return hash_datum(salt, self.inputs)

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


def input_name(spec: dict) -> str:
    """pps.InputName: a pfs input's `name` as written; a compound input's first child's."""
    if "pfs" in spec:
        return spec["pfs"].get("name") or ""
    for kind in ("cross", "join", "group", "union"):
        if spec.get(kind):
            return input_name(spec[kind][0])
    return ""


def sort_input(spec: dict) -> dict:
    """pps.SortInput: every compound input's children sorted by input_name, stably."""
    for kind in ("cross", "join", "group", "union"):
        if kind in spec:
            children = [sort_input(c) for c in spec[kind] or []]
            return {**spec, kind: sorted(children, key=input_name)}
    return spec


def _file_set(ds: Iterable[Datum]) -> list[Datum]:
    """A datum file set as pachd reads it back: one datum per id (the first), in id order."""
    by_id: dict[str, Datum] = {}
    for d in ds:
        by_id.setdefault(d.id, d)
    return [by_id[k] for k in sorted(by_id)]


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
    g = compile_glob(spec["glob"])
    files = sorted(c.files, key=lambda f: f.path)
    paths = [f.path for f in files]
    out = []
    for listed in candidate_paths(paths):
        if not g.match(listed):
            continue
        path = listed if listed == "/" else listed.rstrip("/")
        out.append(Datum((DatumInput(
            name, c.repo, c.branch, c.commit, spec["glob"], path, _under(paths, files, path),
            g.replace(listed, spec.get("joinOn", "")), g.replace(listed, spec.get("groupBy", "")),
            bool(spec.get("outerJoin")), bool(spec.get("s3")), bool(spec.get("reference"))),)))
    return _file_set(out)


def _cross(children: list[list[Datum]]) -> list[Datum]:
    if not children or any(not c for c in children):
        return []
    return _file_set(Datum(tuple(i for d in combo for i in d.inputs)) for combo in itertools.product(*children))


def _keyed(children: list[list[Datum]], key: Callable[[DatumInput], str]) -> list[list[list[DatumInput]]]:
    """processKeyTask then mergeByKey: per key (in the order of its hash, as pachd's key
    file set is), each child's inputs with that key, in child order."""
    keys: dict[str, list[list[DatumInput]]] = {}
    for idx, datums_ in enumerate(children):
        for d in datums_:
            for i in d.inputs:
                keys.setdefault(key(i), [[] for _ in children])[idx].append(i)
    order = sorted(keys, key=lambda k: hashlib.blake2b(k.encode(), digest_size=32).hexdigest())
    return [keys[k] for k in order]


def _join(children: list[list[Datum]]) -> list[Datum]:
    out = []
    for per_child in _keyed(children, lambda i: i.join_on):
        present = [g for g in per_child if g]
        for combo in itertools.product(*present):
            inputs = combo if len(present) == len(children) else tuple(i for i in combo if i.outer_join)
            if inputs:
                out.append(Datum(tuple(inputs)))
    return _file_set(out)


def _group(children: list[list[Datum]]) -> list[Datum]:
    return _file_set(Datum(tuple(i for g in per_child for i in g))
                     for per_child in _keyed(children, lambda i: i.group_by))


def _datums(spec: dict, resolve: Resolver) -> list[Datum]:
    if "pfs" in spec:
        return _pfs(spec["pfs"], resolve)
    for kind, combine in (("cross", _cross), ("join", _join), ("group", _group)):
        if kind in spec:
            return combine([_datums(c, resolve) for c in spec[kind]])
    if "union" in spec:
        return _file_set(d for c in spec["union"] for d in _datums(c, resolve))
    raise ValueError(f"unsupported input type: {sorted(spec)} (pfs, cross, union, join, group)")


def datums(input_spec: dict, resolve: Resolver) -> list[Datum]:
    """The datums of an input spec (camelCase, as in a pipeline spec), in pachd's order (by id)."""
    return _datums(sort_input(input_spec), resolve)


# -- records made before ids and hashes were pachd's ---------------------------------------
# Earlier versions recorded sha256 ids and hashes over the inputs in spec order (a
# directory's content hash: sha256 of its listing). The first job after an upgrade finds
# such records by recomputing that hash from a record's inputs, and skips a datum whose
# inputs, files and salt are the same (plan.decide), adopting its outputs.

def legacy_id(inputs: list[dict]) -> str:
    h = hashlib.sha256()
    for i in inputs:
        for key in ("name", "repo", "branch", "path"):
            _field(h, i[key])
    return h.hexdigest()


def legacy_hash(inputs: list[dict], salt: str) -> str:
    """The hash an earlier version recorded for a datum with these (recorded) inputs."""
    h = hashlib.sha256(legacy_id(inputs).encode())
    for i in inputs:
        files = i["files"]
        if len(files) == 1 and files[0]["path"] == i["path"]:
            h.update(files[0]["hash"].encode())
        else:
            listing = hashlib.sha256()
            for f in files:
                listing.update(f"{f['path']}\0{f['hash']}\n".encode())
            h.update(listing.hexdigest().encode())
    h.update(salt.encode())
    return h.hexdigest()


def content_key(inputs: list[dict]) -> tuple:
    """What a datum hash covers, input order aside: names, repos, branches, paths, files."""
    return tuple(sorted((i["name"], i["repo"], i["branch"], i["path"],
                         tuple((f["path"], f["hash"]) for f in i["files"])) for i in inputs))

"""Lineage: any output file, back through every datum that led to it, down to the
uploaded and settings files (repo, commit, path, sha256). Pachyderm stops at datums;
here each output file row names the datum that wrote it, and each datum its inputs."""
from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.errors import NotFound


@dataclass
class Node:
    repo: str
    commit: str
    path: str
    hash: str
    size: int
    job: str | None = None          # the job whose datum wrote the file (None: committed by a user)
    datum: str | None = None
    inputs: list["Node"] = field(default_factory=list)

    @property
    def is_source(self) -> bool:
        return self.job is None

    def to_dict(self) -> dict:
        d = {"repo": self.repo, "commit": self.commit, "path": self.path, "sha256": self.hash, "size": self.size}
        if self.job:
            d |= {"job": self.job, "datum": self.datum, "inputs": [i.to_dict() for i in self.inputs]}
        return d

    def sources(self) -> list["Node"]:
        if self.is_source:
            return [self]
        seen, out = set(), []
        for i in self.inputs:
            for s in i.sources():
                if (s.repo, s.commit, s.path) not in seen:
                    seen.add((s.repo, s.commit, s.path))
                    out.append(s)
        return out


def trace(engine, repo: str, commit: str, path: str, _memo: dict | None = None) -> Node:
    memo = {} if _memo is None else _memo
    key = (repo, commit, path)
    if key in memo:
        return memo[key]
    f = engine.store.file(repo, commit, path)
    if f is None:
        under = engine.store.files(repo, commit, path)
        hint = f" (a folder of {len(under)} files: name one)" if under else ""
        raise NotFound(f"{repo}@{commit}:{path}: no such file{hint}")
    node = Node(repo, commit, path, f.hash, f.size, f.job, f.datum)
    memo[key] = node
    if f.job:
        d = engine.jobs.datum(repo, f.job, f.datum)
        for i in d.inputs:
            for inf in i["files"]:
                node.inputs.append(trace(engine, i["repo"], i["commit"], inf["path"], memo))
    return node


def render(node: Node, engine, indent: str = "") -> list[str]:
    """Tree text: each output file, then the datum and its inputs, indented."""
    lines = []
    label = f"{node.repo}@{node.commit}:{node.path}  sha256:{node.hash[:16]}  {node.size} B"
    if node.is_source:
        kind = "settings" if node.repo == "settings" else "upload" if node.repo == "media" else "user commit"
        c = engine.store.commit(node.repo, node.commit)
        lines.append(f"{indent}{label}  [{kind}, committed {c.started and _iso(c.started)}]")
        return lines
    lines.append(f"{indent}{label}")
    lines.append(f"{indent}  <- {node.repo} datum {node.datum[:12]} of job {node.job[:12]}")
    for child in node.inputs:
        lines += render(child, engine, indent + "     ")
    return lines


def _iso(t: float) -> str:
    import time
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(t))

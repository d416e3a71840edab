"""Request messages to engine names: which repo, branch or commit a pfs.Repo, pfs.Branch
or pfs.Commit means, refused as pachd refuses what does not exist. The engine has one
project, `default`; an empty project means it, as pachd's EnsureProject does."""
from __future__ import annotations

import re
from dataclasses import dataclass

from pachyderm_sdk.api import pfs

from pipelines.errors import NotFound
from pipelines.pachd import status
from pipelines.pachd.status import PROJECT


_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Ref:
    """A commit a request names, resolved: repo and id, and the branch it was named by."""
    repo: str
    id: str
    branch: str | None
    commit: object          # store.Commit, or open_commits.Staged while it is open

    @property
    def open(self) -> bool:
        return self.commit.finished is None


def project(p: pfs.Project | None) -> str:
    name = p.name if p else ""
    if name and name != PROJECT:
        raise status.project_not_found(name)
    return PROJECT


def repo_name(r: pfs.Repo | None) -> str:
    if r is None or not r.name:
        raise status.unknown("repo cannot be nil")
    project(r.project)
    if r.type and r.type != "user":  # spec/meta repos are pachd's internals; we have none
        raise status.repo_not_found(f"{r.name}.{r.type}")
    return r.name


class Refs:
    def __init__(self, engine, open_commits) -> None:
        self.e = engine
        self.open = open_commits

    def repo(self, r: pfs.Repo | None) -> str:
        """The repo's name, NOT_FOUND if it does not exist."""
        name = repo_name(r)
        if not self.exists(name):
            raise status.repo_not_found(name)
        return name

    def exists(self, name: str) -> bool:
        try:
            self.e.store.repo(name)
            return True
        except NotFound:
            return False

    def branch(self, b: pfs.Branch | None) -> tuple[str, str]:
        if b is None or not b.name:
            raise status.unknown("branch must be specified")
        repo = self.repo(b.repo)
        return repo, b.name

    def branch_exists(self, repo: str, branch: str) -> bool:
        return any(row["name"] == branch for row in self.e.store.branches(repo)) or \
            self.open.on_branch(repo, branch) is not None

    def commit(self, c: pfs.Commit | None) -> Ref:
        """A commit by id, by branch (its head, open or not), or by branch plus an
        ancestry suffix (`^`, `~2`) as pachctl sends `master^`."""
        if c is None:
            raise status.unknown("commit cannot be nil")
        repo_msg = c.repo if c.repo and c.repo.name else (c.branch.repo if c.branch else None)
        repo = self.repo(repo_msg)
        branch = c.branch.name if c.branch and c.branch.name else None
        id = c.id or ""
        if not id and branch and _ID.fullmatch(branch) and not self.branch_exists(repo, branch):
            id, branch = branch, None  # `repo@<id>` parsed as a branch: pachd takes a UUID for a commit id
        if id and not id.startswith(("^", "~", ".")):
            staged = self.open.get(repo, id)
            if staged:
                return Ref(repo, id, staged.branch, staged)
            try:
                found = self.e.store.commit(repo, id)
            except NotFound:
                raise status.commit_not_found(repo, id) from None
            return Ref(repo, found.id, branch or found.branch, found)
        if not branch:
            raise status.unknown("commit must have an id or a branch")
        if not id:
            staged = self.open.on_branch(repo, branch)
            if staged:
                return Ref(repo, staged.id, branch, staged)
        if not self.branch_exists(repo, branch):
            raise status.branch_not_found(repo, branch)
        try:
            found = self.e.resolve(repo, branch + id)
        except NotFound:
            raise status.commit_not_found(repo, branch + id) from None
        return Ref(repo, found.id, branch, found)

    def file(self, f: pfs.File | None) -> tuple[Ref, str]:
        if f is None or f.commit is None:
            raise status.unknown("file cannot be nil")
        return self.commit(f.commit), clean_path(f.path)


def clean_path(path: str) -> str:
    """pachd's path cleaning: leading /, no trailing /, no empty segments."""
    parts = [p for p in (path or "").split("/") if p and p != "."]
    return "/" + "/".join(parts)

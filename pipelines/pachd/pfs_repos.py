"""pfs: projects, repos and branches."""
from __future__ import annotations

from pachyderm_sdk.api import pfs

from pipelines import protojson
from pipelines.errors import NotFound
from pipelines.pachd import refs, status
from pipelines.pachd.convert import message
from pipelines.pachd.status import PROJECT


class Projects:
    """The engine has one project, `default`; others are refused, never pretended."""
    SERVICE = "pfs_v2.API"

    def __init__(self, engine) -> None:
        self.e = engine

    def _info(self) -> pfs.ProjectInfo:
        created = min((r["created"] for r in self.e.store.repos()), default=None)
        return message(pfs.ProjectInfo, protojson.prune({
            "project": protojson.PROJECT, "description": "the embedded engine's only project",
            "createdAt": protojson.ts(created)}))

    def ListProject(self, request, context):
        yield self._info()

    def InspectProject(self, request: pfs.InspectProjectRequest, context) -> pfs.ProjectInfo:
        refs.project(request.project)
        return self._info()

    def InspectProjectV2(self, request: pfs.InspectProjectV2Request, context) -> pfs.InspectProjectV2Response:
        refs.project(request.project)
        return pfs.InspectProjectV2Response(info=self._info(), defaults_json="{}")

    def CreateProject(self, request: pfs.CreateProjectRequest, context):
        name = request.project.name if request.project else ""
        if name == PROJECT:
            if request.update:
                raise status.unimplemented("CreateProject", "the default project's description is fixed")
            raise status.project_exists(name)
        raise status.unimplemented("CreateProject", f"the embedded engine has one project, {PROJECT!r}; "
                                   f"give project {PROJECT!r} (or none) instead of {name!r}")


class Repos:
    SERVICE = "pfs_v2.API"

    def __init__(self, engine, refs_: refs.Refs) -> None:
        self.e = engine
        self.refs = refs_

    def _info(self, name: str) -> pfs.RepoInfo:
        row = self.e.store.repo(name)
        head = self.e.store.head(name)
        size = self.e.store.commit_size(name, head) if head else 0
        branches = [b["name"] for b in self.e.store.branches(name)]
        return message(pfs.RepoInfo, protojson.repo_info(row, size, branches))

    def CreateRepo(self, request: pfs.CreateRepoRequest, context):
        name = refs.repo_name(request.repo)
        if self.refs.exists(name):
            if not request.update:
                raise status.repo_exists(name)
            if request.description != self.e.store.repo(name)["description"]:
                self.e.describe_repo(name, request.description)
            return betterproto_empty()
        self.e.store.create_repo(name, "user", request.description)
        return betterproto_empty()

    def InspectRepo(self, request: pfs.InspectRepoRequest, context) -> pfs.RepoInfo:
        return self._info(self.refs.repo(request.repo))

    def ListRepo(self, request: pfs.ListRepoRequest, context):
        for p in request.projects or []:
            refs.project(p)
        if request.type and request.type != "user":
            return  # pachd's spec/meta repos: the engine has none
        for row in self.e.store.repos():
            yield self._info(row["name"])

    def DeleteRepo(self, request: pfs.DeleteRepoRequest, context) -> pfs.DeleteRepoResponse:
        name = self.refs.repo(request.repo)
        self.e.delete_repo(name, force=request.force)
        return pfs.DeleteRepoResponse(deleted=True)


class Branches:
    SERVICE = "pfs_v2.API"

    def __init__(self, engine, refs_: refs.Refs) -> None:
        self.e = engine
        self.refs = refs_

    def _provenance(self, repo: str) -> list[dict]:
        """An output branch's direct provenance: the input branches its pipeline reads."""
        try:
            spec = self.e.jobs.pipeline(repo)["spec"]
        except NotFound:
            return []
        from pipelines.pps.spec import pfs_inputs
        seen = {(p["repo"], p["branch"]) for p in pfs_inputs(spec["input"])}
        return [protojson.branch(r, b) for r, b in sorted(seen)]

    def _info(self, repo: str, name: str) -> pfs.BranchInfo:
        head = self.e.store.head(repo, name)
        staged = self.refs.open.on_branch(repo, name)
        head_id = staged.id if staged else head
        prov = self._provenance(repo) if name == "master" else []
        return message(pfs.BranchInfo, protojson.prune({
            "branch": protojson.branch(repo, name),
            "head": protojson.commit(repo, head_id, name) if head_id else None,
            "directProvenance": prov, "provenance": prov}))

    def _names(self, repo: str) -> list[str]:
        names = {b["name"] for b in self.e.store.branches(repo)} | {s.branch for s in self.refs.open.all(repo)}
        return sorted(names)

    def InspectBranch(self, request: pfs.InspectBranchRequest, context) -> pfs.BranchInfo:
        repo, name = self.refs.branch(request.branch)
        if name not in self._names(repo):
            raise status.branch_not_found(repo, name)
        return self._info(repo, name)

    def ListBranch(self, request: pfs.ListBranchRequest, context):
        repos = [self.refs.repo(request.repo)] if request.repo and request.repo.name else \
            [r["name"] for r in self.e.store.repos()]
        for repo in repos:
            names = self._names(repo)
            for name in (reversed(names) if request.reverse else names):
                yield self._info(repo, name)


def betterproto_empty():
    from betterproto.lib.google.protobuf import Empty
    return Empty()

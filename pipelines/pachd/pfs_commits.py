"""pfs: commits and commit sets -- start, finish, inspect (and wait), list, subscribe.

A commit set is the engine's unit of work: a user commit and every output commit it
causes share its id. pachd opens the downstream output commits at once; the engine makes
each when its job starts. So a wait on an output branch first lets the commit sets that
were queued at the call be processed, then waits for the branch's head: the commit pachd
would have shown as open at that moment."""
from __future__ import annotations

from betterproto.lib.google.protobuf import Empty
from pachyderm_sdk.api import pfs

from pipelines import protojson
from pipelines.pachd import status, waiting
from pipelines.pachd.convert import commit_info, message
from pipelines.pachd.refs import Ref, Refs

_KINDS = {pfs.OriginKind.USER: "USER", pfs.OriginKind.AUTO: "AUTO", pfs.OriginKind.FSCK: "FSCK"}


class Commits:
    SERVICE = "pfs_v2.API"

    def __init__(self, engine, refs: Refs, poke=lambda: None) -> None:
        self.e = engine
        self.refs = refs
        self.open = refs.open
        self.poke = poke  # the scheduler: a finished commit is processed as it lands

    # -- writing -------------------------------------------------------------------------------
    def StartCommit(self, request: pfs.StartCommitRequest, context) -> pfs.Commit:
        repo, branch = self.refs.branch(request.branch)
        if self.e.store.repo(repo)["type"] != "user":
            raise status.commit_on_output_branch(repo, branch)
        if request.parent and (request.parent.id or request.parent.branch):
            parent = self.refs.commit(request.parent)
            head = self.e.store.head(repo, branch)
            if parent.repo != repo or parent.id != head:
                raise status.unimplemented("StartCommit", "a parent other than the branch's head (the engine "
                                           "makes each commit on the head of its branch)")
        s = self.open.start(repo, branch, request.description)
        return message(pfs.Commit, protojson.commit(repo, s.id, branch))

    def FinishCommit(self, request: pfs.FinishCommitRequest, context) -> Empty:
        ref = self.refs.commit(request.commit)
        if not ref.open:
            raise status.commit_finished(ref.repo, ref.id)
        if ref.commit in self.open.all(ref.repo):
            if request.error:
                raise status.unimplemented("FinishCommit", "finishing a commit with an error (the engine drops "
                                           "a commit that fails; delete what you wrote instead)")
            self.open.finish(ref.commit, request.description)
            self.poke()
            return Empty()
        raise status.unknown("cannot finish a pipeline output or meta commit, use 'stop job' instead")

    # -- reading -------------------------------------------------------------------------------
    def InspectCommit(self, request: pfs.InspectCommitRequest, context) -> pfs.CommitInfo:
        wait = request.wait
        c = request.commit
        if wait >= pfs.CommitState.FINISHING and c is not None:
            named_by_branch = not c.id or c.id.startswith(("^", "~"))
            queued = {s["id"] for s in self.e.jobs.pending_sets()}
            if named_by_branch or c.id in queued:
                waiting.until(context, lambda: not (queued & {s["id"] for s in self.e.jobs.pending_sets()}))
        ref = self.refs.commit(c)
        if wait >= pfs.CommitState.FINISHING and ref.open:
            ref = waiting.until(context, lambda: self._finished(ref))
        return commit_info(self.e, ref.commit)

    def _finished(self, ref: Ref) -> Ref | None:
        if self.open.get(ref.repo, ref.id):
            return None
        c = self.e.store.commit(ref.repo, ref.id)
        return Ref(ref.repo, c.id, ref.branch, c) if c.finished is not None else None

    def ListCommit(self, request: pfs.ListCommitRequest, context):
        repo = self.refs.repo(request.repo)
        commits = [s for s in self.open.all(repo)] + self.e.store.commits(repo)  # newest first
        if request.to and (request.to.id or request.to.branch):
            to = self.refs.commit(request.to).commit
            commits = [c for c in commits if c.finished is not None and c.seq <= to.seq and c.branch == to.branch]
        if request.from_ and (request.from_.id or request.from_.branch):
            since = self.refs.commit(request.from_).commit
            commits = [c for c in commits if c.finished is None or c.seq > since.seq]
        if request.origin_kind:
            commits = [c for c in commits if c.origin == _KINDS.get(request.origin_kind)]
        if request.number:
            commits = commits[:request.number]
        for c in reversed(commits) if request.reverse else commits:
            yield commit_info(self.e, c)

    def SubscribeCommit(self, request: pfs.SubscribeCommitRequest, context):
        repo = self.refs.repo(request.repo)
        branch = request.branch or None
        since = self.refs.commit(request.from_).commit.seq if request.from_ and request.from_.id else 0
        want_finished = request.state >= pfs.CommitState.FINISHING
        sent: set[str] = set()
        while True:
            for c in reversed(self.e.store.commits(repo, branch)):  # oldest first
                if c.seq <= since or c.id in sent or (want_finished and c.finished is None):
                    continue
                if request.origin_kind and c.origin != _KINDS.get(request.origin_kind):
                    continue
                sent.add(c.id)
                yield commit_info(self.e, c)
            if not waiting.alive(context):
                return

    # -- commit sets -----------------------------------------------------------------------------
    def _set_commits(self, id: str) -> list:
        staged = [s for s in self.open.all() if s.id == id]
        return staged + self.e.store.commit_set(id)

    def _settled(self, id: str) -> bool:
        if any(s.id == id for s in self.open.all()) or any(s["id"] == id for s in self.e.jobs.pending_sets()):
            return False
        return all(c.finished is not None for c in self.e.store.commit_set(id))

    def InspectCommitSet(self, request: pfs.InspectCommitSetRequest, context):
        id = request.commit_set.id if request.commit_set else ""
        if request.wait:
            waiting.until(context, lambda: self._settled(id))
        commits = self._set_commits(id)
        if not commits:
            raise status.commit_set_not_found(id)
        for c in commits:
            yield commit_info(self.e, c)

    def ListCommitSet(self, request: pfs.ListCommitSetRequest, context):
        refs_project = request.project
        if refs_project and refs_project.name and refs_project.name != status.PROJECT:
            raise status.project_not_found(refs_project.name)
        seen: dict[str, list] = {}
        for row in self.e.store.repos():
            for c in self.e.store.commits(row["name"]):
                seen.setdefault(c.id, []).append(c)
        for s in self.open.all():
            seen.setdefault(s.id, []).insert(0, s)
        newest = sorted(seen.items(), key=lambda kv: -max(c.seq or 1 << 62 for c in kv[1]))
        for id, commits in newest:
            yield pfs.CommitSetInfo(commit_set=pfs.CommitSet(id=id),
                                    commits=[commit_info(self.e, c) for c in sorted(commits, key=lambda c: c.seq)])

"""create | list repo, list | inspect | wait commit."""
from __future__ import annotations

import time

from pipelines import protojson as shapes
from pipelines.errors import JobFailed, PachmediaError, RunLocked
from pipelines.pfs.names import parse_ref
from pipelines.cli.base import Command
from pipelines.cli.fmt import add_raw, ago, duration, engine, job_counts, raw, size, table


def create_repo(args) -> int:
    with engine(args) as e:
        e.create_repo(args.repo, args.description or "")
        print(f"created repo {args.repo}")
    return 0


def list_repo(args) -> int:
    with engine(args) as e:
        rows = []
        for r in e.list_repos():
            head = e.head(r["name"])
            rows.append((r, head, e.commit_size(r["name"], head) if head else 0))
        if args.raw:
            raw([shapes.repo_info(r, n, [b["name"] for b in e.list_branches(r["name"])]) for r, _, n in rows])
        else:
            table(["NAME", "TYPE", "CREATED", "SIZE (MASTER)", "DESCRIPTION"],
                  [[r["name"], r["type"], ago(r["created"]), size(n), r["description"][:60]] for r, _, n in rows])
    return 0


def inspect_repo(args) -> int:
    with engine(args) as e:
        r = e.inspect_repo(args.repo)
        head = e.head(r["name"])
        n = e.commit_size(r["name"], head) if head else 0
        branches = [b["name"] for b in e.list_branches(r["name"])]
        if args.raw:
            raw(shapes.repo_info(r, n, branches))
            return 0
        print(f"Name: {r['name']}\nType: {r['type']}\nDescription: {r['description']}\nCreated: {ago(r['created'])}\n"
              f"Size of HEAD on master: {size(n)}\nBranches: {', '.join(branches) or '-'}")
    return 0


def list_commit(args) -> int:
    with engine(args) as e:
        if args.target:
            ref = parse_ref(args.target, default_branch=None)
            e.inspect_repo(ref.repo)
            commits = e.list_commits(ref.repo, ref.branch_or_commit, limit=args.number)
        else:
            commits = [c for r in e.list_repos() for c in e.list_commits(r["name"], limit=args.number)]
            commits.sort(key=lambda c: -c.seq)
        if args.raw:
            raw([_commit_info(e, c) for c in commits])
            return 0
        table(["REPO", "BRANCH", "COMMIT", "FINISHED", "SIZE", "ORIGIN", "DESCRIPTION"],
              [[c.repo, c.branch, c.id, ago(c.finished) if c.finished else "open",
                size(e.commit_size(c.repo, c.id)), c.origin,
                (f"ERROR: {c.error}" if c.error else c.description)[:70]] for c in commits])
    return 0


def _commit_info(e, c) -> dict:
    return shapes.commit_info(c, e.commit_size(c.repo, c.id), e.child_commits(c.repo, c.id))


def inspect_commit(args) -> int:
    ref = parse_ref(args.target)
    with engine(args) as e:
        c = e.resolve(ref.repo, ref.branch_or_commit)
        n = e.commit_size(c.repo, c.id)
        if args.raw:
            raw(_commit_info(e, c))
            return 0
        print(f"Commit: {c.repo}@{c.id}\nOriginal Branch: {c.branch}\nParent: {c.parent or '<none>'}\n"
              f"Origin: {c.origin}\nStarted: {ago(c.started)}\nFinished: {ago(c.finished) if c.finished else 'open'}\n"
              f"Size: {size(n)}\nDescription: {c.description}")
        if c.error:
            print(f"Error: {c.error}")
        for r, b, i in c.provenance:
            print(f"Provenance: {r}@{i} (branch {b})")
    return 0


def wait_commit(args) -> int:
    """Block until the commit's set and everything downstream has settled; run the
    pending work here unless another pachmedia already is."""
    ref = parse_ref(args.target)
    deadline = time.monotonic() + args.timeout if args.timeout else None
    with engine(args) as e:
        c = e.resolve(ref.repo, ref.branch_or_commit)
        seq = c.seq
        while True:
            waiting = [s for s in e.pending() if s["seq"] <= seq or s["id"] == c.id]
            if not waiting:
                break
            try:
                e.run(show_progress=not args.quiet)
                continue
            except RunLocked:
                pass  # another process is running them: wait for it
            if deadline and time.monotonic() > deadline:
                raise PachmediaError(f"timed out after {args.timeout}s waiting for {ref}")
            time.sleep(0.5)
        jobs = e.list_jobs(id=c.id)
        bad = [j for j in jobs if j.state != "JOB_SUCCESS"]
        for j in sorted(jobs, key=lambda j: j.started or 0):
            print(f"{j.pipeline:10} {j.state:15} {job_counts(j)}  {duration(j.started, j.finished)}"
                  + (f"  reason: {j.reason}" if j.reason else ""))
        if bad:
            raise JobFailed(f"{len(bad)} job(s) in commit set {c.id} did not succeed: "
                            + ", ".join(f"{j.pipeline} ({j.state})" for j in bad)
                            + f"; see `pachmedia list datum {bad[0].pipeline}@{c.id}`")
        if not jobs and not args.quiet:
            print(f"{ref}: finished, nothing downstream")
    return 0


def _list_commit_args(p) -> None:
    p.add_argument("target", nargs="?", metavar="repo[@branch]")
    p.add_argument("-n", "--number", type=int, help="at most this many commits per repo")
    add_raw(p)


def _wait_args(p) -> None:
    p.add_argument("target", metavar="repo@branch|repo@commit")
    p.add_argument("--timeout", type=float, help="give up after this many seconds")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _inspect_args(p) -> None:
    p.add_argument("target", metavar="repo@branch|repo@commit")
    add_raw(p)


def _create_repo_args(p) -> None:
    p.add_argument("repo")
    p.add_argument("-d", "--description")


COMMANDS = [
    Command("create", "repo", "Create an input repo.", _create_repo_args, create_repo),
    Command("list", "repo", "List repos (inputs and pipeline outputs).", add_raw, list_repo),
    Command("inspect", "repo", "Show a repo: type, description, size, branches.",
            lambda p: (p.add_argument("repo"), add_raw(p)), inspect_repo),
    Command("list", "commit", "List commits, newest first.", _list_commit_args, list_commit),
    Command("inspect", "commit", "Show a commit: parent, origin, provenance, size, error.", _inspect_args, inspect_commit),
    Command("wait", "commit", "Wait until a commit and everything downstream of it has been processed "
            "(exit status 1 if a job failed).", _wait_args, wait_commit),
]

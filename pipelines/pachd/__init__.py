"""A local pachd: Pachyderm 2.12's gRPC API over the embedded engine, so pachctl,
pachyderm-sdk and what is built on them run unchanged against this machine.

`serve(engine, host, port, poke)` starts the gRPC server; `poke` is called when a commit
or pipeline lands, so the scheduler processes it at once. pfs and pps are split by concern
(projects/repos/branches, commits, files; pipelines, jobs/datums/logs), each a service
object whose methods carry the gRPC method names (see server.py)."""
from __future__ import annotations

from typing import Callable

from pipelines.pachd.server import PachdServer

DEFAULT_PORT = 30650  # pachd's


def services(engine, poke: Callable[[], None] = lambda: None) -> list[object]:
    from pipelines.pachd.admin import Cluster, Version
    from pipelines.pachd.open_commits import OpenCommits
    from pipelines.pachd.pfs_commits import Commits
    from pipelines.pachd.pfs_files import Files
    from pipelines.pachd.pfs_repos import Branches, Projects, Repos
    from pipelines.pachd.pps_jobs import Jobs
    from pipelines.pachd.pps_pipelines import Pipelines
    from pipelines.pachd.refs import Refs
    refs = Refs(engine, OpenCommits(engine, engine.home / "pachd" / "open"))
    return [Version(), Cluster(engine.home), Projects(engine), Repos(engine, refs), Branches(engine, refs),
            Commits(engine, refs, poke), Files(engine, refs, poke), Pipelines(engine, poke), Jobs(engine, poke)]


def serve(engine, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          poke: Callable[[], None] = lambda: None) -> PachdServer:
    return PachdServer(services(engine, poke), host, port).start()

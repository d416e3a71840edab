"""lineage repo@branch:/path — the chain from an output file back to the uploads."""
from __future__ import annotations

from pipelines.pps.lineage import render, trace
from pipelines.pfs.names import parse_ref, require_path
from pipelines.cli.base import Command
from pipelines.cli.fmt import add_raw, engine, raw


def lineage(args) -> int:
    ref = parse_ref(args.target)
    path = require_path(ref, "lineage")
    with engine(args) as e:
        c = e.resolve(ref.repo, ref.branch_or_commit)
        node = trace(e, ref.repo, c.id, path)
        if args.raw:
            raw(node.to_dict())
            return 0
        print("\n".join(render(node, e)))
        print("\nSources:")
        for s in node.sources():
            print(f"  {s.repo}@{s.commit}:{s.path}  sha256:{s.hash}")
    return 0


def _args(p) -> None:
    p.add_argument("target", metavar="repo@branch:/path")
    add_raw(p, "pachmedia's own lineage tree (no Pachyderm message)")


COMMANDS = [Command("lineage", None, "Trace an output file back through every pipeline to the "
                    "uploads and settings (commit and sha256) it came from.", _args, lineage)]

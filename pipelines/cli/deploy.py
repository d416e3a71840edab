"""deploy: the same specs to a real Pachyderm cluster (pachyderm-sdk)."""
from __future__ import annotations

import os

from pipelines.errors import UsageError
from pipelines.cli.base import Command


def deploy_cmd(args) -> int:
    from pipelines.cluster.deploy import deploy
    if not args.pachd and not args.dry_run:
        raise UsageError("give --pachd grpc://HOST:30650 (or set PACHD_ADDRESS); --dry-run works without one")
    deploy(args.pachd, args.project, reprocess=args.reprocess, dry_run=args.dry_run, image_prefix=args.image_prefix)
    return 0


def _args(p) -> None:
    p.add_argument("--pachd", default=os.environ.get("PACHD_ADDRESS"), help="grpc://HOST:30650 (default $PACHD_ADDRESS)")
    p.add_argument("--project", default="default")
    p.add_argument("--reprocess", action="store_true", help="update pipelines with --reprocess (new salt)")
    p.add_argument("--dry-run", action="store_true", help="say what would change, change nothing (without --pachd: against an empty cluster)")
    p.add_argument("--image-prefix", help="registry/user for the stage images (default $IMAGE_PREFIX or pachmedia)")


COMMANDS = [Command("deploy", None, "Create the project, input repos, default settings and every pipeline "
                    "on a Pachyderm cluster (idempotent).", _args, deploy_cmd)]

"""serve — this machine's pachd: Pachyderm's gRPC API (30650), the S3 gateway (30600), the
playback page and the scheduler that processes every commit as it lands, in one process."""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from pipelines.cli.base import Command


def serve_cmd(args) -> int:
    from pipelines import pachd
    from pipelines.engine import Engine
    from pipelines.pfs.s3_driver import StoreBackend
    from pipelines.s3.keys import load_keys
    from pipelines.s3.server import serve as serve_s3
    from pipelines.scheduler import Background
    from pipelines.web.server import PUBLIC_BUCKETS, serve_player

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    e = Engine(Path(args.home) if args.home else None, init=not args.empty)
    for line in e.upgraded:
        print(line, file=sys.stderr)
    runner = Background(e, log=sys.stderr)
    started = []
    try:
        grpc_server = pachd.serve(e, args.host, args.port, poke=runner.poke)
        started.append(grpc_server)
        s3 = serve_s3(StoreBackend(e, on_write=runner.poke), args.host, args.s3_port, load_keys(e.home),
                      anonymous_buckets=PUBLIC_BUCKETS, parts_dir=e.home / "s3-parts", state_dir=e.home)
        started.append(s3)
        page = None
        if args.web_port >= 0:
            page = serve_player(args.host, args.web_port, s3.url)
            s3.allow_page(page.url)  # CORS for the page's own origin only, reads only
            started.append(page)
        runner.start()
        print(f"pachd {grpc_server.address} (pachctl, pachyderm-sdk) | S3 {s3.url}"
              + (f" | playback {page.url}" if page else "")
              + f" | commits processed as they land | home {e.home} | Ctrl-C stops", flush=True)
        stop.wait()
    finally:
        for server in reversed(started):
            server.stop()
        runner.stop()
        e.close()
    return 0


def _args(p) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=30650, help="gRPC port (default 30650, pachd's; 0 picks a free one)")
    p.add_argument("--s3-port", type=int, default=30600, help="S3 gateway port (default 30600, pachd's)")
    p.add_argument("--web-port", type=int, default=8080, help="playback page port (default 8080; -1: no page)")
    p.add_argument("--empty", action="store_true", help="a fresh home stays empty, as a new pachd is (no repos, "
                   "settings or pipelines until a client creates them)")


COMMANDS = [Command("serve", None, "Be this machine's pachd: Pachyderm's gRPC API for pachctl and pachyderm-sdk, "
                    "the S3 gateway, the playback page, and processing of every commit as it lands.", _args, serve_cmd)]

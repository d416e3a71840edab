"""s3 serve | s3 keys — the S3 gateway over the embedded engine (pachd's port 30600)."""
from __future__ import annotations

import signal
import sys
import threading

from pipelines.pfs.s3_driver import StoreBackend
from pipelines.scheduler import Background
from pipelines.errors import UsageError
from pipelines.s3.keys import add_reader, load_keys, readers, remove_reader
from pipelines.s3.server import serve
from pipelines.cli.base import Command
from pipelines.cli.fmt import engine


def start_gateway(e, host: str, port: int, anonymous: tuple[str, ...], run: bool, *, cors_origins=(),
                  allowed_hosts=None):
    """The gateway over this engine (and the runner that processes writes through it)."""
    keys = load_keys(e.home)
    runner = Background(e) if run else None
    backend = StoreBackend(e, on_write=runner.poke if runner else None)
    server = serve(backend, host, port, keys, anonymous_buckets=anonymous, parts_dir=e.home / "s3-parts",
                   state_dir=e.home,
                   cors_origins=cors_origins, allowed_hosts=allowed_hosts)
    if runner:
        runner.start()
    print(f"S3 gateway on {server.url} (buckets: branch.repo, e.g. master.catalog; commit.branch.repo for a fixed commit)")
    print(f"  access key {keys.access_key}   (`pachmedia s3 keys` shows the secret)")
    if anonymous:
        print(f"  anonymous read: {', '.join(anonymous)}")
    print("  writes to input repos are commits" + (", processed as they land" if runner else "") + "; Ctrl-C stops")
    return server, runner


def s3_serve(args) -> int:
    e = engine(args)
    server, runner = start_gateway(e, args.host, args.port, tuple(args.anonymous or ()), args.run,
                                   allowed_hosts=args.allowed_host or None)
    return _wait(e, [server], runner)


def play(args) -> int:
    from pipelines.web.server import PUBLIC_BUCKETS, serve_player
    e = engine(args)
    server, runner = start_gateway(e, args.host, args.s3_port, PUBLIC_BUCKETS, True)
    page = serve_player(args.host, args.port, server.url)
    server.allow_page(page.url)  # CORS for the page's own origin only, reads only
    print(f"playback page on {page.url}  (assets from the catalog; HLS with hls.js, DASH with dash.js)")
    return _wait(e, [page, server], runner)


def _wait(e, servers, runner) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.stop()
        if runner:
            runner.stop()
        e.close()
    return 0


def s3_keys(args) -> int:
    """The owner's pair (as the gateway's environment), or a reader's (as a client's environment)."""
    e = engine(args)
    try:
        if args.add_reader:
            access, secret = add_reader(e.home, args.add_reader)
            print(f"# reader {args.add_reader}: reads what ACLs allow (public-read, authenticated-read), never writes",
                  file=sys.stderr)
            print(f"AWS_ACCESS_KEY_ID={access}\nAWS_SECRET_ACCESS_KEY={secret}")
        elif args.remove_reader:
            remove_reader(e.home, args.remove_reader)
            print(f"reader {args.remove_reader} removed: its keys no longer work (a running gateway too)")
        elif args.reader:
            pair = readers(e.home).get(args.reader)
            if pair is None:
                raise UsageError(f"no reader {args.reader!r}: `pachmedia s3 keys --add-reader {args.reader}` makes one")
            print(f"AWS_ACCESS_KEY_ID={pair[0]}\nAWS_SECRET_ACCESS_KEY={pair[1]}")
        else:
            k = load_keys(e.home)
            print(f"PACHMEDIA_S3_ACCESS_KEY={k.access_key}\nPACHMEDIA_S3_SECRET_KEY={k.secret_key}")
            for name, (access, _) in readers(e.home).items():
                print(f"# reader {name}: {access} (read-only; --reader {name} shows its secret)")
    finally:
        e.close()
    return 0


def _keys_args(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--add-reader", metavar="NAME", help="make a read-only key pair for a consumer (it reads what "
                   "a bucket's or object's ACL grants: public-read, authenticated-read; it never writes)")
    g.add_argument("--remove-reader", metavar="NAME", help="revoke a reader's key pair")
    g.add_argument("--reader", metavar="NAME", help="show a reader's key pair")


def _serve_args(p) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=30600, help="port (default 30600, as pachd)")
    p.add_argument("--anonymous", action="append", metavar="BUCKET",
                   help="allow reads without credentials (e.g. master.transcode for a browser player)")
    p.add_argument("--no-run", dest="run", action="store_false", help="do not process commits made through S3")
    p.add_argument("--allowed-host", action="append", metavar="HOST[:PORT]",
                   help="a Host header value clients use to reach this gateway (default: the address it "
                        "listens on, and localhost names on loopback; any when listening on every interface)")


def _play_args(p) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="the page's port (default 8080)")
    p.add_argument("--s3-port", type=int, default=30600, help="the gateway's port (default 30600)")


COMMANDS = [
    Command("play", None, "Serve the playback page (catalog, HLS and DASH players, scenes, lineage) and "
            "the S3 gateway it reads from.", _play_args, play),
    Command("s3", "serve", "Serve repos over S3 (boto3, minio, players); PUTs are commits.", _serve_args, s3_serve),
    Command("s3", "keys", "Show the gateway's owner key pair and its readers; add or remove read-only "
            "consumer keys.", _keys_args, s3_keys),
]

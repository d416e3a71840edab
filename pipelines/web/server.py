"""Serves the playback page and the player libraries (installed from npm by `make setup`) on the
project's HTTP stack (`pipelines.httpd`: uvicorn/h11, the header deadline, the connection cap).
The page reads everything else from the S3 gateway (anonymous read + CORS); which of its
buckets the gateway serves it learns from /config.json, this server having asked the gateway
(a bucket the home lacks, as `master.preview` on a home made before the preview, would be a
404 the browser logs).

A tiny static ASGI app: GET and HEAD of the page's own files only (a fixed map of paths to
files, no directory listing, no path from the request ever joined to a folder), no request
body, the Host checked as the gateway checks it.
"""
from __future__ import annotations

import asyncio
import http.client
import json
from pathlib import Path
from urllib.parse import urlsplit

from pipelines import PROJECT_ROOT
from pipelines.httpd import Served, default_hosts, listen, request_host

STATIC = Path(__file__).resolve().parent / "static"
VENDOR = {
    "hls.min.js": PROJECT_ROOT / "node_modules/hls.js/dist/hls.min.js",
    "dash.all.min.js": PROJECT_ROOT / "node_modules/dashjs/dist/modern/umd/dash.all.min.js",
}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css",
         ".json": "application/json"}
PUBLIC_BUCKETS = ("master.catalog", "master.preview", "master.transcode", "master.labels")
METHODS = ("GET", "HEAD")
PROBE_TIMEOUT = 2.0  # seconds per bucket asked about: the gateway is on this machine


def served_buckets(gateway_url: str, buckets=PUBLIC_BUCKETS) -> list[str] | None:
    """The buckets (of `buckets`) the gateway lets anyone read: a HEAD of each, unsigned, as the
    page reads them. None when the gateway cannot be asked (the page then tries each bucket)."""
    u = urlsplit(gateway_url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=PROBE_TIMEOUT)
    found = []
    try:
        for b in buckets:
            conn.request("HEAD", f"{u.path.rstrip('/')}/{b}")
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                found.append(b)
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    return found


def routes() -> dict[str, Path]:
    """Every path the page server answers with a file: the page, its static files, the players."""
    files = {"/": STATIC / "index.html", "/index.html": STATIC / "index.html"}
    files.update({f"/static/{f.name}": f for f in STATIC.iterdir() if f.is_file()})
    files.update({f"/vendor/{name}": f for name, f in VENDOR.items()})
    return files


class PageApp:
    """The ASGI application: (status, content type, body) for each request, from `routes()`."""

    def __init__(self, gateway_url: str, allowed_hosts: frozenset[str] | None) -> None:
        self.gateway = gateway_url.rstrip("/")
        self.files = routes()
        self.allowed_hosts = allowed_hosts  # None: any (bound to every interface)

    def config(self) -> bytes:
        """The gateway's URL and which of the page's buckets it serves now (asked each time: the
        page is loaded once and a home gains buckets as pipelines are created)."""
        buckets = served_buckets(self.gateway)
        return json.dumps({"gateway": self.gateway} | ({} if buckets is None else {"buckets": buckets})).encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        status, ctype, body, extra = await self.answer(scope, headers)
        out = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"),
               *((k.encode(), v.encode()) for k, v in extra.items())]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def answer(self, scope, headers: dict[str, str]) -> tuple[int, str, bytes, dict[str, str]]:
        if "transfer-encoding" in headers or headers.get("content-length", "0") != "0":
            # no request here has a body: answer once and close, so it is never read as a request
            return 400, "text/plain", b"a request to the page has no body", {"connection": "close"}
        if self.allowed_hosts is not None and request_host(scope, headers) not in self.allowed_hosts:
            return 400, "text/plain", b"this Host is not served here", {}
        if scope["method"] not in METHODS:
            return 405, "text/plain", b"the page is read with GET or HEAD", {"allow": ", ".join(METHODS)}
        path = scope["path"]
        if path == "/favicon.ico":
            return 204, "image/x-icon", b"", {}
        if path == "/config.json":
            return 200, "application/json", await asyncio.to_thread(self.config), {}
        f = self.files.get(path)
        if f is None:
            return 404, "text/plain", b"not found", {}
        try:
            data = await asyncio.to_thread(f.read_bytes)
        except FileNotFoundError:
            missing = b"player library missing: run `make setup` (npm install)" if path.startswith("/vendor/") \
                else b"not found"
            return 404, "text/plain", missing, {}
        return 200, TYPES.get(f.suffix, "application/octet-stream"), data, {}


class PlayerServer(Served):
    def __init__(self, app: PageApp, sock) -> None:
        super().__init__(app, sock, "pachmedia-player")


def serve_player(host: str, port: int, gateway_url: str, *, allowed_hosts=None) -> PlayerServer:
    """Start the page server in a background thread; port 0 picks a free port (see `.url`).
    `allowed_hosts`: Host values accepted (default: the bound address, and loopback names on loopback)."""
    sock = listen(host, port)
    hosts = default_hosts(host, sock.getsockname()[1]) if allowed_hosts is None else allowed_hosts
    app = PageApp(gateway_url, None if hosts == "*" else frozenset(h.lower() for h in hosts))
    return PlayerServer(app, sock).start()

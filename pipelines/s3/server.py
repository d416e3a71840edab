"""HTTP for the gateway: an ASGI shell around the synchronous controller, served by the project's
HTTP stack (`pipelines.httpd`: uvicorn/h11 with a header deadline and a connection cap).

Framing (Content-Length, chunked, smuggling pairs), header size, keep-alive and pipelining
are h11's and uvicorn's job. What is ours here:
- WORKERS threads running the controller; a body that stalls BODY_IDLE seconds is RequestTimeout;
- the Host header must name this server (a page elsewhere cannot rebind a name to it);
- CORS only for the origins given (the playback page) and only for GET/HEAD.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote

from pipelines.httpd import LOOPBACK_NAMES, Served, default_hosts, listen, request_host
from pipelines.s3 import errors
from pipelines.s3.access import BucketAccess
from pipelines.s3.auth import split_query
from pipelines.s3.backend import S3Backend
from pipelines.s3.controller import Gateway, Request, Response, error_response
from pipelines.s3.keys import Keys
from pipelines.s3.multipart import Uploads
from pipelines.s3.payload import PIECE, LimitedReader

log = logging.getLogger(__name__)
BODY_IDLE = 60.0
WORKERS = 16
DRAIN_LIMIT = 1 << 20  # a refused body up to this size is read to keep the connection
# S3's own limits on a request head (h11 caps what it buffers of an incomplete head at 16 KiB)
MAX_TARGET, MAX_HEADERS, MAX_HEADER_BYTES = 8192, 100, 16384
READ_METHODS = ("GET", "HEAD")
CORS_EXPOSE = "ETag, Content-Length, Content-Range, Content-Type, Accept-Ranges, Last-Modified, x-amz-version-id, x-amz-request-id"


class _Body:
    """The request body as a blocking file for the controller's thread."""

    def __init__(self, receive, loop: asyncio.AbstractEventLoop) -> None:
        self.receive, self.loop = receive, loop
        self.buf = bytearray()
        self.more = True

    async def _next(self):
        return await asyncio.wait_for(self.receive(), BODY_IDLE)

    def _fill(self) -> None:
        """One more message of the body into buf (none once it ended or the client left)."""
        try:
            msg = asyncio.run_coroutine_threadsafe(self._next(), self.loop).result()
        except TimeoutError:
            raise errors.S3Error(400, "RequestTimeout", "Your socket connection to the server was not read "
                                 "from or written to within the timeout period.") from None
        if msg["type"] != "http.request":
            self.more = False
            return
        self.buf += msg.get("body", b"")
        self.more = msg.get("more_body", False)

    def _take(self, n: int) -> bytes:
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read(self, n: int = -1) -> bytes:
        while self.more and (n < 0 or len(self.buf) < n):
            self._fill()
        return self._take(len(self.buf) if n < 0 else n)

    def readline(self, limit: int = -1) -> bytes:
        while b"\n" not in self.buf and self.more and (limit < 0 or len(self.buf) < limit):
            self._fill()
        end = self.buf.find(b"\n")
        take = len(self.buf) if end < 0 else end + 1
        return self._take(take if limit < 0 else min(take, limit))


class S3App:
    """The ASGI application: one Request for the controller, its Response streamed back."""

    def __init__(self, gateway: Gateway, allowed_hosts: frozenset[str] | None, cors_origins: frozenset[str]) -> None:
        self.gateway = gateway
        self.allowed_hosts = allowed_hosts  # None: any Host (bound to a wildcard address, see serve)
        self.cors_origins = cors_origins
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="s3")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        loop = asyncio.get_running_loop()
        headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            name = k.decode("latin-1").lower()
            headers[name] = f"{headers[name]},{v.decode('latin-1')}" if name in headers else v.decode("latin-1")
        method = scope["method"]
        if "transfer-encoding" in headers:
            # S3 bodies are sized; with a Content-Length too it is the classic smuggling pair:
            # answer once and close (h11 would take the chunked framing and go on)
            err = errors.invalid_request("Content-Length and Transfer-Encoding together") \
                if "content-length" in headers else errors.missing_content_length()
            resp = error_response(err, "-")
            resp.headers["Connection"] = "close"
        elif len(scope["raw_path"]) + len(scope["query_string"]) > MAX_TARGET:
            resp = error_response(errors.S3Error(414, "RequestURITooLong", f"the request target is over "
                                                 f"{MAX_TARGET} bytes"), "-")
            resp.headers["Connection"] = "close"
        elif len(scope["headers"]) > MAX_HEADERS or sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
            resp = error_response(errors.S3Error(431, "RequestHeaderSectionTooLarge", f"at most {MAX_HEADERS} "
                                                 f"header fields of {MAX_HEADER_BYTES} bytes in all"), "-")
            resp.headers["Connection"] = "close"
        elif self.allowed_hosts is not None and request_host(scope, headers) not in self.allowed_hosts:
            resp = error_response(errors.invalid_request(
                f"Host {request_host(scope, headers)!r} is not served here: use one of {sorted(self.allowed_hosts)}"),
                "-")
        elif method == "OPTIONS":
            resp = self._preflight(headers)
        else:
            body = LimitedReader(_Body(receive, loop), _length(headers))
            resp = await loop.run_in_executor(self.pool, self.gateway.handle, _request(scope, headers, body))
            if body.left > 0 and not await loop.run_in_executor(self.pool, _drained, body, headers):
                resp.headers["Connection"] = "close"  # the rest of the body is not read: h11 must not parse it
        await self._send(resp, method, headers, send, loop)

    def _preflight(self, headers: dict[str, str]) -> Response:
        origin, wanted = headers.get("origin", ""), headers.get("access-control-request-method", "")
        if origin not in self.cors_origins or wanted not in READ_METHODS:
            return error_response(errors.S3Error(403, "AccessForbidden", "CORSResponse: This CORS request is not "
                                                 "allowed (only the playback page may read)"), "-")
        return Response(200, {"Access-Control-Allow-Methods": ", ".join(READ_METHODS),
                              "Access-Control-Allow-Headers": headers.get("access-control-request-headers", ""),
                              "Access-Control-Max-Age": "3600"})

    async def _send(self, resp: Response, method: str, req_headers: dict[str, str], send, loop) -> None:
        length = resp.length if resp.length is not None else len(resp.body)
        out = dict(resp.headers)
        if resp.status not in (204, 304):
            out["Content-Length"] = str(length)
        origin = req_headers.get("origin")
        if origin in self.cors_origins and (method in READ_METHODS or (method == "OPTIONS" and resp.status == 200)):
            out["Access-Control-Allow-Origin"] = origin
            out["Access-Control-Expose-Headers"] = CORS_EXPOSE
            out["Vary"] = "Origin"
        out.setdefault("Server", "pachmedia-s3")
        await send({"type": "http.response.start", "status": resp.status,
                    "headers": [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in out.items()]})
        try:
            if method == "HEAD" or resp.status in (204, 304) or resp.stream is None:
                body = b"" if method == "HEAD" or resp.status in (204, 304) else resp.body
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            left = length
            while left > 0:
                data = await loop.run_in_executor(self.pool, resp.stream.read, min(PIECE, left))
                if not data:  # the store gave less than it promised: h11 closes the connection
                    raise ConnectionError(f"object ended {left} bytes early")
                left -= len(data)
                await send({"type": "http.response.body", "body": data, "more_body": left > 0})
        finally:
            if resp.stream is not None:
                resp.stream.close()


def _drained(body: LimitedReader, headers: dict[str, str]) -> bool:
    """Read what is left of a small refused body, keeping the connection; a client that
    waits for "100 Continue" never sends it, and a big one is not worth reading."""
    if "100-continue" in headers.get("expect", "").lower() or body.left > DRAIN_LIMIT:
        return False
    try:
        body.drain()
        return True
    except errors.S3Error:
        return False


def _length(headers: dict[str, str]) -> int:
    value = headers.get("content-length", "0").strip()
    return int(value) if value.isdigit() else 0  # h11 already refused a bad one


def _request(scope, headers: dict[str, str], body: LimitedReader) -> Request:
    raw_path = scope["raw_path"].decode("latin-1") or "/"
    if not raw_path.startswith("/"):  # absolute-form (through a proxy): its host is checked as Host
        raw_path = "/" + raw_path.split("://", 1)[-1].partition("/")[2]
    raw_query = scope["query_string"].decode("latin-1")
    bucket, _, key = unquote(raw_path).lstrip("/").partition("/")
    client = scope.get("client") or ("", 0)
    return Request(scope["method"], raw_path, raw_query, dict(split_query(raw_query)), headers, body,
                   bucket or None, key or None, client_ip=client[0])


class S3Server(Served):
    def __init__(self, app: S3App, sock: socket.socket) -> None:
        super().__init__(app, sock, "s3-gateway")
        self.gateway = app.gateway

    def allow_origin(self, origin: str) -> None:
        """Let pages from this origin read (GET/HEAD) with CORS: the playback page, once its port is known."""
        self.app.cors_origins = self.app.cors_origins | {origin.rstrip("/")}

    def allow_page(self, page_url: str) -> None:
        """CORS reads for the playback page at page_url, under each loopback name it may be opened by."""
        host, _, port = page_url.split("//", 1)[1].rstrip("/").rpartition(":")
        names = set(LOOPBACK_NAMES) | {host} if host in LOOPBACK_NAMES else {host}
        for name in names:
            self.allow_origin(f"http://{name}:{port}")

    def stop(self) -> None:
        super().stop()
        self.app.pool.shutdown(wait=False, cancel_futures=True)
        self.gateway.close()


def serve(backend: S3Backend, host: str, port: int, keys: Keys, anonymous_buckets=(), *,
          parts_dir: Path | None = None, cors_origins=(), allowed_hosts=None, state_dir: Path | None = None
          ) -> S3Server:
    """Start the gateway in a background thread; port 0 picks a free port (see `.url`).

    `anonymous_buckets`: bucket names (any pachd form) readable without credentials.
    `cors_origins`: origins (scheme://host:port) whose pages may read (GET/HEAD); none by default.
    `state_dir`: where bucket ACL and public-access-block settings are kept (default: memory only).
    `allowed_hosts`: Host header values accepted; default: the bound address and, on loopback,
    localhost/127.0.0.1/[::1], each with the port.
    """
    sock = listen(host, port)
    if allowed_hosts is None:
        allowed_hosts = default_hosts(host, sock.getsockname()[1])
    access = BucketAccess(Path(state_dir) / "s3-buckets.json" if state_dir else None, anonymous_buckets)
    gateway = Gateway(backend, keys, anonymous_buckets, Uploads(parts_dir), access)
    hosts = None if allowed_hosts == "*" else frozenset(h.lower() for h in allowed_hosts)
    return S3Server(S3App(gateway, hosts, frozenset(cors_origins)), sock).start()

"""HTTP for the gateway: stdlib ThreadingHTTPServer, HTTP/1.1 keep-alive, streamed bodies.

`serve(backend, host, port, keys, anonymous_buckets)` starts it in a daemon thread and
returns the server; `server.stop()` shuts it down cleanly (tests, `pachmedia s3 serve`).
"""
from __future__ import annotations

import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from pipelines.s3.auth import split_query
from pipelines.s3.backend import S3Backend
from pipelines.s3 import errors
from pipelines.s3.controller import Gateway, Request, Response, error_response
from pipelines.s3.keys import Keys
from pipelines.s3.multipart import Uploads
from pipelines.s3.payload import PIECE, LimitedReader

log = logging.getLogger(__name__)
DRAIN_LIMIT = 1 << 20  # an unread request body up to this size is drained to keep the connection
CORS_EXPOSE = "ETag, Content-Length, Content-Range, Content-Type, Accept-Ranges, Last-Modified, x-amz-version-id, x-amz-request-id"


_DECIMAL = re.compile(r"[0-9]{1,18}")


class S3Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: Gateway, *, cors: bool = True) -> None:
        super().__init__(address, _Handler)
        self.gateway = gateway
        self.cors = cors
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "S3Server":
        self._thread = threading.Thread(target=self.serve_forever, name="s3-gateway", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join()
        self.gateway.close()


def serve(backend: S3Backend, host: str, port: int, keys: Keys, anonymous_buckets=(), *,
          parts_dir: Path | None = None, cors: bool = True) -> S3Server:
    """Start the gateway in a background thread; port 0 picks a free port (see `.url`).

    `anonymous_buckets`: bucket names (any pachd form) readable without credentials.
    `parts_dir`: where multipart parts and PutObject bodies spool (default: a new temp dir).
    """
    gateway = Gateway(backend, keys, anonymous_buckets, Uploads(parts_dir))
    return S3Server((host, port), gateway, cors=cors).start()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pachmedia-s3"
    timeout = 300  # an idle or stalled client frees its thread after this many seconds
    server: S3Server
    # Answer even a malformed request line with a status line (the stdlib default is HTTP/0.9: body only).
    default_request_version = "HTTP/1.1"

    def do_GET(self): self._dispatch()
    def do_HEAD(self): self._dispatch()
    def do_PUT(self): self._dispatch()
    def do_POST(self): self._dispatch()
    def do_DELETE(self): self._dispatch()
    def do_PATCH(self): self._dispatch()

    def do_OPTIONS(self):  # CORS preflight: no credentials involved
        self._drain_unread(LimitedReader(self.rfile, self._content_length() or 0))
        headers = {"Content-Length": "0"}
        if self.server.cors:
            headers.update({
                "Access-Control-Allow-Methods": "GET, HEAD, PUT, POST, DELETE",
                "Access-Control-Allow-Headers": self.headers.get("Access-Control-Request-Headers", "*"),
                "Access-Control-Max-Age": "3600",
            })
        self._start(200, headers)

    def _dispatch(self) -> None:
        refusal = self._framing_error()
        if refusal is not None:  # the request's end is unknown: answer once and drop the connection
            self.close_connection = True
            return self._send(error_response(refusal, "-"))
        length = self._content_length()
        body = LimitedReader(self.rfile, length, self._send_continue if self._expecting else None)
        target = self.path
        if not target.startswith("/"):  # absolute-form (through a proxy): keep path and query
            target = "/" + target.split("://", 1)[-1].partition("/")[2]
        raw_path, _, raw_query = target.partition("?")
        bucket, _, key = unquote(raw_path).lstrip("/").partition("/")
        headers = {k.lower(): ",".join(self.headers.get_all(k)) for k in set(self.headers.keys())}
        req = Request(self.command, raw_path, raw_query, dict(split_query(raw_query)), headers, body,
                      bucket or None, key or None)
        resp = self.server.gateway.handle(req)
        self._drain_unread(body)
        self._send(resp)

    # "Expect: 100-continue": answer 100 only when the body is read, so a refused upload
    # (bad signature, read-only repo) is answered before the client sends any of it.
    _expecting = False

    def handle_expect_100(self) -> bool:
        self._expecting = True
        return True

    def _send_continue(self) -> None:
        self._expecting = False
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.wfile.flush()

    def _framing_error(self):
        """Where this request's body ends must be certain, or a second request hidden in
        it could be answered (request smuggling, RFC 9112 6.3). Refused: a field name
        with whitespace before its colon, Transfer-Encoding (S3 bodies are sized; with a
        Content-Length too it is the classic smuggling pair), several or non-decimal
        Content-Lengths."""
        names = list(self.headers.keys())
        # the stdlib stops reading fields at a malformed line ("Name : v") and keeps the
        # rest as a "payload": those fields are unread, so nothing about the body is known
        if self.headers.defects or self.headers.get_payload() or any(n != n.strip() or " " in n or "\t" in n
                                                                     for n in names):
            return errors.invalid_request("malformed header field (whitespace before its colon?)")
        te = self.headers.get_all("Transfer-Encoding") or []
        cl = self.headers.get_all("Content-Length") or []
        if te and cl:
            return errors.invalid_request("Content-Length and Transfer-Encoding together")
        if te:
            return errors.missing_content_length()
        if len(cl) > 1:
            return errors.invalid_request("more than one Content-Length")
        if cl and not _DECIMAL.fullmatch(cl[0].strip()):
            return errors.invalid_argument("Content-Length must be a number")
        return None

    def _content_length(self) -> int:
        return int((self.headers.get("Content-Length") or "0").strip())

    def _drain_unread(self, body: LimitedReader) -> None:
        expecting, self._expecting = self._expecting, False  # never carried into the next request
        if expecting and body.left > 0:
            self.close_connection = True  # never asked for the body: the client may not send it
        elif body.left > DRAIN_LIMIT:
            self.close_connection = True
        else:
            try:
                body.drain()
            except Exception:
                self.close_connection = True

    def _send(self, resp: Response) -> None:
        length = resp.length if resp.length is not None else len(resp.body)
        headers = dict(resp.headers)
        if resp.status not in (204, 304):  # statuses that never have a body or its length
            headers["Content-Length"] = str(length)
        try:
            self._start(resp.status, headers)
            if self.command == "HEAD":
                return
            if resp.stream is None:
                self.wfile.write(resp.body)
                return
            left = length
            while left > 0:
                data = resp.stream.read(min(PIECE, left))
                if not data:  # the backend gave less than it promised: the client must not wait
                    self.close_connection = True
                    break
                self.wfile.write(data)
                left -= len(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            if resp.stream is not None:
                resp.stream.close()

    def _start(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        if self.server.cors and "Origin" in (getattr(self, "headers", None) or {}):
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Expose-Headers", CORS_EXPOSE)
        for k, v in headers.items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own refusals (bad request line, header too long...) as S3 XML."""
        self.close_connection = True
        err = errors.S3Error(code, "BadRequest" if code == 400 else "NotImplemented" if code == 501 else "Error",
                             message or self.responses.get(code, ("",))[0])
        self._send(error_response(err, "-"))

    def log_message(self, format: str, *args) -> None:
        log.debug("%s " + format, self.address_string(), *args)

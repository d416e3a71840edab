"""The one HTTP stack of pachmedia's servers (the S3 gateway, the playback page): uvicorn with its
h11 protocol, so framing, pipelining, keep-alive and head-size limits are a maintained library's
job, plus what uvicorn lacks:
- a header deadline: a connection that has not sent a whole request head HEADER_TIMEOUT seconds
  after connecting (or after its last response) is closed (uvicorn's keep-alive timer stops at
  the first byte, so a slow sender held a connection open; half-sent requests now cost a socket);
- at most MAX_CONNECTIONS connections (uvicorn answers 503 past that);
- which Host names a server answers to by default (`default_hosts`), and the host a request names.
A server runs on its own event loop in a daemon thread (`Served`).
"""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 30.0
MAX_CONNECTIONS = 256
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for each request head."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_deadline()

    def _arm_header_deadline(self) -> None:
        self.loop.call_later(HEADER_TIMEOUT, self._header_deadline, self.cycle)

    def _header_deadline(self, cycle) -> None:
        # a new request head makes a new cycle; the same one means none came in time
        if self.cycle is cycle and (cycle is None or cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()


def listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket (port 0: a free one)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def listen_unix(path: Path, mode: int = 0o666) -> socket.socket:
    """A listening Unix socket at path (any length: bound through its folder's descriptor,
    as sun_path holds 107 bytes). `mode`: who may connect, within the folder's own mode."""
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        short = f"/proc/self/fd/{folder}/{path.name}"
        sock.bind(short)
        os.chmod(short, mode)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    finally:
        os.close(folder)
    return sock


def default_hosts(host: str, port: int):
    """The Host values a server bound to host:port answers: its address and, on loopback, the
    loopback names, each with and without the port; "*" (any) when bound to every interface."""
    if host in ("", "0.0.0.0", "::"):
        return "*"  # every interface: names are the operator's to restrict
    names = {f"[{host}]" if ":" in host else host}
    if host in ("127.0.0.1", "localhost", "::1"):
        names |= set(LOOPBACK_NAMES)
    return {f"{n}:{port}" for n in names} | names


def request_host(scope, headers: dict[str, str]) -> str:
    """The host a request names: an absolute-form target's authority, else the Host header."""
    target = scope["raw_path"].decode("latin-1")
    if not target.startswith("/") and "://" in target:
        return target.split("://", 1)[1].partition("/")[0].lower()
    return headers.get("host", "").lower()


class Served:
    """An ASGI app served by uvicorn (DeadlineProtocol, MAX_CONNECTIONS) on a bound socket."""

    def __init__(self, app, sock: socket.socket, name: str) -> None:
        self.app, self.sock, self.name = app, sock, name
        config = uvicorn.Config(app, http=DeadlineProtocol, ws="none", lifespan="off", log_level="warning",
                                access_log=False, limit_concurrency=MAX_CONNECTIONS,
                                timeout_keep_alive=int(HEADER_TIMEOUT),
                                server_header=False, date_header=True, proxy_headers=False)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def server_address(self) -> tuple[str, int]:
        return self.sock.getsockname()[:2]

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"

    def start(self):
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                        name=self.name, daemon=True)
        self._thread.start()
        while not self.server.started and self._thread.is_alive():
            threading.Event().wait(0.01)
        if not self.server.started:
            raise RuntimeError(f"{self.name} did not start (see the log above)")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread:
            self._thread.join(timeout=30)
        self.sock.close()

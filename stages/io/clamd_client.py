"""The small clamd adapter the scan stage uses: PING/VERSION through pyclamd, and an
INSTREAM that streams a file in chunks (pyclamd's scan_stream needs the whole file
in memory; an upload can be 2 GB)."""
from __future__ import annotations

import hashlib
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyclamd


class ClamdUnavailable(RuntimeError):
    """clamd cannot be reached at all: an infrastructure fault, the datum fails."""


@dataclass(frozen=True)
class StreamResult:
    reply: str | None        # clamd's answer, e.g. "stream: OK"; None if the stream broke
    error: str | None        # what broke (reset, timeout) when reply is None
    sha256: str
    sent: int


def parse_address(address: str) -> tuple[str, object]:
    """`unix:///path/clamd.sock` or `tcp://host:3310` -> (family, address)."""
    u = urlparse(address)
    if u.scheme == "unix":
        return "unix", u.path
    if u.scheme == "tcp" and u.hostname:
        return "tcp", (u.hostname, u.port or 3310)
    raise ValueError(f"CLAMD_ADDRESS {address!r}: use unix:///path/to/clamd.sock or tcp://host:3310")


class Clamd:
    def __init__(self, address: str, timeout: float = 600) -> None:
        self.address = address
        self.family, self.where = parse_address(address)
        self.timeout = timeout

    def _pyclamd(self):
        try:
            if self.family == "unix":
                return pyclamd.ClamdUnixSocket(filename=self.where, timeout=10)
            host, port = self.where
            return pyclamd.ClamdNetworkSocket(host=host, port=port, timeout=10)
        except (pyclamd.ConnectionError, OSError) as e:
            raise ClamdUnavailable(f"clamd at {self.address} is not reachable: {e}") from None

    def version(self) -> str:
        """e.g. "ClamAV 1.4.6/27000/Mon Nov 23 09:00:00 2026" (engine/db version/db date)."""
        try:
            return self._pyclamd().version()
        except (pyclamd.ConnectionError, OSError) as e:
            raise ClamdUnavailable(f"clamd at {self.address} is not reachable: {e}") from None

    def _connect(self) -> socket.socket:
        try:
            if self.family == "unix":
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            else:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            s.connect(self.where)
            return s
        except OSError as e:
            raise ClamdUnavailable(f"clamd at {self.address} is not reachable: {e.strerror or e}") from None

    def instream(self, path: Path, chunk: int = 1 << 20) -> StreamResult:
        """Stream the file to clamd; hash it on the way (one read of the file)."""
        h = hashlib.sha256()
        sent = hashed = 0
        s = self._connect()
        try:
            # blocking sends while streaming (clamd's own ReadTimeout bounds a stalled stream);
            # the length prefix goes separately so no chunk is copied
            s.settimeout(None)
            try:
                s.sendall(b"zINSTREAM\0")
                with open(path, "rb") as f:
                    while data := f.read(chunk):
                        h.update(data)
                        hashed += len(data)
                        s.sendall(struct.pack(">I", len(data)))
                        s.sendall(data)
                        sent += len(data)
                s.sendall(struct.pack(">I", 0))
            except (BrokenPipeError, ConnectionResetError):
                # clamd closes early when a stream passes StreamMaxLength: read what it said
                pass
            s.settimeout(self.timeout)
            reply = _read_reply(s)
            if reply is None:
                return StreamResult(None, "connection closed before a reply", _finish(h, path, hashed), sent)
            return StreamResult(reply, None, _finish(h, path, hashed), sent)
        except socket.timeout:
            return StreamResult(None, f"no reply within {self.timeout:g}s", _finish(h, path, hashed), sent)
        except OSError as e:
            return StreamResult(None, f"connection broke: {e.strerror or e}", _finish(h, path, hashed), sent)
        finally:
            s.close()


def _read_reply(s: socket.socket) -> str | None:
    buf = b""
    while not buf.endswith(b"\0"):
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            break
        if not data:
            break
        buf += data
    text = buf.rstrip(b"\0").decode("utf-8", "replace").strip()
    return text or None


def _finish(h, path: Path, hashed: int) -> str:
    """The sha256 of the whole file even if the stream stopped early."""
    with open(path, "rb") as f:
        f.seek(hashed)
        while data := f.read(1 << 20):
            h.update(data)
    return h.hexdigest()

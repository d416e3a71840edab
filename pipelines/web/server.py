"""Serves the playback page and the player libraries (installed from npm by `make setup`).
The page reads everything else from the S3 gateway (anonymous read + CORS)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pipelines import PROJECT_ROOT

STATIC = Path(__file__).resolve().parent / "static"
VENDOR = {
    "hls.min.js": PROJECT_ROOT / "node_modules/hls.js/dist/hls.min.js",
    "dash.all.min.js": PROJECT_ROOT / "node_modules/dashjs/dist/modern/umd/dash.all.min.js",
}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css",
         ".json": "application/json"}
PUBLIC_BUCKETS = ("master.catalog", "master.preview", "master.transcode", "master.labels")


class PlayerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, gateway_url: str) -> None:
        super().__init__(addr, _Handler)
        self.gateway_url = gateway_url.rstrip("/")

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: PlayerServer

    def log_message(self, *args) -> None:  # quiet: the terminal shows the gateway's lines
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/favicon.ico":
            return self._send(204, "image/x-icon", b"")
        if path in ("/", "/index.html"):
            return self._file(STATIC / "index.html")
        if path == "/config.json":
            return self._send(200, "application/json", json.dumps({"gateway": self.server.gateway_url}).encode())
        if path.startswith("/static/") and "/" not in path[len("/static/"):]:
            return self._file(STATIC / path[len("/static/"):])
        if path.startswith("/vendor/") and path[len("/vendor/"):] in VENDOR:
            f = VENDOR[path[len("/vendor/"):]]
            if not f.is_file():
                return self._send(404, "text/plain", b"player library missing: run `make setup` (npm install)")
            return self._file(f)
        self._send(404, "text/plain", b"not found")

    def _file(self, f: Path) -> None:
        if not f.is_file():
            return self._send(404, "text/plain", b"not found")
        self._send(200, TYPES.get(f.suffix, "application/octet-stream"), f.read_bytes())

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def serve_player(host: str, port: int, gateway_url: str) -> PlayerServer:
    srv = PlayerServer((host, port), gateway_url)
    threading.Thread(target=srv.serve_forever, name="pachmedia-player", daemon=True).start()
    return srv

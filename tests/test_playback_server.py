"""The playback page's server on the project's HTTP stack (uvicorn/h11, as the gateway): the
page's own files by GET/HEAD and nothing else, no request bodies, the Host checked, a header
deadline, and half-sent requests that take no thread (issue 15 point 4)."""
from __future__ import annotations

import http.client
import json
import socket
import threading

import pytest

from pipelines import httpd
from pipelines.s3 import Keys, MemoryBackend, serve
from pipelines.web import server as web
from pipelines.web.server import STATIC, serve_player

pytestmark = pytest.mark.unit
GATEWAY = "http://127.0.0.1:30600"


@pytest.fixture(scope="module")
def page():
    srv = serve_player("127.0.0.1", 0, GATEWAY)
    yield srv
    srv.stop()


def get(srv, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    c = http.client.HTTPConnection(*srv.server_address, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r, r.read()
    finally:
        c.close()


def test_the_page_its_files_and_its_config(page):
    r, body = get(page, "GET", "/")
    assert r.status == 200 and body == (STATIC / "index.html").read_bytes()
    assert r.getheader("Content-Type") == "text/html; charset=utf-8"
    assert r.getheader("Cache-Control") == "no-store" and r.getheader("X-Content-Type-Options") == "nosniff"
    r, body = get(page, "GET", "/static/player.js?v=2")
    assert r.status == 200 and body == (STATIC / "player.js").read_bytes()
    r, body = get(page, "GET", "/config.json")
    assert json.loads(body)["gateway"] == GATEWAY


def test_the_config_lists_the_buckets_the_gateway_serves(tmp_path):
    """The page is told which of its buckets exist (asked of the gateway by its server), so it
    never lists an absent one: that 404 is an error in the browser's console."""
    backend = MemoryBackend()
    for repo in ("catalog", "transcode", "labels", "private"):  # no preview: a home made before it
        backend.create_repo(repo, writable=False)
    gw = serve(backend, "127.0.0.1", 0, Keys("AKTEST", "secret"), anonymous_buckets=web.PUBLIC_BUCKETS,
               parts_dir=tmp_path)
    srv = serve_player("127.0.0.1", 0, gw.url)
    try:
        _, body = get(srv, "GET", "/config.json")
        assert json.loads(body) == {"gateway": gw.url, "buckets": ["master.catalog", "master.transcode",
                                                                   "master.labels"]}
        backend.create_repo("preview", writable=False)  # asked again on each load
        _, body = get(srv, "GET", "/config.json")
        assert json.loads(body)["buckets"] == list(web.PUBLIC_BUCKETS)
    finally:
        srv.stop()
        gw.stop()


def test_a_gateway_that_does_not_answer_leaves_the_buckets_unknown():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    srv = serve_player("127.0.0.1", 0, closed)
    try:
        r, body = get(srv, "GET", "/config.json")
        assert r.status == 200 and json.loads(body) == {"gateway": closed}  # the page tries each bucket
    finally:
        srv.stop()


def test_head_is_get_without_the_body(page):
    g, gbody = get(page, "GET", "/static/player.js")
    h, hbody = get(page, "HEAD", "/static/player.js")
    assert h.status == 200 and hbody == b""
    assert h.getheader("Content-Length") == g.getheader("Content-Length") == str(len(gbody))


@pytest.mark.parametrize("path", ["/static/", "/static", "/static/../server.py", "/static/%2e%2e/server.py",
                                  "/static/..%2fserver.py", "/pipelines/web/server.py", "/vendor/",
                                  "/vendor/../../pyproject.toml", "/index.html/", "//etc/passwd", "/.git/config"])
def test_nothing_but_the_pages_files(page, path):
    r, body = get(page, "GET", path)
    assert r.status == 404 and body == b"not found"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_only_get_and_head(page, method):
    r, _ = get(page, method, "/")
    assert r.status == 405 and r.getheader("Allow") == "GET, HEAD"


def test_a_body_is_refused_and_never_read_as_a_request(page):
    smuggled = b"GET /config.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(page.server_address, timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % len(smuggled) + smuggled)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    assert got.startswith(b"HTTP/1.1 400") and got.count(b"HTTP/1.1") == 1  # answered once, then closed


def test_keep_alive_serves_several_requests(page):
    c = http.client.HTTPConnection(*page.server_address, timeout=10)
    try:
        for path, status in (("/", 200), ("/nope", 404), ("/config.json", 200)):
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            assert r.status == status
    finally:
        c.close()


@pytest.mark.parametrize("host", ["evil.example:8080", "127.0.0.1.nip.io", ""])
def test_a_foreign_host_is_refused(page, host):
    r, _ = get(page, "GET", "/", headers={"Host": host})
    assert r.status == 400


def test_a_missing_player_library_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setitem(web.VENDOR, "hls.min.js", tmp_path / "absent.js")
    srv = serve_player("127.0.0.1", 0, GATEWAY)
    try:
        r, body = get(srv, "GET", "/vendor/hls.min.js")
        assert r.status == 404 and b"make setup" in body
    finally:
        srv.stop()


def test_half_sent_requests_are_closed_after_the_header_deadline(monkeypatch):
    monkeypatch.setattr(httpd, "HEADER_TIMEOUT", 0.5)
    srv = serve_player("127.0.0.1", 0, GATEWAY)
    try:
        with socket.create_connection(srv.server_address, timeout=20) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            assert s.recv(1024) == b""  # closed by the server, not answered
    finally:
        srv.stop()


def test_half_sent_requests_take_no_thread(page):
    before = threading.active_count()
    socks = [socket.create_connection(page.server_address, timeout=20) for _ in range(200)]
    try:
        for s in socks:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        r, _ = get(page, "GET", "/config.json")
        assert r.status == 200  # still serving
        assert threading.active_count() - before < 20  # never one per connection
    finally:
        for s in socks:
            s.close()

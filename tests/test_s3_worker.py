"""A datum's S3 gateway in parts: the `out` folder writer (never follows a link, no object over
the limit), the size check made before a body is read, and the relay's exit status. The whole
path (sandbox, relay, boto3, the store) is in tests/engine/test_s3_datums.py."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys

import pytest

from pipelines.pfs.s3_worker import WorkerBackend
from pipelines.pps.s3_sidecar import RELAY
from pipelines.s3 import errors
from pipelines.s3.backend import InvalidKey, ReadOnlyRepo, TooLarge
from pipelines.s3.keys import Keys
from pipelines.s3.messages import Request
from pipelines.s3.multipart import Uploads
from pipelines.s3.worker import WorkerGateway

pytestmark = pytest.mark.unit


def _backend(tmp_path, limit=1 << 20) -> WorkerBackend:
    out = tmp_path / "s3out"
    out.mkdir()
    return WorkerBackend(None, {}, out, limit)  # writes only: no store needed


def _put(b: WorkerBackend, key: str, data: bytes, size: int | None = None):
    return b.put("default", "out", "master", key, io.BytesIO(data), len(data) if size is None else size)


def test_out_writes_files_at_their_keys_and_deletes_them(tmp_path):
    b = _backend(tmp_path)
    info = _put(b, "a/b/c.txt", b"hello")
    assert (tmp_path / "s3out/a/b/c.txt").read_bytes() == b"hello"
    assert (info.size, info.etag) == (5, "5d41402abc4b2a76b9719d911017c592")
    _put(b, "a/b/c.txt", b"again")  # a put replaces, as PutFile does
    assert (tmp_path / "s3out/a/b/c.txt").read_bytes() == b"again"
    b.delete("default", "out", "master", ["a/b/c.txt", "never/was"])
    assert not (tmp_path / "s3out/a/b/c.txt").exists()
    assert [p.name for p in (tmp_path / "s3out/a/b").iterdir()] == [], "no temporary file left behind"


def test_a_link_in_out_is_never_followed(tmp_path):
    b = _backend(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("mine")
    os.symlink(victim, tmp_path / "s3out/dir")
    os.symlink(victim / "keep", tmp_path / "s3out/file")
    with pytest.raises(InvalidKey, match="dir is an object, not a folder"):
        _put(b, "dir/pwned", b"x")
    _put(b, "file", b"replaced")  # the link itself is replaced
    b.delete("default", "out", "master", ["dir/keep"])
    assert sorted(p.name for p in victim.iterdir()) == ["keep"] and (victim / "keep").read_text() == "mine"
    assert not (tmp_path / "s3out/file").is_symlink() and (tmp_path / "s3out/file").read_bytes() == b"replaced"


def test_a_file_and_a_folder_cannot_share_a_key(tmp_path):
    b = _backend(tmp_path)
    _put(b, "a", b"file")
    with pytest.raises(InvalidKey, match="a is an object"):
        _put(b, "a/b", b"x")
    _put(b, "d/e", b"x")
    with pytest.raises(InvalidKey, match="folder of that name"):
        _put(b, "d", b"x")


def test_no_object_over_the_limit_and_inputs_are_read_only(tmp_path):
    b = _backend(tmp_path, limit=10)
    with pytest.raises(TooLarge):
        _put(b, "big", b"x" * 11)
    with pytest.raises(TooLarge):  # a stream longer than it said
        _put(b, "liar", b"x" * 11, size=3)
    assert list((tmp_path / "s3out").iterdir()) == []
    with pytest.raises(ReadOnlyRepo):
        b.put("default", "photos", "master", "k", io.BytesIO(b"x"), 1)
    with pytest.raises(ReadOnlyRepo):
        b.delete("default", "photos", "master", ["k"])


class _Unread(io.RawIOBase):
    def read(self, n=-1):
        raise AssertionError("the body was read")


def _gateway(tmp_path, limit) -> WorkerGateway:
    return WorkerGateway(_backend(tmp_path, limit), Keys("k", "k"), ("photos",), True, Uploads(tmp_path / "parts"),
                         limit)


def _req(method, bucket, key, headers, query=None) -> Request:
    return Request(method, f"/{bucket}/{key}", "", query or {}, headers, _Unread(), bucket, key)


def test_a_body_over_the_limit_is_refused_before_it_is_read(tmp_path):
    gw = _gateway(tmp_path, 1000)
    for headers in ({"content-length": "1001"},
                    {"content-length": "900", "x-amz-decoded-content-length": "1001"}):
        with pytest.raises(errors.S3Error) as e:
            gw._route(_req("PUT", "out", "k", headers), None)
        assert e.value.code == "EntityTooLarge"
    up = gw.uploads.create("out", "k")
    gw.uploads.put_part(up, 1, lambda f: (f.write(b"x" * 800), (800, "0" * 32))[1])
    with pytest.raises(errors.S3Error) as e:  # parts under way count together
        gw._route(_req("PUT", "out", "k", {"content-length": "300"}, {"uploadId": up.id, "partNumber": "2"}), None)
    assert e.value.code == "EntityTooLarge"


def test_names_and_operations_a_datum_gateway_refuses_as_pachd(tmp_path):
    gw = _gateway(tmp_path, 1000)
    for method, bucket, key, query, code in [("PUT", "newbucket", None, {}, "NotImplemented"),
                                             ("DELETE", "photos", None, {}, "NotImplemented"),
                                             ("GET", "master.photos", None, {}, "NoSuchBucket"),
                                             ("GET", "photos", None, {"versions": ""}, "NotImplemented"),
                                             ("GET", "photos", None, {"acl": ""}, "NotImplemented"),
                                             ("PUT", "photos", "k", {}, "NotImplemented")]:
        with pytest.raises(errors.S3Error) as e:
            gw._route(_req(method, bucket, key, {"content-length": "0"}, query), None)
        assert e.value.code == code, (method, bucket, query)


def test_the_relay_ends_as_its_command_ends(tmp_path):
    def relay(cmd: list[str]) -> int:
        return subprocess.run([sys.executable, "-I", "-S", str(RELAY), "--unix", str(tmp_path / "s.sock"), "--port",
                               "0", "--", *cmd], timeout=30).returncode
    assert relay(["sh", "-c", "exit 3"]) == 3
    assert relay(["sh", "-c", "kill -TERM $$"]) == -signal.SIGTERM
    assert relay(["sh", "-c", 'case "$S3_ENDPOINT" in http://127.0.0.1:[0-9]*) exit 0;; esac; exit 1']) == 0
    assert relay(["/no/such/program"]) == 127

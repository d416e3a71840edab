"""examples/sync_package.py writes only inside its destination, whatever keys the
server lists (a compromised or wrong endpoint chooses them)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import sync_package  # noqa: E402


class FakeS3:
    """The three calls sync makes, over a dict of keys in master.transcode."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys, self.downloaded = keys, []

    def get_paginator(self, name):
        assert name == "list_objects"
        keys = self.keys

        class P:
            def paginate(self, Bucket, Prefix):
                yield {"Contents": [{"Key": k} for k in sorted(keys) if k.startswith(Prefix)]}
        return P()

    def download_file(self, bucket, key, filename):
        self.downloaded.append(filename)
        Path(filename).write_bytes(self.keys[key])

    def get_object(self, Bucket, Key):
        import io
        return {"Body": io.BytesIO(json.dumps({"name": "clip.mp4", "status": "published"}).encode())}


GOOD = {"clip.mp4/hls/master.m3u8": b"#EXTM3U\n", "clip.mp4/poster.jpg": b"jpg"}


def test_a_good_package_lands_in_dest(tmp_path):
    s3 = FakeS3(GOOD)
    got = sync_package.sync(s3, "clip.mp4", tmp_path / "pkg")
    assert sorted(got) == sorted(GOOD)
    assert (tmp_path / "pkg/hls/master.m3u8").read_bytes() == b"#EXTM3U\n"


@pytest.mark.parametrize("key", [
    pytest.param("clip.mp4/../../escaped", id="dotdot"),
    pytest.param("clip.mp4/hls/../../../escaped", id="dotdot-deep"),
    pytest.param("clip.mp4//tmp/escaped", id="absolute"),
    pytest.param("clip.mp4/./x", id="dot"),
    pytest.param("clip.mp4/a\\..\\..\\escaped", id="backslash"),
    pytest.param("clip.mp4/", id="empty"),
])
def test_keys_escaping_dest_are_refused_before_any_download(tmp_path, key):
    s3 = FakeS3(GOOD | {key: b"owned"})
    dest = tmp_path / "a" / "pkg"
    with pytest.raises(sync_package.UnsafeKey, match="refusing key"):
        sync_package.sync(s3, "clip.mp4", dest)
    assert s3.downloaded == []
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_symlink_in_dest_does_not_lead_out(tmp_path):
    dest = tmp_path / "pkg"
    dest.mkdir()
    (tmp_path / "outside").mkdir()
    (dest / "hls").symlink_to(tmp_path / "outside")
    with pytest.raises(sync_package.UnsafeKey, match="resolves outside"):
        sync_package.sync(FakeS3(GOOD), "clip.mp4", dest)
    assert list((tmp_path / "outside").iterdir()) == []


def test_main_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sync_package, "client", lambda *a: FakeS3(GOOD | {"clip.mp4/../x": b"owned"}))
    monkeypatch.setattr(sys, "argv", ["sync_package.py", "clip.mp4", str(tmp_path / "pkg"),
                                      "--access-key", "k", "--secret-key", "s"])
    assert sync_package.main() == 1
    err = capsys.readouterr().err
    assert err.startswith("error: refusing key 'clip.mp4/../x'") and "nothing was downloaded" in err
    assert len(err.strip().splitlines()) == 1

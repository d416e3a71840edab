"""The S3 tools people use, pointed at the gateway over a real engine store, with no special
flags: the aws CLI (v1, from pip), minio-py, rclone and s3cmd (Debian's)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from pipelines.s3 import Keys, serve
from tests.fixtures.s3 import ACCESS, SECRET, boto_client, store_backend

pytestmark = pytest.mark.media

AWS = Path(sys.executable).with_name("aws")


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    home = tmp_path_factory.mktemp("tools")
    e, backend = store_backend(home / "home")
    server = serve(backend, "127.0.0.1", 0, Keys(ACCESS, SECRET), parts_dir=home / "parts")
    yield server
    server.stop()
    e.close()


def _files(root: Path, n: int = 5, size: int = 3000) -> dict[str, bytes]:
    files = {f"dir{i % 2}/f{i}.bin": os.urandom(size + i) for i in range(n)}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# --- aws CLI ----------------------------------------------------------------------------

def _aws(gw, tmp_path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    r = subprocess.run([str(AWS), "--endpoint-url", gw.url, *args], env=env, capture_output=True, text=True,
                       timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_aws_cli_buckets_copy_sync_move(gw, tmp_path):
    src, back = tmp_path / "src", tmp_path / "back"
    files = _files(src)
    _aws(gw, tmp_path, "s3", "mb", "s3://master.awscli")
    assert "master.awscli" in _aws(gw, tmp_path, "s3", "ls").stdout
    assert "upload:" in _aws(gw, tmp_path, "s3", "sync", str(src), "s3://master.awscli/tree").stdout
    assert "upload:" not in _aws(gw, tmp_path, "s3", "sync", str(src), "s3://master.awscli/tree").stdout
    _aws(gw, tmp_path, "s3", "sync", "s3://master.awscli/tree", str(back))
    assert _tree(back) == files
    _aws(gw, tmp_path, "s3", "mv", "s3://master.awscli/tree/dir0/f0.bin", "s3://master.awscli/moved.bin")
    listing = _aws(gw, tmp_path, "s3", "ls", "--recursive", "s3://master.awscli").stdout
    assert "moved.bin" in listing and "dir0/f0.bin" not in listing
    assert _aws(gw, tmp_path, "s3", "rb", "s3://master.awscli", check=False).returncode != 0  # not empty
    _aws(gw, tmp_path, "s3", "rm", "--recursive", "s3://master.awscli")
    _aws(gw, tmp_path, "s3", "rb", "s3://master.awscli")
    assert "master.awscli" not in _aws(gw, tmp_path, "s3", "ls").stdout


def test_aws_cli_multipart_ranges_and_versions(gw, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 << 20))  # past the CLI's 8 MB multipart threshold
    _aws(gw, tmp_path, "s3", "cp", str(big), "s3://master.media/big.bin")
    head = json.loads(_aws(gw, tmp_path, "s3api", "head-object", "--bucket", "master.media", "--key", "big.bin").stdout)
    assert head["ETag"].strip('"').endswith("-2") and head["ContentLength"] == 9 << 20
    part = tmp_path / "part"
    _aws(gw, tmp_path, "s3api", "get-object", "--bucket", "master.media", "--key", "big.bin",
         "--range", "bytes=100-199", str(part))
    assert part.read_bytes() == big.read_bytes()[100:200]
    first = head["VersionId"]
    _aws(gw, tmp_path, "s3", "cp", str(part), "s3://master.media/big.bin")
    old = tmp_path / "old"
    _aws(gw, tmp_path, "s3api", "get-object", "--bucket", "master.media", "--key", "big.bin",
         "--version-id", first, str(old))
    assert old.read_bytes() == big.read_bytes()
    down = tmp_path / "down"
    _aws(gw, tmp_path, "s3", "cp", "s3://master.media/big.bin", str(down))
    assert down.read_bytes() == part.read_bytes()


def test_aws_cli_presign_is_sigv2_and_works(gw, tmp_path):
    boto_client(gw.url).put_object(Bucket="master.media", Key="shared.txt", Body=b"for a link")
    url = _aws(gw, tmp_path, "s3", "presign", "s3://master.media/shared.txt").stdout.strip()
    assert "Signature=" in url and "AWSAccessKeyId=" in url  # the v1 CLI signs links with SigV2
    assert urllib.request.urlopen(url, timeout=30).read() == b"for a link"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url.replace("shared.txt", "other.txt"), timeout=30)
    assert e.value.code == 403 and b"SignatureDoesNotMatch" in e.value.read()


# --- minio-py ---------------------------------------------------------------------------

def test_minio_make_bucket_and_presigned(gw):
    from datetime import timedelta

    from minio import Minio
    mc = Minio(gw.url.removeprefix("http://"), access_key=ACCESS, secret_key=SECRET, secure=False,
               region="us-east-1")
    mc.make_bucket("master.minio")
    assert mc.bucket_exists("master.minio")
    put = mc.presigned_put_object("master.minio", "up.txt", expires=timedelta(minutes=5))
    urllib.request.urlopen(urllib.request.Request(put, data=b"via presigned put", method="PUT"), timeout=30)
    get = mc.presigned_get_object("master.minio", "up.txt", expires=timedelta(minutes=5))
    assert urllib.request.urlopen(get, timeout=30).read() == b"via presigned put"
    mc.remove_object("master.minio", "up.txt")
    mc.remove_bucket("master.minio")
    assert not mc.bucket_exists("master.minio")


# --- rclone -----------------------------------------------------------------------------

def _rclone(gw, *args: str) -> dict:
    # (no AWS_CA_BUNDLE: rclone refuses one with its own transport, and the gateway is plain HTTP)
    env = {**{k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"},
           "RCLONE_CONFIG": "/dev/null", "RCLONE_CONFIG_GW_TYPE": "s3",
           "RCLONE_CONFIG_GW_PROVIDER": "Other", "RCLONE_CONFIG_GW_ACCESS_KEY_ID": ACCESS,
           "RCLONE_CONFIG_GW_SECRET_ACCESS_KEY": SECRET, "RCLONE_CONFIG_GW_ENDPOINT": gw.url,
           "RCLONE_CONFIG_GW_REGION": "us-east-1"}
    r = subprocess.run(["rclone", *args, "--use-json-log", "-v", "--stats", "0"], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    copied = [json.loads(line)["object"] for line in r.stderr.splitlines()
              if line.startswith("{") and "Copied" in json.loads(line).get("msg", "")]
    return {"copied": sorted(copied), "log": r.stderr}


@pytest.mark.skipif(not shutil.which("rclone"), reason="Debian's rclone is not installed (scripts/setup-system.sh)")
def test_rclone_copy_and_sync_both_ways_twice(gw, tmp_path):
    src, back = tmp_path / "src", tmp_path / "back"
    files = _files(src)
    assert _rclone(gw, "copy", str(src), "gw:master.rclone")["copied"] == sorted(files)  # makes the bucket
    assert _rclone(gw, "sync", str(src), "gw:master.rclone")["copied"] == []
    (src / "dir1/f1.bin").write_bytes(b"changed")
    assert _rclone(gw, "sync", str(src), "gw:master.rclone")["copied"] == ["dir1/f1.bin"]
    assert _rclone(gw, "sync", str(src), "gw:master.rclone")["copied"] == []
    assert len(_rclone(gw, "sync", "gw:master.rclone", str(back))["copied"]) == len(files)
    boto_client(gw.url).put_object(Bucket="master.rclone", Key="dir0/f0.bin", Body=b"new in a commit")
    assert _rclone(gw, "sync", "gw:master.rclone", str(back))["copied"] == ["dir0/f0.bin"]
    assert _rclone(gw, "sync", "gw:master.rclone", str(back))["copied"] == []
    assert _rclone(gw, "check", str(back), "gw:master.rclone")  # sizes and MD5s agree


# --- s3cmd ------------------------------------------------------------------------------

def _s3cmd(gw, tmp_path, *args: str) -> subprocess.CompletedProcess:
    host = gw.url.removeprefix("http://")
    cfg = tmp_path / "s3cfg"
    cfg.write_text(f"[default]\naccess_key = {ACCESS}\nsecret_key = {SECRET}\nhost_base = {host}\n"
                   f"host_bucket = {host}\nuse_https = False\n")
    r = subprocess.run(["s3cmd", "-c", str(cfg), *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-1000:] + r.stderr[-2000:]
    return r


@pytest.mark.skipif(not shutil.which("s3cmd"), reason="Debian's s3cmd is not installed (scripts/setup-system.sh)")
def test_s3cmd_put_sync_get_with_md5_check(gw, tmp_path):
    src = tmp_path / "src"
    files = _files(src, n=3)
    one = src / "dir0/f0.bin"
    _s3cmd(gw, tmp_path, "mb", "s3://master.s3cmd")
    out = _s3cmd(gw, tmp_path, "put", str(one), "s3://master.s3cmd/one.bin")
    assert "retry" not in (out.stdout + out.stderr).lower()  # the ETag is the MD5 it checks
    _s3cmd(gw, tmp_path, "sync", f"{src}/", "s3://master.s3cmd/tree/")
    again = _s3cmd(gw, tmp_path, "sync", f"{src}/", "s3://master.s3cmd/tree/")
    assert "upload:" not in again.stdout
    got = tmp_path / "got.bin"
    r = _s3cmd(gw, tmp_path, "get", "s3://master.s3cmd/tree/dir1/f1.bin", str(got))
    assert got.read_bytes() == files["dir1/f1.bin"] and "MD5" not in r.stderr  # no MD5 warning
    head = boto_client(gw.url).head_object(Bucket="master.s3cmd", Key="one.bin")
    assert head["ETag"].strip('"') == hashlib.md5(one.read_bytes()).hexdigest()

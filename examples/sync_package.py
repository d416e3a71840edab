#!/usr/bin/env python3
"""Download an asset's HLS/DASH package (and its catalog record) over S3 with boto3.

Works unchanged against `pachmedia s3 serve` and pachd's own S3 gateway (port 30600):
buckets are `branch.repo`, listing uses ListObjects v1 (pachd's only list API), and
nothing else is assumed.

    python examples/sync_package.py interview.mp4 ./interview \\
        --endpoint http://127.0.0.1:30600 --access-key KEY --secret-key SECRET

Keys default to $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY (pachd with auth off:
any access key, and the same value as secret; with auth on, a Pachyderm token as both).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import boto3
from botocore.config import Config


def client(endpoint: str, access_key: str, secret_key: str):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                        region_name="us-east-1",
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


class UnsafeKey(ValueError):
    """A listed key whose local path would land outside the destination folder."""


def local_target(dest: Path, asset: str, key: str) -> Path:
    """Where `key` (under `<asset>/`) is written: inside dest, or UnsafeKey. The server
    chooses the keys; a key like `<asset>/../../.bashrc` or `<asset>//etc/passwd` must
    never write outside dest."""
    rest = key[len(asset) + 1:] if key.startswith(asset + "/") else None
    parts = rest.split("/") if rest else []
    if (not parts or rest.startswith("/") or "\\" in rest or "\0" in rest
            or any(p in ("", ".", "..") for p in parts)):
        raise UnsafeKey(f"refusing key {key!r}: its local path would not be a plain path inside {dest} "
                        f"(absolute, empty, '.' or '..' segments, or a backslash)")
    target = dest / Path(*parts)
    root = dest.resolve()
    if not target.resolve().is_relative_to(root):  # e.g. through a symlink already in dest
        raise UnsafeKey(f"refusing key {key!r}: {target} resolves outside {dest}")
    return target


def sync(s3, asset: str, dest: Path, branch: str = "master") -> list[str]:
    """Every object under <asset>/ in the transcode repo, plus the catalog record. Every
    key is checked (local_target) before anything is downloaded."""
    dest.mkdir(parents=True, exist_ok=True)
    paginator = s3.get_paginator("list_objects")  # v1: what pachd's gateway answers
    keys = [obj["Key"] for page in paginator.paginate(Bucket=f"{branch}.transcode", Prefix=f"{asset}/")
            for obj in page.get("Contents", [])]
    targets = [(key, local_target(dest, asset, key)) for key in keys]
    got = []
    for key, target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(f"{branch}.transcode", key, str(target))
        got.append(key)
    record = s3.get_object(Bucket=f"{branch}.catalog", Key=f"{asset}.json")["Body"].read()
    (dest / "catalog.json").write_bytes(record)
    return got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("asset")
    ap.add_argument("dest", type=Path)
    ap.add_argument("--endpoint", default=os.environ.get("S3_ENDPOINT", "http://127.0.0.1:30600"))
    ap.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID"))
    ap.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY"))
    ap.add_argument("--branch", default="master")
    args = ap.parse_args()
    if not args.access_key or not args.secret_key:
        print("error: give --access-key/--secret-key (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); "
              "`pachmedia s3 keys` shows the embedded gateway's", file=sys.stderr)
        return 2
    try:
        keys = sync(client(args.endpoint, args.access_key, args.secret_key), args.asset, args.dest, args.branch)
    except UnsafeKey as e:
        print(f"error: {e}; nothing was downloaded", file=sys.stderr)
        return 1
    status = json.loads((args.dest / "catalog.json").read_text())["status"]
    print(f"{len(keys)} files of {args.asset} ({status}) -> {args.dest}; play {args.dest}/hls/master.m3u8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The S3 gateway under load, over the engine's real store (SQLite + object files, not
MemoryBackend): 32 concurrent boto3 clients for ~10 s mixing ranged GETs (every byte
checked against the source), listings (every seeded key must be listed) and PUTs to
an input repo (each a commit, read back). No 5xx, no corrupt byte, no exception."""
from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter

import boto3
import pytest
from botocore.config import Config

from pipelines.engine import Engine
from pipelines.pfs.s3_driver import StoreBackend
from pipelines.s3.keys import Keys
from pipelines.s3.server import serve

pytestmark = [pytest.mark.slow, pytest.mark.media]

CLIENTS = 32
SECONDS = float(os.environ.get("PACHMEDIA_S3_LOAD_SECONDS", "10"))


def client(url: str):
    return boto3.client("s3", endpoint_url=url, aws_access_key_id="AKLOAD", aws_secret_access_key="loadsecret",
                        region_name="us-east-1",
                        config=Config(signature_version="s3v4", retries={"max_attempts": 0},
                                      s3={"addressing_style": "path"}, max_pool_connections=2))


@pytest.fixture
def gateway(tmp_path):
    e = Engine(tmp_path / "home", init=False)
    e.store.create_repo("media")
    rnd = random.Random(7)
    blobs = {f"obj{i:02d}.bin": rnd.randbytes(256 * 1024 + i) for i in range(20)}
    for k, v in blobs.items():
        (tmp_path / k).write_bytes(v)
    e.put_files("media", "master", [(f"/{k}", tmp_path / k) for k in blobs])
    srv = serve(StoreBackend(e), "127.0.0.1", 0, Keys("AKLOAD", "loadsecret"), parts_dir=tmp_path / "parts")
    yield srv.url, blobs, e
    srv.stop()
    e.close()


def _range(rnd: random.Random, n: int) -> tuple[str, slice]:
    kind = rnd.random()
    if kind < 0.6:
        a = rnd.randrange(0, n)
        b = min(a + rnd.randrange(1, 64 * 1024), n - 1)
        return f"bytes={a}-{b}", slice(a, b + 1)
    if kind < 0.8:
        k = rnd.randrange(1, 32 * 1024)
        return f"bytes=-{k}", slice(n - k, n)
    a = rnd.randrange(n - 32 * 1024, n)
    return f"bytes={a}-", slice(a, n)


def test_32_clients_for_10_seconds_no_5xx_no_corrupt_byte(gateway):
    url, blobs, e = gateway
    stats: Counter = Counter()
    problems: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def note(outcome: str, detail: str = "") -> None:
        with lock:
            stats[outcome] += 1
            if detail and len(problems) < 20:
                problems.append(detail)

    def worker(n: int) -> None:
        c = client(url)
        rnd = random.Random(n)
        while time.monotonic() < stop:
            op = rnd.random()
            what = "GET" if op < 0.7 else "LIST" if op < 0.9 else "PUT"
            try:
                if op < 0.7:
                    key = rnd.choice(sorted(blobs))
                    rng, want = _range(rnd, len(blobs[key]))
                    r = c.get_object(Bucket="master.media", Key=key, Range=rng)
                    body = r["Body"].read()
                    ok = body == blobs[key][want] and r["ResponseMetadata"]["HTTPStatusCode"] == 206
                    note("ok" if ok else "corrupt", "" if ok else f"{key} {rng}: {len(body)} bytes")
                elif op < 0.9:
                    r = c.list_objects_v2(Bucket="master.media", Prefix="obj")
                    keys = [o["Key"] for o in r.get("Contents", [])]
                    ok = keys == sorted(blobs)
                    note("ok" if ok else "corrupt", "" if ok else f"listing: {keys[:3]}... ({len(keys)})")
                else:
                    key, data = f"w{n}-{rnd.randrange(10**6)}.bin", rnd.randbytes(rnd.randrange(1, 8192))
                    c.put_object(Bucket="master.media", Key=key, Body=data)
                    back = c.get_object(Bucket="master.media", Key=key)["Body"].read()
                    note("ok" if back == data else "corrupt", "" if back == data else f"PUT {key} read back wrong")
            except c.exceptions.ClientError as err:
                code = err.response["ResponseMetadata"]["HTTPStatusCode"]
                note("5xx" if code >= 500 else "4xx", f"{what}: {code} {err.response.get('Error', {}).get('Code')}")
            except Exception as err:  # connection reset, timeout, malformed response
                note("exception", f"{what}: {type(err).__name__}: {err}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENTS)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join(SECONDS + 60)
    wall = time.perf_counter() - t
    total = sum(stats.values())
    print(f"\nS3 load: {CLIENTS} clients x {wall:.1f}s over the engine's store: {total / wall:.0f} req/s "
          f"({dict(stats)})")
    assert not any(th.is_alive() for th in threads), "a client hung"
    assert stats["5xx"] == 0 and stats["corrupt"] == 0 and stats["exception"] == 0 and stats["4xx"] == 0, problems
    assert stats["ok"] > CLIENTS * 5, f"too few requests completed: {dict(stats)}"
    # every PUT was a commit and is in the repo's head
    puts = {f.path for f in e.store.files("media", e.store.head("media"))} - {f"/{k}" for k in blobs}
    assert len(puts) == len([p for p in puts if p.startswith("/w")]) and puts

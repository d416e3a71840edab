"""`make bench` (python -m tests.bench [--quick] [--only NAME ...]): side-by-side
measurements, each against a baseline run in the same script on the same machine.
Results: bench-results/results.{md,json}."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import struct
import tempfile
import time
from pathlib import Path

from pipelines.engine import Engine
from pipelines.services.clamd_daemon import ClamdService
from tests.fixtures.media import make_video

from .common import PY, ROOT, Row, median, median_of, report, run, timed
from .dag import bench_dag, bench_firstplay
from .media import bench_labels, bench_transcode


def bench_incremental(work: Path, quick: bool) -> list[Row]:
    """The cost of one new asset after N committed ones (median of 3 new assets, each a
    commit and a whole-DAG run), then an unchanged re-run where every datum skips."""
    sizes = (1, 5, 10) if quick else (1, 10, 50)
    clip = make_video(work / "tiny.mp4", seconds=1, size="160x90", fps=10)

    def distinct(path: Path, tag: bytes) -> Path:
        shutil.copy(clip, path)
        with open(path, "ab") as f:  # distinct content per asset
            f.write(tag * 8)
        return path
    rows, one_new = [], {}
    for n in sizes:
        with Engine(work / f"home{n}") as e:
            e.put_files("media", "master", [(f"/a{i}.mp4", distinct(work / f"a{n}-{i}.mp4", struct.pack(">Q", i)))
                                            for i in range(n)])
            e.run(show_progress=False)
            k = iter(range(3))

            def one() -> float:
                i = next(k)
                e.put_files("media", "master", [(f"/new{i}.mp4", distinct(work / f"new{n}-{i}.mp4", b"new%d" % i))])
                return timed(lambda: e.run(show_progress=False))[0]
            one_new[n] = median_of(3, one)
            if n == sizes[-1]:
                e.put_files("media", "master", [("/new0.mp4", work / f"new{n}-0.mp4")])  # same bytes: all skip
                noop, _, jobs = timed(lambda: e.run(show_progress=False))
                skipped = sum(j.counts.get("SKIPPED", 0) for j in jobs)
                processed = sum(j.counts.get("SUCCESS", 0) for j in jobs)
    for n in sizes[1:]:
        rows.append(Row(f"process 1 new asset after {n} committed vs after {sizes[0]} (median of 3)",
                        one_new[n], one_new[sizes[0]], "s"))
    rows.append(Row(f"unchanged re-run over {sizes[-1]}+3 assets (datums skipped {skipped}, processed {processed})",
                    noop, one_new[sizes[-1]], "s", "vs processing one new asset"))
    return rows


def bench_scan(work: Path, quick: bool) -> list[Row]:
    mb = 100 if quick else 400
    big, other = work / "big.bin", work / "other.bin"
    for path in (big, other):  # distinct bytes: clamd caches verdicts by content
        with open(path, "wb") as f:
            for _ in range(mb):
                f.write(os.urandom(1 << 20))
    rows = []
    with ClamdService(work / "clamd") as svc:
        addr = svc.address
        warm = work / "warm.bin"
        warm.write_bytes(b"warm-up")
        raw_instream(svc.sock, warm)  # clamd's first scan pays a one-off warm-up (~0.7 s here)
        stage_walls, raw_walls = [], []
        for i in range(3):  # alternate who goes first, each on fresh bytes: clamd caches verdicts by content
            for path in (big, other):
                with open(path, "r+b") as f:
                    f.write(os.urandom(4096))
            for who in (("raw", "stage") if i % 2 == 0 else ("stage", "raw")):
                os.sync()  # clamd spools each stream to disk: no writeback of ours competes with it
                if who == "raw":
                    raw_walls.append(timed(lambda: raw_instream(svc.sock, other))[0])
                else:
                    stage = run([PY, "-m", "stages.scan", "--media", str(big), "--out", str(work / f"scan-out{i}"),
                                 "--clamd", addr])
                    stage_walls.append(stage.wall)
        stage_wall, raw_wall = median(stage_walls), median(raw_walls)
        rows.append(Row(f"scan {mb} MB through the stage vs raw INSTREAM to the same clamd, MB/s (median of 3)",
                        mb / stage_wall, mb / raw_wall, "MB/s"))
        rows.append(Row(f"scan stage peak RSS on a {mb} MB file", stage.rss_mb, None, "MB"))
        small = work / "small"
        small.mkdir()
        n = 200
        for i in range(n):
            (small / f"f{i}.bin").write_bytes(os.urandom(20_000))
        st = run([PY, "-m", "stages.scan", "--media", str(small), "--out", str(work / "scan-small"), "--clamd", addr])
        per_file = 20 if quick else n
        files = sorted(small.iterdir())[:per_file]
        t0 = time.perf_counter()
        for f in files:
            run(["clamscan", "--no-summary", "-d", str(svc.home / "db"), str(f)])
        clamscan_rate = per_file / (time.perf_counter() - t0)
        rows.append(Row(f"scan {n} small files: files/s through the stage vs a clamscan per file",
                        n / st.wall, clamscan_rate, "files/s", f"clamscan timed on {per_file} files, tiny DB"))
    return rows


def raw_instream(sock_path: Path, path: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock_path))
    s.sendall(b"zINSTREAM\0")
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            s.sendall(struct.pack(">I", len(chunk)) + chunk)
    s.sendall(struct.pack(">I", 0))
    while not s.recv(4096).endswith(b"\0"):
        pass
    s.close()


def bench_memory(work: Path, quick: bool) -> list[Row]:
    gb = 0.5 if quick else 2
    big = work / "huge.bin"
    with open(big, "wb") as f:
        f.truncate(int(gb * (1 << 30)))
    home = work / "mem-home"
    put = run([PY, "-m", "pipelines.cli", "--home", str(home), "put", "file", "media@master:/huge.mp4", "-f", str(big),
               "--no-run"])
    small = work / "small.bin"
    small.write_bytes(b"x" * 1000)
    put_small = run([PY, "-m", "pipelines.cli", "--home", str(work / "mem-home2"), "put", "file",
                     "media@master:/small.mp4", "-f", str(small), "--no-run"])
    rows = [Row(f"put file peak RSS: {gb:g} GB file vs 1 KB file", put.rss_mb, put_small.rss_mb, "MB",
                f"{gb * 1024 / put.wall:.0f} MB/s")]
    scan_gb = 0.5 if quick else 1.9  # under clamd's 2000 MiB stream limit, so all of it is streamed
    with open(big, "r+b") as f:
        f.truncate(int(scan_gb * (1 << 30)))
    with ClamdService(work / "clamd") as svc:
        scan_big = run([PY, "-m", "stages.scan", "--media", str(big), "--out", str(work / "scan-big"),
                        "--clamd", svc.address])
        scan_small = run([PY, "-m", "stages.scan", "--media", str(small), "--out", str(work / "scan-small"),
                          "--clamd", svc.address])
    verdict = next((work / "scan-big").glob("*/huge.bin.json")).parent.name
    rows.append(Row(f"scan stage peak RSS: {scan_gb:g} GB file ({verdict}) vs 1 KB file", scan_big.rss_mb,
                    scan_small.rss_mb, "MB", f"{scan_gb * 1024 / scan_big.wall:.0f} MB/s"))
    return rows


def bench_engine(work: Path, quick: bool) -> list[Row]:
    """Engine cost in processes of their own (tests/bench/engine_cost.py), so the peak RSS
    reported is the engine's: 10,000 tiny files in one commit and a job over them, and
    1,000 commits of one file."""
    n_files = 2000 if quick else 10_000
    n_commits = 200 if quick else 1000
    files = run([PY, "-m", "tests.bench.engine_cost", "files", str(n_files), str(work / "w1"), str(work / "r1.json")])
    got = json.loads((work / "r1.json").read_text())
    commits = run([PY, "-m", "tests.bench.engine_cost", "commits", str(n_commits), str(work / "w2"),
                   str(work / "r2.json")])
    wall = json.loads((work / "r2.json").read_text())["commits"]
    return [
        Row(f"put {n_files} tiny files in one commit", got["put"], None, "s", f"{n_files / got['put']:.0f} files/s"),
        Row(f"job over {n_files} files (one datum, glob /): sandbox + run + commit", got["job"], None, "s"),
        Row(f"peak RSS of that process (put + job over {n_files} files)", files.rss_mb, None, "MB"),
        Row(f"{n_commits} commits of one file", wall / n_commits * 1000, None, "ms/commit",
            f"{n_commits / wall:.0f} commits/s"),
        Row(f"peak RSS of that process ({n_commits} commits)", commits.rss_mb, None, "MB"),
    ]


def bench_s3_load(work: Path, quick: bool) -> list[Row]:
    """32 concurrent boto3 clients on loopback for a fixed time: ranged GETs (bytes
    checked), listings and PUTs (each a commit), against the engine's store."""
    import random
    import threading

    import boto3
    from botocore.config import Config

    from pipelines.pfs.s3_driver import StoreBackend
    from pipelines.s3.keys import Keys
    from pipelines.s3.server import serve
    seconds, clients = (10, 32) if quick else (60, 32)
    e = Engine(work / "home", init=False)
    e.store.create_repo("media")
    blobs = {f"obj{i}.bin": os.urandom(256 * 1024) for i in range(20)}
    for k, v in blobs.items():
        (work / k).write_bytes(v)
    e.put_files("media", "master", [(f"/{k}", work / k) for k in blobs])
    srv = serve(StoreBackend(e), "127.0.0.1", 0, Keys("AKLOAD", "loadsecret"), parts_dir=work / "parts")
    stats = {"ok": 0, "4xx": 0, "5xx": 0, "corrupt": 0, "other": 0}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        c = boto3.client("s3", endpoint_url=srv.url, aws_access_key_id="AKLOAD", aws_secret_access_key="loadsecret",
                         region_name="us-east-1", config=Config(signature_version="s3v4", retries={"max_attempts": 0},
                                                                s3={"addressing_style": "path"}))
        rnd = random.Random(n)
        while time.monotonic() < stop:
            op = rnd.random()
            try:
                if op < 0.7:
                    key = rnd.choice(list(blobs))
                    a = rnd.randrange(0, 200_000)
                    b = a + rnd.randrange(1, 50_000)
                    body = c.get_object(Bucket="master.media", Key=key, Range=f"bytes={a}-{b}")["Body"].read()
                    outcome = "ok" if body == blobs[key][a:b + 1] else "corrupt"
                elif op < 0.9:
                    c.list_objects_v2(Bucket="master.media", MaxKeys=10)
                    outcome = "ok"
                else:
                    c.put_object(Bucket="master.media", Key=f"w{n}-{rnd.randrange(1000)}.bin", Body=os.urandom(4096))
                    outcome = "ok"
            except c.exceptions.ClientError as err:
                code = err.response["ResponseMetadata"]["HTTPStatusCode"]
                outcome = "5xx" if code >= 500 else "4xx"
            except Exception:
                outcome = "other"
            with lock:
                stats[outcome] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    srv.stop()
    e.close()
    total = sum(stats.values())
    note = ", ".join(f"{k} {v}" for k, v in stats.items())
    if stats["5xx"] or stats["corrupt"] or stats["other"]:
        FAILURES.append(f"S3 load: {note}")
    return [Row(f"S3 gateway, {clients} clients x {seconds}s, 70% ranged GET / 20% list / 10% PUT: requests/s",
                total / wall, None, "req/s", note)]


FAILURES: list[str] = []  # figures that break a promise (e.g. a 5xx under load): make bench exits 1

BENCHES = {"transcode": bench_transcode, "firstplay": bench_firstplay, "dag": bench_dag,
           "incremental": bench_incremental, "scan": bench_scan, "labels": bench_labels, "memory": bench_memory, "engine": bench_engine,
           "s3load": bench_s3_load}


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs (minutes, not tens of minutes)")
    ap.add_argument("--only", nargs="*", choices=sorted(BENCHES))
    ap.add_argument("--out", default=str(ROOT / "bench-results"))
    args = ap.parse_args()
    rows = []
    for name in args.only or BENCHES:
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as d:
            t = time.perf_counter()
            got = BENCHES[name](Path(d), args.quick)
            print(f"{name}: {time.perf_counter() - t:.0f}s", flush=True)
            rows += got
    print(report(rows, Path(args.out)))
    for f in FAILURES:
        print(f"FAILED: {f}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    raise SystemExit(main())

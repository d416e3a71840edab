"""One engine-cost measurement in a process of its own, so its peak RSS is the engine's:
`python -m tests.bench.engine_cost files|commits N WORKDIR RESULT.json`."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tests.engine.helpers import new_engine, pfs, sh_spec


def many_files(n: int, work: Path) -> dict:
    src = work / "many"
    src.mkdir()
    for i in range(n):
        (src / f"f{i:05d}").write_bytes(str(i).encode())
    e = new_engine(work / "eng", "in")
    e.create_pipeline(sh_spec("count", pfs("in", "/"), "ls -R /pfs/in | wc -l > /pfs/out/count"))
    t = time.perf_counter()
    e.put_files("in", "master", [(f"/{p.name}", p) for p in sorted(src.iterdir())])
    put = time.perf_counter() - t
    t = time.perf_counter()
    e.run(show_progress=False)
    job = time.perf_counter() - t
    e.close()
    return {"put": put, "job": job}


def many_commits(n: int, work: Path) -> dict:
    e = new_engine(work / "eng", "in")
    one = work / "one"
    t = time.perf_counter()
    for i in range(n):
        one.write_bytes(str(i).encode())
        e.put_files("in", "master", [(f"/c{i}", one)])
    wall = time.perf_counter() - t
    e.close()
    return {"commits": wall}


if __name__ == "__main__":
    mode, n, work, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    work.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps((many_files if mode == "files" else many_commits)(n, work)))

"""The whole DAG side by side vs one job at a time (pps/slots.py): the same uploads into
fresh homes, run once with the pool's default slots (the cores) and once serially
(slots=1: one job after another in DAG order, as before concurrency), alternating which
goes first; and how soon an upload plays (the preview's commit) in each mode."""
from __future__ import annotations

import os
import time
from pathlib import Path

from pipelines.engine import Engine
from pipelines.pps.slots import default_slots
from tests.fixtures.media import make_video

from .common import Row, median, timed
from .media import ROUNDS, clip


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def whole_dag(home: Path, uploads: list[Path], slots: int) -> dict:
    """Put the uploads in one commit and run every job; seconds from the put to each
    pipeline's job finishing, the sum of the jobs' own durations, and the wall time."""
    with Engine(home) as e:
        done: dict[str, float] = {}
        t0 = time.perf_counter()

        def finished(job) -> None:
            if job.state != "JOB_SUCCESS":
                raise RuntimeError(f"{job.pipeline} job {job.state}: {job.reason}")
            done[job.pipeline] = time.perf_counter() - t0

        def go():
            e.put_files("media", "master", [(f"/{p.name}", p) for p in uploads])
            return e.run(show_progress=False, on_job=finished, slots=slots)
        wall, _, jobs = timed(go)  # (CPU not reported: datums in a pid namespace are not all reaped into ours)
        return {"wall": wall, "at": done, "jobs": sum(j.finished - j.started for j in jobs)}


def bench_dag(work: Path, quick: bool) -> list[Row]:
    """8 clips (5-10 s 720p; --quick: 2-4 s 360p), whole DAG, concurrent vs serial."""
    size = "640x360" if quick else "1280x720"
    lengths = [2 + (i % 3) for i in range(8)] if quick else [5 + (i * 5 / 7) for i in range(8)]
    uploads = [make_video(work / f"clip{i}.mp4", seconds=round(s, 1), size=size, fps=25)  # distinct lengths:
               for i, s in enumerate(lengths)]                                           # distinct bytes
    slots = default_slots()
    rounds = 1 if not quick else 2
    got: dict[int, list[dict]] = {1: [], slots: []}
    loads = [_load()]
    for r in range(rounds):
        for n in ((1, slots) if r % 2 == 0 else (slots, 1)):
            got[n].append(whole_dag(work / f"home-{n}-{r}", uploads, n))
            loads.append(_load())
    conc, serial = got[slots], got[1]

    def med(runs, key, sub=None):
        return median([run[key][sub] if sub else run[key] for run in runs])
    p = size.split("x")[1]
    what = f"8 clips ({min(lengths):g}-{max(lengths):g} s {p}p), whole DAG"
    runs = f"{rounds} run(s) each, alternated; load average 1/5/15 min before and after each: {', '.join(loads)}"
    return [
        Row(f"{what}: concurrent (slots={slots}, the cores) vs the sum of its jobs run serially (slots=1), wall "
            f"({runs})", med(conc, "wall"), med(serial, "jobs"), "s", f"serial run's own wall {med(serial, 'wall'):.1f} s"),
        Row(f"{what}: first playable (put to the preview's commit), concurrent vs serial", med(conc, "at", "preview"),
            med(serial, "at", "preview"), "s"),
        Row(f"{what}: full ladder (put to transcode's commit), concurrent vs serial", med(conc, "at", "transcode"),
            med(serial, "at", "transcode"), "s"),
    ]


def bench_firstplay(work: Path, quick: bool) -> list[Row]:
    """From `put file` of the run's clip into a fresh home to the first playable HLS (the
    preview's output commit) and to the full ladder (transcode's), as a fraction of the
    clip's duration, with the whole DAG running (labels beside the ladder); median of 3
    fresh homes per mode, concurrent and serial alternated."""
    src, secs, size = clip(quick)
    slots = default_slots()
    got: dict[int, list[dict]] = {slots: [], 1: []}
    for i in range(ROUNDS):
        for n in ((slots, 1) if i % 2 == 0 else (1, slots)):
            got[n].append(whole_dag(work / f"home-{n}-{i}", [src], n))
    conc = got[slots]
    mid = sorted(conc, key=lambda r: r["at"]["preview"])[ROUNDS // 2]["at"]
    steps = [f"{name} done at {mid[name]:.1f} s" for name in ("scan", "probe", "preview")]
    label = f"{secs}s {size.split('x')[1]}p"

    def at(runs, name):
        return median([r["at"][name] for r in runs])
    return [Row(f"first play: put file of a {label} clip to its first playable HLS (the preview), vs the clip's "
                f"duration (whole DAG, slots={slots}; median of {ROUNDS} fresh homes)", at(conc, "preview"), secs, "s",
                ", ".join(steps)),
            Row(f"first play: put file of the {label} clip to the full ladder (transcode's commit), vs its duration",
                at(conc, "transcode"), secs, "s"),
            Row(f"first play of the {label} clip: concurrent (slots={slots}) vs serial (slots=1; median of "
                f"{ROUNDS}, alternated)", at(conc, "preview"), at(got[1], "preview"), "s"),
            Row(f"full ladder of the {label} clip: concurrent vs serial", at(conc, "transcode"),
                at(got[1], "transcode"), "s")]

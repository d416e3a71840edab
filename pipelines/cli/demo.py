"""demo: real footage and generated media (one infected, one truncated, one playlist in
disguise) committed in one commit, the whole DAG run, and a summary of what came out."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from pipelines.cli.demo_media import make_demo_media
from pipelines.engine import Engine
from pipelines.cli.base import Command
from pipelines.cli.fmt import job_counts, table


def asset_times(e: Engine, set_id: str) -> dict[str, float]:
    """Seconds of datum work per asset across every pipeline in the commit set."""
    out: dict[str, float] = {}
    for j in e.list_jobs(id=set_id):
        for d in e.list_datums(j.pipeline, j.id):
            if d.state == "SKIPPED" or not d.started or not d.finished:
                continue
            names = {Path(f["path"]).name.removesuffix(".json") for i in d.inputs if i["repo"] == "media"
                     for f in i["files"]} or {i["path"].strip("/").split("/")[-1].removesuffix(".json")
                                              for i in d.inputs if i["repo"] != "settings"}
            for n in names:
                out[n] = out.get(n, 0.0) + (d.finished - d.started)
    return out


def summary_rows(e: Engine, set_id: str) -> list[list[str]]:
    head = e.head("catalog")
    times = asset_times(e, set_id)
    rows = []
    for f in e.list_files("catalog", head) if head else []:
        with e.open_object(f.hash) as fh:
            rec = json.load(fh)
        scan, probe = rec.get("scan", {}), rec.get("probe", {})
        verdict = scan.get("verdict", "-") + (f" ({scan['signature']})" if scan.get("signature") else "")
        status = rec["status"] + (f": {probe.get('reason')}" if rec["status"] == "rejected" else "") \
            + (f": {scan.get('reason')}" if rec["status"] == "unscanned" else "")
        rungs = [r["name"] for r in rec.get("package", {}).get("renditions", []) if r.get("name")]
        if rec.get("package") and not rungs:
            rungs = ["stills (s/m/l + webp)"] if rec.get("kind") == "image" else ["audio (aac + opus)"]
        rows.append([rec["name"], verdict, status, ",".join(rungs) or "-",
                     str(rec["labels"]["scenes"]) if rec.get("labels") else "-",
                     f"{times.get(rec['name'], 0):.1f}s"])
    return rows


def demo(args) -> int:
    home = Path(args.dir).absolute()
    if home.exists() and args.fresh:
        shutil.rmtree(home)
    uploads = home / "uploads"
    print(f"demo: making uploads in {uploads}")
    made = make_demo_media(uploads)
    for name, what in made.items():
        print(f"  {name:15} {what}")
    t0 = time.time()
    with Engine(home / "state") as e:
        for line in e.upgraded:  # a demo folder an earlier version made
            print(f"demo: {line}")
        c = e.put_files("media", "master", [(f"/{n}", uploads / n) for n in made],
                        description="pachmedia demo uploads")
        print(f"demo: committed {len(made)} files as media@{c.id}; running the DAG "
              "(scan -> probe -> transcode + labels -> catalog)")
        jobs = e.run(show_progress=True)
        print()
        for j in jobs:
            print(f"  {j.pipeline:10} {j.state:12} {job_counts(j)}" + (f"  ({j.reason})" if j.reason else ""))
        print()
        table(["ASSET", "VERDICT", "STATUS", "RENDITIONS", "SCENES", "TIME"], summary_rows(e, c.id))
        failed = [j for j in jobs if j.state != "JOB_SUCCESS"]
    st = home / "state"
    print(f"\ndemo: done in {time.time() - t0:.0f}s. Outputs live in {st}; try:\n"
          f"  export PACHMEDIA_HOME={st}\n"
          f"  pachmedia list file transcode@master:/interview.mp4\n"
          f"  pachmedia get file catalog@master:/interview.mp4.json\n"
          f"  pachmedia lineage transcode@master:/interview.mp4/hls/master.m3u8\n"
          f"  pachmedia list datum probe@{c.id[:12]}\n"
          f"  pachmedia play        # the playback page on http://127.0.0.1:8080 (HLS, DASH, scenes, lineage)\n"
          f"  pachmedia s3 serve    # boto3 and other S3 clients on http://127.0.0.1:30600")
    return 1 if failed else 0


def _args(p) -> None:
    p.add_argument("--dir", default="pachmedia-demo", help="where the demo keeps uploads and state "
                   "(default ./pachmedia-demo)")
    p.add_argument("--no-fresh", dest="fresh", action="store_false", help="keep an earlier demo's state")


COMMANDS = [Command("demo", None, "Run the whole DAG on real and hostile media and show what came out.",
                    _args, demo)]

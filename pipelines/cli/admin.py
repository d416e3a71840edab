"""init, fsck."""
from __future__ import annotations

from pipelines.cli.base import Command
from pipelines.cli.fmt import engine


def init(args) -> int:
    from pipelines.engine import Engine, default_home
    from pathlib import Path
    home = Path(args.home) if args.home else default_home()
    fresh = not (home / "meta.db").exists()
    with Engine(home, init=False) as e:
        done = e.init() if fresh or not e.list_repos() else e.upgrade()
        for line in done:
            print(line)
        print(f"pachmedia home: {home}" + ("" if done else " (already initialised)"))
    return 0


def fsck_cmd(args) -> int:
    from pipelines.pfs.fsck import fsck, gc
    with engine(args) as e:
        if args.gc:
            n, size = gc(e)
            print(f"removed {n} unreferenced object(s), {size} bytes")
        r = fsck(e, verify_hashes=not args.fast)
        for p in r.problems:
            print(f"problem: {p}")
        print(f"checked {r.objects} objects, {r.files} file entries, {r.commits} commits: "
              + ("ok" if r.ok else f"{len(r.problems)} problem(s)")
              + (f" ({r.orphans} unreferenced objects from interrupted writes)" if r.orphans else ""))
        return 0 if r.ok else 1


COMMANDS = [
    Command("init", None, "Create the input repos, pipelines and default settings in $PACHMEDIA_HOME.",
            lambda p: None, init),
    Command("fsck", None, "Verify every object's hash and every commit's tree (--gc: drop unreferenced objects).",
            lambda p: (p.add_argument("--fast", action="store_true", help="skip re-hashing objects"),
                       p.add_argument("--gc", action="store_true", help="first delete objects nothing names")),
            fsck_cmd),
]

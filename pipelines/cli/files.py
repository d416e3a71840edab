"""put | get | list | inspect | delete file — pachctl's syntax: repo@branch:/path."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pipelines import protojson as shapes
from pipelines.errors import NotFound, UsageError
from pipelines.pfs.names import parse_ref, require_path
from pipelines.scheduler import spawn_run
from pipelines.cli.base import Command
from pipelines.cli.fmt import add_raw, engine, raw, size, table


def _sources(args) -> list[tuple[str, object]]:
    """(repo path, local file or stdin) pairs from -f/-r/-i, as pachctl lays them out."""
    ref = parse_ref(args.target)
    base = ref.path or "/"
    names: list[str] = list(args.file or [])
    if args.input_file:
        names += [l.strip() for l in Path(args.input_file).read_text().splitlines() if l.strip()]
    if not names:
        raise UsageError("put file needs -f FILE (or -f - for stdin, -r -f DIR for a folder)")
    many = len(names) > 1
    out: list[tuple[str, object]] = []
    for name in names:
        if name == "-":
            out.append((require_path(ref, "put file from stdin"), sys.stdin.buffer))
            continue
        src = Path(name)
        if src.is_dir():
            if not args.recursive:
                raise UsageError(f"{name} is a directory: add -r to put it recursively")
            files = _regular_files(src)
            if not files:
                raise UsageError(f"{name}: nothing to put (no regular files in it)")
            for f in files:
                out.append((f"{base.rstrip('/')}/{f.relative_to(src).as_posix()}", f))
        elif src.is_file():
            # -f x.mp4 onto repo@branch (or a folder, or several files): keep the file's name
            dest = f"{base.rstrip('/')}/{src.name}" if (many or base == "/" or base.endswith("/")) else base
            out.append((dest, src))
        else:
            raise NotFound(f"{name}: no such file or directory")
    return out


def _regular_files(folder: Path) -> list[Path]:
    """The regular files under `folder`, sorted. A symlink inside it (to a file or a folder)
    is never followed: it could point anywhere on this machine (a link to /etc/passwd would
    be committed); each one skipped is named on stderr, as is anything else that is not a
    regular file (a FIFO would block the put)."""
    found: list[Path] = []
    skipped = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        here = Path(root)
        for entry in sorted(dirs + files):
            p = here / entry
            if p.is_symlink():
                skipped += 1
                print(f"skipped symlink {p} -> {os.readlink(p)} (links are not followed)", file=sys.stderr)
            elif entry in files and p.is_file():
                found.append(p)
            elif entry in files:
                print(f"skipped {p}: not a regular file", file=sys.stderr)
    if skipped:
        print(f"{skipped} symlink{'s' if skipped != 1 else ''} skipped: put the files they point to "
              "with -f if you mean them", file=sys.stderr)
    return sorted(found)


def put_file(args) -> int:
    ref = parse_ref(args.target)
    items = _sources(args)
    with engine(args) as e:
        c = e.put_files(ref.repo, ref.branch_or_commit or "master", items, description=args.message or "")
        total = sum(Path(s).stat().st_size for _, s in items if isinstance(s, Path))
        print(f"{ref.repo}@{c.id}: {len(items)} file(s), {size(total)} committed to {ref.repo}@{c.branch}.")
        _process(e, args, c)
    return 0


def _process(e, args, c) -> None:
    """As pachd would, start processing the new commit: a background `pachmedia run`
    (one at a time: the run lock turns a second away), unless --no-run."""
    if not args.run or os.environ.get("PACHMEDIA_NO_AUTORUN"):
        print(f"Process it with `pachmedia run` (or `pachmedia wait commit {c.repo}@{c.id}`).")
        return
    log = spawn_run(e.home)
    print(f"Processing in the background: `pachmedia list job` to follow, "
          f"`pachmedia wait commit {c.repo}@{c.id}` to wait (log: {log}).")


def get_file(args) -> int:
    ref = parse_ref(args.target)
    path = require_path(ref, "get file")
    with engine(args) as e:
        c = e.resolve(ref.repo, ref.branch_or_commit)
        files = e.list_files(ref.repo, c.id, path)
        if not files:
            raise NotFound(f"{ref.repo}@{ref.branch_or_commit}:{path}: no such file or directory")
        single = len(files) == 1 and files[0].path == path
        if not single and not args.recursive:
            raise UsageError(f"{path} is a directory: add -r and -o DIR to download it")
        if single:
            if args.output:
                dest = Path(args.output)
                if dest.is_dir():
                    dest = dest / Path(path).name
                _copy_out(e, files[0].hash, dest)
            else:
                with e.open_object(files[0].hash) as f:
                    shutil.copyfileobj(f, sys.stdout.buffer)
            return 0
        if not args.output:
            raise UsageError("a directory needs -o DIR")
        for f in files:
            _copy_out(e, f.hash, Path(args.output) / f.path[len(path):].lstrip("/"))
        print(f"{len(files)} files -> {args.output}", file=sys.stderr)
    return 0


def _copy_out(e, oid: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with e.open_object(oid) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


def children(files, path: str) -> list[tuple[str, str, int]]:
    """Direct children of `path` (pachctl lists one level): (name, file|dir, size)."""
    prefix = path.rstrip("/") + "/"
    entries: dict[str, list] = {}
    for f in files:
        rest = f.path[len(prefix):] if f.path.startswith(prefix) else None
        if rest is None:
            continue
        head, sep, _ = rest.partition("/")
        key = prefix + head + ("/" if sep else "")
        e = entries.setdefault(key, ["dir" if sep else "file", 0])
        e[1] += f.size
    return [(k, t, n) for k, (t, n) in sorted(entries.items())]


def list_file(args) -> int:
    ref = parse_ref(args.target)
    path = ref.path or "/"
    with engine(args) as e:
        c = e.resolve(ref.repo, ref.branch_or_commit)
        files = e.list_files(ref.repo, c.id, path)
        if len(files) == 1 and files[0].path == path:
            rows = [(path, "file", files[0].size)]
        else:
            rows = children(files, path)
            if not rows and path != "/":
                raise NotFound(f"{ref.repo}@{ref.branch_or_commit}:{path}: no such file or directory")
        if args.raw:
            hashes = {f.path: f.hash for f in files}
            raw([shapes.file_info(ref.repo, c.id, n, t, s, hashes.get(n), c.finished) for n, t, s in rows])
        else:
            table(["NAME", "TYPE", "SIZE"], [[n, t, size(s)] for n, t, s in rows])
    return 0


def inspect_file(args) -> int:
    ref = parse_ref(args.target)
    path = require_path(ref, "inspect file")
    with engine(args) as e:
        c = e.resolve(ref.repo, ref.branch_or_commit)
        f = e.inspect_file(ref.repo, c.id, path)
        if f is None:
            raise NotFound(f"{ref.repo}@{ref.branch_or_commit}:{path}: no such file")
        if args.raw:
            raw(shapes.file_info(ref.repo, c.id, path, "file", f.size, f.hash, c.finished, f.datum))
        else:
            print(f"Path: {path}\nCommit: {ref.repo}@{c.id}\nSize: {size(f.size)}\nsha256: {f.hash}")
            if f.job:
                print(f"Written by: datum {f.datum} of job {ref.repo}@{f.job}")
    return 0


def delete_file(args) -> int:
    ref = parse_ref(args.target)
    path = require_path(ref, "delete file")
    with engine(args) as e:
        c = e.delete_files(ref.repo, ref.branch_or_commit or "master", [path])
        print(f"deleted {ref.repo}@{c.branch}:{path} in commit {c.id}")
        _process(e, args, c)
    return 0


def _put_args(p) -> None:
    p.add_argument("target", metavar="repo@branch[:/path]")
    p.add_argument("-f", "--file", action="append", help="local file or folder (repeatable; - for stdin)")
    p.add_argument("-r", "--recursive", action="store_true", help="put a folder recursively")
    p.add_argument("-i", "--input-file", help="a file listing local paths to put, one per line")
    p.add_argument("-m", "--message", help="commit description")
    _run_arg(p)


def _run_arg(p) -> None:
    p.add_argument("--no-run", dest="run", action="store_false",
                   help="only commit; do not start processing (also: PACHMEDIA_NO_AUTORUN=1)")


def _get_args(p) -> None:
    p.add_argument("target", metavar="repo@branch:/path")
    p.add_argument("-o", "--output", help="write to this file or folder (default stdout)")
    p.add_argument("-r", "--recursive", action="store_true", help="download a folder")


def _ref_args(p) -> None:
    p.add_argument("target", metavar="repo@branch[:/path]")
    add_raw(p)


COMMANDS = [
    Command("put", "file", "Put files into an input repo as one commit.", _put_args, put_file),
    Command("get", "file", "Download a file (or, with -r, a folder).", _get_args, get_file),
    Command("list", "file", "List the files in a folder of a commit.", _ref_args, list_file),
    Command("inspect", "file", "Show a file's size, hash and the datum that wrote it.", _ref_args, inspect_file),
    Command("delete", "file", "Delete a file or folder from an input repo (a new commit).",
            lambda p: (p.add_argument("target", metavar="repo@branch:/path"), _run_arg(p)), delete_file),
]

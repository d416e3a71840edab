"""fsck: every object's bytes still match its hash, every file row names an object,
every branch head is a finished commit, every output file names a recorded datum."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FsckReport:
    objects: int = 0
    files: int = 0
    commits: int = 0
    problems: list[str] = field(default_factory=list)
    orphans: int = 0       # objects no file row names (left by an interrupted write; harmless)

    @property
    def ok(self) -> bool:
        return not self.problems


def gc(engine) -> tuple[int, int]:
    """Delete objects nothing names (left by interrupted writes). Holds the run lock so no
    job is mid-way and the store's lock exclusively so no put is (see objects.py); returns
    (objects, bytes) removed."""
    removed = size = 0
    with engine.run_lock(), engine.store.objects.collecting():
        keep = engine.store.referenced_objects()
        for oid in list(engine.store.objects.all_ids()):
            if oid not in keep:
                path = engine.store.objects.path(oid)
                size += path.stat().st_size
                path.unlink()
                removed += 1
        for tmp in engine.store.objects.tmp.iterdir():
            tmp.unlink(missing_ok=True)
    return removed, size


def fsck(engine, *, verify_hashes: bool = True) -> FsckReport:
    s = engine.store
    r = FsckReport()
    referenced = s.referenced_objects()
    for row in s.iter_all_files():
        r.files += 1
        if not s.objects.has(row["hash"]):
            r.problems.append(f"missing object {row['hash'][:16]} for {row['repo']}@{row['commit_id']}:{row['path']}")
    for oid in s.objects.all_ids():
        r.objects += 1
        if oid not in referenced:
            r.orphans += 1
        elif verify_hashes and not s.objects.verify(oid):
            r.problems.append(f"corrupt object {oid[:16]}: its bytes no longer hash to its name")
    for repo, branch, head in s.dangling_heads():
        r.problems.append(f"branch {repo}@{branch} points at an unfinished or missing commit {head}")
    r.commits = s.commit_count()
    for repo, job, datum in s.outputs_without_datum():
        r.problems.append(f"{repo}: output names datum {datum} of job {job}, which is not recorded")
    return r

"""Which datums of a job run (pure): Pachyderm's skipping, and why each datum runs.

A datum whose hash (input names, paths, file hashes and the pipeline salt) was done by
the previous job is skipped; its outputs are carried over from the job that made them.
Two datums writing one path fail the job with Pachyderm's message.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipelines.pps.datums import Datum, content_key, legacy_hash
from pipelines.pps.jobstore import DONE_DATUM_STATES, SKIPPABLE_DATUM_STATES, DatumInfo


@dataclass(frozen=True)
class Decision:
    datum: Datum
    hash: str
    action: str                  # run | skip | done (already finished in this job: resume)
    source_job: str | None       # for skip/done: the job whose outputs this datum has
    why: dict | None
    adopt: str | None = None     # a pre-upgrade datum id whose outputs this skip takes over


def datum_inputs(d: Datum) -> list[dict]:
    return [{"name": i.name, "repo": i.repo, "branch": i.branch, "commit": i.commit, "path": i.path,
             "files": [{"path": f.path, "hash": f.hash, "size": f.size} for f in i.files]}
            for i in d.inputs]


def explain(d: Datum, base: DatumInfo | None, salt_changed: bool) -> dict:
    """Why a datum runs, against the same datum id in the previous job."""
    files = {(i.repo, f.path): f.hash for i in d.inputs for f in i.files}
    if base is None:
        return {"reason": "new", "inputs": sorted(f"{r}:{p}" for r, p in files)}
    old = {(i["repo"], f["path"]): f["hash"] for i in base.inputs for f in i["files"]}
    changed = sorted(f"{r}:{p}" for (r, p), h in files.items() if old.get((r, p)) != h)
    removed = sorted(f"{r}:{p}" for (r, p) in old if (r, p) not in files)
    if changed or removed:
        return {"reason": "changed", "inputs": changed, "removed": removed}
    if base.state in ("FAILED", "RECOVERED"):
        return {"reason": "retry", "inputs": [], "previous": base.reason}
    if salt_changed:
        return {"reason": "salt", "inputs": []}
    return {"reason": "pipeline", "inputs": []}


def decide(datums: list[Datum], salt: str, previous: list[DatumInfo], previous_salt: str | None,
           done_here: dict[str, DatumInfo], forced: set[str], *, no_skip: str | None = None) -> list[Decision]:
    """Pure: what each datum of a job does. `forced` holds datum ids to re-run anyway;
    `no_skip` (why: reprocessSpec every_job, s3Out) runs every datum, as pachd's noSkip."""
    if no_skip:
        previous = []  # nothing is skipped, and nothing adopted
    by_hash = {p.hash: p for p in previous if p.state in SKIPPABLE_DATUM_STATES}
    by_id = {p.id: p for p in previous}
    legacy: dict[tuple, DatumInfo] | None = None
    out = []
    for d in datums:
        h = d.hash(salt)
        mine = done_here.get(d.id)
        if mine and mine.state in DONE_DATUM_STATES and mine.hash == h:
            out.append(Decision(d, h, "done", mine.source_job, mine.why))
        elif d.id in forced:
            out.append(Decision(d, h, "run", None, {"reason": "reprocess", "inputs": []}))
        elif no_skip:
            out.append(Decision(d, h, "run", None, {"reason": no_skip, "inputs": []}))
        elif h in by_hash:
            out.append(Decision(d, h, "skip", by_hash[h].source_job, None))
        else:
            if legacy is None:  # only when something would run: it costs a hash per record
                legacy = _legacy(previous, salt)
            old = legacy.get(content_key(datum_inputs(d)))
            if old:
                out.append(Decision(d, h, "skip", old.source_job, None, adopt=old.id))
            else:
                out.append(Decision(d, h, "run", None, explain(d, by_id.get(d.id),
                                                               previous_salt is not None and previous_salt != salt)))
    return out


def _legacy(previous: list[DatumInfo], salt: str) -> dict[tuple, DatumInfo]:
    """Skippable records an earlier version made (its hash, this salt), by what they cover."""
    return {content_key(p.inputs): p for p in previous
            if p.state in SKIPPABLE_DATUM_STATES and legacy_hash(p.inputs, salt) == p.hash}


def duplicate_paths(outputs: list[tuple[str, list[tuple[str, str, int]]]]) -> str | None:
    """Pachyderm's job failure for two datums writing one path, or for a file and a
    directory at one path (fileset validator's messages; None when the outputs are a tree)."""
    seen: dict[str, str] = {}
    for datum_id, files in outputs:
        for path, _, _ in files:
            if path in seen and seen[path] != datum_id:
                return (f"duplicate path output by different datums ({path} from {seen[path]} "
                        f"and {path} from {datum_id})")
            seen[path] = datum_id
    for path in sorted(seen):  # a file's path may not be another file's directory
        parts = path.strip("/").split("/")
        for n in range(1, len(parts)):
            if "/" + "/".join(parts[:n]) in seen:
                return f"file / directory path collision ({path})"
    return None

"""Pachyderm 2.12's message shapes for `--raw`, built from the engine's records.

Each function returns what `pachctl ... --raw` prints for that message, as protobuf
JSON (protojson, which pachctl uses without EmitUnpopulated): lowerCamelCase keys,
int64/uint64 as strings, bytes as base64, timestamps RFC 3339 in UTC, durations like
"1.500s", enums by name, and zero values (0, "", false, empty lists, unset messages)
left out. Nothing here is an extra of ours: what a message has no field for (a
datum's failure reason, why it ran, its tries) is shown by the human views only.

Messages: pfs.RepoInfo, pfs.CommitInfo, pfs.FileInfo, pps.PipelineInfo, pps.JobInfo,
pps.DatumInfo (pachyderm-sdk's classes of the same names are the reference; the
tests parse every object strictly against them).
"""
from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any, Iterable

from pipelines.pps.spec import map_pfs, pfs_with_defaults
from pipelines.pps.jobstore import DATUM_STATES

PROJECT = {"name": "default"}


# -- protojson scalars ----------------------------------------------------------------
def ts(t: float | None) -> str | None:
    """google.protobuf.Timestamp: RFC 3339, UTC, microseconds."""
    if not t:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(round((t % 1) * 1e6)) % 1000000:06d}Z"


def dur(seconds: float | None) -> str | None:
    """google.protobuf.Duration: seconds with 3 fractional digits and an "s"."""
    if seconds is None:
        return None
    return f"{max(seconds, 0.0):.3f}s"


def i64(n: int | None) -> str | None:
    return str(int(n)) if n else None


def hash_bytes(h: str) -> str:
    """A sha256 hex digest as protojson bytes (base64 of the 32 raw bytes)."""
    try:
        raw = bytes.fromhex(h)
    except ValueError:
        raw = h.encode()
    return base64.b64encode(raw).decode()


def hex_hash(b64: str) -> str:
    """The inverse of hash_bytes, for readers of --raw output."""
    return binascii.hexlify(base64.b64decode(b64)).decode()


def prune(v: Any) -> Any:
    """Drop what protojson leaves out: None, "", False, 0, empty lists and objects."""
    if isinstance(v, dict):
        out = {k: prune(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in (None, "", False, 0, [], {})}
    if isinstance(v, list):
        return [prune(x) for x in v]
    return v


# -- pfs ----------------------------------------------------------------------------------
def repo(name: str) -> dict:
    # Pachyderm's pipeline output repos are type "user" too ("spec"/"meta" are internal)
    return {"name": name, "type": "user", "project": PROJECT}


def branch(repo_name: str, name: str | None) -> dict | None:
    return {"repo": repo(repo_name), "name": name} if name else None


def commit(repo_name: str, id: str | None, branch_name: str | None = None) -> dict:
    return {"repo": repo(repo_name), "id": id, "branch": branch(repo_name, branch_name)}


def repo_info(row, size_bytes: int, branches: Iterable[str], created: float | None = None) -> dict:
    return prune({
        "repo": repo(row["name"]),
        "created": ts(created or row["created"]),
        "sizeBytesUpperBound": i64(size_bytes),
        "description": row["description"],
        "branches": [branch(row["name"], b) for b in branches],
        "details": {"sizeBytes": i64(size_bytes)},
    })


def commit_info(c, size_bytes: int | None = None, children: Iterable[tuple[str, str]] = ()) -> dict:
    """pfs.CommitInfo from a store.Commit; children are (id, branch) of its child commits.
    directProvenance is a list of Commits (2.12), one per input commit."""
    return prune({
        "commit": commit(c.repo, c.id, c.branch),
        "origin": {"kind": c.origin},
        "description": c.description,
        "parentCommit": commit(c.repo, c.parent) if c.parent else None,
        "childCommits": [commit(c.repo, cid, b) for cid, b in children],
        "started": ts(c.started),
        "finishing": ts(c.finished),
        "finished": ts(c.finished),
        "directProvenance": [commit(r, i, b) for r, b, i in c.provenance],
        "error": c.error,
        "sizeBytesUpperBound": i64(size_bytes),
        "details": {"sizeBytes": i64(size_bytes)} if size_bytes is not None else None,
    })


def file_info(repo_name: str, commit_id: str, path: str, file_type: str, size_bytes: int,
              hash: str | None = None, committed: float | None = None, datum: str | None = None) -> dict:
    return prune({
        "file": {"commit": commit(repo_name, commit_id), "path": path, "datum": datum},
        "fileType": file_type.upper(),
        "committed": ts(committed),
        "sizeBytes": i64(size_bytes),
        "hash": hash_bytes(hash) if hash else None,
    })


# -- pps ------------------------------------------------------------------------------------
def pipeline(name: str) -> dict:
    return {"name": name, "project": PROJECT}


def job(pipeline_name: str, id: str) -> dict:
    return {"pipeline": pipeline(pipeline_name), "id": id}


_INT64 = {"int64", "uint64", "sint64", "fixed64", "sfixed64"}


def as_protojson(value: Any, cls: type) -> Any:
    """Spec values copied into a message, in protojson types: a spec may say
    "datumTries": 1, protojson prints the int64 as "1". Keys are the spec's (already
    checked against the same messages by spec_schema)."""
    def leaf(v, proto_type):
        return str(v) if proto_type in _INT64 and isinstance(v, int) and not isinstance(v, bool) else v
    return _map_fields(value, cls, leaf)


def ints_from_protojson(value: Any, cls: type) -> Any:
    """The reverse of as_protojson: a message's JSON (int64 as "3") as a spec file writes it
    (3), for specs that arrive as messages (CreatePipeline, ListDatum's input)."""
    from pipelines.pps.spec_schema import _INTS

    def leaf(v, proto_type):
        return int(v) if proto_type in _INTS and isinstance(v, str) and v.lstrip("-").isdigit() else v
    return _map_fields(value, cls, leaf)


def _map_fields(value: dict, cls: type, leaf) -> dict:
    """A message's JSON walked by its field types (lists and nested messages followed),
    each scalar replaced by leaf(value, proto type); keys the message lacks kept as they are."""
    import typing

    import betterproto

    from pipelines.pps.spec_schema import _fields
    fields = _fields(cls)

    def conv(v, proto_type, hint):
        if typing.get_origin(hint) in (list, typing.List):
            (elem,) = typing.get_args(hint)
            return [conv(x, proto_type, elem) for x in v]
        if isinstance(hint, type) and issubclass(hint, betterproto.Message) and isinstance(v, dict):
            return _map_fields(v, hint, leaf)
        return leaf(v, proto_type)
    return {k: conv(v, *fields[k][1:]) if k in fields else v for k, v in value.items()}


def _details_fields(cls) -> set[str]:
    from pipelines.pps.spec_schema import _fields
    return set(_fields(cls))


def pipeline_info(p: dict, last_job_state: str | None = None) -> dict:
    """pps.PipelineInfo from a JobStore pipeline row (its spec is a CreatePipelineRequest)."""
    from pachyderm_sdk.api import pps
    spec = p["spec"]
    keep = _details_fields(pps.PipelineInfoDetails)
    details = {k: v for k, v in spec.items() if k in keep}
    details |= {"input": filled_input(spec["input"]), "salt": p["salt"], "outputBranch": "master",
                "createdAt": ts(p["created"]), "updatedAt": ts(p["updated"])}
    details = as_protojson(details, pps.PipelineInfoDetails)
    return prune({
        "pipeline": pipeline(p["name"]),
        "version": i64(p["version"]),
        "state": "PIPELINE_RUNNING",
        "lastJobState": last_job_state,
        "type": "PIPELINE_TYPE_TRANSFORM",
        "details": details,
        "userSpecJson": json.dumps(spec, sort_keys=True),
    })


def filled_input(node: dict, commits: dict[str, str | None] | None = None) -> dict:
    """A spec's input with Pachyderm's defaults (name, branch) filled in and, for a job,
    each pfs input's commit."""
    def fill(pfs: dict) -> dict:
        p = pfs_with_defaults(pfs)
        if commits is not None and commits.get(p["name"]):
            p["commit"] = commits[p["name"]]
        return p
    return map_pfs(node, fill)


def job_info(j, spec: dict | None = None, process_seconds: float | None = None, upload_bytes: int = 0) -> dict:
    """pps.JobInfo from a jobstore.JobInfo; `spec` (the pipeline's) gives details.input
    with this job's input commits filled in, and the transform."""
    c = j.counts
    details: dict = {"salt": j.salt}
    if spec:
        details["input"] = filled_input(spec["input"], {i["name"]: i["commit"] for i in j.inputs})
        for k in ("transform", "parallelismSpec", "datumTimeout", "jobTimeout", "datumTries", "resourceRequests",
                  "resourceLimits", "datumSetSpec", "schedulingSpec", "egress", "service", "spout"):
            if k in spec:
                details[k] = spec[k]
        from pachyderm_sdk.api import pps
        details = as_protojson(details, pps.JobInfoDetails)
    return prune({
        "job": job(j.pipeline, j.id),
        "pipelineVersion": i64(j.spec_version),
        "outputCommit": commit(j.pipeline, j.id, "master"),
        "dataProcessed": i64(c.get("SUCCESS", 0)),
        "dataSkipped": i64(c.get("SKIPPED", 0)),
        "dataTotal": i64(j.total),
        "dataFailed": i64(c.get("FAILED", 0)),
        "dataRecovered": i64(c.get("RECOVERED", 0)),
        "stats": {"processTime": dur(process_seconds), "downloadBytes": i64(j.bytes_in),
                  "uploadBytes": i64(upload_bytes)},
        "state": j.state,
        "reason": j.reason,
        "created": ts(j.started),
        "started": ts(j.started),
        "finished": ts(j.finished),
        "details": details,
    })


def datum_info(d, outputs: Iterable[tuple[str, str, int]] = ()) -> dict:
    """pps.DatumInfo from a jobstore.DatumInfo. data[] are the input files (FileInfo);
    pfsState is the file set holding its outputs: the output commit of the job that
    made them (a skipped datum's are carried over from an earlier job)."""
    took = d.finished - d.started if d.started and d.finished and d.state != "SKIPPED" else None
    return prune({
        "datum": {"job": job(d.pipeline, d.job), "id": d.id},
        "state": d.state if d.state in DATUM_STATES else None,
        "stats": {"processTime": dur(took), "downloadBytes": i64(d.bytes_in),
                  "uploadBytes": i64(sum(n for _, _, n in outputs))},
        "pfsState": {"commit": commit(d.pipeline, d.source_job, "master"), "path": "/", "datum": d.id},
        "data": [file_info(i["repo"], i["commit"], f["path"], "FILE", f["size"], f["hash"])
                 for i in d.inputs for f in i["files"]],
    })


def planned_datum(pipeline_name: str, datum_id: str, inputs) -> dict:
    """A dry run's datum (`list datum -f spec.json`): no job yet, only its input files."""
    return prune({
        "datum": {"job": {"pipeline": pipeline(pipeline_name)}, "id": datum_id},
        "data": [file_info(i.repo, i.commit, f.path, "FILE", f.size, f.hash) for i in inputs for f in i.files],
    })


def log_message(pipeline_name: str, job_id: str, datum_id: str, message: str, t: float | None = None) -> dict:
    """pps.LogMessage, as `logs --raw` prints it."""
    return prune({"projectName": "default", "pipelineName": pipeline_name, "jobId": job_id, "datumId": datum_id,
                  "user": True, "ts": ts(t), "message": message})

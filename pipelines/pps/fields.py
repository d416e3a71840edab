"""Every field of a pipeline spec and what the embedded engine does with it: honoured (it
changes what runs here, and a test shows it), cluster (it only means something on
Kubernetes: accepted and kept, so the same spec deploys), or refused at `create pipeline`
with a message naming the key path and why. Nothing is accepted and ignored.

The messages covered are the ones a spec writes fields of: CreatePipelineRequest,
Transform, Input, PFSInput, CronInput and Trigger (Pachyderm 2.12's pps.proto / pfs.proto;
tests check this table against pachyderm-sdk's generated messages, so a new field fails
a test until it is decided here). docs/pachyderm-semantics.md is the same table for people.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..errors import SpecError

HONOURED, CLUSTER, REFUSED = "honoured", "cluster", "refused"


@dataclass(frozen=True)
class Field:
    status: str
    note: str


def H(note: str) -> Field:
    return Field(HONOURED, note)


def C(note: str) -> Field:
    return Field(CLUSTER, note)


def R(note: str) -> Field:
    return Field(REFUSED, note)


FIELDS: dict[str, dict[str, Field]] = {
    "CreatePipelineRequest": {
        "pipeline": H("the name (and project: only `default` exists here)"),
        "tfJob": R("pachd itself refuses it: embedding TFJobs in pipelines is not supported"),
        "transform": H("what each datum runs"),
        "parallelismSpec": H("`constant`: how many of the job's datums run at once (within the run's slots: "
                             "Scheduling)"),
        "egress": R("egress to object storage or SQL databases is not implemented here; copy from the "
                    "S3 gateway instead"),
        "update": H("as pachctl: `create pipeline` with `update: true` updates"),
        "outputBranch": H("the branch of the output repo that jobs commit to"),
        "s3Out": H("outputs are written to bucket `out` of the gateway at S3_ENDPOINT (no /pfs/out); every datum "
                   "runs in every job"),
        "resourceRequests": C("Kubernetes resource requests of the worker pods"),
        "resourceLimits": H("memory, disk and cpu become every datum's rlimits (memory, file size, CPU time = "
                            "cores x datumTimeout), as pod limits on a cluster"),
        "sidecarResourceLimits": C("Kubernetes resource limits of the storage sidecar"),
        "sidecarResourceRequests": C("Kubernetes resource requests of the storage sidecar"),
        "input": H("the datums"),
        "description": H("shown by list/inspect pipeline"),
        "reprocess": H("as pachctl --reprocess: a new salt, so every datum runs again"),
        "service": R("service pipelines serve ports from Kubernetes pods; not available here"),
        "spout": R("spouts are long-running pods that commit on their own; not available here"),
        "datumSetSpec": C("how datums are batched into sets for workers; results are the same"),
        "datumTimeout": H("a try running longer is killed and counts as failed"),
        "jobTimeout": H("a job running longer is killed (JOB_KILLED)"),
        "salt": H("the datum hash's salt at creation; an update keeps the old salt unless reprocess"),
        "datumTries": H("tries per datum (default 3); errCmd runs after each failed try"),
        "schedulingSpec": C("Kubernetes node selector and priority class"),
        "podSpec": C("Kubernetes pod spec override (must be valid JSON, as pachd checks)"),
        "podPatch": C("Kubernetes pod patch (must be valid JSON, as pachd checks)"),
        "specCommit": R("restoring a pipeline from an extracted cluster's spec commit is not supported"),
        "metadata": C("annotations and labels of the worker pods (here the annotation `pachmedia.io/priority` "
                      "orders datums for free slots: Scheduling)"),
        "reprocessSpec": H("until_success skips datums done before; every_job runs every datum each job"),
        "autoscaling": C("scales a cluster's workers to zero when idle"),
        "tolerations": C("Kubernetes tolerations of the worker pods"),
        "dryRun": R("pachctl 2.12 reads a spec's dryRun as reprocess; say `reprocess` if that is meant"),
        "determined": R("the Determined AI integration needs a Determined cluster"),
        "maximumExpectedUptime": C("a cluster's pipeline_last_ok_at alert metric"),
    },
    "Transform": {
        "image": C("the image a cluster pulls; here the project's own code runs (the images are built from it)"),
        "cmd": H("the program, with /pfs paths pointing at the datum's files"),
        "errCmd": H("runs after each failed try; exit 0 (or an accepted code) makes the datum RECOVERED"),
        "env": H("added to the datum's environment"),
        "secrets": R("Kubernetes secrets are not available here; pass values with `env`"),
        "imagePullSecrets": C("Kubernetes secrets for pulling the image"),
        "stdin": H("lines written to cmd's standard input"),
        "errStdin": H("lines written to errCmd's standard input (its /pfs paths rewritten too)"),
        "acceptReturnCode": H("exit codes that count as success, for cmd and errCmd"),
        "debug": C("debug logging of a cluster's worker; here the datum log always holds all output"),
        "user": R("running datums as another user is not supported; the engine's user runs them"),
        "workingDir": H("cmd's working directory (a /pfs path is the datum's)"),
        "dockerfile": C("what `pachctl create pipeline --build` builds"),
        "memoryVolume": C("puts a cluster worker's /pfs on a memory-backed volume"),
        "datumBatching": R("datum batching (one long-running cmd fed datums by pachctl next datum) is not "
                           "implemented here"),
    },
    "Input": {
        "pfs": H("a repo's files matched by a glob"),
        "join": H("datums whose joinOn keys match"),
        "group": H("datums grouped by groupBy key"),
        "cross": H("every combination"),
        "union": H("the datums of each input"),
        "cron": H("ticks committed on schedule while a long-running pachmedia (s3 serve, play, serve) runs"),
    },
    "PFSInput": {
        "project": H("only the project `default` exists here"),
        "name": H("the /pfs/<name> folder and env variable (default: the repo)"),
        "repo": H("the repo read"),
        "repoType": H("only user repos (`user`, the default) can be read here"),
        "branch": H("the branch read (default master); only commits on it start jobs"),
        "commit": R("pachd refuses it: an input cannot come from a commit; use a branch whose head is it"),
        "glob": H("which paths make datums"),
        "joinOn": H("join key from the glob's capture groups"),
        "outerJoin": H("keep datums with no match"),
        "groupBy": H("group key from the glob's capture groups"),
        "lazy": H("files are read on demand on a cluster; here they are private copies with the same bytes"),
        "emptyFiles": H("files appear empty; a symlink to one in /pfs/out outputs the real file"),
        "s3": H("the input's commit is bucket <name> of the gateway at S3_ENDPOINT, read-only; /pfs/<name> is "
                "an empty folder"),
        "trigger": H("the input branch moves to the trigger branch's head when the condition holds"),
        "propagationSpec": H("`never`: commits to this input start no job; the next job reads its head"),
        "reference": H("left out of the datum hash: a change to it alone re-runs no datum"),
    },
    "CronInput": {
        "name": H("the input's name (required)"),
        "project": H("only the project `default` exists here"),
        "repo": H("the tick repo (default <pipeline>_<name>)"),
        "commit": R("pachd never reads it; remove it"),
        "spec": H("the schedule (cron syntax, @every <duration>, @daily, ..., @never)"),
        "overwrite": H("each tick replaces the previous tick file instead of adding one"),
        "start": H("ticks count from this time (default: creation)"),
    },
    "Trigger": {
        "branch": H("the branch watched (default master)"),
        "all": H("every condition must hold (default: any)"),
        "rateLimitSpec": H("at most one move per cron period"),
        "size": H("move after this many new bytes (e.g. 1MB)"),
        "commits": H("move after this many commits"),
        "cronSpec": H("move on schedule while a long-running pachmedia runs"),
    },
}

# The message a nested spec object is, by the key that holds it (inputs recurse).
_CHILD = {("CreatePipelineRequest", "transform"): "Transform", ("CreatePipelineRequest", "input"): "Input",
          ("Input", "pfs"): "PFSInput", ("Input", "cron"): "CronInput", ("PFSInput", "trigger"): "Trigger"}


def is_set(value: object) -> bool:
    """Proto3's presence: a zero scalar or an empty list/map is as good as absent; a
    message (a dict, even `{}`) is present."""
    if isinstance(value, dict):
        return True
    return value not in (None, False, 0, "", [])


# Refused by pachd itself (so by a cluster too), not only here.
PACHD_REFUSES = {("CreatePipelineRequest", "tfJob"), ("PFSInput", "commit")}


def refuse_unsupported(spec: dict, *, pachd_only: bool = False) -> None:
    """Raise SpecError for the first refused field a spec sets, naming its key path
    (with pachd_only, only those pachd refuses too: a spec meant for a cluster)."""
    for message, key, where, field in _refused(spec, "CreatePipelineRequest", ""):
        if not pachd_only or (message, key) in PACHD_REFUSES:
            raise SpecError(f"{where}: {field.note}")


def engine_refusals(spec: dict) -> list[tuple[str, str]]:
    """(key path, why) of every field a spec sets that the embedded engine refuses and pachd
    accepts: what a spec meant for a cluster cannot do on this machine."""
    return [(where, field.note) for message, key, where, field in _refused(spec, "CreatePipelineRequest", "")
            if (message, key) not in PACHD_REFUSES]


def _refused(node: dict, message: str, path: str) -> Iterator[tuple[str, str, str, Field]]:
    """(message, key, key path, field) of each refused field set, in the spec's order."""
    table = FIELDS[message]
    for key, value in node.items():
        where = f"{path}.{key}" if path else key
        field = table.get(key)
        if field is None or not is_set(value):
            continue
        if field.status == REFUSED:
            yield message, key, where, field
        if message == "Input" and key in ("join", "group", "cross", "union"):
            for i, child in enumerate(value):
                if isinstance(child, dict):
                    yield from _refused(child, "Input", f"{where}[{i}]")
        elif (message, key) in _CHILD and isinstance(value, dict):
            yield from _refused(value, _CHILD[(message, key)], where)


def cluster_notes(spec: dict) -> list[str]:
    """One line per Kubernetes-only field the spec sets (shown by create pipeline)."""
    notes = []
    for key in ("", "transform"):
        node = spec.get(key, {}) if key else spec
        message = "Transform" if key else "CreatePipelineRequest"
        for k, v in (node or {}).items():
            f = FIELDS[message].get(k)
            if f and f.status == CLUSTER and is_set(v):
                notes.append(f"{key + '.' if key else ''}{k}: applies on a cluster ({f.note})")
    return notes

"""pps: jobs, job sets, datums (including the dry run of a spec's input) and logs."""
from __future__ import annotations

from pachyderm_sdk.api import pps

from pipelines import protojson
from pipelines.errors import NotFound
from pipelines.pachd import refs, status, waiting
from pipelines.pachd.convert import message
from pipelines.pachd.pps_pipelines import pipeline_name

DONE = ("JOB_SUCCESS", "JOB_FAILURE", "JOB_UNRUNNABLE", "JOB_KILLED")


class Jobs:
    SERVICE = "pps_v2.API"

    def __init__(self, engine, poke=lambda: None) -> None:
        self.e = engine
        self.poke = poke

    def _spec(self, name: str) -> dict | None:
        try:
            return self.e.jobs.pipeline(name)["spec"]
        except NotFound:
            return None

    def info(self, j) -> pps.JobInfo:
        return message(pps.JobInfo, protojson.job_info(j, self._spec(j.pipeline)))

    def _job(self, job: pps.Job | None):
        if job is None or not job.id:
            raise status.unknown("job cannot be nil")
        name = pipeline_name(job.pipeline)
        try:
            return self.e.jobs.job(name, job.id)
        except NotFound:
            raise status.job_not_found(name, job.id) from None

    def _set_settled(self, id: str) -> bool:
        return not any(s["id"] == id for s in self.e.jobs.pending_sets()) and \
            all(j.state in DONE for j in self.e.jobs.jobs(id=id))

    # -- jobs ------------------------------------------------------------------------------------
    def InspectJob(self, request: pps.InspectJobRequest, context) -> pps.JobInfo:
        j = self._job(request.job)
        if request.wait and j.state not in DONE:
            j = waiting.until(context, lambda: (lambda x: x if x.state in DONE else None)(self._job(request.job)))
        return self.info(j)

    def ListJob(self, request: pps.ListJobRequest, context):
        if request.jq_filter:
            raise status.unimplemented("ListJob", "jq filters")
        for p in request.projects or []:
            refs.project(p)
        name = pipeline_name(request.pipeline) if request.pipeline and request.pipeline.name else None
        jobs = self.e.jobs.jobs(pipeline=name)
        versions = {p["name"]: p["version"] for p in self.e.jobs.pipelines()}
        if request.history >= 0:  # 0: the current version's jobs; -1: all of them
            jobs = [j for j in jobs if j.spec_version >= versions.get(j.pipeline, 0) - request.history]
        wanted = {(c.repo.name if c.repo else (c.branch.repo.name if c.branch else ""), c.id)
                  for c in request.input_commit or []}
        if wanted:
            jobs = [j for j in jobs if wanted <= {(i["repo"], i["commit"]) for i in j.inputs}]
        if request.reverse:
            jobs.reverse()
        for j in jobs[:request.number or None]:
            yield self.info(j)

    def InspectJobSet(self, request: pps.InspectJobSetRequest, context):
        id = request.job_set.id if request.job_set else ""
        if request.wait:
            waiting.until(context, lambda: self._set_settled(id))
        for j in sorted(self.e.jobs.jobs(id=id), key=lambda j: j.started or 0):
            yield self.info(j)

    def ListJobSet(self, request: pps.ListJobSetRequest, context):
        if request.jq_filter:
            raise status.unimplemented("ListJobSet", "jq filters")
        sets: dict[str, list] = {}
        for j in self.e.jobs.jobs():  # newest first
            sets.setdefault(j.id, []).append(j)
        items = list(sets.items())
        if request.reverse:
            items.reverse()
        for id, jobs in items[:request.number or None]:
            yield pps.JobSetInfo(job_set=pps.JobSet(id=id), jobs=[self.info(j) for j in jobs])

    def SubscribeJob(self, request: pps.SubscribeJobRequest, context):
        name = pipeline_name(request.pipeline)
        self._spec(name) or self._missing(name)
        seen: dict[str, str] = {}
        while True:
            for j in reversed(self.e.jobs.jobs(pipeline=name)):
                if seen.get(j.id) != j.state:
                    seen[j.id] = j.state
                    yield self.info(j)
            if not waiting.alive(context):
                return

    @staticmethod
    def _missing(name: str):
        raise status.pipeline_not_found(name)

    # -- datums ----------------------------------------------------------------------------------
    def _datum_info(self, d) -> pps.DatumInfo:
        return message(pps.DatumInfo, protojson.datum_info(d, self.e.jobs.datum_outputs(d.pipeline, d.source_job, d.id)))

    def InspectDatum(self, request: pps.InspectDatumRequest, context) -> pps.DatumInfo:
        d = request.datum
        if d is None or d.job is None:
            raise status.unknown("datum cannot be nil")
        j = self._job(d.job)
        try:
            return self._datum_info(self.e.jobs.datum(j.pipeline, j.id, d.id))
        except NotFound:
            raise status.datum_not_found(j.pipeline, j.id, d.id) from None

    def ListDatum(self, request: pps.ListDatumRequest, context):
        if request.input is not None and not (request.job and request.job.id):
            yield from self._dry_run(request.input)
            return
        j = self._job(request.job)
        states = {pps.DatumState(s).name for s in (request.filter.state if request.filter else [])}
        datums = [d for d in self.e.jobs.datums(j.pipeline, j.id) if not states or d.state in states]
        if request.reverse:
            datums.reverse()
        for d in datums[:request.number or None]:
            yield self._datum_info(d)

    def _dry_run(self, input: pps.Input):
        """The datums a spec's input would get on the current heads (pachctl list datum -f)."""
        spec_input = protojson.ints_from_protojson(input.to_dict(), pps.Input)
        for d in self.e.dry_run_datums({"input": spec_input}):
            yield message(pps.DatumInfo, protojson.planned_datum("", d.id, d.inputs))

    def RestartDatum(self, request: pps.RestartDatumRequest, context):
        from betterproto.lib.google.protobuf import Empty
        j = self._job(request.job)
        chosen = self._filtered(j, request.data_filters)
        if request.data_filters and not chosen:
            raise status.unknown(f"no datum of job {status.pipeline_str(j.pipeline)}@{j.id} matches "
                                 f"{', '.join(request.data_filters)}")
        self.e.request_reprocess(j.pipeline, datum_ids=sorted(chosen), failed=not request.data_filters)
        self.poke()
        return Empty()

    def _filtered(self, j, filters) -> set[str]:
        """pachd's data filters: a datum id, or an input file's path or hash."""
        out = set()
        for d in self.e.jobs.datums(j.pipeline, j.id):
            files = [(f["path"], f["hash"]) for i in d.inputs for f in i["files"]]
            if any(x == d.id or any(x in (p, h, p.lstrip("/")) for p, h in files) for x in filters):
                out.add(d.id)
        return out

    # -- logs ------------------------------------------------------------------------------------
    def GetLogs(self, request: pps.GetLogsRequest, context):
        if request.job and request.job.id:
            j = self._job(request.job)
        else:
            name = pipeline_name(request.pipeline)
            self._spec(name) or self._missing(name)
            last = self.e.jobs.jobs(pipeline=name, limit=1)
            if not last:
                return
            j = last[0]
        lines = self._log_lines(j, request)
        for job_id, datum_id, line in lines[-request.tail:] if request.tail > 0 else lines:
            yield message(pps.LogMessage, protojson.log_message(j.pipeline, job_id, datum_id, line)
                          | ({"master": True, "user": False} if request.master else {}))

    def _log_lines(self, j, request) -> list[tuple[str, str, str]]:
        if request.master:
            c = j.counts
            return [(j.id, "", f"job {j.id} {j.state}: processed {c.get('SUCCESS', 0)}, skipped {c.get('SKIPPED', 0)}, "
                               f"failed {c.get('FAILED', 0)}, recovered {c.get('RECOVERED', 0)} of {j.total}"
                               + (f"; reason: {j.reason}" if j.reason else ""))]
        chosen = self._filtered(j, request.data_filters) if request.data_filters else None
        out = []
        for d in self.e.jobs.datums(j.pipeline, j.id):
            if d.state == "SKIPPED" or (request.datum and request.datum.id and d.id != request.datum.id):
                continue
            if chosen is not None and d.id not in chosen:
                continue
            path = self.e.log_path(j.pipeline, d.source_job, d.id)
            if path.exists():
                out += [(d.source_job, d.id, line) for line in path.read_text(errors="replace").splitlines()]
        return out

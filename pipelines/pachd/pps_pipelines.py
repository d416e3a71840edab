"""pps: pipelines -- create (v1 message or v2 JSON), inspect, list, delete, start, stop."""
from __future__ import annotations

import json

from betterproto.lib.google.protobuf import Empty
from pachyderm_sdk.api import pps

from pipelines import protojson
from pipelines.errors import NotFound
from pipelines.pachd import refs, status
from pipelines.pachd.convert import message


def pipeline_name(p: pps.Pipeline | None) -> str:
    if p is None or not p.name:
        raise status.unknown("pipeline cannot be nil")
    refs.project(p.project)
    return p.name


class Pipelines:
    SERVICE = "pps_v2.API"

    def __init__(self, engine, poke=lambda: None) -> None:
        self.e = engine
        self.poke = poke  # a new or changed pipeline gets its first job without being asked

    def row(self, name: str) -> dict:
        try:
            return self.e.jobs.pipeline(name)
        except NotFound:
            raise status.pipeline_not_found(name) from None

    def info(self, p: dict) -> pps.PipelineInfo:
        last = self.e.jobs.jobs(pipeline=p["name"], limit=1)
        shape = protojson.pipeline_info(p, last[0].state if last else None)
        if self.e.pipeline_stopped(p["name"]):
            shape |= {"stopped": True, "state": "PIPELINE_PAUSED"}
        return message(pps.PipelineInfo, shape)

    # -- create ----------------------------------------------------------------------------------
    def _create(self, spec: dict, update: bool, reprocess: bool, dry_run: bool) -> dict:
        name = pipeline_name(pps.Pipeline().from_dict(spec.get("pipeline") or {}))
        exists = self.e.jobs.pipelines() and any(p["name"] == name for p in self.e.jobs.pipelines())
        if exists and not update:
            raise status.pipeline_exists(name)
        if dry_run:  # what a create here would say: this pachd is the embedded engine, refusals included
            from pipelines.pps.spec import validate_spec
            validate_spec(spec, engine=True)
        else:
            self.e.create_pipeline(spec, reprocess=reprocess)
            self.poke()
        return spec

    def CreatePipelineV2(self, request: pps.CreatePipelineV2Request, context) -> pps.CreatePipelineV2Response:
        try:
            spec = json.loads(request.create_pipeline_request_json or "")
        except ValueError as e:
            raise status.unknown(f"malformed CreatePipelineRequest JSON: {e}") from None
        if not isinstance(spec, dict):
            raise status.unknown("the CreatePipelineRequest JSON must be an object")
        spec = self._create(spec, request.update, request.reprocess, request.dry_run)
        return pps.CreatePipelineV2Response(effective_create_pipeline_request_json=json.dumps(spec))

    def CreatePipeline(self, request: pps.CreatePipelineRequest, context) -> Empty:
        spec = protojson.ints_from_protojson(json.loads(request.to_json()), pps.CreatePipelineRequest)
        spec.pop("update", None)
        spec.pop("reprocess", None)
        spec.pop("dryRun", None)
        self._create(spec, request.update, request.reprocess, False)
        return Empty()

    # -- read ------------------------------------------------------------------------------------
    def InspectPipeline(self, request: pps.InspectPipelineRequest, context) -> pps.PipelineInfo:
        return self.info(self.row(pipeline_name(request.pipeline)))

    def ListPipeline(self, request: pps.ListPipelineRequest, context):
        if request.jq_filter:
            raise status.unimplemented("ListPipeline", "jq filters")
        for p in request.projects or []:
            refs.project(p)
        if request.pipeline and request.pipeline.name:
            rows = [self.row(pipeline_name(request.pipeline))]
        else:
            rows = self.e.jobs.pipelines()
        if request.commit_set and request.commit_set.id:
            in_set = {j.pipeline for j in self.e.jobs.jobs(id=request.commit_set.id)}
            rows = [p for p in rows if p["name"] in in_set]
        for p in rows:  # only current versions are kept: any history shows the current one
            yield self.info(p)

    # -- lifecycle -------------------------------------------------------------------------------
    def DeletePipeline(self, request: pps.DeletePipelineRequest, context) -> Empty:
        if request.all:
            raise status.unimplemented("DeletePipeline", "--all (delete them one by one, downstream first)")
        name = pipeline_name(request.pipeline)
        if not any(p["name"] == name for p in self.e.jobs.pipelines()):
            if request.must_exist:
                raise status.pipeline_not_found(name)
            return Empty()
        self.e.delete_pipeline(name, keep_repo=request.keep_repo, force=request.force)
        return Empty()

    def StopPipeline(self, request: pps.StopPipelineRequest, context) -> Empty:
        name = pipeline_name(request.pipeline)
        self.row(name)
        self.e.stop_pipeline(name)
        return Empty()

    def StartPipeline(self, request: pps.StartPipelineRequest, context) -> Empty:
        name = pipeline_name(request.pipeline)
        self.row(name)
        self.e.start_pipeline(name)
        self.poke()
        return Empty()

"""Specs: every spec in specs/ passes the strict check (and Pachyderm 2.12's own JSON
Schema where ../shared has it); broken specs fail naming the key path."""
from __future__ import annotations

import copy
import json
import re

import jsonschema
import pytest

from pipelines import SPECS_DIR
from pipelines.errors import SpecError
from pipelines.pps.spec import dag_order, load_specs, validate_spec

pytestmark = pytest.mark.media

PACHYDERM_SCHEMA = SPECS_DIR.parent.parent / "shared" / "pachyderm-schema" / "CreatePipelineRequest.schema.json"
SPECS = load_specs(SPECS_DIR)
BASE = SPECS["probe"]


def test_the_six_pipelines_in_dag_order():
    # siblings in the order the catalog lists them: the preview plays before the ladder is made
    assert dag_order(SPECS) == ["scan", "probe", "preview", "transcode", "labels", "catalog"]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_specs_pass_pachyderm_schema(name):
    if not PACHYDERM_SCHEMA.is_file():
        pytest.skip(f"{PACHYDERM_SCHEMA} not present (it sits beside the repo in CI)")
    schema = json.loads(PACHYDERM_SCHEMA.read_text())
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(SPECS[name]))
    assert not errors, [e.message for e in errors]


def mutate(path: str, value, base=BASE):
    spec = copy.deepcopy(base)
    node = spec
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node[k]
    last = keys[-1]
    if value is DELETE:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return spec


DELETE = object()


@pytest.mark.parametrize("path,value,message", [
    pytest.param("datumTimeout", "1h", 'datumTimeout: \'1h\' is not a duration like "600s"', id="duration"),
    pytest.param("datum_tries", 3, "datum_tries: the field datumTries is given twice (as datumTries and datum_tries)",
                 id="snake-and-camel"),
    pytest.param("datumTries", "three", "datumTries: expected an integer", id="int-type"),
    pytest.param("transform.cmd", "python3 -m x", "transform.cmd: expected a list", id="cmd-type"),
    pytest.param("transform.cmd.1", 7, "transform.cmd[1]: expected a string", id="cmd-item"),
    pytest.param("transform.imagee", "x", "transform.imagee: unknown key", id="unknown-nested"),
    pytest.param("input.cross.1.pfs.globb", "/x", "input.cross[1].pfs.globb: unknown key", id="unknown-deep"),
    pytest.param("input.cross.1.pfs.glob", "", "input.cross[1].pfs.glob: required", id="glob"),
    pytest.param("reprocessSpec", "sometimes", "reprocessSpec: must be one of 'until_success' or 'every_job'",
                 id="reprocess-spec"),
    pytest.param("input.cross.1.pfs.commit", "abc", "input.cross[1].pfs.commit: pachd refuses it", id="pinned-commit"),
    pytest.param("input.cross.1.pfs.s3", True, "input.cross[1].pfs.glob: inputs that set 's3' to 'true' must also "
                 "set 'glob', to \"/\"", id="s3-glob"),
    pytest.param("podPatch", "{not json", "podPatch: malformed PodPatch", id="pod-patch"),
    pytest.param("pipeline.project.name", "video", "pipeline.project.name: 'video': the embedded engine has one "
                 "project", id="project"),
    pytest.param("transform.user", "root", "transform.user: running datums as another user", id="user"),
    pytest.param("pipeline.name", "no spaces", "pipeline.name: 'no spaces' is not a valid name", id="name"),
    pytest.param("parallelismSpec.constant", True, "parallelismSpec.constant: expected an integer", id="bool-not-int"),
    pytest.param("input.cross.1.pfs.outerJoin", "yes", "input.cross[1].pfs.outerJoin: expected true or false",
                 id="bool"),
    pytest.param("resourceRequests.cpu", "lots", "resourceRequests.cpu: expected a number", id="float"),
    pytest.param("wat", 1, "wat: unknown key", id="unknown-top"),
    pytest.param("input.cross.1.pfs.glob", "/[abc", "input.cross[1].pfs.glob: glob '/[abc': unclosed '['",
                 id="bad-glob-class"),
    pytest.param("input.cross.1.pfs.glob", "/[z-a]", "input.cross[1].pfs.glob: glob '/[z-a]' does not compile",
                 id="bad-glob-range"),
    pytest.param("input.cross.1.pfs.glob", "/^(x)", "input.cross[1].pfs.glob: glob '/^(x)': `^(` opens no group",
                 id="bad-glob-group"),
    pytest.param("input.cross.0.join.0.pfs.joinOn", "$01", "input.cross[0].join[0].pfs.joinOn: template '$01'",
                 id="join-on-leading-zero"),
    pytest.param("input.cross.0.join.0.pfs.joinOn", "$2", "input.cross[0].join[0].pfs.joinOn: '$2' uses capture "
                 "group $2 but the glob", id="join-on-missing-group"),
])
def test_broken_specs_name_the_key(path, value, message):
    with pytest.raises(SpecError) as err:
        validate_spec(mutate(path, value), engine=True)
    assert message in str(err.value)


def test_two_inputs_with_one_name_are_refused():
    spec = copy.deepcopy(BASE)
    spec["input"] = {"cross": [{"pfs": {"repo": "media", "glob": "/*"}}, {"pfs": {"repo": "media", "glob": "/"}}]}
    with pytest.raises(SpecError, match=r'input\.cross\[1\]: name "media" was used more than once'):
        validate_spec(spec)


def test_union_inputs_may_share_a_name_as_in_pachd():
    spec = copy.deepcopy(BASE)
    spec["input"] = {"union": [{"pfs": {"repo": "media", "glob": "/*"}}, {"pfs": {"repo": "media", "glob": "/"}}]}
    validate_spec(spec)
    spec["input"] = {"cross": [spec["input"], {"pfs": {"repo": "media", "glob": "/"}}]}
    with pytest.raises(SpecError, match=r'input\.cross\[1\]: name "media" was used more than once'):
        validate_spec(spec)


@pytest.mark.parametrize("path,value,effective", [
    pytest.param("input.cross.1.pfs.glob", "policy.json", "/policy.json", id="glob-without-slash"),
    pytest.param("input.cross.1.pfs.glob", "//a/./b/", "/a/b", id="glob-cleaned"),
])
def test_globs_are_cleaned_as_pachds_set_input_defaults(path, value, effective):
    assert validate_spec(mutate(path, value))["input"]["cross"][1]["pfs"]["glob"] == effective


def test_snake_case_keys_are_read_as_protojson_does():
    spec = {"pipeline": {"name": "p"}, "transform": {"cmd": ["true"], "accept_return_code": [3],
                                                       "env": {"some_var": "x"}},
            "input": {"pfs": {"repo": "in", "glob": "/*", "empty_files": True}}, "datum_tries": "2"}
    effective = validate_spec(spec)
    assert effective["transform"] == {"cmd": ["true"], "acceptReturnCode": [3], "env": {"some_var": "x"}}
    assert effective["input"]["pfs"]["emptyFiles"] is True and effective["datumTries"] == 2


def test_a_join_without_join_on_is_valid_as_in_pachd():
    validate_spec(mutate("input.cross.0.join.0.pfs.joinOn", DELETE))


def test_trigger_branches_are_named_as_pachd_names_them():
    spec = copy.deepcopy(BASE)
    spec["input"] = {"cross": [{"pfs": {"repo": "media", "glob": "/*", "trigger": {"commits": 2}}},
                               {"pfs": {"repo": "media", "name": "m2", "glob": "/", "trigger": {"size": "1MB"}}}]}
    effective = validate_spec(spec)
    assert [c["pfs"]["branch"] for c in effective["input"]["cross"]] == ["probe-trigger-1", "probe-trigger-2"]
    assert effective["input"]["cross"][0]["pfs"]["trigger"] == {"branch": "master", "commits": 2}


def test_a_cycle_is_refused():
    a = mutate("input", {"pfs": {"repo": "b", "glob": "/*"}}, mutate("pipeline.name", "a"))
    b = mutate("input", {"pfs": {"repo": "a", "glob": "/*"}}, mutate("pipeline.name", "b"))
    with pytest.raises(SpecError, match="cycle"):
        dag_order({"a": a, "b": b})


def test_a_bad_glob_is_refused_at_create_pipeline_not_as_a_traceback(tmp_path):
    from pipelines.engine import Engine
    spec = {"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]}, "input": {"pfs": {"repo": "in", "glob": "/[abc"}}}
    with Engine(tmp_path / "home", specs_dir=tmp_path / "none", init=False) as e:
        e.store.create_repo("in")
        with pytest.raises(SpecError, match=r"input\.pfs\.glob: glob '/\[abc': unclosed"):
            e.create_pipeline(spec)
        assert e.jobs.pipelines() == []


def test_a_spout_is_refused_for_being_a_spout_not_for_lacking_an_input():
    spec = {"pipeline": {"name": "sp"}, "transform": {"cmd": ["true"]}, "spout": {}}
    with pytest.raises(SpecError, match=r"^spout: spouts are long-running pods"):
        validate_spec(spec, engine=True)
    assert validate_spec(spec)["spout"] == {}, "for a cluster, a spout without input is valid (pachd)"


@pytest.mark.parametrize("pfs,message", [
    pytest.param({"repo": "in", "glob": "/*", "s3": True}, "input.pfs.glob: inputs that set 's3' to 'true' must",
                 id="s3-glob-is-pachds-reason"),
    pytest.param({"repo": "in", "s3": True}, "input.pfs.glob: inputs that set 's3' to 'true' must also set 'glob', to",
                 id="s3-glob-has-no-default"),
    pytest.param({"repo": "in", "glob": "/", "s3": True, "lazy": True}, "input.pfs.lazy: input cannot specify both "
                 "'s3' and 'lazy'", id="s3-lazy"),
    pytest.param({"repo": "out", "glob": "/"}, 'input.pfs.name: required for a repo named "out"', id="repo-out"),
    pytest.param({"repo": "in", "name": "out", "glob": "/"}, "input: input cannot be named out", id="name-out"),
])
def test_pachds_input_rules_come_first(pfs, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        validate_spec({"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]}, "input": {"pfs": pfs}}, engine=True)


S3_IN = {"pfs": {"repo": "in", "glob": "/", "s3": True}}
PLAIN = {"pfs": {"repo": "other", "glob": "/*"}}


@pytest.mark.parametrize("kind", ["join", "group", "union"])
def test_s3_inputs_in_join_group_union_are_refused_as_pachd_refuses_them(kind):
    # pachd's validateInput: ContainsS3Inputs on a join, group or union node, however deep
    for node in ({kind: [S3_IN, PLAIN]}, {kind: [PLAIN, {"cross": [S3_IN, PLAIN]}]}):
        with pytest.raises(SpecError, match=rf"^input\.{kind}: S3 inputs in {kind} expressions are not supported"):
            validate_spec({"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]}, "input": node}, engine=True)


def test_an_s3_input_alone_or_in_a_cross_is_valid_and_s3_out_too():
    for node in (S3_IN, {"cross": [S3_IN, PLAIN]}):
        spec = validate_spec({"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]}, "input": node, "s3Out": True},
                             engine=True)
        assert spec["s3Out"] is True


@pytest.mark.parametrize("cron,message", [
    pytest.param({"spec": "@daily"}, "input.cron.name: required", id="name"),
    pytest.param({"name": "t", "spec": "61 * * * *"}, "input.cron.spec: error parsing cron-spec: minute", id="spec"),
    pytest.param({"name": "t", "spec": "@daily", "start": "yesterday"}, "input.cron.start: 'yesterday' is not an "
                 "RFC 3339 timestamp", id="start"),
])
def test_cron_inputs_are_checked_as_pachd_checks_them(cron, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        validate_spec({"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]}, "input": {"cron": cron}})


def test_a_cron_input_reads_its_tick_repo():
    spec = validate_spec({"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]},
                          "input": {"cron": {"name": "tick", "spec": "@every 1h"}}})
    assert spec["input"]["cron"]["repo"] == "p_tick"


@pytest.mark.parametrize("path,value", [
    pytest.param("pipeline.project.name", "video", id="project"),
    pytest.param("transform.user", "root", id="user"),
    pytest.param("spout", {}, id="spout"),
])
def test_what_only_the_embedded_engine_refuses_is_valid_for_a_cluster(path, value):
    validate_spec(mutate(path, value))
    with pytest.raises(SpecError):
        validate_spec(mutate(path, value), engine=True)


@pytest.mark.parametrize("path,value", [
    pytest.param("tfJob", {"tfJob": "{}"}, id="tf-job"),
    pytest.param("input.cross.1.pfs.commit", "abc", id="pinned-commit"),
])
def test_what_pachd_refuses_is_refused_for_a_cluster_too(path, value):
    with pytest.raises(SpecError):
        validate_spec(mutate(path, value))


@pytest.mark.parametrize("path,value,message", [
    pytest.param("input.cross.1.pfs.project", "video", "input.cross[1].pfs.project: 'video'", id="pfs-project"),
    pytest.param("input.cross.1.pfs.project", "default", None, id="pfs-default"),
])
def test_an_inputs_project_is_a_name(path, value, message):
    if message is None:
        validate_spec(mutate(path, value), engine=True)
    else:
        with pytest.raises(SpecError, match=re.escape(message)):
            validate_spec(mutate(path, value), engine=True)

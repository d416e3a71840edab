"""Specs: every spec in specs/ passes the strict check (and Pachyderm 2.12's own JSON
Schema where ../shared has it); broken specs fail naming the key path."""
from __future__ import annotations

import copy
import json

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
    pytest.param("datum_tries", 3, "datum_tries: use the camelCase key datumTries", id="snake-case"),
    pytest.param("datumTries", "three", "datumTries: expected an integer", id="int-type"),
    pytest.param("transform.cmd", "python3 -m x", "transform.cmd: expected a list", id="cmd-type"),
    pytest.param("transform.cmd.1", 7, "transform.cmd[1]: expected a string", id="cmd-item"),
    pytest.param("transform.imagee", "x", "transform.imagee: unknown key", id="unknown-nested"),
    pytest.param("input.cross.1.pfs.globb", "/x", "input.cross[1].pfs.globb: unknown key", id="unknown-deep"),
    pytest.param("input.cross.0.join.0.pfs.joinOn", DELETE, "input.cross[0].join[0].pfs.joinOn: required", id="join-on"),
    pytest.param("input.cross.1.pfs.glob", "", "input.cross[1].pfs.glob: required", id="glob"),
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
        validate_spec(mutate(path, value))
    assert message in str(err.value)


def test_two_inputs_with_one_name_are_refused():
    spec = copy.deepcopy(BASE)
    spec["input"] = {"cross": [{"pfs": {"repo": "media", "glob": "/*"}}, {"pfs": {"repo": "media", "glob": "/"}}]}
    with pytest.raises(SpecError, match="two inputs are named 'media'"):
        validate_spec(spec)


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

"""Every field of a pipeline spec is decided (pipelines/pps/fields.py): the table covers
exactly the fields of Pachyderm's messages as pachyderm-sdk generates them, the doc
states each one the same way, and each refused field is refused naming its key path."""
from __future__ import annotations

import dataclasses
import re

import pytest
from pachyderm_sdk.api import pfs, pps

from pipelines import SPECS_DIR
from pipelines.errors import SpecError
from pipelines.pps.fields import CLUSTER, FIELDS, REFUSED, cluster_notes, is_set, refuse_unsupported

pytestmark = pytest.mark.unit

DOC = SPECS_DIR.parent / "docs" / "pachyderm-semantics.md"
MESSAGES = {"CreatePipelineRequest": pps.CreatePipelineRequest, "Transform": pps.Transform, "Input": pps.Input,
            "PFSInput": pps.PfsInput, "CronInput": pps.CronInput, "Trigger": pfs.Trigger}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


@pytest.mark.parametrize("message", sorted(MESSAGES))
def test_the_table_has_every_field_of_the_message(message):
    fields = {camel(f.name) for f in dataclasses.fields(MESSAGES[message]) if not f.name.startswith("_")}
    assert set(FIELDS[message]) == fields


def doc_rows() -> dict[tuple[str, str], str]:
    rows, message = {}, None
    for line in DOC.read_text().splitlines():
        if m := re.match(r"^### (\w+)", line):
            message = m.group(1)
        elif m := re.match(r"^\| `(\w+)` \| (honoured|cluster|refused) \|", line):
            rows[(message, m.group(1))] = m.group(2)
    return rows


ALL = [(m, k, f) for m, table in FIELDS.items() for k, f in table.items()]


@pytest.mark.parametrize("message,key,field", [pytest.param(m, k, f, id=f"{m}.{k}") for m, k, f in ALL])
def test_the_doc_states_each_field_as_the_engine_does(message, key, field):
    assert doc_rows().get((message, key)) == field.status


BASE = {"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]},
        "input": {"cross": [{"pfs": {"repo": "a", "glob": "/*"}}, {"pfs": {"repo": "b", "glob": "/"}}]}}
SAMPLE = {str: "x", bool: True, int: 2, dict: {}, list: ["x"]}
WHERE = {"CreatePipelineRequest": ("", BASE), "Transform": ("transform", BASE["transform"]),
         "PFSInput": ("input.cross[1].pfs", BASE["input"]["cross"][1]["pfs"])}
VALUES = {"tfJob": {"tfJob": "{}"}, "egress": {"URL": "s3://x"}, "service": {"internalPort": 80},
          "spout": {}, "specCommit": {"id": "x"}, "determined": {"workspaces": ["w"]}, "dryRun": True,
          "secrets": [{"name": "s"}], "user": "root", "datumBatching": True, "commit": "abc",
          "s3": True, "s3Out": True}


def refused_cases():
    for message, (path, _) in WHERE.items():
        for key, f in FIELDS[message].items():
            if f.status == REFUSED:
                yield pytest.param(message, path, key, id=f"{message}.{key}")


@pytest.mark.parametrize("message,path,key", list(refused_cases()))
def test_a_refused_field_is_refused_naming_its_key_path_and_why(message, path, key):
    import copy
    spec = copy.deepcopy(BASE)
    node = spec if not path else {"transform": spec["transform"],
                                  "input.cross[1].pfs": spec["input"]["cross"][1]["pfs"]}[path]
    node[key] = VALUES[key]
    with pytest.raises(SpecError) as err:
        refuse_unsupported(spec)
    where = f"{path}.{key}" if path else key
    assert str(err.value).startswith(f"{where}: ") and str(err.value) == f"{where}: {FIELDS[message][key].note}"


def test_a_refused_field_at_its_zero_value_is_unset_as_in_proto3():
    refuse_unsupported(BASE | {"dryRun": False, "transform": {"cmd": ["true"], "user": "", "datumBatching": False}})


def test_a_refused_cron_field_deep_in_the_input_tree_names_its_path():
    spec = BASE | {"input": {"union": [{"pfs": {"repo": "a", "glob": "/"}},
                                       {"cron": {"name": "tick", "spec": "@daily", "commit": "x"}}]}}
    with pytest.raises(SpecError, match=r"^input\.union\[1\]\.cron\.commit: pachd never reads it"):
        refuse_unsupported(spec)


@pytest.mark.parametrize("value,present", [
    (None, False), (False, False), (0, False), ("", False), ([], False), ({}, True), ("x", True), (["x"], True)])
def test_presence_is_proto3s(value, present):
    assert is_set(value) is present


def test_cluster_fields_get_a_one_line_note():
    spec = BASE | {"resourceRequests": {"cpu": 1}, "transform": {"cmd": ["true"], "image": "x:1"},
                   "description": "d"}
    notes = cluster_notes(spec)
    assert notes == [f"resourceRequests: applies on a cluster ({FIELDS['CreatePipelineRequest']['resourceRequests'].note})",
                     f"transform.image: applies on a cluster ({FIELDS['Transform']['image'].note})"]
    assert all(FIELDS[m][k].status == CLUSTER for m, k in (("CreatePipelineRequest", "resourceRequests"),
                                                           ("Transform", "image")))

"""Spec files as pachctl reads them: JSON or YAML, one spec, a list, several documents;
`$schema` dropped; YAML 1.2 scalars (pachctl's reader), not PyYAML's 1.1 ones."""
from __future__ import annotations

import pytest

from pipelines.errors import SpecError
from pipelines.pps.manifest import parse_manifest, read_manifest

pytestmark = pytest.mark.unit

ONE = {"pipeline": {"name": "a"}, "transform": {"cmd": ["sh"]}, "input": {"pfs": {"repo": "r", "glob": "/*"}}}
TWO = {"pipeline": {"name": "b"}, "transform": {"cmd": ["sh"]}, "input": {"pfs": {"repo": "a", "glob": "/"}}}

YAML_ONE = """pipeline:
  name: a
transform:
  cmd: [sh]
input:
  pfs: {repo: r, glob: "/*"}
"""
YAML_TWO = YAML_ONE.replace("name: a", "name: b").replace("repo: r, glob: \"/*\"", "repo: a, glob: /")


@pytest.mark.parametrize("text,expected", [
    pytest.param('{"pipeline": {"name": "a"}, "transform": {"cmd": ["sh"]}, "input": {"pfs": {"repo": "r", '
                 '"glob": "/*"}}}', [ONE], id="json"),
    pytest.param(YAML_ONE, [ONE], id="yaml"),
    pytest.param(YAML_ONE + "---\n" + YAML_TWO, [ONE, TWO], id="yaml-documents"),
    pytest.param("- " + YAML_ONE.replace("\n", "\n  ").rstrip() + "\n- " + YAML_TWO.replace("\n", "\n  ").rstrip(),
                 [ONE, TWO], id="yaml-list"),
    pytest.param(f'[{__import__("json").dumps(ONE)}, {__import__("json").dumps(TWO)}]', [ONE, TWO], id="json-list"),
    pytest.param(__import__("json").dumps(ONE) + "\n" + __import__("json").dumps(TWO), [ONE, TWO],
                 id="json-objects-one-after-another"),
    pytest.param('{"$schema": "https://x/CreatePipelineRequest.schema.json", ' + __import__("json").dumps(ONE)[1:],
                 [ONE], id="schema-key-dropped"),
])
def test_every_spec_in_a_manifest(text, expected):
    assert parse_manifest(text) == expected


@pytest.mark.parametrize("scalar,value", [
    pytest.param("yes", "yes", id="yes-is-a-string"), pytest.param("on", "on", id="on-is-a-string"),
    pytest.param("true", True, id="true"), pytest.param("False", False, id="False"),
    pytest.param("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", id="timestamp-stays-text"),
    pytest.param("3", 3, id="int"),
])
def test_yaml_scalars_are_yaml_1_2s(scalar, value):
    [spec] = parse_manifest(f"pipeline: {{name: a}}\nx: {scalar}\n")
    assert spec["x"] == value


@pytest.mark.parametrize("text,message", [
    pytest.param("pipeline: [unclosed", "malformed pipeline spec", id="bad-yaml"),
    pytest.param("- 1\n- 2\n", "expected a mapping or a list of them, got int", id="list-of-ints"),
    pytest.param("", "no pipeline spec in it", id="empty"),
])
def test_bad_manifests_say_what_is_wrong(text, message):
    with pytest.raises(SpecError, match=message):
        parse_manifest(text)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(SpecError, match="no such spec file"):
        read_manifest(tmp_path / "nope.yaml")

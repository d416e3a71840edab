"""`create pipeline` / `update pipeline` as pachctl: a YAML file with several specs (snake_case
keys), a name in use refused with pachd's message, update updating."""
from __future__ import annotations

import subprocess
import sys

import pytest

from .helpers import new_engine

pytestmark = pytest.mark.media

SPECS = """pipeline: {name: first}
transform:
  cmd: [sh, -c, "cp $in /pfs/out/"]
input:
  pfs: {repo: in, glob: "*"}
datum_tries: 1
resource_requests: {cpu: 0.5}
---
pipeline: {name: second}
transform: {cmd: [sh, -c, "cp $first /pfs/out/"]}
input: {pfs: {repo: first, glob: /*}}
"""


def cli(home, *args):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "--home", str(home), *args],
                          capture_output=True, text=True, env={"PACHMEDIA_NO_AUTORUN": "1", **__import__("os").environ})


def test_create_then_update_a_yaml_file_of_two_specs(tmp_path):
    new_engine(tmp_path, "in").close()
    home = tmp_path / "home"
    f = tmp_path / "specs.yaml"
    f.write_text(SPECS)
    r = cli(home, "create", "pipeline", "-f", str(f))
    assert r.returncode == 0, r.stderr
    assert "created pipeline first (version 1)" in r.stdout and "created pipeline second (version 1)" in r.stdout
    assert "note: resourceRequests: applies on a cluster" in r.stdout
    again = cli(home, "create", "pipeline", "-f", str(f))
    assert again.returncode != 0 and 'pipeline "default/first" already exists' in again.stderr
    f.write_text(SPECS.replace("cp $first", "cp -v $first"))
    up = cli(home, "update", "pipeline", "-f", str(f))
    assert up.returncode == 0, up.stderr
    assert "unchanged pipeline first (version 1)" in up.stdout and "updated pipeline second (version 2)" in up.stdout
    with new_engine(tmp_path) as e:
        spec = e.jobs.pipeline("first")["spec"]
        assert spec["datumTries"] == 1 and spec["input"]["pfs"]["glob"] == "/*"

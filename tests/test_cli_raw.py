"""Every `--raw` object is one of Pachyderm 2.12's messages, parsed strictly with
pachyderm-sdk's classes: no unknown key, every value of its field's protojson type
(int64 as strings, bytes base64, RFC 3339 timestamps, "1.5s" durations, enum names),
no null or zero value printed (protojson leaves them out); and the values are right."""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import typing

import betterproto
import pytest
from pachyderm_sdk.api import pfs, pps

from pipelines import protojson as shapes
from pipelines.cli import main
from pipelines.errors import SpecError
from pipelines.pps.spec_schema import _fields, check_message
from tests.engine.helpers import new_engine, pfs as pfs_input, put, sh_spec

pytestmark = pytest.mark.unit

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z$")
DURATION = re.compile(r"^\d+(\.\d{3}|\.\d{6}|\.\d{9})?s$")
INT64 = {"int64", "uint64", "sint64", "fixed64", "sfixed64"}
INT32 = {"int32", "uint32", "sint32", "fixed32", "sfixed32"}


def strict(obj: dict, cls: type, path: str = "") -> None:
    check_message(obj, cls, path)  # unknown keys and scalar types (raises SpecError)
    for key, v in obj.items():
        _, proto_type, hint = _fields(cls)[key]
        _value(v, proto_type, hint, f"{path}.{key}")
    cls().from_dict(obj)  # and the SDK reads it


def _value(v, proto_type, hint, where: str) -> None:
    assert v is not None and v != "" and v is not False and v != [] and v != {}, f"{where}: zero value printed"
    if typing.get_origin(hint) in (list, typing.List):
        (elem,) = typing.get_args(hint)
        for i, item in enumerate(v):
            _value(item, proto_type, elem, f"{where}[{i}]")
    elif hint is datetime.datetime:
        assert RFC3339.match(v), f"{where}: {v!r} is not RFC 3339 (UTC)"
    elif hint is datetime.timedelta:
        assert DURATION.match(v), f"{where}: {v!r} is not a protojson duration"
    elif hint is bytes:
        try:
            back = base64.b64encode(base64.b64decode(v, validate=True)).decode()
        except ValueError:
            back = None
        assert back == v, f"{where}: {v!r} is not base64"
    elif isinstance(hint, type) and issubclass(hint, betterproto.Enum):
        assert isinstance(v, str) and v in hint.__members__ and hint[v].value != 0, f"{where}: {v!r}"
    elif isinstance(hint, type) and issubclass(hint, betterproto.Message):
        if typing.get_origin(hint) is None and isinstance(v, dict):
            for key, x in v.items():
                _, pt, h = _fields(hint)[key]
                _value(x, pt, h, f"{where}.{key}")
    elif proto_type in INT64:
        assert isinstance(v, str) and v.isdigit() and v != "0", f"{where}: int64 {v!r} must be a string"
    elif proto_type in INT32:
        assert isinstance(v, int), f"{where}: int32 {v!r} must be a number"


def objects(text: str) -> list[dict]:
    dec, out, i = json.JSONDecoder(), [], 0
    while (i := _skip(text, i)) < len(text):
        obj, i = dec.raw_decode(text, i)
        out.append(obj)
    return out


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def cli(capsys, home, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["--home", str(home), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Two jobs of `up`: the first makes /a and fails /bad, the second skips /a and
    makes /b; a second pipeline `down` reads up's output (provenance)."""
    tmp = tmp_path_factory.mktemp("raw")
    e = new_engine(tmp, "in")
    e.create_pipeline(sh_spec("up", pfs_input("in", "/*"), 'grep -q bad "$in" && { echo no >&2; exit 3; }; '
                              'echo "seen $in"; cp "$in" /pfs/out/', datumTimeout="60s"))
    e.create_pipeline(sh_spec("down", pfs_input("up", "/"), 'cat /pfs/up/* > /pfs/out/all'))
    first = put(e, "in", {"/a": b"alpha", "/bad": b"bad"}, tmp / "s")
    e.run(show_progress=False)
    second = put(e, "in", {"/b": b"beta"}, tmp / "s2")
    e.run(show_progress=False)
    h = e.home
    e.close()
    return {"home": h, "first": first, "second": second}


def test_list_and_inspect_repo_commit_file_are_pfs_messages(capsys, home):
    rc, out, _ = cli(capsys, home["home"], "list", "repo", "--raw")
    repos = objects(out)
    assert rc == 0 and {r["repo"]["name"] for r in repos} == {"in", "up", "down"}
    for r in repos:
        strict(r, pfs.RepoInfo)
    assert next(r for r in repos if r["repo"]["name"] == "in")["sizeBytesUpperBound"] == str(len(b"alphabadbeta"))
    rc, out, _ = cli(capsys, home["home"], "inspect", "repo", "up", "--raw")
    [r] = objects(out)
    strict(r, pfs.RepoInfo)
    assert r["repo"] == shapes.repo("up") and r["branches"] == [shapes.branch("up", "master")]

    rc, out, _ = cli(capsys, home["home"], "list", "commit", "--raw")
    commits = objects(out)
    assert rc == 0 and len(commits) >= 6
    for c in commits:
        strict(c, pfs.CommitInfo)
    up2 = next(c for c in commits if c["commit"]["repo"]["name"] == "up" and c["commit"]["id"] == home["second"])
    # 2.12: directProvenance is a list of Commits (repo, id, branch), not Branches
    assert up2["directProvenance"] == [shapes.commit("in", home["second"], "master")]
    assert up2["origin"] == {"kind": "AUTO"}
    rc, out, _ = cli(capsys, home["home"], "inspect", "commit", f"in@{home['first']}", "--raw")
    [c] = objects(out)
    strict(c, pfs.CommitInfo)
    assert c["childCommits"][0]["id"] == home["second"] and "parentCommit" not in c

    rc, out, _ = cli(capsys, home["home"], "list", "file", "in@master", "--raw")
    files = objects(out)
    for f in files:
        strict(f, pfs.FileInfo)
    assert [f["file"]["path"] for f in files] == ["/a", "/b", "/bad"]
    assert shapes.hex_hash(files[0]["hash"]) == hashlib.sha256(b"alpha").hexdigest()
    rc, out, _ = cli(capsys, home["home"], "inspect", "file", f"up@{home['second']}:/b", "--raw")
    [f] = objects(out)
    strict(f, pfs.FileInfo)
    assert f["fileType"] == "FILE" and f["sizeBytes"] == "4" and len(f["file"]["datum"]) == 64


def test_jobs_and_pipelines_are_pps_messages(capsys, home):
    rc, out, _ = cli(capsys, home["home"], "list", "job", "--raw")
    jobs = objects(out)
    assert rc == 0 and {j["job"]["id"] for j in jobs if j["job"]["pipeline"]["name"] == "up"} == \
        {home["first"], home["second"]}
    for j in jobs:
        strict(j, pps.JobInfo)
    rc, out, _ = cli(capsys, home["home"], "inspect", "job", f"up@{home['first'][:8]}", "--raw")
    [j] = objects(out)
    strict(j, pps.JobInfo)
    assert j["job"]["id"] == home["first"] and j["state"] == "JOB_FAILURE"
    assert (j["dataProcessed"], j["dataFailed"], j["dataTotal"]) == ("1", "1", "2") and "dataSkipped" not in j
    # details.input is a pps.Input: the spec's input with this job's commit filled in
    assert j["details"]["input"] == {"pfs": {"repo": "in", "glob": "/*", "name": "in", "branch": "master",
                                             "commit": home["first"]}}
    assert j["details"]["datumTimeout"] == "60s" and j["details"]["transform"]["cmd"][0] == "sh"

    rc, out, _ = cli(capsys, home["home"], "list", "pipeline", "--raw")
    pipes = objects(out)
    assert {p["pipeline"]["name"] for p in pipes} == {"up", "down"}
    for p in pipes:
        strict(p, pps.PipelineInfo)
    rc, out, _ = cli(capsys, home["home"], "inspect", "pipeline", "down", "--raw")
    [p] = objects(out)
    strict(p, pps.PipelineInfo)
    assert p["details"]["input"]["pfs"]["repo"] == "up" and p["lastJobState"] == next(
        j["state"] for j in jobs if j["job"]["pipeline"]["name"] == "down")


def test_datums_are_datuminfo_with_fileinfo_data(capsys, home):
    rc, out, _ = cli(capsys, home["home"], "list", "datum", f"up@{home['second']}", "--raw")
    datums = objects(out)
    assert rc == 0 and len(datums) == 3
    for d in datums:
        strict(d, pps.DatumInfo)
    by_path = {d["data"][0]["file"]["path"]: d for d in datums}
    assert {p: d["state"] for p, d in by_path.items()} == {"/a": "SKIPPED", "/b": "SUCCESS", "/bad": "FAILED"}
    b = by_path["/b"]
    assert b["data"][0]["file"]["commit"]["id"] == home["second"]
    assert shapes.hex_hash(b["data"][0]["hash"]) == hashlib.sha256(b"beta").hexdigest()
    assert b["data"][0]["sizeBytes"] == "4" and b["stats"]["uploadBytes"] == "4"
    assert DURATION.match(b["stats"]["processTime"])
    # a skipped datum's outputs are in the file set of the job that made them
    assert by_path["/a"]["pfsState"]["commit"]["id"] == home["first"]
    assert not {"why", "reason", "tries", "hash"} & set(b)
    rc, out, _ = cli(capsys, home["home"], "inspect", "datum", f"up@{home['second'][:6]}", b["datum"]["id"][:10],
                     "--raw")
    [d] = objects(out)
    strict(d, pps.DatumInfo)
    assert d["datum"]["id"] == b["datum"]["id"] and d["datum"]["job"]["id"] == home["second"]


def test_dry_run_datums_parse_too(capsys, home, tmp_path):
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps(sh_spec("try", pfs_input("in", "/*"), "true")))
    rc, out, _ = cli(capsys, home["home"], "list", "datum", "-f", str(spec), "--raw")
    ds = objects(out)
    assert rc == 0 and len(ds) == 3
    for d in ds:
        strict(d, pps.DatumInfo)


def test_logs_raw_are_log_messages_and_tail_job_flags(capsys, home):
    rc, out, _ = cli(capsys, home["home"], "logs", "-j", f"up@{home['second'][:8]}", "--raw")
    msgs = [json.loads(line) for line in out.splitlines()]
    assert rc == 0 and msgs
    for m in msgs:
        strict(m, pps.LogMessage)
        assert m["jobId"] == home["second"]
    assert any(m["message"].startswith("seen ") and m["message"].endswith("/pfs/in/b") for m in msgs)
    rc, out, _ = cli(capsys, home["home"], "logs", "--job", f"up@{home['second']}", "--tail", "1")
    assert rc == 0 and len(out.splitlines()) == 1
    rc, out, _ = cli(capsys, home["home"], "logs", "-p", "up", "--master")
    assert rc == 0 and f"job {home['second']} JOB_FAILURE: processed 1, skipped 1, failed 1" in out


@pytest.mark.parametrize("obj,cls", [
    pytest.param({"datum": {"id": "x"}, "why": {"reason": "new"}}, pps.DatumInfo, id="extra-key"),
    pytest.param({"directProvenance": [{"repo": {"name": "in"}, "name": "master"}]}, pfs.CommitInfo,
                 id="provenance-as-branch"),
    pytest.param({"details": {"sizeBytes": 3}}, pfs.CommitInfo, id="int64-as-number"),
    pytest.param({"hash": "zz-not-base64"}, pfs.FileInfo, id="bytes-not-base64"),
    pytest.param({"finished": None}, pps.JobInfo, id="null"),
    pytest.param({"started": "2026-01-01 10:00:00"}, pps.JobInfo, id="timestamp-not-rfc3339"),
    pytest.param({"stats": {"processTime": 1.5}}, pps.DatumInfo, id="duration-as-number"),
    pytest.param({"details": {"input": [{"repo": "in"}]}}, pps.JobInfo, id="input-not-pps-input"),
])
def test_strict_check_catches_what_the_old_shapes_had(obj, cls):
    with pytest.raises((AssertionError, SpecError)):
        strict(obj, cls)

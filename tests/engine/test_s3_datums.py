"""`s3` inputs and `s3Out` through a datum's own S3 gateway, for real: the datum sandbox
(bubblewrap, no network), boto3 inside the transform at S3_ENDPOINT, the engine's store behind.
What pachd's worker does (driver.go UserCodeEnv, s3g_sidecar.go, s3/driver.go WorkerDriver) is
in docs/pachyderm-semantics.md; each test here fails where S3 inputs or s3Out were refused."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.pfs.s3_driver import StoreBackend
from pipelines.pps import lineage, sandbox as sb
from pipelines.s3.keys import Keys
from pipelines.s3.server import serve

from .helpers import counts, logged, new_engine, put, tree

pytestmark = pytest.mark.media


@pytest.fixture
def bwrap(monkeypatch):
    monkeypatch.setenv("PACHMEDIA_SANDBOX", "bwrap")
    why = sb.availability()
    assert why is None, f"no datum sandbox on this machine: {why}"


# The start of every script a datum runs here: a boto3 client of the try's gateway, and code(f),
# which records a refusal by its S3 error code, so a test says which answer came, not only that
# one failed.
CLIENT = r'''
import os, boto3, botocore
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"])
def code(f):
    try:
        f()
        return "OK"
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
'''

# What a datum tries through its gateway, as a report in /pfs/out/report.json.
PROBE = CLIENT + r'''
import hashlib, json, socket, urllib.request, urllib.error
keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="photos")["Contents"])
digest = hashlib.sha256()
for k in keys:
    digest.update(k.encode() + b"\0" + s3.get_object(Bucket="photos", Key=k)["Body"].read())
try:
    urllib.request.urlopen(os.environ["S3_ENDPOINT"] + "/photos/a.txt")
    unsigned = 200
except urllib.error.HTTPError as e:
    unsigned = e.code
try:
    socket.create_connection(("127.0.0.1", int(os.environ["HOST_GATEWAY_PORT"])), timeout=5).close()
    host = "connected"
except OSError as e:
    host = type(e).__name__
report = {
    "endpoint": os.environ["S3_ENDPOINT"], "pfs": sorted(os.listdir("/pfs")), "mounted": os.listdir("/pfs/photos"),
    "env": os.environ["photos"], "commit": os.environ["photos_COMMIT"], "keys": keys, "digest": digest.hexdigest(),
    "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]],
    "put_input": code(lambda: s3.put_object(Bucket="photos", Key="x", Body=b"x")),
    "delete_input": code(lambda: s3.delete_object(Bucket="photos", Key="a.txt")),
    "other_repo": code(lambda: s3.get_object(Bucket="secret", Key="s.txt")),
    "other_form": code(lambda: s3.get_object(Bucket="master.secret", Key="s.txt")),
    "branch_form": code(lambda: s3.get_object(Bucket="master.photos", Key="a.txt")),
    "version": code(lambda: s3.get_object(Bucket="photos", Key="a.txt", VersionId=os.environ["photos_COMMIT"])),
    "create_bucket": code(lambda: s3.create_bucket(Bucket="newbucket")),
    "out_without_s3out": code(lambda: s3.put_object(Bucket="out", Key="x", Body=b"x")),
    "unsigned": unsigned, "host_gateway": host,
}
open("/pfs/out/report.json", "w").write(json.dumps(report))
'''


def _digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.lstrip("/").encode() + b"\0" + files[path])
    return h.hexdigest()


def test_an_s3_input_is_its_commit_read_only_and_the_datum_reaches_nothing_else(tmp_path, bwrap):
    e = new_engine(tmp_path, "photos", "secret")
    files = {"/a.txt": b"alpha", "/d/b.txt": b"bravo"}
    commit = put(e, "photos", files, tmp_path / "s")
    put(e, "secret", {"/s.txt": b"do not read"}, tmp_path / "s")
    host = serve(StoreBackend(e), "127.0.0.1", 0, Keys("AKHOST", "host-secret"), parts_dir=tmp_path / "parts")
    try:
        e.create_pipeline({"pipeline": {"name": "dig"}, "input": {"pfs": {"repo": "photos", "glob": "/", "s3": True}},
                           "transform": {"cmd": ["python3", "-c", PROBE],
                                         "env": {"HOST_GATEWAY_PORT": str(host.server_address[1])}},
                           "datumTries": 1})
        [job] = e.run(show_progress=False)
    finally:
        host.stop()
    assert job.state == "JOB_SUCCESS", job.reason
    r = json.loads(tree(e, "dig")["/report.json"])
    assert r["endpoint"] == "http://127.0.0.1:1600"
    assert r["keys"] == ["a.txt", "d/b.txt"] and r["digest"] == _digest(files)
    assert (r["pfs"], r["mounted"], r["env"], r["commit"]) == (["out", "photos"], [], "/pfs/photos", commit), \
        "an s3 input is an empty /pfs/<name>, as pachd makes it; its variables as any input's"
    assert r["buckets"] == ["photos"]
    assert (r["put_input"], r["delete_input"]) == ("NotImplemented", "NotImplemented"), "read-only, pachd's answer"
    assert (r["other_repo"], r["other_form"], r["branch_form"], r["out_without_s3out"]) == ("NoSuchBucket",) * 4
    assert (r["version"], r["create_bucket"]) == ("NotImplemented", "NotImplemented")
    assert r["unsigned"] == 403
    assert r["host_gateway"] == "ConnectionRefusedError", "the host's gateway port is not reachable: no network"
    assert tree(e, "photos") == files
    [d] = e.jobs.datums("dig", job.id)
    assert d.bytes_in == 0, "nothing of an s3 input is downloaded (pachd's DownloadBytes)"


SEEN = r'''
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"])
open("/pfs/out/seen", "wb").write(s3.get_object(Bucket="src", Key="v")["Body"].read())
'''


def test_each_job_reads_the_commit_it_was_made_for_though_the_branch_moved_on(tmp_path, bwrap):
    e = new_engine(tmp_path, "photos")
    put(e, "photos", {"/v": b"v0"}, tmp_path / "s")
    e.create_pipeline({"pipeline": {"name": "seen"}, "input": {"pfs": {"repo": "photos", "name": "src", "glob": "/",
                                                                        "s3": True}},
                       "transform": {"cmd": ["python3", "-c", SEEN]}, "datumTries": 1})
    put(e, "photos", {"/v": b"v1"}, tmp_path / "s")
    put(e, "photos", {"/v": b"v2"}, tmp_path / "s")  # the head moves on before any job runs
    jobs = e.run(show_progress=False)
    assert [j.state for j in jobs] == ["JOB_SUCCESS"] * len(jobs) and len(jobs) >= 2
    head = e.store.head("photos", "master")
    behind = 0
    for j in jobs:
        [read] = [i["commit"] for i in j.inputs]
        assert tree(e, "seen", j.id)["/seen"] == tree(e, "photos", read)["/v"]
        behind += read != head
    assert behind >= 1, "a job ran while the branch head was a later commit, and read its own"


UPLOAD = CLIENT + r'''
import json
name = os.path.basename(os.environ["in"])
s3.put_object(Bucket="out", Key=f"up/{name}", Body=open(os.environ["in"], "rb").read().upper())
s3.put_object(Bucket="out", Key="gone/" + name, Body=b"x")
s3.delete_object(Bucket="out", Key="gone/" + name)
report = {"listed": s3.list_objects_v2(Bucket="out")["KeyCount"],
          "read_back": code(lambda: s3.get_object(Bucket="out", Key=f"up/{name}")),
          "pfs_out": os.path.exists("/pfs/out"), "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]],
          "too_large": code(lambda: s3.put_object(Bucket="out", Key="huge", Body=b"\0" * (11 << 20)))}
if name == "a.txt":  # over boto3's 8 MB threshold: a multipart upload
    with open("/tmp/big", "wb") as f:
        f.write(bytes(range(256)) * (9 << 12))
    s3.upload_file("/tmp/big", "out", "big/" + name)
s3.put_object(Bucket="out", Key=f"report/{name}.json", Body=json.dumps(report).encode())
'''


def test_s3_out_writes_are_the_datums_outputs_with_lineage_and_every_job_runs_every_datum(tmp_path, bwrap):
    e = new_engine(tmp_path, "in")
    first = put(e, "in", {"/a.txt": b"alpha", "/b.txt": b"bravo"}, tmp_path / "s")
    e.create_pipeline({"pipeline": {"name": "up"}, "input": {"pfs": {"repo": "in", "glob": "/*"}}, "s3Out": True,
                       "transform": {"cmd": ["python3", "-c", UPLOAD]}, "datumTries": 1,
                       "resourceLimits": {"disk": "10Mi"}})
    [job] = e.run(show_progress=False)
    assert job.state == "JOB_SUCCESS", job.reason
    out = tree(e, "up")
    assert sorted(out) == ["/big/a.txt", "/report/a.txt.json", "/report/b.txt.json", "/up/a.txt", "/up/b.txt"]
    assert (out["/up/a.txt"], out["/up/b.txt"]) == (b"ALPHA", b"BRAVO")
    assert out["/big/a.txt"] == bytes(range(256)) * (9 << 12)
    report = json.loads(out["/report/a.txt.json"])
    assert report == {"listed": 0, "read_back": "NoSuchKey", "pfs_out": False, "buckets": ["out"],
                      "too_large": "EntityTooLarge"}, "write-only `out`, no /pfs/out, the disk limit holds"
    node = lineage.trace(e, "up", job.id, "/up/a.txt")
    assert [(s.repo, s.commit, s.path) for s in node.sources()] == [("in", first, "/a.txt")]

    put(e, "in", {"/c.txt": b"charlie"}, tmp_path / "s")
    [again] = e.run(show_progress=False)
    assert counts(again) == (3, 0, 0), "s3Out: no datum is skipped (pachd's noSkip)"
    assert {p for p in tree(e, "up") if p.startswith("/up/")} == {"/up/a.txt", "/up/b.txt", "/up/c.txt"}


LINK = r'''
import os, boto3, botocore
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"])
s3out = os.path.join(os.path.dirname(os.environ["in"]).rsplit("/pfs/", 1)[0], "s3out")
os.symlink(os.environ["VICTIM"], os.path.join(s3out, "link"))
try:
    s3.put_object(Bucket="out", Key="link/pwned", Body=b"x")
    said = "OK"
except botocore.exceptions.ClientError as e:
    said = e.response["Error"]["Code"]
os.remove(os.path.join(s3out, "link"))
s3.put_object(Bucket="out", Key="said", Body=said.encode() + b" " + os.environ["S3_ENDPOINT"].encode())
'''


def test_without_namespaces_the_gateway_is_reached_the_same_way_and_never_follows_a_link(tmp_path, monkeypatch):
    monkeypatch.setenv("PACHMEDIA_SANDBOX", "folder")
    e = new_engine(tmp_path, "in")
    victim = tmp_path / "victim"
    victim.mkdir()
    put(e, "in", {"/a.txt": b"alpha"}, tmp_path / "s")
    e.create_pipeline({"pipeline": {"name": "up"}, "input": {"pfs": {"repo": "in", "glob": "/*"}}, "s3Out": True,
                       "transform": {"cmd": ["python3", "-c", LINK], "env": {"VICTIM": str(victim)}},
                       "datumTries": 1})
    [job] = e.run(show_progress=False)
    assert job.state == "JOB_SUCCESS", job.reason
    said, endpoint = tree(e, "up")["/said"].decode().split()
    assert said == "InvalidArgument" and list(victim.iterdir()) == [], "a link the datum planted is never followed"
    assert endpoint.startswith("http://127.0.0.1:")


def test_debug_datum_run_serves_the_same_gateway(tmp_path, bwrap):
    e = new_engine(tmp_path, "photos", "secret")
    files = {"/a.txt": b"alpha", "/d/b.txt": b"bravo"}
    put(e, "photos", files, tmp_path / "s")
    e.create_pipeline({"pipeline": {"name": "dig"}, "input": {"pfs": {"repo": "photos", "glob": "/", "s3": True}},
                       "transform": {"cmd": ["python3", "-c", PROBE], "env": {"HOST_GATEWAY_PORT": "9"}},
                       "datumTries": 1})
    [job] = e.run(show_progress=False)
    [d] = e.jobs.datums("dig", job.id)
    e.close()
    folder = tmp_path / "dbg"
    r = subprocess.run([sys.executable, "-m", "pipelines.cli", "--home", str(e.home), "debug", "datum",
                        f"dig@{job.id}", d.id, "--dir", str(folder), "--run"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "# S3 buckets photos at S3_ENDPOINT" in r.stdout
    report = json.loads((folder / "pfs" / "out" / "report.json").read_text())
    assert (report["digest"], report["buckets"], report["put_input"]) == (_digest(files), ["photos"], "NotImplemented")


CROSSED = r'''
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"])
keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="photos")["Contents"])
name = os.path.basename(os.environ["in"])
open(f"/pfs/out/{name}", "w").write(" ".join([open(os.environ["in"]).read()] + keys + sorted(os.listdir("/pfs/in"))))
'''


def test_in_a_cross_every_datum_reads_the_whole_s3_commit_beside_its_own_files(tmp_path, bwrap):
    e = new_engine(tmp_path, "photos", "in")
    put(e, "photos", {"/p1": b"1", "/p2": b"2"}, tmp_path / "s")
    put(e, "in", {"/a": b"A", "/b": b"B"}, tmp_path / "s")
    e.create_pipeline({"pipeline": {"name": "x"}, "datumTries": 1, "transform": {"cmd": ["python3", "-c", CROSSED]},
                       "input": {"cross": [{"pfs": {"repo": "photos", "glob": "/", "s3": True}},
                                           {"pfs": {"repo": "in", "glob": "/*"}}]}})
    [job] = e.run(show_progress=False)
    assert job.state == "JOB_SUCCESS", job.reason
    assert tree(e, "x") == {"/a": b"A p1 p2 a", "/b": b"B p1 p2 b"}


# The tools pipelines of this kind run (pachd's own example uses the aws CLI), configured from
# the environment a worker gives them, nothing else. `out` is write-only as in pachd, so rclone
# must not read back what it wrote (--s3-no-head) nor copy server-side (--disable Copy: pachd's
# gateway has no CopyObject); the aws CLI and s3cmd need nothing.
TOOLS = r'''
set -euo pipefail
"$AWS" --endpoint-url "$S3_ENDPOINT" s3 cp s3://photos/ /tmp/got --recursive --only-show-errors
"$AWS" --endpoint-url "$S3_ENDPOINT" s3 cp /tmp/got s3://out/aws --recursive --only-show-errors
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_P_TYPE=s3 RCLONE_CONFIG_P_PROVIDER=Other RCLONE_CONFIG_P_ENV_AUTH=true \
       RCLONE_CONFIG_P_ENDPOINT="$S3_ENDPOINT" RCLONE_CONFIG_P_FORCE_PATH_STYLE=true
rclone copy p:photos p:out/rclone --s3-no-check-bucket --s3-no-head --disable Copy
host="${S3_ENDPOINT#http://}"
s3cmd=(s3cmd --config=/dev/null --access_key="$AWS_ACCESS_KEY_ID" --secret_key="$AWS_SECRET_ACCESS_KEY"
       --host="$host" --host-bucket="$host" --no-ssl)
"${s3cmd[@]}" ls -r s3://photos > /tmp/listing
"${s3cmd[@]}" --quiet put /tmp/listing s3://out/s3cmd-listing
'''


def test_the_aws_cli_rclone_and_s3cmd_work_from_the_environment_a_worker_gives(tmp_path, bwrap):
    e = new_engine(tmp_path, "photos")
    files = {"/a.txt": b"alpha", "/d/b.txt": b"bravo"}
    commit = put(e, "photos", files, tmp_path / "s")
    e.create_pipeline({"pipeline": {"name": "tools"}, "input": {"pfs": {"repo": "photos", "glob": "/", "s3": True}},
                       "s3Out": True, "datumTries": 1,
                       "transform": {"cmd": ["bash", "-c", TOOLS],
                                     "env": {"AWS": str(Path(sys.executable).with_name("aws"))}}})
    [job] = e.run(show_progress=False)
    assert job.state == "JOB_SUCCESS", (job.reason, logged(tmp_path / "home", "tools", "")[-20:])
    out = tree(e, "tools")
    for tool in ("aws", "rclone"):
        assert {p.removeprefix(f"/{tool}"): b for p, b in out.items() if p.startswith(f"/{tool}/")} == files, tool
    listing = out["/s3cmd-listing"].decode()
    assert "s3://photos/a.txt" in listing and "s3://photos/d/b.txt" in listing, listing
    node = lineage.trace(e, "tools", job.id, "/rclone/d/b.txt")
    assert {(s.repo, s.commit) for s in node.sources()} == {("photos", commit)}

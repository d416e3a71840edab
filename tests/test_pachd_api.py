"""pachyderm-sdk against `pachmedia serve` (a real subprocess): pfs and pps calls, pachd's
error codes and messages, UNIMPLEMENTED for what is not served, a clean SIGTERM stop.
No media is processed here (no pipelines): see test_pachd_sdk.py for the DAG."""
from __future__ import annotations

import json

import grpc
import pytest
from pachyderm_sdk.api import pfs, pps

from tests.fixtures.pachd import serving

pytestmark = pytest.mark.media  # a real `pachmedia serve` subprocess


@pytest.fixture(scope="module")
def pachd(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("pachd") / "home", "--empty") as p:
        yield p


@pytest.fixture(scope="module")
def client(pachd):
    c = pachd.client()
    c.pfs.create_repo(repo=pfs.Repo(name="data"), description="test data")
    return c


def code_and_text(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(Exception) as err:  # PFSFile wraps the RpcError in a ValueError
        call()
    e = err.value if isinstance(err.value, grpc.RpcError) else err.value.__cause__
    assert isinstance(e, grpc.RpcError), err.value
    return e.code(), e.details()


def put(client, repo: str, files: dict[str, bytes], deletes=()) -> pfs.Commit:
    with client.pfs.commit(branch=pfs.Branch.from_uri(f"{repo}@master")) as c:
        for path in deletes:
            c.delete_file(path=path)
        for path, data in files.items():
            c.put_file_from_bytes(path, data)
    return c


def read(client, uri: str) -> bytes:
    return client.pfs.pfs_file(pfs.File.from_uri(uri)).read()


def test_banner_names_every_address_in_one_line(pachd):
    assert "\n" not in pachd.banner
    assert pachd.address in pachd.banner and pachd.s3_url in pachd.banner


def test_version_health_and_cluster(pachd, client):
    import importlib.metadata
    v = client.get_version()
    assert f"{v.major}.{v.minor}.{v.micro}" == importlib.metadata.version("pachyderm-sdk")
    info = client.admin.inspect_cluster()
    assert info.id and info.warnings_ok
    channel = grpc.insecure_channel(f"127.0.0.1:{pachd.port}")
    assert channel.unary_unary("/grpc.health.v1.Health/Check")(b"") == b"\x08\x01"  # SERVING
    channel.close()


@pytest.mark.parametrize("call, code, text", [
    pytest.param(lambda c: c.pfs.inspect_repo(repo=pfs.Repo(name="nope")), grpc.StatusCode.NOT_FOUND,
                 "repo default/nope not found", id="repo"),
    pytest.param(lambda c: c.pfs.create_repo(repo=pfs.Repo(name="data")), grpc.StatusCode.ALREADY_EXISTS,
                 "repo default/data already exists", id="repo-exists"),
    pytest.param(lambda c: c.pfs.inspect_branch(branch=pfs.Branch.from_uri("data@nope")), grpc.StatusCode.NOT_FOUND,
                 'branch "nope" not found in repo default/data', id="branch"),
    pytest.param(lambda c: c.pfs.inspect_commit(commit=pfs.Commit.from_uri("data@0123456789abcdef0123456789abcdef")),
                 grpc.StatusCode.NOT_FOUND, "commit default/data@0123456789abcdef0123456789abcdef not found",
                 id="commit"),
    pytest.param(lambda c: list(c.pfs.inspect_commit_set(commit_set=pfs.CommitSet(id="f" * 32))),
                 grpc.StatusCode.NOT_FOUND, "no commits found for commitset " + "f" * 32, id="commit-set"),
    pytest.param(lambda c: c.pps.inspect_pipeline(pipeline=pps.Pipeline(name="nope")), grpc.StatusCode.NOT_FOUND,
                 'pipeline "default/nope" not found', id="pipeline"),
    pytest.param(lambda c: c.pfs.inspect_project(project=pfs.Project(name="other")), grpc.StatusCode.NOT_FOUND,
                 'project "other" not found', id="project"),
    pytest.param(lambda c: c.pfs.squash_commit_set(commit_set=pfs.CommitSet(id="x")), grpc.StatusCode.UNIMPLEMENTED,
                 "pfs_v2.API/SquashCommitSet is not implemented", id="unimplemented"),
    pytest.param(lambda c: c.pps.list_secret(), grpc.StatusCode.UNIMPLEMENTED,
                 "pps_v2.API/ListSecret is not implemented", id="unimplemented-pps"),
])
def test_errors_carry_pachd_codes_and_messages(client, call, code, text):
    got_code, got_text = code_and_text(lambda: call(client))
    assert got_code == code
    assert got_text.startswith(text)


def test_sdk_helpers_that_branch_on_not_found(client):
    assert client.pfs.repo_exists(pfs.Repo(name="data")) and not client.pfs.repo_exists(pfs.Repo(name="zz"))
    assert client.pfs.project_exists(pfs.Project(name="default"))
    assert not client.pps.pipeline_exists(pps.Pipeline(name="zz"))


def test_put_read_list_glob_walk_and_tar(client):
    c = put(client, "data", {"/a.txt": b"alpha", "/dir/b.txt": b"bravo!", "/dir/sub/c.txt": b"c"})
    info = client.pfs.wait_commit(c)
    assert info.commit.id == c.id and info.finished and info.origin.kind == pfs.OriginKind.USER
    assert read(client, f"data@{c.id}:/a.txt") == b"alpha"
    listed = {(f.file.path, f.file_type, f.size_bytes) for f in
              client.pfs.list_file(file=pfs.File.from_uri(f"data@{c.id}:/"))}
    assert listed == {("/a.txt", pfs.FileType.FILE, 5), ("/dir/", pfs.FileType.DIR, 7)}
    globbed = [f.file.path for f in client.pfs.glob_file(commit=pfs.Commit.from_uri(f"data@{c.id}"), pattern="/dir/*")]
    assert globbed == ["/dir/b.txt", "/dir/sub/"]
    walked = [f.file.path for f in client.pfs.walk_file(file=pfs.File.from_uri(f"data@{c.id}:/dir"))]
    assert walked == ["/dir/", "/dir/b.txt", "/dir/sub/", "/dir/sub/c.txt"]
    tar = client.pfs.pfs_tar_file(pfs.File.from_uri(f"data@{c.id}:/dir"))
    assert {m.name: tar.extractfile(m).read() for m in tar} == {"dir/b.txt": b"bravo!", "dir/sub/c.txt": b"c"}
    code, text = code_and_text(lambda: read(client, f"data@{c.id}:/dir"))
    assert code == grpc.StatusCode.UNKNOWN and "Use GetFileTAR instead" in text
    code, text = code_and_text(lambda: client.pfs.inspect_file(file=pfs.File.from_uri(f"data@{c.id}:/zz")))
    assert (code, text) == (grpc.StatusCode.NOT_FOUND, f"file /zz not found in repo default/data at commit {c.id}")


def test_overwrite_delete_copy_append_and_diff(client):
    first = put(client, "data", {"/x.txt": b"one"})
    second = put(client, "data", {"/x.txt": b"two"}, deletes=["/dir"])
    with client.pfs.commit(branch=pfs.Branch.from_uri("data@master")) as third:
        third.copy_file(src=pfs.File.from_uri(f"data@{first.id}:/x.txt"), dst="/copy.txt")
        third.put_file_from_bytes("/x.txt", b"+more", append=True)
    assert read(client, "data@master:/x.txt") == b"two+more"
    assert read(client, "data@master:/copy.txt") == b"one"
    assert not client.pfs.path_exists(pfs.File.from_uri("data@master:/dir/b.txt"))
    assert read(client, f"data@{second.id}:/x.txt") == b"two"
    diff = {(d.new_file.file.path if d.new_file else None, d.old_file.file.path if d.old_file else None)
            for d in client.pfs.diff_file(new_file=pfs.File.from_uri(f"data@{third.id}:/"))}
    assert ("/copy.txt", None) in diff and ("/x.txt", "/x.txt") in diff
    parent = client.pfs.inspect_commit(commit=pfs.Commit.from_uri(f"data@{third.id}"))
    assert parent.parent_commit.id == second.id
    assert [c.commit.id for c in client.pfs.list_commit(repo=pfs.Repo(name="data"), number=3)] == \
        [third.id, second.id, first.id]


def test_open_commit_is_one_per_branch_and_finished_once(client):
    c = client.pfs.start_commit(branch=pfs.Branch.from_uri("data@master"))
    assert client.pfs.inspect_commit(commit=c).finished.timestamp() == 0  # unset (betterproto decodes it as 1970)
    code, text = code_and_text(lambda: client.pfs.start_commit(branch=pfs.Branch.from_uri("data@master")))
    assert code == grpc.StatusCode.UNKNOWN and f"parent commit default/data@{c.id} has not been finished" in text
    client.pfs.put_file_from_bytes(commit=c, path="/open.txt", data=b"o")
    client.pfs.finish_commit(commit=c)
    assert read(client, f"data@{c.id}:/open.txt") == b"o"
    code, text = code_and_text(lambda: client.pfs.finish_commit(commit=c))
    assert text == f"commit default/data@{c.id} has already finished"


def test_put_on_a_branch_without_a_commit_is_a_commit_of_its_own(client):
    # pachctl put file repo@branch: ModifyFile names the branch; pachd makes a one-off commit
    client.pfs.put_file_from_bytes(commit=pfs.Commit.from_uri("data@side"), path="/one.txt", data=b"1")
    client.pfs.put_file_from_bytes(commit=pfs.Commit.from_uri("data@side"), path="/two.txt", data=b"2")
    side = list(client.pfs.list_commit(repo=pfs.Repo(name="data")))
    side = [c for c in side if c.commit.branch.name == "side"]
    assert len(side) == 2 and all(c.finished.timestamp() > 0 for c in side)
    assert read(client, "data@side:/one.txt") == b"1" and read(client, "data@side:/two.txt") == b"2"
    finished = side[0].commit.id
    code, text = code_and_text(lambda: client.pfs.put_file_from_bytes(
        commit=pfs.Commit.from_uri(f"data@{finished}"), path="/x", data=b"x"))
    assert text == f"commit default/data@{finished} has already finished"


def test_wait_commit_set_without_pipelines_returns_the_commit(client):
    c = put(client, "data", {"/w.txt": b"w"})
    assert [i.commit.repo.name for i in c.wait_all()] == ["data"]
    sets = {s.commit_set.id for s in client.pfs.list_commit_set()}
    assert c.id in sets


def test_pipeline_create_refuse_and_dry_run_datums(client):
    put(client, "data", {"/d1.txt": b"1", "/d2.txt": b"2"})
    spec = {"pipeline": {"name": "copy"}, "transform": {"image": "busybox", "cmd": ["sh", "-c", "cp -r /pfs/data/* /pfs/out/"]},
            "input": {"pfs": {"repo": "data", "glob": "/d*"}}}
    dry = list(client.pps.list_datum(input=pps.Input().from_dict(spec["input"])))
    assert len(dry) == 2 and {f.file.path for d in dry for f in d.data} == {"/d1.txt", "/d2.txt"}
    bad = spec | {"nope": 1}
    code, text = code_and_text(lambda: client.pps.create_pipeline_v2(create_pipeline_request_json=json.dumps(bad)))
    assert code == grpc.StatusCode.UNKNOWN and "nope" in text


def test_sigterm_stops_cleanly(tmp_path):
    with serving(tmp_path / "home", "--empty") as p:
        p.client().pfs.create_repo(repo=pfs.Repo(name="r"))
        assert p.stop() == 0

"""The datum sandbox, for real (bubblewrap): what a datum (and every ffmpeg it starts) can
see, reach and use. Each test here fails with the folder-based runner that came before:
it let a datum read the store, the keys and the engine's environment, reach the network,
run without limits, and rewrote /pfs in a command instead of giving a datum /pfs."""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pipelines.pps import runner, sandbox as sb
from pipelines.s3.keys import load_keys

from .helpers import new_engine, pfs, put, sh_spec, tree

pytestmark = pytest.mark.media


@pytest.fixture(autouse=True)
def bwrap_here(monkeypatch):
    """These tests are about the sandbox itself: where it cannot run they fail, saying why."""
    monkeypatch.setenv("PACHMEDIA_SANDBOX", "bwrap")
    why = sb.availability()
    assert why is None, f"no datum sandbox on this machine: {why}"


def _one(e, pipeline):
    """Run what is pending; the pipeline's last job."""
    return [j for j in e.run(show_progress=False) if j.pipeline == pipeline][-1]


def _reason(e, pipeline, job):
    [d] = e.jobs.datums(pipeline, job.id)
    return d.state, d.reason or ""


PROBE = ('for p in $PROBES; do if cat "$p" >/dev/null 2>&1 || ls "$p" >/dev/null 2>&1; then echo "READ $p"; '
         'else echo "DENIED $p"; fi; done > /pfs/out/"$(basename "$in")".read; '
         'for p in $WRITES; do if touch "$p/.w" 2>/dev/null; then echo "WROTE $p"; else echo "RO $p"; fi; done '
         '> /pfs/out/"$(basename "$in")".write; ls -A /pfs/in > /pfs/out/"$(basename "$in")".pfs')


def test_a_datum_sees_only_its_own_datum(tmp_path, monkeypatch):
    monkeypatch.setenv("PACHMEDIA_S3_SECRET_KEY", "")  # the keys file is made, as `s3 serve` would
    e = new_engine(tmp_path, "in")
    keys = e.home / "s3-keys.json"
    load_keys(e.home, {})
    put(e, "in", {"/a": b"A", "/b": b"B"}, tmp_path / "s")
    b_object = e.store.objects.path(e.store.file("in", e.store.head("in"), "/b").hash)
    secret_files = [e.home, e.home / "objects", b_object, keys, e.home / "work", tmp_path, "/etc/shadow",
                    "/etc/hostname", f"/proc/{os.getpid()}/environ"]  # the last: the engine's own environment
    allowed = ["/pfs/in/a", "/usr/bin/ffmpeg", "/etc/ld.so.cache", f"{sb.APP}/stages/scan.py", sys.executable]
    e.create_pipeline({"pipeline": {"name": "peek"}, "input": pfs("in", "/*"), "datumTries": 1, "transform": {
        "cmd": ["sh", "-c", PROBE],
        "env": {"PROBES": " ".join(map(str, secret_files)), "WRITES": f"/usr {sb.APP}/stages {sys.prefix} /pfs /pfs/in"}}})
    job = _one(e, "peek")
    assert job.state == "JOB_SUCCESS", job.reason
    out = tree(e, "peek")
    for name in ("a", "b"):
        read = out[f"/{name}.read"].decode().splitlines()
        assert read == [f"DENIED {p}" for p in secret_files], read
        assert out[f"/{name}.pfs"].decode().split() == [name], "a datum's /pfs/in holds its own file only"
        assert out[f"/{name}.write"].decode().split("\n")[:-1] == [
            f"RO {p}" for p in ("/usr", f"{sb.APP}/stages", sys.prefix, "/pfs", "/pfs/in")]
    # the positive control: the same probe reads what a datum may read
    e.create_pipeline({"pipeline": {"name": "peek"}, "input": pfs("in", "/a"), "datumTries": 1, "transform": {
        "cmd": ["sh", "-c", PROBE], "env": {"PROBES": " ".join(allowed), "WRITES": "/pfs/out /tmp"}}}, reprocess=True)
    job = _one(e, "peek")
    out = tree(e, "peek")
    assert out["/a.read"].decode().split("\n")[:-1] == [f"READ {p}" for p in allowed]
    assert out["/a.write"].decode().split() == ["WROTE", "/pfs/out", "WROTE", "/tmp"]


def test_a_datum_has_no_network_and_neither_has_its_ffmpeg(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    e = new_engine(tmp_path, "in")
    script = (f'python3 -c "import socket; socket.create_connection((\'127.0.0.1\', {port}), timeout=5)" '
              f'2>/pfs/out/python.err; echo $? > /pfs/out/python.rc; '
              f'ffmpeg -v error -rw_timeout 5000000 -i http://127.0.0.1:{port}/x.mp4 -f null - 2>/pfs/out/ffmpeg.err; '
              f'echo $? > /pfs/out/ffmpeg.rc; cat /proc/net/dev > /pfs/out/interfaces')
    e.create_pipeline(sh_spec("net", pfs("in", "/*"), script, datumTimeout="60s"))
    put(e, "in", {"/a": b"A"}, tmp_path / "s")
    job = _one(e, "net")
    assert job.state == "JOB_SUCCESS", job.reason
    out = tree(e, "net")
    assert out["/python.rc"] != b"0\n" and b"refused" in out["/python.err"], out["/python.err"]
    assert out["/ffmpeg.rc"] != b"0\n" and b"refused" in out["/ffmpeg.err"].lower(), out["/ffmpeg.err"]
    interfaces = [line.split(":")[0].strip() for line in out["/interfaces"].decode().splitlines()[2:]]
    assert interfaces == ["lo"], "a datum's network namespace has its own loopback only"
    listener.setblocking(False)
    with pytest.raises(BlockingIOError):  # the datums are done: any connection would be queued by now
        listener.accept()
    listener.close()


def test_the_only_socket_a_scan_datum_reaches_is_clamd(tmp_path):
    """scan's spec names CLAMD_ADDRESS: the engine starts clamd and binds its socket, alone, in."""
    e = new_engine(tmp_path, "in")
    ping = ("import os, socket; s = socket.socket(socket.AF_UNIX); "
            "s.connect(os.environ['CLAMD_ADDRESS'].removeprefix('unix://')); s.sendall(b'zPING\\0'); "
            "print(s.recv(16).decode().strip(chr(0)))")
    e.create_pipeline({"pipeline": {"name": "pinger"}, "input": pfs("in", "/*"), "datumTries": 1, "transform": {
        "cmd": ["sh", "-c", f'python3 -c "{ping}" > /pfs/out/reply; echo "$CLAMD_ADDRESS" > /pfs/out/address; '
                            f'ls -A {sb.SOCKETS} > /pfs/out/sockets'],
        "env": {"CLAMD_ADDRESS": "tcp://clamd.pachmedia.svc.cluster.local:3310"}}})
    put(e, "in", {"/a": b"A"}, tmp_path / "s")
    try:
        job = _one(e, "pinger")
        out = tree(e, "pinger")
    finally:
        e.close()  # and its clamd
    assert job.state == "JOB_SUCCESS", job.reason
    assert out["/reply"] == b"PONG\n"
    assert out["/address"].decode().strip() == f"unix://{sb.SOCKETS}/clamd_address.sock"
    assert out["/sockets"].decode().split() == ["clamd_address.sock"]


@pytest.mark.parametrize("mode", ["bwrap", "folder"])
def test_a_datum_and_its_ffmpeg_get_only_the_allow_listed_environment(tmp_path, monkeypatch, mode):
    monkeypatch.setenv("PACHMEDIA_SANDBOX", mode)
    for name, value in {"PACHMEDIA_S3_SECRET_KEY": "s3cret", "PACHMEDIA_S3_ACCESS_KEY": "AKPACH",
                        "AWS_SECRET_ACCESS_KEY": "aws-secret", "AWS_ACCESS_KEY_ID": "AKIA", "AWS_PROFILE": "prod",
                        "PACHMEDIA_HOME": str(tmp_path / "home"), "SSH_AUTH_SOCK": "/run/agent"}.items():
        monkeypatch.setenv(name, value)
    e = new_engine(tmp_path, "left", "right")
    e.create_pipeline({"pipeline": {"name": "envs"}, "datumTries": 1, "input": {"join": [
        pfs("left", "/(*)", joinOn="$1"), pfs("right", "/(*)", joinOn="$1")]}, "transform": {
        "cmd": ["sh", "-c", "env > /pfs/out/sh.env; "
                            "ffmpeg -v error -f data -i /proc/self/environ -map 0 -c copy -f data /pfs/out/ffmpeg.env"],
        "env": {"MODE": "fast"}}})
    put(e, "left", {"/x": b"L"}, tmp_path / "s")
    put(e, "right", {"/x": b"R"}, tmp_path / "s")
    job = _one(e, "envs")
    assert job.state == "JOB_SUCCESS", job.reason
    out = tree(e, "envs")
    pachyderm = {"left", "left_COMMIT", "right", "right_COMMIT", "PACH_DATUM_left_JOIN_ON", "PACH_DATUM_right_JOIN_ON",
                 "PACH_JOB_ID", "PACH_DATUM_ID", "PACH_OUTPUT_COMMIT_ID", "MODE"}
    image = set(sb.image_env("", "", "", ""))
    for seen in (out["/sh.env"].decode().splitlines(), out["/ffmpeg.env"].decode().split("\0")):
        env = dict(line.split("=", 1) for line in seen if "=" in line)
        assert pachyderm <= set(env), pachyderm - set(env)
        assert set(env) - {"PWD", "SHLVL", "_", "OLDPWD"} == pachyderm | image, set(env) ^ (pachyderm | image)
        assert env["PACH_DATUM_left_JOIN_ON"] == "x" and env["MODE"] == "fast"
        if mode == "bwrap":
            assert env["left"] == "/pfs/left/x" and env["right"] == "/pfs/right/x"


LIMITS = [
    pytest.param({"memory": "64Mi"}, "python3 -c 'bytearray(256 << 20)'",
                 "out of memory under its limit of 64 MiB per process (resourceLimits.memory", id="memory"),
    pytest.param({"disk": "1Mi"}, "head -c 2097152 /dev/zero > /pfs/out/big",
                 "file size limit of 1 MiB (resourceLimits.disk", id="file-size"),
    pytest.param({"disk": "1Mi"}, "ffmpeg -v error -f lavfi -i anoisesrc=d=30 -f wav /pfs/out/noise.wav",
                 "file size limit of 1 MiB", id="file-size-ffmpeg"),
    pytest.param({"cpu": 0.01}, "python3 -c 'while True: pass'",
                 "CPU time limit of 1s (resourceLimits.cpu x datumTimeout", id="cpu-time"),
]


@pytest.mark.parametrize("limits, script, words", LIMITS)
def test_a_datum_over_a_limit_is_killed_and_the_reason_names_it(tmp_path, limits, script, words):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("greedy", pfs("in", "/*"), script, resourceLimits=limits, datumTimeout="100s"))
    put(e, "in", {"/a": b"A"}, tmp_path / "s")
    job = _one(e, "greedy")
    state, reason = _reason(e, "greedy", job)
    assert job.state == "JOB_FAILURE" and state == "FAILED"
    assert words in reason, reason


def test_scripts_write_pfs_out_literally_and_run_as_written(tmp_path):
    e = new_engine(tmp_path, "in")
    # paths no rewriting of the command could find: built at run time
    cmd = ["python3", "-c", "import os, sys; d = os.path.join('/', 'pf' + 's', 'out'); "
                            "open(d + '/cwd', 'w').write(os.getcwd()); open(d + '/argv0', 'w').write(sys.executable)"]
    e.create_pipeline({"pipeline": {"name": "literal"}, "input": pfs("in", "/*"), "datumTries": 1,
                       "transform": {"cmd": cmd}})
    e.create_pipeline({"pipeline": {"name": "viastdin"}, "input": pfs("in", "/*"), "datumTries": 1,
                       "transform": {"cmd": ["sh"], "stdin": ['d=/pf; echo "$in" > "${d}s/out/in"',
                                                              'tr "\\0" " " < /proc/$$/cmdline > /pfs/out/cmdline']}})
    put(e, "in", {"/a": b"A"}, tmp_path / "s")
    jobs = {j.pipeline: j for j in e.run(show_progress=False)}
    assert all(j.state == "JOB_SUCCESS" for j in jobs.values()), [j.reason for j in jobs.values()]
    assert tree(e, "literal") == {"/cwd": sb.APP.encode(), "/argv0": f"{sys.prefix}/bin/python3".encode()}
    assert tree(e, "viastdin") == {"/in": b"/pfs/in/a\n", "/cmdline": b"sh "}


@pytest.mark.parametrize("links", [
    pytest.param('ln -s {secret} /pfs/out/x', id="absolute"),
    # the file link sorts before the folder link: a collector walking in order meets it first
    pytest.param('ln -s {top} /pfs/out/zz; ln -s zz/secret /pfs/out/a', id="through-a-linked-folder"),
    pytest.param('ln -s ../../../../../../../../../..{secret} /pfs/out/x', id="relative-climbing-out"),
    pytest.param('mkdir /pfs/out/zz; ln -s {top} /pfs/out/zz/up; ln -s zz/up/secret /pfs/out/a', id="nested"),
])
def test_a_link_in_out_never_makes_the_engine_read_a_host_file(tmp_path, links):
    """The datum cannot read the host's files; the engine, collecting its outputs, can: a link
    the datum leaves in /pfs/out must never be followed to a file outside the datum's /pfs."""
    secret = tmp_path / "secret"
    secret.write_bytes(b"the host's secret")
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("linker", pfs("in", "/*"), links.format(secret=secret, top=tmp_path)))
    put(e, "in", {"/a": b"A"}, tmp_path / "s")
    job = _one(e, "linker")
    assert job.state in ("JOB_SUCCESS", "JOB_FAILURE")
    # the store is content-addressed: had the engine read the secret anywhere, its object would be there
    assert not e.store.objects.has(hashlib.sha256(b"the host's secret").hexdigest())


def test_debug_datum_runs_in_the_same_sandbox(tmp_path):
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("peek", pfs("in", "/*"), f'cat "$in" > /pfs/out/copy; echo "$AWS_SECRET_ACCESS_KEY" > '
                                                       f'/pfs/out/secret; ls {e.home} > /pfs/out/home 2>&1 || '
                                                       f'echo denied > /pfs/out/home'))
    put(e, "in", {"/a": b"A"}, tmp_path / "s")
    job = _one(e, "peek")
    [d] = e.jobs.datums("peek", job.id)
    home = e.home
    e.close()
    dbg = tmp_path / "dbg"
    r = subprocess.run([sys.executable, "-m", "pipelines.cli", "--home", str(home), "debug", "datum", f"peek@{job.id}",
                        d.id[:12], "--dir", str(dbg), "--run"], capture_output=True, text=True, timeout=60,
                       env=os.environ | {"AWS_SECRET_ACCESS_KEY": "aws-secret"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "bwrap" in r.stdout and "aws-secret" not in r.stdout
    out = dbg / "pfs" / "out"
    assert (out / "copy").read_bytes() == b"A" and (out / "secret").read_text() == "\n"
    assert (out / "home").read_text() == "denied\n"


def test_without_namespaces_the_engine_says_so_once_and_falls_back(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PACHMEDIA_SANDBOX", "auto")
    monkeypatch.setattr(sb, "availability", lambda: "bwrap: No permissions to create new namespace")
    monkeypatch.setattr(runner, "_noted", False)
    e = new_engine(tmp_path, "in")
    e.create_pipeline(sh_spec("plain", pfs("in", "/*"), 'cp "$in" /pfs/out/'))
    put(e, "in", {"/a": b"A", "/b": b"B"}, tmp_path / "s")
    job = _one(e, "plain")
    assert job.state == "JOB_SUCCESS" and tree(e, "plain") == {"/a": b"A", "/b": b"B"}
    said = [line for line in capsys.readouterr().err.splitlines() if "sandbox" in line]
    assert len(said) == 1 and "No permissions to create new namespace" in said[0], said


def test_the_sandbox_works_for_an_unprivileged_user(tmp_path):
    """As root (here, CI) bwrap runs privileged; as anyone else it needs unprivileged user
    namespaces. Run the same command line as `nobody`: inputs read, out written, the rest denied."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0 and not setpriv:
        pytest.skip("running as root without setpriv (util-linux) to become nobody")
    top = Path(tempfile.mkdtemp(prefix="pachmedia-unpriv-", dir="/tmp"))
    try:
        os.chmod(top, 0o755)
        dirs = sb.TryDirs(top / "try")
        (dirs.pfs / "in").mkdir(parents=True)
        (dirs.pfs / "in" / "a").write_bytes(b"input")
        (dirs.pfs / "out").mkdir()
        sb.lay_out(dirs)
        for p in [dirs.root, *dirs.root.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        writable = [dirs.pfs / "out", dirs.scratch, dirs.run]
        host = sb.host_layout(Path("/nonexistent"))  # system dirs only: the venv may sit under /root
        host = sb.HostLayout(host.system, host.etc, (), ())
        argv = sb.bwrap_argv(host, dirs, ["sh", "-c", "cat /pfs/in/a > /pfs/out/copy; id -u > /pfs/out/uid; "
                                                     "cat /etc/shadow 2>/dev/null || echo denied > /pfs/out/shadow"],
                             cwd="/tmp")
        if os.geteuid() == 0:
            for d in writable:
                os.chown(d, 65534, 65534)
            argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"] + argv
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
        if r.returncode != 0 and "namespace" in r.stderr:
            pytest.skip(f"no unprivileged user namespaces here: {r.stderr.strip()}")
        assert r.returncode == 0, r.stderr
        out = dirs.pfs / "out"
        assert (out / "copy").read_bytes() == b"input" and (out / "shadow").read_text() == "denied\n"
        assert (out / "uid").read_text() == f"{sb.SANDBOX_UID}\n"
        if os.geteuid() == 0:
            assert os.stat(out / "copy").st_uid == 65534, "outside, the datum was nobody"
    finally:
        shutil.rmtree(top, ignore_errors=True)

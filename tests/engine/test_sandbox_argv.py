"""The datum sandbox's pure parts: limits from a spec, the environment, the bwrap command
line and the words for a datum a limit killed (tests/engine/test_sandbox.py runs it for real)."""
from __future__ import annotations

import signal
from pathlib import Path

import pytest

from pipelines.errors import SpecError
from pipelines.pps import sandbox as sb

pytestmark = pytest.mark.unit

GiB, MiB = 1 << 30, 1 << 20


@pytest.mark.parametrize("value, number", [
    pytest.param("256Mi", 256 * MiB, id="Mi"),
    pytest.param("2Gi", 2 * GiB, id="Gi"),
    pytest.param("1G", 1e9, id="G-decimal"),
    pytest.param("1.5Gi", 1.5 * GiB, id="fraction"),
    pytest.param("500m", 0.5, id="milli-cpu"),
    pytest.param(2, 2, id="number"),
    pytest.param("1e3", 1000, id="exponent"),
    pytest.param(" 64Ki ", 64 * 1024, id="spaces"),
])
def test_quantities_as_kubernetes_writes_them(value, number):
    assert sb.parse_quantity(value, "resourceLimits.memory") == pytest.approx(number)


@pytest.mark.parametrize("value", ["abc", "-1Gi", "0", "1Zi", "", "Gi", True, 0])
def test_a_bad_quantity_names_the_key(value):
    with pytest.raises(SpecError, match="resourceLimits.memory"):
        sb.parse_quantity(value, "resourceLimits.memory")


def test_limits_default_without_resource_limits():
    lim = sb.limits_for({"resourceRequests": {"memory": "64Mi", "cpu": 0.5}}, cpu_count=2)
    # requests are what a scheduler reserves, never a limit
    assert (lim.memory, lim.file_size) == (sb.DEFAULT_MEMORY, sb.DEFAULT_FILE_SIZE)
    assert lim.cpu_seconds == 2 * sb.DEFAULT_CPU_WALL
    assert (lim.memory_from, lim.cpu_from, lim.file_size_from) == ("default", "default", "default")


def test_limits_from_the_spec():
    lim = sb.limits_for({"resourceLimits": {"memory": "512Mi", "disk": "1Gi", "cpu": "500m"},
                         "datumTimeout": "600s"}, cpu_count=8)
    assert lim.memory == 512 * MiB and lim.file_size == GiB
    assert lim.cpu_seconds == 300  # half a core for the datum's ten minutes
    assert lim.memory_from == "resourceLimits.memory" and lim.file_size_from == "resourceLimits.disk"
    assert lim.cpu_from == "resourceLimits.cpu x datumTimeout"


def test_cpu_time_follows_the_datum_timeout_on_all_cores():
    lim = sb.limits_for({"datumTimeout": "100s"}, cpu_count=4)
    assert lim.cpu_seconds == 400 and lim.cpu_from == "datumTimeout"


def test_prlimit_sets_every_limit_and_a_grace_for_sigxcpu():
    args = sb.Limits(memory=100, cpu_seconds=7, file_size=300).prlimit()
    assert args[0] == "prlimit" and args[-1] == "--"
    assert {"--data=100", f"--cpu=7:{7 + sb.CPU_GRACE}", "--fsize=300", "--core=0"} <= set(args)


LIM = sb.Limits(memory=256 * MiB, cpu_seconds=30, file_size=MiB, memory_from="resourceLimits.memory")


@pytest.mark.parametrize("rc, tail, words", [
    pytest.param(-signal.SIGXFSZ, [], "file size limit of 1 MiB", id="ffmpeg-killed-by-SIGXFSZ"),
    pytest.param(128 + signal.SIGXFSZ, ["File size limit exceeded"], "file size limit", id="via-bwrap-or-sh"),
    pytest.param(1, ["OSError: [Errno 27] File too large"], "resourceLimits.disk", id="python-EFBIG"),
    pytest.param(128 + signal.SIGXCPU, [], "CPU time limit of 30s", id="SIGXCPU"),
    pytest.param(1, ["Traceback (most recent call last):", "MemoryError"], "out of memory under its limit of 256 MiB",
                 id="python-MemoryError"),
    pytest.param(1, ["[libx264] malloc of size 1 failed", "Cannot allocate memory"], "resourceLimits.memory",
                 id="ffmpeg-ENOMEM"),
])
def test_a_limit_that_killed_a_datum_is_named(rc, tail, words):
    assert words in sb.explain_exit(rc, tail, LIM)


@pytest.mark.parametrize("rc, tail", [(1, ["bad input"]), (137, []), (2, ["usage: stage"])])
def test_other_failures_blame_no_limit(rc, tail):
    assert sb.explain_exit(rc, tail, LIM) is None


def test_the_environment_is_built_from_nothing_in_order():
    base = sb.image_env("/venv/bin", sb.APP, sb.SCRATCH, sb.RUN)
    env = sb.datum_env(base, {"MODE": "fast", "HOME": "/spec-home", "in": "spec"},
                       {"in": "/pfs/in/x", "in_COMMIT": "c1", "PACH_JOB_ID": "j"},
                       {"CLAMD_ADDRESS": "unix:///run/sockets/clamd_address.sock"})
    assert env["PATH"].split(":")[0] == "/venv/bin"          # `python3` in a cmd is the venv's
    assert env["HOME"] == "/spec-home" and env["MODE"] == "fast"  # the spec's env as written
    assert env["in"] == "/pfs/in/x"                           # Pachyderm's variables win
    assert env["PYTHONPATH"] == "/app" and env["PACHMEDIA_PROGRESS"] == "/run/pachmedia/progress"
    assert set(env) == set(base) | {"MODE", "in", "in_COMMIT", "PACH_JOB_ID", "CLAMD_ADDRESS"}


def test_unix_sockets_are_bound_in_and_tcp_is_refused():
    env, binds = sb.socket_binds({"CLAMD_ADDRESS": "unix:///home/x/clamd/clamd.sock"})
    assert binds == [("/home/x/clamd/clamd.sock", "/run/sockets/clamd_address.sock")]
    assert env == {"CLAMD_ADDRESS": "unix:///run/sockets/clamd_address.sock"}
    with pytest.raises(sb.SandboxError, match="no network.*PACHMEDIA_SANDBOX=folder"):
        sb.socket_binds({"CLAMD_ADDRESS": "tcp://127.0.0.1:3310"})


HOST = sb.HostLayout(system=(("/usr", None), ("/lib", "usr/lib")), etc=("ld.so.cache",),
                     python=("/opt/py",), app=(("/src/stages", "/app/stages"),))


def _pairs(argv: list[str], flag: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv[:argv.index("--")]) if a == flag]


def test_bwrap_binds_only_what_a_datum_may_see():
    dirs = sb.TryDirs(Path("/home/u/.pachmedia/work/p/j/d/try1-x"))
    argv = sb.bwrap_argv(HOST, dirs, ["python3", "-m", "stages.scan", "--out", "/pfs/out"],
                         sockets=[("/home/u/.pachmedia/clamd/clamd.sock", "/run/sockets/clamd.sock")])
    assert argv[argv.index("--") + 1:] == ["python3", "-m", "stages.scan", "--out", "/pfs/out"]  # cmd as written
    for flag in ("--unshare-user", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--disable-userns",
                 "--die-with-parent", "--new-session"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL" and argv[argv.index("--uid") + 1] == str(sb.SANDBOX_UID)
    ro, rw = _pairs(argv, "--ro-bind"), _pairs(argv, "--bind")
    assert (str(dirs.pfs), "/pfs") in ro and ("/usr", "/usr") in ro and ("/opt/py", "/opt/py") in ro
    assert ("/etc/ld.so.cache", "/etc/ld.so.cache") in ro and ("/src/stages", "/app/stages") in ro
    assert set(rw) == {(str(dirs.pfs / "out"), "/pfs/out"), (str(dirs.scratch), "/tmp"), (str(dirs.run), sb.RUN),
                       ("/home/u/.pachmedia/clamd/clamd.sock", "/run/sockets/clamd.sock")}
    # /pfs/out is bound over the read-only /pfs, so it must come after it
    assert argv.index(str(dirs.pfs / "out")) > argv.index(str(dirs.pfs))
    sources = [src for src, _ in ro + rw]
    assert "/" not in sources and "/etc" not in sources and "/home/u/.pachmedia" not in sources
    assert not any(s.startswith("/home/u/.pachmedia/") and not s.startswith(str(dirs.root)) and not s.endswith(".sock")
                   for s in sources), "of the engine's home, only this try's folder and the socket"
    assert ("usr/lib", "/lib") in _pairs(argv, "--symlink")
    assert argv[argv.index("--chdir") + 1] == sb.APP


def test_passwd_names_the_sandbox_user_only():
    passwd, group = sb.passwd_lines()
    assert f"pachmedia:x:{sb.SANDBOX_UID}:{sb.SANDBOX_UID}:" in passwd and "$" not in passwd
    assert f"pachmedia:x:{sb.SANDBOX_UID}:" in group


def test_choose_mode_from_the_environment():
    mode, why = sb.choose_mode({"PACHMEDIA_SANDBOX": "folder"})
    assert mode == "folder" and "PACHMEDIA_SANDBOX=folder" in why
    with pytest.raises(sb.SandboxError, match="PACHMEDIA_SANDBOX='jail'.*auto, bwrap, folder"):
        sb.choose_mode({"PACHMEDIA_SANDBOX": "jail"})


def test_bwrap_required_where_it_cannot_run_is_an_error(monkeypatch):
    monkeypatch.setattr(sb, "availability", lambda: "bwrap is not installed")
    with pytest.raises(sb.SandboxError, match="PACHMEDIA_SANDBOX=bwrap.*not installed"):
        sb.choose_mode({"PACHMEDIA_SANDBOX": "bwrap"})
    assert sb.choose_mode({}) == ("folder", "bwrap is not installed")


def test_a_venv_and_project_under_tmp_stay_visible():
    # a checkout in `mktemp -d` puts the venv and stages under /tmp: the private /tmp must be
    # mounted before them, or it hides them and every datum fails (seen in a clean-clone CI run)
    host = sb.HostLayout(system=(("/usr", None),), etc=(), python=("/tmp/x/.venv",),
                         app=(("/tmp/x/stages", "/app/stages"),))
    dirs = sb.TryDirs(Path("/tmp/h/work/p/j/d/try1-x"))
    argv = sb.bwrap_argv(host, dirs, ["true"])
    tmp = argv.index(str(dirs.scratch))
    assert tmp < argv.index("/tmp/x/.venv") and tmp < argv.index("/tmp/x/stages")


def test_a_try_with_an_s3_gateway_binds_its_socket_and_relay_and_with_s3_out_no_pfs_out(tmp_path):
    from pipelines.pps.runner import DatumRun, launch, relay_argv
    from pipelines.pps.s3_sidecar import RELAY, S3Job, Sidecar
    dirs = sb.TryDirs(tmp_path / "try1-x")
    gateway = Sidecar(None, tmp_path / "try1-x" / "s3" / "gateway.sock", "t0ken")
    for out in (False, True):
        run = DatumRun("p", "j", "d", {"cmd": ["python3", "x.py"], "env": {"AWS_ACCESS_KEY_ID": "spec's"}}, [],
                       {"photos": "/pfs/photos"}, dirs.root, tmp_path / "log", s3=S3Job(None, (("photos", "r", "c"),), out))
        how = launch(run, dirs, "j", "bwrap", s3=gateway)
        bwrap = how.wrapper[how.wrapper.index("bwrap"):]
        end = bwrap.index("--")
        assert how.cmd == ["python3", "x.py"], "the command as written; the relay runs it"
        assert bwrap[end + 1:] == relay_argv(sb.S3_RELAY, sb.S3_SOCKET, sb.S3_PORT)
        rw, ro = _pairs(bwrap, "--bind"), _pairs(bwrap, "--ro-bind")
        assert (str(gateway.socket), sb.S3_SOCKET) in rw and (str(RELAY), sb.S3_RELAY) in ro
        assert ((str(dirs.pfs / "out"), "/pfs/out") in rw) is not out, "s3Out: no /pfs/out, as pachd links none"
        assert how.env["AWS_ACCESS_KEY_ID"] == how.env["AWS_SECRET_ACCESS_KEY"] == "t0ken"
        assert "S3_ENDPOINT" not in how.env, "the relay sets it, from the port it listens on"
    folder = launch(run, dirs, "j", "folder", s3=gateway)
    assert folder.wrapper[-len(relay_argv("", "", 0)):] == relay_argv(str(RELAY), str(gateway.socket), 0)
    plain = launch(DatumRun("p", "j", "d", {"cmd": ["true"]}, [], {}, dirs.root, tmp_path / "log"), dirs, "j", "bwrap")
    assert "AWS_ACCESS_KEY_ID" not in plain.env and sb.S3_SOCKET not in plain.wrapper

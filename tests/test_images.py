"""Images: every image a spec names has a Dockerfile that installs (pip install -r) its own
pinned requirements, which provide what its stage imports (found by parsing the stage's
imports), copies the whole stages package, runs as a non-root user, pins its base; the
build script builds every image and pushes only when asked; the cluster's clamd manifest
(parsed) really applies the project's clamd.conf."""
from __future__ import annotations

import ast
import hashlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from pipelines import PROJECT_ROOT, SPECS_DIR
from pipelines.cluster.images import dockerfile, image_for, stage_of
from pipelines.services.clamd_daemon import CLUSTER, CONFIG, cluster_config, limits
from pipelines.pps.spec import load_specs

pytestmark = pytest.mark.media

SPECS = load_specs(SPECS_DIR)
REQS = PROJECT_ROOT / "images" / "requirements"
STAGES = sorted(p.parent.name for p in (PROJECT_ROOT / "images").glob("*/Dockerfile"))
# import name -> what must be installed for it (pip requirement name, or a Debian package)
PROVIDES = {"jsonschema": "jsonschema", "pyclamd": "pyclamd", "numpy": "numpy",
            "cv2": "opencv-python-headless", "scenedetect": "scenedetect", "PIL": "pillow",
            "pillow_heif": "pillow-heif"}
NEEDS_FFMPEG_BINARY = {"media_io"}  # a stage using stages/io/media_io.py runs the ffmpeg/ffprobe binaries


def stage_imports(module: str, seen: set[str] | None = None) -> tuple[set[str], set[str]]:
    """(third-party import names, stages modules) reachable from stages/<module>.py."""
    seen = seen if seen is not None else set()
    if module in seen:
        return set(), set()
    seen.add(module)
    tree = ast.parse((PROJECT_ROOT / "stages" / f"{module}.py").read_text())
    third, local = set(), {module}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            names = [node.module] if node.module else [a.name for a in node.names]
            for name in names:
                t, l2 = stage_imports(name.split(".")[0], seen)
                third |= t
                local |= l2
        elif isinstance(node, ast.ImportFrom):
            third.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            third |= {a.name.split(".")[0] for a in node.names}
    return {t for t in third if t not in sys.stdlib_module_names and t != "stages"}, local


def requirement_lines(path: Path, seen: frozenset[Path] = frozenset()) -> dict[str, str]:
    """{requirement name: its line} from one requirements file and the files it `-r` includes
    (pip resolves -r relative to the including file), and nothing else."""
    assert path.is_file(), f"{path.relative_to(PROJECT_ROOT)} is missing"
    assert path not in seen, f"{path} includes itself"
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#")[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement")):
            out.update(requirement_lines(path.parent / line.split(None, 1)[1].strip(), seen | {path}))
        else:
            out[re.split(r"[\[=<>!~; ]", line)[0].lower()] = line
    return out


def instructions(df: str) -> list[tuple[str, str]]:
    """A Dockerfile's (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    out, buf = [], ""
    for line in df.splitlines():
        if not buf and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        if buf.strip():
            word, _, rest = buf.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def copies(df: str) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY that copies from the build context."""
    out = []
    for ins, args in instructions(df):
        if ins == "COPY":
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            if "--from" not in args:
                out.append((words[:-1], words[-1]))
    return out


def pip_requirement_files(df: str) -> list[str]:
    """The files every `pip install -r FILE` in a RUN installs."""
    found = []
    for ins, args in instructions(df):
        if ins != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", args):
            words = shlex.split(command)
            if (len(words) >= 2 and Path(words[0]).name in ("pip", "pip3") and words[1] == "install") or \
                    words[:4] in (["python", "-m", "pip", "install"], ["python3", "-m", "pip", "install"]):
                found += [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-r", "--requirement")]
    return found


def _in_image(src: str, copies_: list[tuple[list[str], str]]) -> str | None:
    """Where a build-context file lands in the image (None if no COPY brings it)."""
    for sources, dest in copies_:
        if src in sources:
            return dest + Path(src).name if dest.endswith("/") or len(sources) > 1 else dest
    return None


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_image_matches_its_dockerfile_and_imports(name):
    spec = SPECS[name]
    stage = stage_of(spec)
    assert spec["transform"]["image"] == image_for(stage, "pachmedia")
    df = dockerfile(stage).read_text()
    third, local = stage_imports(stage)
    reqs = requirement_lines(REQS / f"{stage}.txt")  # its own file (+ what it includes), no other stage's
    for imp in third:
        assert imp in PROVIDES, f"{stage} imports {imp}: add it to PROVIDES and the image"
        assert PROVIDES[imp].lower() in reqs, f"images/requirements/{stage}.txt lacks {PROVIDES[imp]}"
    if local & NEEDS_FFMPEG_BINARY:
        assert re.search(r"apt-get install[^\n]*\bffmpeg\b", df), f"{stage} runs ffmpeg: its image needs Debian's ffmpeg"


@pytest.mark.parametrize("stage", STAGES)
def test_dockerfile_installs_its_own_requirements_and_the_whole_package(stage):
    df = dockerfile(stage).read_text()
    cps = copies(df)
    own = _in_image(f"images/requirements/{stage}.txt", cps)
    assert own, f"images/{stage}/Dockerfile does not COPY images/requirements/{stage}.txt"
    installed = [os.path.normpath(p) for p in pip_requirement_files(df)]
    assert os.path.normpath(own) in installed, f"images/{stage}/Dockerfile never runs pip install -r {own}"
    # what the stage's file includes must be next to it in the image, or pip fails
    for raw in (REQS / f"{stage}.txt").read_text().splitlines():
        if raw.startswith("-r "):
            inc = _in_image(f"images/requirements/{raw.split()[1]}", cps)
            assert inc and os.path.dirname(inc) == os.path.dirname(own), f"{stage}: {raw} is not copied beside it"
    # a stage imports its siblings (common, records, media_io...): the whole package, and its schemas
    dests = {os.path.normpath(d) for sources, d in cps if any(s.rstrip("/") == "stages" for s in sources)}
    assert dests, f"images/{stage}/Dockerfile must COPY the whole stages/ package, not single modules"
    assert any(s.rstrip("/") == "specs/records" for sources, _ in cps for s in sources)
    roots = set(re.findall(r"PYTHONPATH=([^\s:]+)", df)) | {a for i, a in instructions(df) if i == "WORKDIR"}
    assert {os.path.dirname(d) for d in dests} & {os.path.normpath(r) for r in roots}, \
        f"stages/ is copied to {dests} but neither PYTHONPATH nor WORKDIR is its parent"


@pytest.mark.parametrize("stage", STAGES)
def test_dockerfile_hygiene(stage):
    df = dockerfile(stage).read_text()
    base = re.search(r"^FROM\s+(\S+)", df, re.M).group(1)
    assert ":" in base and not base.endswith(":latest") and re.search(r":\d+\.\d+\.\d+", base), base
    assert re.search(r"^USER\s+(?!root|0\b)\S+", df, re.M), "must run as a non-root user"
    for line in re.findall(r"apt-get install[^\n]*", df):
        assert "--no-install-recommends" in line
    assert "rm -rf /var/lib/apt/lists" in df or "apt-get" not in df
    for name, line in requirement_lines(REQS / f"{stage}.txt").items():
        assert re.search(r"==\s*[\w.]+", line), f"images/requirements: unpinned requirement {line!r} ({stage})"


@pytest.mark.parametrize("text,expected", [
    pytest.param("-r common.txt\nfoo==1.0\n", {"foo": "foo==1.0", "jsonschema": "jsonschema==4.26.0"}, id="include"),
    pytest.param("bar[x]==2  # why\n\n", {"bar": "bar[x]==2"}, id="extras-comment"),
])
def test_requirement_lines_follow_includes_only(tmp_path, text, expected):
    (tmp_path / "common.txt").write_text("jsonschema==4.26.0\n")
    (tmp_path / "other.txt").write_text("numpy==2.0\n")  # not included: must not count
    (tmp_path / "s.txt").write_text(text)
    assert requirement_lines(tmp_path / "s.txt") == expected


# -- make images ---------------------------------------------------------------------------------

@pytest.fixture
def fake_docker(tmp_path):
    """A `docker` on PATH that logs its arguments and succeeds."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "docker.log"
    (bin_ / "docker").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexit 0\n')
    (bin_ / "docker").chmod(0o755)
    return bin_, log


@pytest.mark.parametrize("push", ["", "1"], ids=["no-push", "push"])
def test_build_images_script_builds_all_and_pushes_only_when_asked(fake_docker, push):
    bin_, log = fake_docker
    env = {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}", "PY": sys.executable, "IMAGE_PREFIX": "reg.example/pm"}
    env.pop("PUSH", None)
    if push:
        env["PUSH"] = push
    r = subprocess.run(["bash", str(PROJECT_ROOT / "scripts/build-images.sh")], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    calls = log.read_text().splitlines()
    built = [c.split(" -t ")[1].split()[0] for c in calls if c.startswith("build ")]
    pushed = [c.split()[1] for c in calls if c.startswith("push ")]
    assert sorted(built) == sorted(image_for(s, "reg.example/pm") for s in STAGES)
    assert pushed == (built if push else [])


# -- the cluster's clamd -----------------------------------------------------------------------

def load_yaml_documents(text: str) -> list:
    import yaml
    return [d for d in yaml.safe_load_all(text) if d is not None]


@pytest.fixture(scope="module")
def manifest() -> dict[str, dict]:
    docs = load_yaml_documents((PROJECT_ROOT / "images/k8s/clamd.yaml").read_text())
    kinds = [d["kind"] for d in docs]
    assert sorted(kinds) == ["ConfigMap", "Deployment", "Namespace", "Service"], kinds
    return {d["kind"]: d for d in docs}


def conf_dict(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            assert key not in out, f"clamd.conf sets {key} twice"
            out[key] = value.strip()
    return out


def test_clamd_configmap_is_the_projects_config(manifest):
    cm = manifest["ConfigMap"]
    conf = cm["data"]["clamd.conf"]
    assert conf == cluster_config(), "images/k8s/clamd.yaml drifted from pipelines/services/clamd_daemon.py (see its header)"
    opts = conf_dict(conf)
    lim = limits()
    assert opts["StreamMaxLength"] == str(lim["limit"]) and int(opts["MaxFileSize"]) >= lim["limit"]
    assert int(opts["MaxScanSize"]) >= lim["limit"]
    for key, value in conf_dict(CONFIG.format(**lim)).items():  # every hardened limit, as the embedded clamd has it
        assert opts[key] == value, key
    # what the image's entrypoint and probe expect: /tmp/clamd.sock, TCP 3310
    assert opts["LocalSocket"] == "/tmp/clamd.sock" and opts["TCPSocket"] == "3310"
    assert opts["DatabaseDirectory"] == "/var/lib/clamav" and "User" not in opts and "TCPAddr" not in opts
    assert set(conf_dict(CLUSTER)) <= set(opts)


def test_clamd_deployment_applies_that_config(manifest):
    dep = manifest["Deployment"]
    assert dep["metadata"]["namespace"] == "pachmedia"
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    [clamd] = [c for c in spec["containers"] if c["name"] == "clamd"]
    for c in spec["containers"] + spec.get("initContainers", []):
        assert re.fullmatch(r"clamav/clamav:\d+\.\d+\.\d+", c["image"]), f"pin the image fully: {c['image']}"
        assert c["image"] == clamd["image"]
    # the entrypoint reads /etc/clamav/clamd.conf only (CLAMD_CONF_FILE is not a thing there)
    assert not [e for e in clamd.get("env", []) if e["name"].startswith("CLAMD_CONF")]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in clamd["volumeMounts"]}
    conf = mounts["/etc/clamav/clamd.conf"]
    assert conf["subPath"] == "clamd.conf"
    assert volumes[conf["name"]]["configMap"]["name"] == manifest["ConfigMap"]["metadata"]["name"]
    assert "emptyDir" in volumes[mounts["/var/lib/clamav"]["name"]]
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]  # TemporaryDirectory and the local socket
    # non-root the way the image supports it: its clamav user and its unprivileged entrypoint
    sc = spec["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 100 and sc["fsGroup"] == sc["runAsGroup"]
    assert clamd["command"] == ["/init-unprivileged"]
    csc = clamd["securityContext"]
    assert csc["allowPrivilegeEscalation"] is False and csc["readOnlyRootFilesystem"] is True
    if csc["readOnlyRootFilesystem"]:
        assert "/var/log/clamav" in mounts  # freshclam's log
    # a changed config must roll the pods (a subPath mount never sees ConfigMap updates)
    assert pod["metadata"]["annotations"]["pachmedia/clamd-config-sha256"] == \
        hashlib.sha256(cluster_config().encode()).hexdigest()
    ready = clamd["readinessProbe"]
    assert ready.get("exec", {}).get("command") == ["clamdcheck.sh"] or ready.get("tcpSocket", {}).get("port") == 3310
    assert clamd["startupProbe"]["periodSeconds"] * clamd["startupProbe"]["failureThreshold"] >= 600
    assert [p["containerPort"] for p in clamd["ports"]] == [3310]


def test_clamd_service_is_what_the_scan_spec_dials(manifest):
    addr = urlparse(SPECS["scan"]["transform"]["env"]["CLAMD_ADDRESS"])
    assert addr.scheme == "tcp"
    name, ns = addr.hostname.split(".")[:2]
    svc = manifest["Service"]
    assert (svc["metadata"]["name"], svc["metadata"]["namespace"]) == (name, ns) == ("clamd", "pachmedia")
    assert addr.hostname == f"{name}.{ns}.svc.cluster.local"
    [port] = svc["spec"]["ports"]
    assert port["port"] == addr.port == 3310 and port["targetPort"] == 3310
    labels = manifest["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items() and svc["spec"]["selector"]

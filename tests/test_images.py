"""Images: every image a spec names has a Dockerfile that installs what its stage
imports (found by parsing the stage's imports), runs as a non-root user, pins its base."""
from __future__ import annotations

import ast
import re
import sys

import pytest

from pipelines import PROJECT_ROOT, SPECS_DIR
from pipelines.images import dockerfile, image_for, stage_of
from pipelines.spec import load_specs

SPECS = load_specs(SPECS_DIR)
# import name -> what must be installed for it (pip requirement name, or a Debian package)
PROVIDES = {"jsonschema": "jsonschema", "pyclamd": "pyclamd", "ffmpeg": "ffmpeg-python", "numpy": "numpy",
            "cv2": "opencv-python-headless", "scenedetect": "scenedetect", "PIL": "pillow"}
NEEDS_FFMPEG_BINARY = {"media_io"}  # a stage using stages/media_io.py runs the ffmpeg/ffprobe binaries


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


def requirements(stage: str) -> set[str]:
    names = set()
    folder = PROJECT_ROOT / "images" / "requirements"
    for line in (folder / f"{stage}.txt").read_text().splitlines() + (folder / "common.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            names.add(re.split(r"[\[=<>]", line)[0].lower())
    return names


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_image_matches_its_dockerfile_and_imports(name):
    spec = SPECS[name]
    stage = stage_of(spec)
    assert spec["transform"]["image"] == image_for(stage, "pachmedia")
    df = dockerfile(stage).read_text()
    third, local = stage_imports(stage)
    reqs = requirements(stage)
    for imp in third:
        assert imp in PROVIDES, f"{stage} imports {imp}: add it to PROVIDES and the image"
        assert PROVIDES[imp].lower() in reqs, f"images/requirements/{stage}.txt lacks {PROVIDES[imp]}"
    if local & NEEDS_FFMPEG_BINARY:
        assert re.search(r"apt-get install[^\n]*\bffmpeg\b", df), f"{stage} runs ffmpeg: its image needs Debian's ffmpeg"
    assert f"images/requirements/{stage}.txt" in df
    assert "COPY stages/" in df and "COPY specs/records/" in df


@pytest.mark.parametrize("stage", sorted(p.parent.name for p in (PROJECT_ROOT / "images").glob("*/Dockerfile")))
def test_dockerfile_hygiene(stage):
    df = dockerfile(stage).read_text()
    base = re.search(r"^FROM\s+(\S+)", df, re.M).group(1)
    assert ":" in base and not base.endswith(":latest") and re.search(r":\d+\.\d+\.\d+", base), base
    assert re.search(r"^USER\s+(?!root|0\b)\S+", df, re.M), "must run as a non-root user"
    for line in re.findall(r"apt-get install[^\n]*", df):
        assert "--no-install-recommends" in line
    assert "rm -rf /var/lib/apt/lists" in df or "apt-get" not in df
    for req in requirements(stage):
        line = next(l for l in (PROJECT_ROOT / "images/requirements").glob("*.txt")
                    for l in l.read_text().splitlines() if l.lower().startswith(req))
        assert "==" in line, f"unpinned requirement {line!r}"


def test_clamd_manifest_matches_the_scan_spec():
    text = (PROJECT_ROOT / "images/k8s/clamd.yaml").read_text()
    addr = SPECS["scan"]["transform"]["env"]["CLAMD_ADDRESS"]
    assert addr == "tcp://clamd.pachmedia.svc.cluster.local:3310"
    for needle in ("name: clamd\n  namespace: pachmedia", "port: 3310", "AlertExceedsMax yes", "AlertEncrypted yes",
                   "StreamMaxLength 2000M", "image: clamav/clamav:1."):
        assert needle in text, needle

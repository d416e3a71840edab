"""The one place image names come from: `<IMAGE_PREFIX>/<stage>:<project version>`.
specs/*.json are committed with the default prefix; `pachmedia deploy --image-prefix`
and `make images IMAGE_PREFIX=...` use the same function."""
from __future__ import annotations

import copy
import os
import re
from pathlib import Path

from pipelines import PROJECT_ROOT

DEFAULT_PREFIX = "pachmedia"
IMAGES_DIR = PROJECT_ROOT / "images"


def version() -> str:
    """The project version, read from pyproject.toml (the single source)."""
    m = re.search(r'^version\s*=\s*"([^"]+)"', (PROJECT_ROOT / "pyproject.toml").read_text(), re.M)
    if not m:
        raise RuntimeError("pyproject.toml has no version")
    return m.group(1)


def image_for(stage: str, prefix: str | None = None) -> str:
    prefix = (prefix or os.environ.get("IMAGE_PREFIX") or DEFAULT_PREFIX).rstrip("/")
    return f"{prefix}/{stage}:{version()}"


def stage_of(spec: dict) -> str:
    """The stage a spec runs: `python3 -m stages.<stage>`."""
    cmd = spec["transform"]["cmd"]
    return cmd[cmd.index("-m") + 1].split(".", 1)[1]


def with_images(spec: dict, prefix: str | None = None) -> dict:
    out = copy.deepcopy(spec)
    out["transform"]["image"] = image_for(stage_of(spec), prefix)
    return out


def dockerfile(stage: str) -> Path:
    return IMAGES_DIR / stage / "Dockerfile"

#!/usr/bin/env bash
# make images: build (and with PUSH=1 push) one image per stage, tagged with the project
# version; names come from pipelines/cluster/images.py (IMAGE_PREFIX, default "pachmedia").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if ! docker info >/dev/null 2>&1; then
  echo "make images: no Docker daemon reachable (docker info failed); build on a machine with one" >&2
  exit 1
fi
for dir in images/*/; do
  stage=$(basename "$dir")
  [ -f "$dir/Dockerfile" ] || continue
  image=$("$PY" -c "from pipelines.cluster.images import image_for; print(image_for('$stage'))")
  echo "building $image"
  docker build -f "$dir/Dockerfile" -t "$image" .
  # an if, not `[ ... ] && docker push`: as the loop's last command a false test would
  # make the loop, and so the script, exit 1 after a good build
  if [ "${PUSH:-0}" = 1 ]; then
    docker push "$image"
  fi
done

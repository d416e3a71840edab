#!/usr/bin/env bash
# Installs the Debian packages pachmedia needs, only those missing (idempotent, quiet when done).
set -euo pipefail
pkgs=(ffmpeg clamav clamav-daemon clamav-testfiles opencv-doc sound-theme-freedesktop chromium chromium-driver strace nodejs npm
      rclone s3cmd  # the S3 tools tests/test_s3_tools.py drives
      bubblewrap)   # every datum runs in its own namespaces (pipelines/pps/sandbox.py)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from outside Debian (a node already on PATH is enough).
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
# Debian's own python3 makes venvs only with python3-venv (ensurepip); another Python on PATH may have it.
if ! "${PYTHON:-python3}" -c "import ensurepip, venv" 2>/dev/null; then
  missing+=(python3-venv)
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "setup: installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's clamav-daemon/freshclam services are not used: pachmedia runs its own clamd.

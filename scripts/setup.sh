#!/usr/bin/env bash
# Create .venv with everything MaskCurator needs (CPU or CUDA; the pinned torch wheel runs on both).
set -euo pipefail
cd "$(dirname "$0")/.."
# Qt's runtime libraries (Debian/Ubuntu). Only attempted as root, and only when something is missing.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! ldconfig -p | grep -q libxkbcommon-x11; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends build-essential libegl1 libgl1 \
    libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 \
    libxcb-keysyms1 libxcb-image0 libxcb-randr0 libxcb-render-util0 libxcb-shape0 >/dev/null
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e ".[test,cluster]"  # cluster: Ray (~1 min), so tests/test_ray.py runs in CI
echo "MaskCurator environment ready in .venv"

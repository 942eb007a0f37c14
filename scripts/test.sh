#!/usr/bin/env bash
# Sets up, builds and runs every test: unit, in-process integration over real
# mutual TLS, and end-to-end with the real binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build Debug
cd build
ctest --output-on-failure -j 2 --timeout 180

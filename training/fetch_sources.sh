#!/usr/bin/env bash
# Stage 0: install the permissively licensed sources the corpus is built from.
# npm packages go to training/.work/npm (scripts not run); Debian's Python packages to the system.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$here/.work/npm"
cd "$here/.work/npm"
[ -f package.json ] || echo '{"name":"unmask-corpus","private":true}' > package.json
npm install --ignore-scripts --no-audit --no-fund --legacy-peer-deps $(grep -v '^#' "$here/corpus-npm-packages.txt")
if command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(grep -v '^#' "$here/corpus-debian-packages.txt")
fi

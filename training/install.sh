#!/usr/bin/env bash
# Installs the Python side: training/requirements.txt, or the requirements file named as the argument (serve/install.sh
# passes serve/requirements.txt). Where pip's configuration names local package indexes
# (file://, as on this project's offline machines), only those are asked: PyPI itself, unreachable there, would
# cost minutes of retries before pip fell back to them. Elsewhere it is a plain `pip install -r`.
set -euo pipefail
requirements="$(realpath "${1:-$(dirname "${BASH_SOURCE[0]}")/requirements.txt}")"
cd "$(dirname "${BASH_SOURCE[0]}")"
read -r -a local_indexes <<< "$( (python3 -m pip config get global.extra-index-url 2>/dev/null || true) | tr ' ' '\n' | grep '^file://' | tr '\n' ' ')"
args=()
if ((${#local_indexes[@]})); then
  args=(--index-url "${local_indexes[0]}")
  for index in "${local_indexes[@]:1}"; do args+=(--extra-index-url "$index"); done
fi
exec python3 -m pip install --disable-pip-version-check "${args[@]}" -r "$requirements"

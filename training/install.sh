#!/usr/bin/env bash
# Installs the Python side: training/requirements.txt, or the requirements files named as arguments (npm test passes
# both training/ and serve/requirements.txt, in one pip run; serve/install.sh passes serve/requirements.txt). When
# everything they name, and what those packages require in turn, is already installed at an allowed version
# (training/requirements_met.py), pip is not run at all. Where pip's configuration names local package indexes
# (file://, as on this project's offline machines), only those are asked: PyPI itself, unreachable there, would
# cost minutes of retries before pip fell back to them. Elsewhere it is a plain `pip install -r`.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
files=()
for f in "${@:-$here/requirements.txt}"; do files+=("$(realpath "$f")"); done
if python3 "$here/requirements_met.py" "${files[@]}" 2>/dev/null; then
  echo "python: requirements already installed (${files[*]})"
  exit 0
fi
cd "$here"
read -r -a local_indexes <<< "$( (python3 -m pip config get global.extra-index-url 2>/dev/null || true) | tr ' ' '\n' | grep '^file://' | tr '\n' ' ')"
args=()
if ((${#local_indexes[@]})); then
  args=(--index-url "${local_indexes[0]}")
  for index in "${local_indexes[@]:1}"; do args+=(--extra-index-url "$index"); done
fi
requirements=()
for f in "${files[@]}"; do requirements+=(-r "$f"); done
exec python3 -m pip install --disable-pip-version-check "${args[@]}" "${requirements[@]}"

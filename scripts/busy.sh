#!/usr/bin/env bash
# Keeps every core busy for a bounded time, then stops by itself: the load under which the test suite must still
# pass (docs/reliability.md). One busy loop per core, at normal priority, each ended after SECONDS (default 900).
#   bash scripts/busy.sh [SECONDS] & npm test; npm test; npm test; wait
set -euo pipefail
seconds="${1:-900}"
cores="$(nproc)"
pids=()
for _ in $(seq "$cores"); do
  timeout "$seconds" sh -c 'while :; do :; done' &
  pids+=("$!")
done
echo "busy.sh: $cores busy loops for ${seconds}s (pids ${pids[*]})" >&2
trap 'kill "${pids[@]}" 2>/dev/null || true' INT TERM EXIT
wait "${pids[@]}" 2>/dev/null || true

#!/usr/bin/env bash
# npm run lint: the type-check with ESLint (scripts/typecheck-lint.mjs, one TypeScript program for both) beside
# Prettier, knip and the import-cycle check, in two lanes: each is one process on one core, so on two cores the lint
# takes as long as its longer lane (~17 s here) instead of their sum (~32 s). Each lane's output is printed whole once
# both are done; the lint fails when either fails.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

node scripts/typecheck-lint.mjs >"$out/types" 2>&1 &
types=$!
(npm run -s format:check && npx knip && npx tsx scripts/import-cycles.ts) >"$out/rest" 2>&1
rest=$?
wait "$types"
types=$?

echo "== tsc (tsconfig.json, media/tsconfig.json) and eslint: exit $types"
cat "$out/types"
echo "== prettier --check, knip, import cycles: exit $rest"
cat "$out/rest"
((types == 0 && rest == 0))

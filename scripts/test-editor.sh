#!/usr/bin/env bash
# The real-editor tests: package the VSIX, then mocha drives code-server (VS Code in the browser) with Chromium.
# Provisions the tools (scripts/provision-editor-tools.sh) when they are missing. Extra arguments go to mocha,
# e.g. `npm run test:editor -- --grep smoke`. UNMASK_SKIP_PACKAGE=1 reuses the VSIX in dist/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/provision-editor-tools.sh
source .tools/env.sh

target="$(node -p 'process.platform + "-" + process.arch')"
export UNMASK_VSIX="$PWD/dist/unmask-$target.vsix"
if [[ "${UNMASK_SKIP_PACKAGE:-}" != 1 || ! -f "$UNMASK_VSIX" ]]; then
  packaging=$SECONDS
  node scripts/package.js --target "$target"
  echo "test-editor: packaged the VSIX in $((SECONDS - packaging)) s"
fi

rm -rf .test-output
exec npx mocha --config test/editor/.mocharc.json "$@"

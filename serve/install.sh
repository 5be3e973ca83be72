#!/usr/bin/env bash
# Installs the team server's Python side (serve/requirements.txt) the way training/install.sh installs the training
# side: only the machine's local package indexes where pip names them.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
exec bash "$here/../training/install.sh" "$here/requirements.txt"

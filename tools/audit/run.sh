#!/usr/bin/env bash
# make audit: Slither (every detector) and slither-check-erc on the contracts, through the project's own
# compiler (solc-js offline, see tools/solc-offline.cjs). Exit 0: no unexplained high/medium finding and
# the token passes its ERC checks; 1: the audit found something; 2: the analysis could not run.
#
# Slither lives in its own venv, .venv-audit/, created here from tools/audit/requirements.txt (again
# whenever that file changes), so it cannot disturb the brownie venv's pins.
# Extra arguments go to tools/audit/slither_run.py (-v lists lows and informationals, --help for more).
# Writes reports/audit/slither.json (every result) and reports/audit/standard-input.json (the compiler
# input, for running the stock slither / slither-check-erc CLIs by hand, see tools/audit/README.md).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

python="${PYTHON:-python3.11}"
venv="$root/.venv-audit"
req="tools/audit/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
  echo "audit: installing Slither into $venv from $req" >&2
  [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
  # Ignore the venv from inside, in case the repo's .gitignore does not list it.
  printf '*\n' > "$venv/.gitignore"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

# The compiler brownie uses: the folder tools/select_solc.py chose (empty when py-solc-x installed a
# native solc), else the repo's solc-js wrapper, which needs node_modules (npm ci / make setup).
if [[ -z "${SOLCX_BINARY_PATH:-}" && -s .bootstrap/solc-path ]]; then
  export SOLCX_BINARY_PATH="$(cat .bootstrap/solc-path)"
fi
if [[ ! -d node_modules/@openzeppelin/contracts ]]; then
  echo "audit: node_modules/@openzeppelin is missing; run 'make setup' (npm ci) first" >&2
  exit 2
fi

exec "$venv/bin/python" tools/audit/slither_run.py \
  --json reports/audit/slither.json --write-input reports/audit/standard-input.json "$@"

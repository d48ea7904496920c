#!/usr/bin/env bash
# anvil_sweep.sh MARKER: remove the state directories that anvils started after MARKER (a file) left in anvil's
# cache (~/.foundry/anvil/tmp). Anvil moves old block states there during a long run and deletes nothing when it
# is stopped: brownie SIGKILLs it, and even SIGTERM or SIGINT leave the directory (anvil 1.7.1). One test run
# left about 1.7 GB; a day of runs filled a 250 GB disk. Called when a run is over, so that no anvil the run
# started still uses them; an anvil started by something else in that window loses its persisted old states
# (its old-block reads fail), nothing more.
set -uo pipefail
marker=${1:?marker file}
cache="${HOME}/.foundry/anvil/tmp"
[[ -d $cache && -e $marker ]] || exit 0
find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'anvil-state-*' -newer "$marker" -exec rm -rf {} + 2>/dev/null
rm -f "$marker"
exit 0

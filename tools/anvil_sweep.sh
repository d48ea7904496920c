#!/usr/bin/env bash
# anvil_sweep.sh start FILE | anvil_sweep.sh end FILE: at the start of a run, write the names of the state
# directories in anvil's cache (~/.foundry/anvil/tmp) to FILE; at its end, remove the directories that were not
# there at the start, and FILE. Anvil moves old block states there during a long run and deletes nothing when it
# is stopped: brownie SIGKILLs it, and even SIGTERM or SIGINT leave the directory (anvil 1.7.1). One test run left
# about 1.7 GB; a day of runs filled a 250 GB disk. Names, not times: a directory an older anvil still writes to
# is newer than any marker, and must stay. An anvil started by something else during the run loses its persisted
# old states (its old-block reads fail), nothing more.
set -uo pipefail
mode=${1:?start or end}
list=${2:?list file}
cache="${HOME}/.foundry/anvil/tmp"
names() { [[ -d $cache ]] && find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'anvil-state-*' -printf '%f\n' | sort; }
case $mode in
start) names > "$list" ;;
end)
    [[ -e $list ]] || exit 0
    comm -13 "$list" <(names) | while IFS= read -r name; do rm -rf "${cache:?}/$name"; done
    rm -f "$list"
    ;;
*) echo "usage: $0 start|end FILE" >&2; exit 2 ;;
esac
exit 0

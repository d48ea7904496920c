#!/usr/bin/env bash
# `make test` over the whole of tests/: the contract tests and everything else run side by side, as two
# brownie processes on two chains of their own, so that the suite fits ~25 minutes on two cores
# (one after the other they take ~27-30). Each half writes its own log and JUnit file under reports/;
# the run fails when either half fails.
#
# Called by the Makefile with its environment (PATH, SOLCX_BINARY_PATH) already set and both networks
# registered; arguments: NETWORK_A NETWORK_B. NO_TESTS_OK=1 turns a half's pytest exit 5 (no test
# collected) into success, as it does for a narrowed run.
set -uo pipefail
cd "$(dirname "$0")/.."

# --half NAME NETWORK PATHS...: one half, run in a session of its own (see start) so that it can be stopped
# whole, anvil included.
if [[ ${1:-} == --half ]]; then
    name=$2 network=$3
    shift 3
    began=$(date +%s)
    brownie test "$@" -p no:cacheprovider --network "$network" --durations=25 \
        --junitxml="reports/junit-$name.xml" >> "reports/test-$name.log" 2>&1
    status=$?
    echo "$began $(date +%s)" > "reports/test-$name.time"
    echo "$status" > "reports/test-$name.rc"
    exit "$status"
fi

net_a=${1:?first brownie network}
net_b=${2:?second brownie network}

# The contract half: tests that drive the Solidity contracts through brownie's own chain. Every other
# directory under tests/ that holds tests (a new one included) goes to the second half. `moved` names contract
# tests that run with the second half instead, to even out the halves; none since the heap freeze
# (tests/helpers/fast_rpc.py): on a 2-core machine (2026-12-02, evening) the contract half took 11:10 with the
# lease machine (113 s) in the other half, the rest 14:25, so the lease machine came back. The --durations table
# at the end of each log says where the time goes.
moved=()
contract_roots=(tests/unit tests/security tests/integration tests/stateful)
contract_dirs=()
for root in "${contract_roots[@]}"; do
    if printf '%s\n' "${moved[@]}" | grep -q "^$root/"; then
        # a directory some of whose files moved runs file by file, less those
        while IFS= read -r file; do
            [[ " ${moved[*]} " == *" $file "* ]] || contract_dirs+=("$file")
        done < <(find "$root" -name 'test_*.py' | sort)
    else
        contract_dirs+=("$root")
    fi
done
rest_dirs=("${moved[@]}")
for dir in tests/*/; do
    dir=${dir%/}
    [[ " ${contract_roots[*]} " == *" $dir "* ]] && continue
    [[ -n "$(find "$dir" -name 'test_*.py' -print -quit)" ]] && rest_dirs+=("$dir")
done
while IFS= read -r file; do rest_dirs+=("$file"); done < <(find tests -maxdepth 1 -name 'test_*.py' | sort)

mkdir -p reports
export PYTHONUNBUFFERED=1
# Anvil's leftover state directories from this run are removed at the end (tools/anvil_sweep.sh).
sweep_marker=$(mktemp "${TMPDIR:-/tmp}/gpusettle-anvil-sweep.XXXXXX")
tools/anvil_sweep.sh start "$sweep_marker"
pids=()
prefixers=()

cleanup() {
    for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
    for pid in "${prefixers[@]}"; do kill "$pid" 2>/dev/null; done
}
trap 'cleanup; exit 130' INT TERM

# start NAME NETWORK DIRS...: runs one half in the background; its raw output goes to reports/test-NAME.log,
# its exit status to reports/test-NAME.rc and its start/end times to reports/test-NAME.time.
start() {
    local name=$1 network=$2
    shift 2
    rm -f "reports/test-$name.rc" "reports/test-$name.time" "reports/junit-$name.xml"
    : > "reports/test-$name.log"
    setsid "$0" --half "$name" "$network" "$@" < /dev/null &
    pids+=($!)
    # Live progress, one prefixed line at a time, so the two halves stay readable on one terminal; tail ends
    # with the half.
    tail --pid="${pids[-1]}" -n +1 -F "reports/test-$name.log" 2>/dev/null | sed -u "s/^/[$name] /" &
    prefixers+=($!)
}

# brownie rewrites files under build/ while it loads the project, and a second process loading it at the
# same moment can find a file missing (FileNotFoundError). `make compile` has brought build/ up to date;
# the second half starts once the first has loaded the project and collected its tests.
start contracts "$net_a" "${contract_dirs[@]}"
waited=0
until grep -qE 'collected [0-9]+ item|error(s)? during collection|no tests ran' reports/test-contracts.log \
    || [[ -e reports/test-contracts.rc ]] || ((waited >= 600)); do
    sleep 1
    waited=$((waited + 1))
done
start rest "$net_b" "${rest_dirs[@]}"

for pid in "${pids[@]}" "${prefixers[@]}"; do wait "$pid"; done
tools/anvil_sweep.sh end "$sweep_marker"

overall=0
echo
for name in contracts rest; do
    status=$(cat "reports/test-$name.rc" 2>/dev/null || echo 1)
    read -r began ended < "reports/test-$name.time" || { began=0; ended=0; }
    secs=$((ended - began))
    echo "==================== $name half: exit $status, $((secs / 60))m$((secs % 60))s ===================="
    # pytest's short summary (failures and errors, then its final line), or its final line alone.
    summary=$(awk '/short test summary info/ {keep=1} keep && !/^Terminating/ {print}' "reports/test-$name.log")
    if [[ -n $summary ]]; then
        echo "$summary"
    else
        grep -E '^=+ .* in [0-9.]+s' "reports/test-$name.log" | tail -1
    fi
    if [[ $status -eq 5 ]]; then
        echo "pytest collected no test in the $name half (exit 5)"
        [[ -n "${NO_TESTS_OK:-}" ]] && status=0
    fi
    echo "log: reports/test-$name.log, JUnit: reports/junit-$name.xml"
    ((status != 0)) && overall=1
done
exit $overall

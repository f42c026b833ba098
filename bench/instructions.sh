#!/usr/bin/env bash
# Instructions per operation, counted by valgrind's callgrind: stable on a noisy machine, where
# wall-clock figures move by a tenth from run to run. Each kind runs twice under callgrind
# (bench/instructions.rs, SMALL and LARGE operations after the same warm-up); the difference
# of the two totals over the difference of the counts is what one operation costs, start-up
# and shut-down cancelled out. Everything is in one process: for the HTTP kinds the client's
# share is in the figure too, which is why each comes beside its baseline.
#
#   bench/instructions.sh                       # healthz page append
#   lab/lab.sh run -- bench/instructions.sh healthz page append raw-lookup lookup
#
# Environment: INSTR_SMALL (default 200), INSTR_LARGE (default 1200).
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
small=${INSTR_SMALL:-200}
large=${INSTR_LARGE:-1200}
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(healthz page append)
command -v valgrind >/dev/null || { echo "valgrind is missing: lab/install.sh installs it" >&2; exit 1; }

bin=$(cargo bench --locked --offline --bench instructions --no-run 2>&1 |
    sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "could not find the instructions bench binary" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

total() {  # $1 kind, $2 count: the instructions of the whole run
    local out="$work/$1.$2.out"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" \
        >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
    sed -n 's/^summary: *//p' "$out" | head -1
}

printf 'instructions per operation (callgrind; (run of %s - run of %s) / %s)\n' "$large" "$small" "$((large - small))"
printf '%-12s %14s\n' kind instructions
for k in "${kinds[@]}"; do
    a=$(total "$k" "$small")
    b=$(total "$k" "$large")
    printf '%-12s %14d\n' "$k" "$(((b - a) / (large - small)))"
done

#!/usr/bin/env bash
# The benchmark suite in one command (fresh Debian 12, as root): installs what is missing, brings
# up a lab with three DCs (the third not in any portal's ldap.urls) and 20,000 computers (or reuses one already up with at least as many),
# runs every benchmark, and writes BENCHMARKS.md: the machine, the date, the commands and each
# figure beside its baseline from the same run.
#
#   bench/run.sh                    # BENCH_COMPUTERS=20000, lab in /tmp/trustdesk-bench-lab
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
N=${BENCH_COMPUTERS:-20000}
N2=${BENCH_F2_COMPUTERS:-10000}   # the second forest's (the two-forest fleet scan)
export LAB_DIR=${BENCH_LAB_DIR:-/tmp/trustdesk-bench-lab}
OUT=${BENCH_OUT:-BENCHMARKS.md}
step() { printf '\n== %s\n' "$*"; }

step "install what is missing"
lab/install.sh
step "build the benchmarks (release profile)"
cargo bench --locked --no-run

# The lab is the slow part (bulk LDAP adds run at ~150/s): reuse it when it is up and big enough.
have=0
if lab/lab.sh status >/dev/null 2>&1 && [ -f "$LAB_DIR/lab.env" ]; then
    have=$(sed -n "s/^export LAB_BULK_COMPUTERS='\([0-9]*\)'/\1/p" "$LAB_DIR/lab.env")
    grep -q LAB_DC2_LDAPS_URL "$LAB_DIR/lab.env" || have=0
    have2=$(sed -n "s/^export LAB_F2_BULK_COMPUTERS='\([0-9]*\)'/\1/p" "$LAB_DIR/lab.env")
    [ "${have2:-0}" -ge "$N2" ] || have=0
fi
if [ "${have:-0}" -ge "$N" ]; then
    step "reusing the lab in $LAB_DIR ($have computers)"
else
    step "lab up: three DCs, $N computers; a second forest with $N2"
    lab/lab.sh down >/dev/null 2>&1 || true
    lab/lab.sh up --dc2 --dc3 --computers "$N" --forest2 --forest2-computers "$N2"
fi

run() {  # $1 title, $2 command shown, rest: the command
    local title=$1 shown=$2; shift 2
    step "$title"
    local out log="$LAB_DIR/bench-last.log"
    "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "bench failed: $title" >&2; exit 1; }
    cat "$log"
    out=$(grep -v -E '^(\s*Finished|\s*Running|\s*Compiling|Benchmarking|Gnuplot)' "$log" || true)
    { printf '### %s\n\n```sh\n%s\n```\n\n```\n%s\n```\n\n' "$title" "$shown" "$out"; } >>"$OUT.tmp"
}

# The hand-written part of $OUT (from this heading on) is kept below the new run.
KEEP='## Later measurements'
: >"$OUT.kept"
[ -f "$OUT" ] && sed -n "/^$KEEP\$/,\$p" "$OUT" >"$OUT.kept"

cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
{
    printf '# trustdesk benchmarks\n\n'
    printf 'Written by `bench/run.sh` on %s.\n\n' "$(date -u +%Y-%m-%dT%H:%MZ)"
    printf -- '- machine: %s cores (%s), %s, %s\n' "$(nproc)" "$cpu" "$mem" "$(uname -sr)"
    printf -- '- build: %s, release profile (`cargo bench`); commit %s\n' "$(rustc --version)" "$(git describe --always --dirty 2>/dev/null || echo '?')"
    printf -- '- lab: Samba %s, three DCs (127.0.0.2, 127.0.0.4; 127.0.0.5 found only by DC discovery, but named in `ldap.urls` behind its relay "20 ms away") and %s bulk computers on the same machine; "20 ms away" is a delaying TCP relay in front of each DC (`tests/it/relay.rs`)\n' \
        "$(samba --version | awk '{print $2}')" "$(sed -n "s/^export LAB_BULK_COMPUTERS='\([0-9]*\)'/\1/p" "$LAB_DIR/lab.env")"
    printf -- '- every figure is printed beside a baseline measured in the same run; the load generators\n'
    printf '  share the 2 cores with the portal and the DCs\n\n'
} >"$OUT.tmp"

run "Fleet scan vs ldapsearch (same attributes, same DC)" \
    "lab/lab.sh run -- cargo bench --offline --bench fleet" \
    lab/lab.sh run -- cargo bench --locked --offline --bench fleet
run "Lookup + diagnosis latency vs raw ldap3" \
    "lab/lab.sh run -- cargo bench --offline --bench lookup" \
    lab/lab.sh run -- cargo bench --locked --offline --bench lookup
# The same, as in a real deployment where the DCs are other machines: the DCs on CPU 0, the
# portal and its load generator on the last CPU, so the portal's work does not slow the DCs.
last_cpu=$(($(nproc) - 1))
if [ "$last_cpu" -ge 1 ]; then
    lab/lab.sh pin 0
    trap 'lab/lab.sh pin all >/dev/null 2>&1 || true' EXIT
    run "Lookup + diagnosis latency vs raw ldap3, the DCs on a CPU of their own" \
        "lab/lab.sh pin 0; lab/lab.sh run -- taskset -c $last_cpu cargo bench --offline --bench lookup; lab/lab.sh pin all" \
        lab/lab.sh run -- taskset -c "$last_cpu" cargo bench --locked --offline --bench lookup
    # The store a deployment of several portals shares: PostgreSQL (the machine's own, as the
    # test suite uses it), a new database per setting. A commit waits for its fsync here.
    pg=${TD_TEST_PG_URL:-postgres://trustdesk:trustdesk@127.0.0.1:5432/postgres}
    run "Lookup + diagnosis latency vs raw ldap3, the DCs on a CPU of their own, the store on PostgreSQL" \
        "lab/lab.sh pin 0; BENCH_PG_URL=$pg lab/lab.sh run -- taskset -c $last_cpu cargo bench --offline --bench lookup; lab/lab.sh pin all" \
        env BENCH_PG_URL="$pg" lab/lab.sh run -- taskset -c "$last_cpu" cargo bench --locked --offline --bench lookup
    lab/lab.sh pin all
fi
run "Token redeem throughput and concurrency vs raw unicodePwd writes" \
    "lab/lab.sh run -- cargo bench --offline --bench redeem" \
    lab/lab.sh run -- cargo bench --locked --offline --bench redeem
run "Audit append rate and verify time" "cargo bench --bench audit" \
    cargo bench --locked --offline --bench audit
run "HTTP: authenticated page at 64 connections" "cargo bench --bench http" \
    cargo bench --locked --offline --bench http
run "In-process pieces (criterion)" "cargo bench --bench inprocess" \
    cargo bench --locked --offline --bench inprocess -- --noplot
run "Instructions per operation (callgrind)" \
    "lab/lab.sh run -- bench/instructions.sh healthz page append raw-lookup lookup" \
    lab/lab.sh run -- bench/instructions.sh healthz page append raw-lookup lookup
cat "$OUT.kept" >>"$OUT.tmp"
rm -f "$OUT.kept"
mv "$OUT.tmp" "$OUT"
step "results in $OUT (the lab stays up for another run: lab/lab.sh down)"

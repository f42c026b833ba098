#!/usr/bin/env bash
# The README's test command: on a fresh Debian 12 machine (as root) it installs what is
# missing, checks formatting and lints, builds (also the Windows client, lab/build-windows-client.sh,
# tested under Wine), brings up the lab (Samba AD DC + second DC +
# third DC the portal is not told about +
# domain-member workstation + OIDC provider + LemonLDAP::NG), and runs every test — SQLite and PostgreSQL —
# inside the lab's mount namespace. Lab tests FAIL here when the lab is missing.
#
#   lab/test.sh                 # everything
#   lab/test.sh -- FILTER       # only tests whose name matches FILTER (lab still started)
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
T0=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - T0 ))"; }

FILTER=()
if [ "${1:-}" = "--" ]; then shift; FILTER=("$@"); fi

step "install what is missing"
lab/install.sh

# The package registries are reachable only outside the lab namespace: build everything first.
step "format and lints"
shellcheck -x -S warning lab/*.sh .ci/run bench/*.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
step "Windows backend of the client type-checks (windows-sys declarations, not linked)"
cargo clippy -p trustdesk-client --all-targets --features windows-typecheck --locked -- -D warnings

step "build"
cargo build --workspace --bins --locked
cargo test --workspace --locked --no-run

# Needs Debian's archive and crates.io, so before the lab. Cold: 5 to 17 min on 2 cores (idle or
# busy); then about 15 s.
step "Windows client: trustdesk-client.exe, run and tested under Wine"
lab/build-windows-client.sh
export TD_CLIENT_EXE=$PWD/target/windows/x86_64-pc-windows-gnu/release/trustdesk-client.exe

export LAB_DIR=${TD_TEST_LAB_DIR:-/tmp/trustdesk-test-lab}
export TD_TEST_PG_URL=${TD_TEST_PG_URL:-postgres://trustdesk:trustdesk@127.0.0.1:5432/postgres}
lab/lab.sh down >/dev/null 2>&1 || true
trap 'step "lab down"; lab/lab.sh down || true' EXIT

step "lab up"
lab/lab.sh up --dc2 --dc3 --forest2 --oidc --llng --computers 3000
lab/lab.sh selftest

step "tests"
lab/lab.sh run -- cargo test --workspace --locked --offline -- --include-ignored "${FILTER[@]}"
step "done"

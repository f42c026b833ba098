# shellcheck shell=bash
# Shared apt helpers of lab/install.sh and lab/build-windows-client.sh (sourced, not run).
# The sourcing script defines: LOG (apt's output goes there), APT_UPDATED=0, ok (one
# progress line) and die (fatal, with its message).

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

# apt-get with a wait on the dpkg/apt locks (another apt may be running): up to ~2 min
apt_run() {
    local i out rc
    for i in $(seq 1 24); do
        out=$(apt-get -o DPkg::Lock::Timeout=5 -o Dpkg::Use-Pty=0 "$@" 2>&1) && rc=0 || rc=$?
        printf '%s\n' "$out" >>"$LOG"
        [ "$rc" = 0 ] && return 0
        if grep -qiE 'could not get lock|unable to lock|is another process using it|dpkg frontend lock' <<<"$out"; then
            [ "$i" = 1 ] && ok "waiting for another apt/dpkg to finish..."
            sleep 5
            continue
        fi
        return "$rc"
    done
    return 1
}

apt_update_once() {
    [ "$APT_UPDATED" = 1 ] && return 0
    ok "apt-get update"
    apt_run update -qq || die "apt-get update failed (its output: $LOG)"
    APT_UPDATED=1
}

#!/bin/bash
# trustdesk lab controller: a throwaway Samba AD domain on loopback for tests and the demo.
#
#   lab/lab.sh up [--dc2] [--no-member] [--oidc] [--llng] [--computers N]
#   lab/lab.sh down | status | selftest
#   lab/lab.sh llng-rotate-keys   # new LL::NG signing key, picked up by the running portal
#   lab/lab.sh run -- CMD [ARGS...]
#   lab/lab.sh pin CPULIST   # the DCs' processes on these CPUs only (taskset); `pin all` undoes
#
# DC1 on 127.0.0.2 (realm LAB.EXAMPLE.TEST, domain LAB), optional DC2 on 127.0.0.4, a Samba
# domain member "workstation" LABWS01 (client address 127.0.0.3, no daemons), optional test
# OpenID Provider on 127.0.0.1:${OIDC_PORT:-9400}, optional LemonLDAP::NG OpenID Provider
# (nginx + FastCGI) on 127.0.0.1:${LLNG_PORT:-18480}. Everything lives in $LAB_DIR
# (default /tmp/trustdesk-lab); `up` writes $LAB_DIR/lab.env for tests to source.
#
# Network rule: lab traffic stays on 127.0.0.0/8. Samba tools only run inside a private
# mount namespace whose /etc/hosts, /etc/resolv.conf (nameserver = DC1) and
# /etc/nsswitch.conf are the lab's; nothing is written to /etc. Daemons are recorded by PID
# in $LAB_DIR/pids and stopped by PID.
#
# Needs root and the packages that lab/install.sh installs.
#
# SC2016: single-quoted scripts for `sh -c` are expanded by that sh, on purpose.
# SC2119: admin_modify/svc_modify read LDIF on stdin; they take no positional arguments here.
# shellcheck disable=SC2016,SC2119
set -euo pipefail

SELF=$(realpath -- "${BASH_SOURCE[0]}")
LAB_ROOT=$(dirname -- "$SELF")
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$LAB_ROOT/lib.sh"
# shellcheck source=selftest.sh source-path=SCRIPTDIR
. "$LAB_ROOT/selftest.sh"
# shellcheck source=fixtures.sh source-path=SCRIPTDIR
. "$LAB_ROOT/fixtures.sh"
lab_settings

usage() {
    cat <<EOF
usage: lab/lab.sh COMMAND

  up [--dc2] [--no-member] [--oidc] [--llng] [--computers N]
          provision and start the lab from scratch in \$LAB_DIR ($LAB_DIR)
            --dc2          also a second DC (dc2, $DC2_IP), replicating both ways
            --no-member    skip the domain member workstation $MEMBER
            --oidc         also the test OpenID Provider on 127.0.0.1:\${OIDC_PORT:-9400}
            --llng         also LemonLDAP::NG (OpenID Provider, AD sign-in) on
                           $LLNG_ISSUER, and its AD users llng-senior/-auditor/-nobody
            --computers N  add N bulk computers PC00001... to OU=Berlin,OU=Workstations,
                           in mixed states (see bulk_fixture in fixtures.sh)
  down    stop everything the lab started (by PID) and remove \$LAB_DIR
  status  show what runs; exit 0 if DC1 answers verified LDAPS
  run -- CMD [ARGS...]
          run CMD in the lab's mount namespace (lab hosts/resolv.conf, lab.env sourced,
          /etc/samba/smb.conf = the member's config); exits with CMD's status
  selftest
          check the running lab; prints PASS:/FAIL: lines and "N passed, N failed"
  llng-rotate-keys
          rotateOidcKeys on the lab's LL::NG configuration, then restart its FastCGI workers
          and wait until JWKS serves the new kid

environment: LAB_DIR (default /tmp/trustdesk-lab), OIDC_PORT (9400), OIDC_REDIRECT_URIS,
  OIDC_POST_LOGOUT_URIS, OIDC_SKIP_CONSENT=1, LAB_DC_IP/LAB_MEMBER_IP/LAB_DC2_IP
  (defaults 127.0.0.2/.3/.4), LAB_ADMIN_PW, LAB_SVC_PW, LLNG_PORT (18480), LLNG_HOST
  (llng.lab.example.test), LLNG_REDIRECT_URIS, LLNG_POST_LOGOUT_URIS,
  LLNG_CLIENT_ID, LLNG_CLIENT_SECRET, LAB_LLNG_USER_PW, LLNG_REQUIRE_PKCE (1),
  LLNG_CHECK_TIME (600), LLNG_LOG_LEVEL (notice), LLNG_NPROC (4)
EOF
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (mount namespaces, Samba DC)"; }
need_cmds() {
    local c missing=""
    for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing="$missing $c"; done
    [ -z "$missing" ] || die "missing commands:$missing (run lab/install.sh)"
}
need_lab() {
    [ -f "$ENVFILE" ] || die "no lab in $LAB_DIR (run: lab/lab.sh up)"
    any_running >/dev/null || die "the lab in $LAB_DIR is not running (run: lab/lab.sh down; lab/lab.sh up)"
}
enter_ns() {  # re-execute this script as "$@" in a private mount namespace
    exec unshare -m --propagation private bash "$SELF" "$@"
}

# =================================================================== up (outer part)
parse_up_args() {
    WITH_DC2=0 WITH_MEMBER=1 WITH_OIDC=0 WITH_LLNG=0 N_BULK=0
    while [ $# -gt 0 ]; do
        case $1 in
            --dc2) WITH_DC2=1 ;;
            --no-member) WITH_MEMBER=0 ;;
            --oidc) WITH_OIDC=1 ;;
            --llng) WITH_LLNG=1 ;;
            --computers) [ $# -ge 2 ] || die "--computers needs a number"; N_BULK=$2; shift ;;
            --computers=*) N_BULK=${1#*=} ;;
            -h | --help) usage; exit 0 ;;
            *) die "up: unknown option '$1' (see lab/lab.sh help)" ;;
        esac
        shift
    done
    case $N_BULK in '' | *[!0-9]*) die "--computers: not a number: '$N_BULK'" ;; esac
    [ "$N_BULK" -le 99999 ] || die "--computers: at most 99999"
}

cmd_up() {
    parse_up_args "$@"
    need_root
    need_cmds samba samba-tool samba_spnupdate net ldapsearch ldapadd ldapmodify openssl unshare \
        setsid iconv base64 od ss awk realpath
    OIDC_PORT=${OIDC_PORT:-9400}
    if [ "$WITH_OIDC" = 1 ]; then
        find_node >/dev/null || die "--oidc needs node >= 20 (run lab/install.sh)"
        [ -d "$OIDC_DIR/node_modules/oidc-provider" ] || die "--oidc: $OIDC_DIR/node_modules missing (run lab/install.sh)"
        case $OIDC_PORT in '' | *[!0-9]*) die "OIDC_PORT must be a number" ;; esac
    fi
    if [ "$WITH_LLNG" = 1 ]; then
        local missing
        missing=$(llng_missing)
        [ -z "$missing" ] || die "--llng: missing$missing (run lab/install.sh)"
        case $LLNG_PORT in '' | 0 | *[!0-9]*) die "LLNG_PORT must be a port number" ;; esac
    fi
    # a lab dir may be reused only when nothing recorded in it still runs
    if [ -e "$LAB_DIR" ]; then
        if any_running >/dev/null; then
            die "a lab is running in $LAB_DIR ($(any_running | tr '\n' ' ')); run 'lab/lab.sh down' first"
        fi
        if [ -f "$MARKER" ] || [ -z "$(ls -A "$LAB_DIR" 2>/dev/null)" ]; then
            rm -rf -- "$LAB_DIR"
        else
            die "$LAB_DIR exists and is not a lab dir; choose another LAB_DIR"
        fi
    fi
    # the addresses must be free (another lab in another LAB_DIR?)
    local ip busy
    for ip in "$DC_IP" $([ "$WITH_DC2" = 1 ] && echo "$DC2_IP"); do
        busy=$(ss -Hltn "src $ip" 2>/dev/null | head -1)
        [ -z "$busy" ] || die "something already listens on $ip ($(awk '{print $4}' <<<"$busy")): another lab? (lab/lab.sh down, or set LAB_DC_IP/LAB_DC2_IP)"
    done
    if [ "$WITH_OIDC" = 1 ] && [ "$OIDC_PORT" != 0 ] && [ -n "$(ss -Hltn "src 127.0.0.1:$OIDC_PORT" 2>/dev/null)" ]; then
        die "127.0.0.1:$OIDC_PORT is in use (set OIDC_PORT)"
    fi
    if [ "$WITH_LLNG" = 1 ] && [ -n "$(ss -Hltn "src 127.0.0.1:$LLNG_PORT" 2>/dev/null)" ]; then
        die "127.0.0.1:$LLNG_PORT is in use (another lab with --llng? set LLNG_PORT)"
    fi
    mkdir -p "$LAB_DIR"
    chmod 755 "$LAB_DIR"
    : >"$MARKER"
    mkdir -p "$PIDS" "$LOGS" "$SECRETS" "$LAB_DIR/member/run-samba"
    chmod 700 "$SECRETS"
    write_name_files
    if [ "$WITH_LLNG" = 1 ]; then printf '127.0.0.1 %s\n' "$LLNG_HOST" >>"$LAB_DIR/hosts"; fi
    export LAB_T0=${LAB_T0:-$(now)} OIDC_PORT
    say "lab up in $LAB_DIR"
    enter_ns __up "$@"
}

# =================================================================== up (inside the namespace)

inner_up() {
    parse_up_args "$@"
    trap 'up_fail "interrupted" ""' INT TERM
    ns_enter
    printf '%s' "$ADMIN_PW" >"$SECRETS/admin.pw"
    printf '%s' "$SVC_PW" >"$SECRETS/svc.pw"
    chmod 600 "$SECRETS"/*.pw
    local log t

    # --- OIDC first: it starts in the background and is awaited at the end
    if [ "$WITH_OIDC" = 1 ]; then
        mkdir -p "$LAB_DIR/oidc"
        export OIDC_PORT OIDC_REDIRECT_URIS=${OIDC_REDIRECT_URIS:-http://127.0.0.1:8080/auth/callback}
        export OIDC_POST_LOGOUT_URIS=${OIDC_POST_LOGOUT_URIS:-http://127.0.0.1:8080/}
        start_daemon oidc "$LAB_DIR/oidc/ready.json" \
            sh -c 'exec "$1" "$2" 2>"$3"' sh "$(find_node)" "$OIDC_DIR/provider.mjs" "$LOGS/oidc.log" >/dev/null \
            || up_fail "cannot start the OIDC provider" "$LOGS/oidc.log"
    fi

    phase "certificates (lab CA, DC1$([ "$WITH_DC2" = 1 ] && echo ", DC2"))"
    make_ca || up_fail "lab CA" "$LOGS/openssl.log"
    make_cert DC1 "dc1.$DNSDOMAIN" "$DC_IP" || up_fail "DC1 certificate" "$LOGS/openssl.log"
    if [ "$WITH_DC2" = 1 ]; then make_cert DC2 "dc2.$DNSDOMAIN" "$DC2_IP" || up_fail "DC2 certificate" "$LOGS/openssl.log"; fi
    phase_done

    phase "provision DC1 ($REALM)"
    log="$LOGS/dc1-provision.log"
    samba-tool domain provision --targetdir="$LAB_DIR/dc1" --realm="$REALM" --domain="$DOMAIN" \
        --server-role=dc --dns-backend=SAMBA_INTERNAL --adminpass="$ADMIN_PW" \
        --host-name=dc1 --host-ip="$DC_IP" --use-rfc2307 \
        --option="interfaces=$DC_IP/8" --option="bind interfaces only=yes" \
        --option="ldb:nosync=true" >"$log" 2>&1 || up_fail "samba-tool domain provision" "$log"
    dc_conf "$LAB_DIR/dc1" "$DC_IP" DC1 DC1
    phase_done

    phase "start DC1 on $DC_IP"
    start_dc dc1 "$DC1_CONF"
    wait_ldap "$DC_IP" 60 || up_fail "DC1 does not answer LDAP" "$LAB_DIR/dc1/log/log.samba"
    wait_ldaps "$DC_IP" 30 || up_fail "DC1 does not answer LDAPS verified with the lab CA" "$LAB_DIR/dc1/log/log.samba"
    # -dnsupdate also disables the SPN update task; without ldap/dc1... SPNs Kerberos to LDAP fails
    samba_spnupdate -s "$DC1_CONF" >"$LOGS/dc1-spnupdate.log" 2>&1 || up_fail "samba_spnupdate" "$LOGS/dc1-spnupdate.log"
    phase_done "samba pid $(cat "$PIDS/dc1.pid")"

    phase "directory content (OUs, computers, $SVC_SAM)"
    create_content
    lockout_policy
    phase_done

    phase "fixture: SILENT-WS01 silent for months (DC1 restarted)"
    silent_fixture
    phase_done

    if [ "$WITH_LLNG" = 1 ]; then
        phase "LL::NG: AD users llng-senior/-auditor/-nobody, groups"
        llng_fixture
        phase_done
    fi

    if [ "$N_BULK" -gt 0 ]; then
        phase "bulk: $N_BULK computers PC00001... in Berlin"
        create_bulk "$N_BULK"
        phase_done "$(awk -v n="$N_BULK" -v t="$(since "$PHASE_T")" 'BEGIN { printf "%.0f/s", n / t }')"
        phase "fixture: bulk computers in mixed states (DC1 restarted)"
        bulk_fixture "$N_BULK"
        phase_done
    fi

    if [ "$WITH_MEMBER" = 1 ]; then
        phase "member $MEMBER joined (OU=Paris)"
        join_member
        phase_done
    fi

    if [ "$WITH_DC2" = 1 ]; then
        phase "DC2 on $DC2_IP (join, start, replicate both ways)"
        start_dc2
        phase_done "samba pid $(cat "$PIDS/dc2.pid")"
    fi

    if [ "$WITH_LLNG" = 1 ]; then
        phase "LL::NG: configuration, FastCGI + nginx on 127.0.0.1:$LLNG_PORT"
        llng_configure
        llng_start
        if ! llng_wait_ready 90; then
            grep -v 'Route "\*" redefined' "$LOGS/llng-fastcgi.log" | grep -m 15 -E '\[(error|warn)\]|line [0-9]+' >"$LOGS/llng-errors.log" || true
            up_fail "LL::NG: discovery at $LLNG_ISSUER does not answer (full log: $LOGS/llng-fastcgi.log)" "$LOGS/llng-errors.log"
        fi
        phase_done "$LLNG_ISSUER"
    fi

    if [ "$WITH_OIDC" = 1 ]; then
        phase "OIDC provider ready"
        t=0
        until grep -q '"ready":true' "$LAB_DIR/oidc/ready.json" 2>/dev/null; do
            running_pid oidc >/dev/null || up_fail "the OIDC provider exited" "$LOGS/oidc.log"
            t=$((t + 1)); [ "$t" -le 300 ] || up_fail "the OIDC provider is not ready after 30 s" "$LOGS/oidc.log"
            sleep 0.1
        done
        OIDC_ISSUER=$(sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p' "$LAB_DIR/oidc/ready.json" | head -1)
        phase_done "$OIDC_ISSUER"
    fi

    write_env
    say "  total $(since "$LAB_T0") s; env: $ENVFILE (source it, or use: lab/lab.sh run -- CMD)"
}

# =================================================================== down / status / run
cmd_down() {
    local t n f
    t=$(now)
    if [ ! -e "$LAB_DIR" ]; then say "lab down: nothing in $LAB_DIR"; return 0; fi
    need_root
    # stop order: LL::NG (nginx, FastCGI), OIDC, DC2, DC1, then anything else recorded
    for n in llng-nginx llng-fcgi oidc dc2 dc1; do stop_daemon "$n"; done
    for f in "$PIDS"/*.pid; do [ -e "$f" ] && stop_daemon "$(basename "$f" .pid)"; done
    if [ -f "$MARKER" ] || [ -z "$(ls -A "$LAB_DIR" 2>/dev/null)" ]; then
        rm -rf -- "$LAB_DIR"
    else
        die "$LAB_DIR is not a lab dir (no $(basename "$MARKER")); not removing it"
    fi
    say "lab down in $(since "$t") s ($LAB_DIR removed)"
}

cmd_status() {
    local rc=0 n pid
    if [ ! -d "$LAB_DIR" ]; then say "no lab in $LAB_DIR"; return 1; fi
    say "lab dir $LAB_DIR"
    for n in dc1 dc2 oidc llng-fcgi llng-nginx; do
        [ -e "$PIDS/$n.pid" ] || continue
        if pid=$(running_pid "$n"); then
            say "  $n: running, pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-70))"
        else
            say "  $n: NOT running (recorded pid $(cat "$PIDS/$n.pid"))"
        fi
    done
    [ -f "$MEMBER_CONF" ] && say "  member $MEMBER: joined, config $MEMBER_CONF (no daemons)"
    if [ -f "$CA" ] && ldap_tls ldapsearch -x -H "ldaps://$DC_IP" -s base -b "" dnsHostName >/dev/null 2>&1; then
        say "  DC1 answers LDAPS on $DC_IP (certificate verified against $CA)"
    else
        say "  DC1 does NOT answer verified LDAPS on $DC_IP"; rc=1
    fi
    if [ -e "$PIDS/llng-nginx.pid" ]; then
        if llng_get /.well-known/openid-configuration 2>/dev/null | grep -qF "\"issuer\":\"$LLNG_ISSUER\""; then
            say "  LL::NG answers discovery at $LLNG_ISSUER (configuration $(llng_conf_latest 2>/dev/null | awk '{print "#" $1 ", kid " $2}'))"
        else
            say "  LL::NG does NOT answer discovery at $LLNG_ISSUER"; rc=1
        fi
    fi
    if [ -f "$ENVFILE" ]; then say "  env: $ENVFILE"; else say "  no lab.env (up not finished?)"; rc=1; fi
    return $rc
}

# The DCs' whole process trees (recorded PIDs and their descendants) on CPULIST: lets a
# benchmark give the DCs cores of their own, as when they are other machines.
cmd_pin() {
    [ $# -eq 1 ] || die "usage: lab/lab.sh pin CPULIST (e.g. 0, or all)"
    local cpus=$1 n pid
    [ "$cpus" = all ] && cpus="0-$(($(nproc) - 1))"
    for n in dc1 dc2; do
        pid=$(running_pid "$n") || continue
        pin_tree "$cpus" "$pid"
        say "  $n (pid $pid and its children) on CPUs $cpus"
    done
}

pin_tree() {  # $1 CPULIST, $2 PID: the process, its threads and its descendants
    local child
    taskset -a -c -p "$1" "$2" >/dev/null || die "taskset -c $1 $2 failed"
    for child in $(pgrep -P "$2"); do pin_tree "$1" "$child"; done
}

cmd_run() {
    [ "${1:-}" = -- ] && shift
    [ $# -gt 0 ] || die "usage: lab/lab.sh run -- CMD [ARGS...]"
    need_root
    need_lab
    enter_ns __run "$@"
}
inner_run() {
    ns_enter_member
    # shellcheck source=/dev/null
    . "$ENVFILE"
    exec "$@"
}

# =================================================================== LL::NG key rotation
# rotateOidcKeys (LL::NG's own script) writes lmConf-N+1.json with a new RS256 key and kid;
# it runs as www-data so the new file stays readable by the portal. A running worker would
# see it only at its next configuration check (checkTime, $LLNG_CHECK_TIME s here; 600 s is
# LL::NG's default), so the FastCGI manager gets SIGHUP: it TERMs its workers (each finishes
# its request) and forks new ones, which load the newest configuration on their first request.
cmd_llng_rotate() {
    need_root
    need_lab
    running_pid llng-fcgi >/dev/null || die "LL::NG does not run in $LAB_DIR (lab/lab.sh up --llng)"
    enter_ns __llng_rotate
}
inner_llng_rotate() {
    ns_enter
    local t old new num pid i same=0 log="$LOGS/llng-rotate.log"
    t=$(now)
    old=$(llng_jwks_kids 2>/dev/null) || old="?"
    llng_env runuser -u www-data -- perl "$LLNG_ROTATE" >>"$log" 2>&1 || { showlog "$log"; die "rotateOidcKeys failed"; }
    read -r num new <<<"$(llng_conf_latest)"
    if [ -z "$new" ] || [ "$new" = "$old" ]; then die "rotateOidcKeys wrote no new kid (configuration $num, kid '$new')"; fi
    pid=$(running_pid llng-fcgi) || die "llng-fastcgi-server is not running"
    kill -HUP "$pid"
    # every worker must serve it: several answers in a row with the new kid only
    for i in $(seq 1 300); do
        if [ "$(llng_jwks_kids 2>/dev/null)" = "$new" ]; then
            same=$((same + 1)); [ "$same" -ge $((2 * LLNG_NPROC)) ] && break
        else
            same=0
        fi
        sleep 0.1
    done
    [ "$same" -ge $((2 * LLNG_NPROC)) ] || die "JWKS still does not serve kid $new after 30 s (see $LOGS/llng-fastcgi.log)"
    say "LL::NG signing key rotated: kid $old -> $new (configuration #$num); JWKS serves it after $(since "$t") s"
}

# =================================================================== selftest
cmd_selftest() {
    need_root
    need_lab
    enter_ns __selftest
}

# =================================================================== main
cmd=${1:-help}
[ $# -gt 0 ] && shift
case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    run) cmd_run "$@" ;;
    pin) cmd_pin "$@" ;;
    selftest) cmd_selftest ;;
    llng-rotate-keys) cmd_llng_rotate ;;
    __llng_rotate) inner_llng_rotate ;;
    __up) inner_up "$@" ;;
    __run) inner_run "$@" ;;
    __selftest) inner_selftest ;;
    help | -h | --help) usage ;;
    *) usage >&2; exit 2 ;;
esac

#!/bin/bash
# trustdesk lab controller: a throwaway Samba AD domain on loopback for tests and the demo.
#
#   lab/lab.sh up [--dc2] [--dc3] [--forest2] [--no-member] [--oidc] [--llng] [--computers N] [--forest2-computers N]
#   lab/lab.sh down | status | selftest
#   lab/lab.sh dc-stop NAME | dc-start NAME   # NAME dc1/dc2/dc3: stop/start that DC's samba, data kept
#   lab/lab.sh member-secrets [--member M] save|restore [SNAP]   # copy of the member's private dir (secrets.tdb ...)
#   lab/lab.sh member-rotate [--member M] [--ads] [--server DC]   # the member changes its own machine password
#   lab/lab.sh member-testjoin [--member M] [--ads|--kerberos] [--server DC] # its channel / logon; exit 0 = OK
#   lab/lab.sh llng-rotate-keys   # new LL::NG signing key, picked up by the running portal
#   lab/lab.sh run [--member M] -- CMD [ARGS...]
#   (M: lab = LABWS01, the default; f2 = F2WS01, the second forest's member with --forest2)
#   lab/lab.sh pin CPULIST   # the DCs' processes on these CPUs only (taskset); `pin all` undoes
#
# DC1 on 127.0.0.2 (realm LAB.EXAMPLE.TEST, domain LAB), optional DC2 on 127.0.0.4, optional
# DC3 on 127.0.0.5 (a DC of the domain like any other, which the portal is never told about:
# no ldap.urls the lab writes names it), a Samba domain member "workstation" LABWS01
# (client address 127.0.0.3, no daemons), an optional second forest FOREST2.EXAMPLE.TEST
# (f2dc1 on 127.0.0.6, its member F2WS01 with client address 127.0.0.7), optional test
# OpenID Provider on 127.0.0.1:${OIDC_PORT:-9400}, optional LemonLDAP::NG OpenID Provider
# (nginx + FastCGI) on 127.0.0.1:${LLNG_PORT:-18480}. Everything lives in $LAB_DIR
# (default /tmp/trustdesk-lab); `up` writes $LAB_DIR/lab.env for tests to source.
#
# Network rule: lab traffic stays on 127.0.0.0/8. Samba tools only run inside a private
# mount namespace whose /etc/hosts, /etc/resolv.conf (nameserver = DC1) and
# /etc/nsswitch.conf are the lab's; nothing is written to /etc. Daemons are recorded by PID
# in $LAB_DIR/pids and stopped by PID. Every command also works from inside `lab.sh run`
# (tests call "$LAB_SCRIPT" dc-stop dc3 ...): it re-enters a namespace of its own as needed.
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

  up [--dc2] [--dc3] [--forest2] [--no-member] [--oidc] [--llng] [--computers N] [--forest2-computers N]
          provision and start the lab from scratch in \$LAB_DIR ($LAB_DIR)
            --dc2          also a second DC (dc2, $DC2_IP), replicating both ways
            --dc3          also a third DC (dc3, $DC3_IP), joined like dc2 (after it, when both),
                           replicating both ways; the portal is never told about it (lab.env:
                           LAB_DC3_*, LAB_DC3_KRB5_CONF = a krb5.conf whose only KDC is dc3)
            --forest2      also a second, separate forest $F2_REALM: one DC (f2dc1,
                           $F2_IP) with its own CA, service account and computers, some
                           named as in the first, and its own domain member workstation
                           $F2_MEMBER ($F2_MEMBER_IP, OU=Paris; --member f2 below)
                           (lab.env: LAB_F2_*, LAB_F2_MEMBER_*, LAB_F2_KRB5_CONF)
            --no-member    skip the domain member workstations ($MEMBER, $F2_MEMBER)
            --oidc         also the test OpenID Provider on 127.0.0.1:\${OIDC_PORT:-9400}
            --llng         also LemonLDAP::NG (OpenID Provider, AD sign-in) on
                           $LLNG_ISSUER, and its AD users llng-senior/-auditor/-nobody
            --computers N  add N bulk computers PC00001... to OU=Berlin,OU=Workstations,
                           in mixed states (see bulk_fixture in fixtures.sh)
            --forest2-computers N
                           with --forest2: N bulk computers PC00001... in the second
                           forest's OU=Berlin too (for the two-forest fleet benchmark)
  down    stop everything the lab started (by PID) and remove \$LAB_DIR
  status  show what runs; exit 0 if DC1 answers verified LDAPS
  cert NAME HOST IP
          issue a server certificate for HOST and IP from the lab CA; prints the paths of
          \$LAB_DIR/tls/NAME.pem and NAME.key (lab/demo.sh serves HTTPS with it)
  run [--member M] -- CMD [ARGS...]
          run CMD in the lab's mount namespace (lab hosts/resolv.conf, lab.env sourced,
          /etc/samba/smb.conf = the member's config); exits with CMD's status.
          --member f2: as $F2_MEMBER instead (its config as /etc/samba/smb.conf, its own
          /run/samba, KRB5_CONFIG = \$LAB_F2_KRB5_CONF whose KDC is f2dc1)
  selftest
          check the running lab; prints PASS:/FAIL: lines and "N passed, N failed"
  dc-stop NAME
          NAME dc1, dc2 or dc3: stop that DC's samba (by its recorded PID), keeping its data;
          returns once nothing listens on its address (connections are refused)
  dc-start NAME
          start that DC's samba again; returns once it answers verified LDAPS (no-op if it runs)
  member-secrets [--member M] save [SNAP] | restore [SNAP] | list
          copy $MEMBER's (--member f2: $F2_MEMBER's) private dir (secrets.tdb: machine
          password, previous password, netlogon_creds_cli.tdb) to a snapshot SNAP (default
          "default"), or put it back: a "VM reverted to a snapshot"
  member-rotate [--member M] [--ads] [--server DC]
          $MEMBER changes its own machine password at DC (dc1, dc2, dc3 or a host name;
          default dc1): net rpc changetrustpw -S DC (--ads: net ads changetrustpw).
          --member f2: $F2_MEMBER, at f2dc1 (the default there; DC f2dc1 or a host name)
  member-testjoin [--member M] [--ads | --kerberos] [--server DC]
          test $MEMBER's (--member f2: $F2_MEMBER's) secure channel to DC (default dc1;
          f2dc1 for f2): net rpc testjoin -S DC (NETLOGON schannel); exit status 0 = OK.
          --ads: net ads testjoin, which falls back to NTLM, where the DC accepts the
          previous password for an hour (a stale secret passes). --kerberos: only a Kerberos
          logon at DC with the stored secret (net ads kerberos kinit -P; no fallback; the
          ticket is thrown away)
  llng-rotate-keys
          rotateOidcKeys on the lab's LL::NG configuration, then restart its FastCGI workers
          and wait until JWKS serves the new kid

Every command works from outside and from inside "lab.sh run" (lab.env: LAB_SCRIPT=$SELF).

environment: LAB_DIR (default /tmp/trustdesk-lab), OIDC_PORT (9400), OIDC_REDIRECT_URIS,
  OIDC_POST_LOGOUT_URIS, OIDC_SKIP_CONSENT=1, LAB_DC_IP/LAB_MEMBER_IP/LAB_DC2_IP/LAB_DC3_IP/
  LAB_F2_IP/LAB_F2_MEMBER_IP (defaults 127.0.0.2/.3/.4/.5/.6/.7), LAB_ADMIN_PW, LAB_SVC_PW,
  LLNG_PORT (18480), LLNG_HOST (llng.lab.example.test), LLNG_REDIRECT_URIS,
  LLNG_POST_LOGOUT_URIS, LLNG_CLIENT_ID, LLNG_CLIENT_SECRET, LAB_LLNG_USER_PW, LLNG_REQUIRE_PKCE (1),
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
    WITH_DC2=0 WITH_DC3=0 WITH_MEMBER=1 WITH_OIDC=0 WITH_LLNG=0 WITH_F2=0 N_BULK=0 N_F2_BULK=0
    while [ $# -gt 0 ]; do
        case $1 in
            --dc2) WITH_DC2=1 ;;
            --dc3) WITH_DC3=1 ;;
            --forest2) WITH_F2=1 ;;
            --no-member) WITH_MEMBER=0 ;;
            --oidc) WITH_OIDC=1 ;;
            --llng) WITH_LLNG=1 ;;
            --computers) [ $# -ge 2 ] || die "--computers needs a number"; N_BULK=$2; shift ;;
            --computers=*) N_BULK=${1#*=} ;;
            --forest2-computers) [ $# -ge 2 ] || die "--forest2-computers needs a number"; N_F2_BULK=$2; shift ;;
            --forest2-computers=*) N_F2_BULK=${1#*=} ;;
            -h | --help) usage; exit 0 ;;
            *) die "up: unknown option '$1' (see lab/lab.sh help)" ;;
        esac
        shift
    done
    case $N_BULK in '' | *[!0-9]*) die "--computers: not a number: '$N_BULK'" ;; esac
    [ "$N_BULK" -le 99999 ] || die "--computers: at most 99999"
    case $N_F2_BULK in '' | *[!0-9]*) die "--forest2-computers: not a number: '$N_F2_BULK'" ;; esac
    [ "$N_F2_BULK" -le 99999 ] || die "--forest2-computers: at most 99999"
    [ "$N_F2_BULK" = 0 ] || [ "$WITH_F2" = 1 ] || die "--forest2-computers needs --forest2"
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
    for ip in "$DC_IP" $([ "$WITH_DC2" = 1 ] && echo "$DC2_IP") $([ "$WITH_DC3" = 1 ] && echo "$DC3_IP") $([ "$WITH_F2" = 1 ] && echo "$F2_IP"); do
        busy=$(ss -Hltn "src $ip" 2>/dev/null | head -1)
        [ -z "$busy" ] || die "something already listens on $ip ($(awk '{print $4}' <<<"$busy")): another lab? (lab/lab.sh down, or set LAB_DC_IP/LAB_DC2_IP/LAB_DC3_IP)"
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
    mkdir -p "$PIDS" "$LOGS" "$SECRETS" "$MEMBER_DIR/run-samba"
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
    local t

    # --- OIDC first: it starts in the background and is awaited at the end
    if [ "$WITH_OIDC" = 1 ]; then
        mkdir -p "$LAB_DIR/oidc"
        export OIDC_PORT OIDC_REDIRECT_URIS=${OIDC_REDIRECT_URIS:-http://127.0.0.1:8080/auth/callback}
        export OIDC_POST_LOGOUT_URIS=${OIDC_POST_LOGOUT_URIS:-http://127.0.0.1:8080/}
        start_daemon oidc "$LAB_DIR/oidc/ready.json" \
            sh -c 'exec "$1" "$2" 2>"$3"' sh "$(find_node)" "$OIDC_DIR/provider.mjs" "$LOGS/oidc.log" >/dev/null \
            || up_fail "cannot start the OIDC provider" "$LOGS/oidc.log"
    fi

    phase "certificates (lab CA, DC1$([ "$WITH_DC2" = 1 ] && echo ", DC2")$([ "$WITH_DC3" = 1 ] && echo ", DC3"))"
    make_ca || up_fail "lab CA" "$LOGS/openssl.log"
    make_cert DC1 "dc1.$DNSDOMAIN" "$DC_IP" || up_fail "DC1 certificate" "$LOGS/openssl.log"
    if [ "$WITH_DC2" = 1 ]; then make_cert DC2 "dc2.$DNSDOMAIN" "$DC2_IP" || up_fail "DC2 certificate" "$LOGS/openssl.log"; fi
    if [ "$WITH_DC3" = 1 ]; then make_cert DC3 "dc3.$DNSDOMAIN" "$DC3_IP" || up_fail "DC3 certificate" "$LOGS/openssl.log"; fi
    phase_done

    phase "provision DC1 ($REALM)"
    provision_forest_dc dc1 DC1
    phase_done

    phase "start DC1 on $DC_IP"
    start_dc dc1 "$DC1_CONF" || up_fail "cannot start dc1" "$LAB_DIR/dc1/log/samba.stdout"
    wait_ldap "$DC_IP" 60 || up_fail "DC1 does not answer LDAP" "$LAB_DIR/dc1/log/log.samba"
    wait_dc "$DC_IP" 30 || up_fail "DC1 does not answer LDAPS verified with the lab CA (or Kerberos/RPC/SMB)" "$LAB_DIR/dc1/log/log.samba"
    # -dnsupdate also disables the SPN update task; without ldap/dc1... SPNs Kerberos to LDAP fails
    samba_spnupdate -s "$DC1_CONF" >"$LOGS/dc1-spnupdate.log" 2>&1 || up_fail "samba_spnupdate" "$LOGS/dc1-spnupdate.log"
    phase_done "samba pid $(cat "$PIDS/dc1.pid")"

    phase "directory content (OUs, computers, $SVC_SAM)"
    create_content
    lockout_policy
    phase_done

    phase "fixture: tier-0-equivalent servers (delegation, Cert Publishers through a nested group)"
    tier0_fixture
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
        join_dc dc2 "$DC2_IP"
        phase_done "samba pid $(cat "$PIDS/dc2.pid")"
    fi

    if [ "$WITH_DC3" = 1 ]; then
        phase "DC3 on $DC3_IP (join, start, replicate both ways)"
        join_dc dc3 "$DC3_IP"
        phase_done "samba pid $(cat "$PIDS/dc3.pid")"
    fi

    if [ "$WITH_F2" = 1 ]; then
        phase "second forest $F2_REALM on $F2_IP (own CA, provision, start, content)"
        forest2_up || up_fail "the second forest" ""
        phase_done "samba pid $(cat "$PIDS/f2dc1.pid")"
        if [ "$N_F2_BULK" -gt 0 ]; then
            phase "second forest bulk: $N_F2_BULK computers PC00001... in Berlin"
            (forest2_settings && create_bulk "$N_F2_BULK") || up_fail "the second forest's bulk computers" ""
            phase_done "$(awk -v n="$N_F2_BULK" -v t="$(since "$PHASE_T")" 'BEGIN { printf "%.0f/s", n / t }')"
        fi
        if [ "$WITH_MEMBER" = 1 ]; then
            phase "member $F2_MEMBER of $F2_REALM joined (OU=Paris)"
            forest2_member_up || up_fail "the second forest's member $F2_MEMBER" ""
            phase_done
        fi
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
    # stop order: LL::NG (nginx, FastCGI), OIDC, forest 2, DC3, DC2, DC1, then anything else
    for n in llng-nginx llng-fcgi oidc f2dc1 dc3 dc2 dc1; do stop_daemon "$n"; done
    for f in "$PIDS"/*.pid; do [ -e "$f" ] && stop_daemon "$(basename "$f" .pid)"; done
    if [ -f "$MARKER" ] || [ -z "$(ls -A "$LAB_DIR" 2>/dev/null)" ]; then
        rm -rf -- "$LAB_DIR"
    else
        die "$LAB_DIR is not a lab dir (no $(basename "$MARKER")); not removing it"
    fi
    say "lab down in $(since "$t") s ($LAB_DIR removed)"
}

cmd_status() {
    local rc=0 n pid ip
    if [ ! -d "$LAB_DIR" ]; then say "no lab in $LAB_DIR"; return 1; fi
    say "lab dir $LAB_DIR"
    for n in dc1 dc2 dc3 f2dc1 oidc llng-fcgi llng-nginx; do
        if [ ! -e "$PIDS/$n.pid" ]; then
            case $n in dc?) [ -f "$LAB_DIR/$n/etc/smb.conf" ] && say "  $n: stopped (lab/lab.sh dc-start $n)" ;; esac
            continue
        fi
        if pid=$(running_pid "$n"); then
            say "  $n: running, pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-70))"
        else
            say "  $n: NOT running (recorded pid $(cat "$PIDS/$n.pid"))"
        fi
    done
    for n in lab f2; do
        (select_member "$n" && [ -f "$MEMBER_CONF" ] && say "  member $MEMBER: joined, config $MEMBER_CONF (no daemons)") || true
    done
    if [ -f "$CA" ] && ldap_tls ldapsearch -x -H "ldaps://$DC_IP" -s base -b "" dnsHostName >/dev/null 2>&1; then
        say "  DC1 answers LDAPS on $DC_IP (certificate verified against $CA)"
    else
        say "  DC1 does NOT answer verified LDAPS on $DC_IP"; rc=1
    fi
    for n in dc2 dc3; do   # informational: a DC may be stopped on purpose (dc-stop)
        if [ ! -f "$LAB_DIR/$n/etc/smb.conf" ] || [ ! -f "$CA" ]; then continue; fi
        ip=$(dc_ip "$n")
        if ldap_tls ldapsearch -x -H "ldaps://$ip" -s base -b "" dnsHostName >/dev/null 2>&1; then
            say "  ${n^^} answers LDAPS on $ip (certificate verified)"
        else say "  ${n^^} does not answer LDAPS on $ip"; fi
    done
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
    for n in dc1 dc2 dc3; do
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

cmd_cert() {  # NAME HOST IP: a server certificate from the lab CA (the demo portal's HTTPS)
    [ $# = 3 ] || die "usage: lab/lab.sh cert NAME HOST IP"
    case $1 in *[!A-Za-z0-9_-]* | "") die "cert: NAME is letters, digits, - and _" ;; esac
    need_lab
    make_cert "$1" "$2" "$3" || { showlog "$LOGS/openssl.log"; die "cannot issue the certificate $1"; }
    printf '%s\n%s\n' "$TLS/$1.pem" "$TLS/$1.key"
}
cmd_run() {
    take_member_opts "$@"
    set -- "${ARGS[@]}"
    [ "${1:-}" = -- ] && shift
    [ $# -gt 0 ] || die "usage: lab/lab.sh run [--member lab|f2] -- CMD [ARGS...]"
    need_root
    need_lab
    if [ "$MEMBER_SEL" != lab ]; then member_private >/dev/null; fi
    enter_ns __run --member "$MEMBER_SEL" -- "$@"
}
inner_run() {
    take_member_opts "$@"
    set -- "${ARGS[@]}"
    [ "${1:-}" = -- ] && shift
    ns_enter_member
    # shellcheck source=/dev/null
    . "$ENVFILE"
    export KRB5_CONFIG="$KRB5_CONF"   # lab.env names the first forest's; --member f2: f2dc1's
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

# =================================================================== DCs: stop / start one
# A DC "down" for a while (maintenance, crash): its samba stopped by its recorded PID, its
# database and configuration kept. Nothing listens on its address afterwards, so a
# connection there is refused at once. dc-start brings it back with the same data; the
# other DCs replicate to it and from it again at their next attempts.
dc_arg() {  # validates $1 as a DC of this lab; prints its name
    case ${1:-} in dc1 | dc2 | dc3) ;; *) die "usage: lab/lab.sh dc-stop|dc-start dc1|dc2|dc3" ;; esac
    [ -f "$LAB_DIR/$1/etc/smb.conf" ] || die "$1 is not part of the lab in $LAB_DIR (up --${1}?)"
    printf '%s\n' "$1"
}
cmd_dc_stop() {
    [ $# -eq 1 ] || die "usage: lab/lab.sh dc-stop dc1|dc2|dc3"
    need_root
    [ -f "$ENVFILE" ] || die "no lab in $LAB_DIR (run: lab/lab.sh up)"
    local n ip pid i t
    n=$(dc_arg "$1")
    ip=$(dc_ip "$n")
    t=$(now)
    if ! pid=$(running_pid "$n"); then say "$n: not running"; return 0; fi
    stop_daemon "$n"
    for i in $(seq 1 100); do   # the listeners go with the processes; make sure
        [ -z "$(ss -Hltn "src $ip" 2>/dev/null)" ] && break
        sleep 0.1
    done
    [ -z "$(ss -Hltn "src $ip" 2>/dev/null)" ] || die "$n stopped (pid $pid) but something still listens on $ip"
    say "$n stopped (pid $pid) in $(since "$t") s; nothing listens on $ip (data kept in $LAB_DIR/$n; lab/lab.sh dc-start $n)"
}
cmd_dc_start() {
    [ $# -eq 1 ] || die "usage: lab/lab.sh dc-start dc1|dc2|dc3"
    need_root
    [ -f "$ENVFILE" ] || die "no lab in $LAB_DIR (run: lab/lab.sh up)"
    dc_arg "$1" >/dev/null
    enter_ns __dc_start "$1"
}
inner_dc_start() {
    ns_enter
    local n=$1 ip pid t
    ip=$(dc_ip "$n")
    t=$(now)
    if pid=$(running_pid "$n"); then say "$n: already running (pid $pid)"; return 0; fi
    [ -z "$(ss -Hltn "src $ip" 2>/dev/null)" ] || die "something else listens on $ip; not starting $n"
    start_dc "$n" "$LAB_DIR/$n/etc/smb.conf" || { showlog "$LAB_DIR/$n/log/samba.stdout"; die "cannot start $n"; }
    if ! wait_dc "$ip" 60; then
        showlog "$LAB_DIR/$n/log/log.samba"
        die "$n (pid $(cat "$PIDS/$n.pid" 2>/dev/null)) does not answer verified LDAPS (or Kerberos/RPC/SMB) on $ip after 60 s"
    fi
    say "$n started (pid $(cat "$PIDS/$n.pid")) in $(since "$t") s; answers verified LDAPS on $ip"
}

# =================================================================== the member's secrets
# "The VM was reverted to a snapshot": save copies the member's whole private dir (Samba
# keeps the machine password, the previous one and their metadata in secrets.tdb, the
# NETLOGON session credentials in netlogon_creds_cli.tdb); restore puts the copy back, so
# the member holds the password it had at save time again. No daemons run for the member,
# so plain copies are consistent.
member_private() {  # the member's private dir, from its smb.conf
    local d
    [ -f "$MEMBER_CONF" ] || die "no member $MEMBER in the lab in $LAB_DIR (up without --no-member$([ "$MEMBER_SEL" = f2 ] && echo ", with --forest2"))"
    d=$(sed -n 's|^[[:space:]]*private dir = \(.*\)$|\1|p' "$MEMBER_CONF" | head -1)
    if [ -z "$d" ] || [ ! -d "$d" ]; then die "no private dir in $MEMBER_CONF"; fi
    printf '%s\n' "$d"
}
cmd_member_secrets() {
    take_member_opts "$@"
    set -- "${ARGS[@]}"
    local op=${1:-} snap=${2:-default} priv dst
    need_root
    case $snap in '' | *[!A-Za-z0-9._-]* | .*) die "member-secrets: snapshot name: letters, digits, . _ - only" ;; esac
    priv=$(member_private)
    dst="$MEMBER_SNAPSHOTS/$snap"
    case $op in
        save)
            mkdir -p "$MEMBER_SNAPSHOTS"
            chmod 700 "$MEMBER_SNAPSHOTS"
            rm -rf -- "$dst.tmp"
            cp -a -- "$priv" "$dst.tmp"
            rm -rf -- "$dst"
            mv -- "$dst.tmp" "$dst"
            say "member-secrets: saved $priv (files:$(find "$dst" -mindepth 1 -maxdepth 1 -printf ' %f')) as snapshot '$snap'"
            ;;
        restore)
            [ -d "$dst" ] || die "member-secrets: no snapshot '$snap' (member-secrets save $snap first)"
            rm -rf -- "$priv.new" "$priv.old"
            cp -a -- "$dst" "$priv.new"
            mv -- "$priv" "$priv.old"
            mv -- "$priv.new" "$priv"
            rm -rf -- "$priv.old"
            say "member-secrets: restored snapshot '$snap' into $priv"
            ;;
        list)
            [ -d "$MEMBER_SNAPSHOTS" ] && ls -1 "$MEMBER_SNAPSHOTS"
            return 0
            ;;
        *) die "usage: lab/lab.sh member-secrets [--member lab|f2] save [SNAP] | restore [SNAP] | list" ;;
    esac
}

# =================================================================== the member's own rotation / channel test
# As the workstation does it, in the `run` view (/etc/samba/smb.conf = the member's
# config), with -s member.conf and the DC named explicitly (-S): Samba's own DC discovery
# for this member (password server = DC1's IP) is not what these test. `net rpc` talks
# NETLOGON to that DC only. `net ads changetrustpw` sends its kpasswd request to the KDC of
# krb5.conf whatever -S says, so for dc2/dc3 KRB5_CONFIG is that DC's single-KDC krb5.conf
# (else the change would land on DC1); see inner_member_net for `net ads` and its DC cache.
member_net_args() {  # parses [--member M] [--ads|--kerberos] [--server DC]: sets NET_VIA (rpc/ads/krb), NET_SERVER (a host name)
    NET_VIA=rpc NET_SERVER=""
    while [ $# -gt 0 ]; do
        case $1 in
            --member) [ $# -ge 2 ] || die "--member needs a name (lab or f2)"; select_member "$2"; shift ;;
            --member=*) select_member "${1#*=}" ;;
            --ads) NET_VIA=ads ;;
            --rpc) NET_VIA=rpc ;;
            --kerberos) NET_VIA=krb ;;
            --server) [ $# -ge 2 ] || die "--server needs a DC"; NET_SERVER=$2; shift ;;
            --server=*) NET_SERVER=${1#*=} ;;
            *) die "unknown option '$1' (member-rotate [--member M] [--ads] [--server DC], member-testjoin [--member M] [--ads|--kerberos] [--server DC])" ;;
        esac
        shift
    done
    # (the member's own forest: dc1.lab.example.test, or with --member f2 f2dc1.forest2.example.test)
    case $NET_SERVER in "") NET_SERVER=$DC_HOST ;; dc[123] | f2dc1) NET_SERVER="$NET_SERVER.$DNSDOMAIN" ;; esac
}
cmd_member_net() {  # $1 rotate|testjoin, rest: options
    local what=$1
    shift
    need_root
    [ -f "$ENVFILE" ] || die "no lab in $LAB_DIR (run: lab/lab.sh up)"
    member_net_args "$@"
    member_private >/dev/null
    if [ "$what" = rotate ] && [ "$NET_VIA" = krb ]; then die "member-rotate: --ads or NETLOGON (default), not --kerberos"; fi
    enter_ns __member_net "$what" "$@"
}
inner_member_net() {
    local what=$1
    shift
    member_net_args "$@"
    ns_enter_member
    case $NET_SERVER in
        "dc2.$DNSDOMAIN" | "$DC2_IP") [ -f "$DC2_KRB5" ] && export KRB5_CONFIG="$DC2_KRB5" ;;
        "dc3.$DNSDOMAIN" | "$DC3_IP") [ -f "$DC3_KRB5" ] && export KRB5_CONFIG="$DC3_KRB5" ;;
    esac
    # `net ads` finds its KDC and LDAP server through its server affinity cache (SAFJOIN/SAF:
    # the DC of the join, of the last success), then `password server`, and writes them into
    # the krb5.conf it generates for itself, whatever -S and KRB5_CONFIG say: so the cache
    # entries go, and password server = DC
    local k
    for k in "SAFJOIN/DOMAIN/$DOMAIN" "SAFJOIN/DOMAIN/$REALM" "SAF/DOMAIN/$DOMAIN" "SAF/DOMAIN/$REALM"; do
        net cache del "$k" -s "$MEMBER_CONF" >/dev/null 2>&1 || true
    done
    case $what:$NET_VIA in
        rotate:*) exec net "$NET_VIA" changetrustpw -s "$MEMBER_CONF" -S "$NET_SERVER" --option="password server=$NET_SERVER" ;;
        testjoin:krb)   # exit 24 (NT_STATUS_LOGON_FAILURE) when the KDC refuses the stored secret
            KRB5CCNAME="MEMORY:lab-member-testjoin" exec net ads kerberos kinit -P -s "$MEMBER_CONF" -S "$NET_SERVER" \
                --option="password server=$NET_SERVER" ;;
        testjoin:*) exec net "$NET_VIA" testjoin -s "$MEMBER_CONF" -S "$NET_SERVER" --option="password server=$NET_SERVER" ;;
    esac
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
    cert) cmd_cert "$@" ;;
    pin) cmd_pin "$@" ;;
    selftest) cmd_selftest ;;
    llng-rotate-keys) cmd_llng_rotate ;;
    dc-stop) cmd_dc_stop "$@" ;;
    dc-start) cmd_dc_start "$@" ;;
    member-secrets) cmd_member_secrets "$@" ;;
    member-rotate) cmd_member_net rotate "$@" ;;
    member-testjoin) cmd_member_net testjoin "$@" ;;
    __dc_start) inner_dc_start "$@" ;;
    __member_net) inner_member_net "$@" ;;
    __llng_rotate) inner_llng_rotate ;;
    __up) inner_up "$@" ;;
    __run) inner_run "$@" ;;
    __selftest) inner_selftest ;;
    help | -h | --help) usage ;;
    *) usage >&2; exit 2 ;;
esac

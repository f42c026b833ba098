# shellcheck shell=bash
# trustdesk lab: helpers and the steps of `up`, sourced by lab.sh (not run on its own).
# SC2119: admin_modify/svc_modify read LDIF on stdin; SC2016: `sh -c` scripts in single quotes.
# shellcheck disable=SC2016,SC2119
#
# Conventions: every function here works on the globals set by lab_settings; nothing in
# here touches /etc (the lab's hosts, resolv.conf and nsswitch.conf are bind-mounted over
# /etc only inside private mount namespaces, see ns_enter).

# ------------------------------------------------------------------ settings
# (globals for lab.sh: shellcheck cannot see their use from here)
# shellcheck disable=SC2034
lab_settings() {
    LAB_DIR=${LAB_DIR:-/tmp/trustdesk-lab}
    case $LAB_DIR in /*) ;; *) LAB_DIR="$PWD/$LAB_DIR" ;; esac
    LAB_DIR=$(realpath -m -- "$LAB_DIR")
    REALM=LAB.EXAMPLE.TEST
    DOMAIN=LAB
    DNSDOMAIN=lab.example.test
    BASEDN=DC=lab,DC=example,DC=test
    DC_IP=${LAB_DC_IP:-127.0.0.2}
    MEMBER_IP=${LAB_MEMBER_IP:-127.0.0.3}
    DC2_IP=${LAB_DC2_IP:-127.0.0.4}
    DC3_IP=${LAB_DC3_IP:-127.0.0.5}
    # --forest2: a second, separate forest (its own realm, CA, service account and computers,
    # some named as in the first), for trustdesk's several managed domains
    F2_IP=${LAB_F2_IP:-127.0.0.6}
    F2_REALM=FOREST2.EXAMPLE.TEST
    F2_DOMAIN=FOREST2
    F2_DNSDOMAIN=forest2.example.test
    F2_BASEDN=DC=forest2,DC=example,DC=test
    F2_TLS="$LAB_DIR/tls-forest2"
    # its domain member workstation (no daemons), in its OU=Paris like LABWS01 in the first
    F2_MEMBER=F2WS01
    F2_MEMBER_IP=${LAB_F2_MEMBER_IP:-127.0.0.7}
    F2_MEMBER_DIR="$LAB_DIR/member-f2"
    F2_KRB5="$LAB_DIR/krb5-forest2.conf"   # its only KDC (and kpasswd server) is f2dc1
    DC_HOST="dc1.$DNSDOMAIN"   # the forest's first DC, by name
    KRB5_CONF="$LAB_DIR/krb5.conf"   # KRB5_CONFIG in the lab namespaces (the forest's KDC)
    MEMBER=LABWS01
    ADMIN_UPN="Administrator@$DNSDOMAIN"
    ADMIN_PW=${LAB_ADMIN_PW:-'Passw0rd!Lab'}
    SVC_SAM=svc-trustdesk
    SVC_DN="CN=$SVC_SAM,CN=Users,$BASEDN"
    SVC_UPN="$SVC_SAM@$DNSDOMAIN"
    SVC_PW=${LAB_SVC_PW:-'Svc-Passw0rd!Lab'}
    PIDS="$LAB_DIR/pids"
    LOGS="$LAB_DIR/logs"
    TLS="$LAB_DIR/tls"
    SECRETS="$LAB_DIR/secrets"
    CA="$TLS/ca.pem"
    ENVFILE="$LAB_DIR/lab.env"
    MARKER="$LAB_DIR/.trustdesk-lab"
    DC1_CONF="$LAB_DIR/dc1/etc/smb.conf"
    DC2_CONF="$LAB_DIR/dc2/etc/smb.conf"
    DC3_CONF="$LAB_DIR/dc3/etc/smb.conf"
    # per-DC krb5.conf: that DC is the only KDC (kinit there to log on AT that DC)
    DC2_KRB5="$LAB_DIR/krb5-dc2.conf"
    DC3_KRB5="$LAB_DIR/krb5-dc3.conf"
    MEMBER_DIR="$LAB_DIR/member"
    member_paths
    MEMBER_SEL=lab   # the domain member the member commands and `run` act as (--member)
    OIDC_DIR="$LAB_ROOT/oidc"
    # LemonLDAP::NG (up --llng): portal on 127.0.0.1:$LLNG_PORT, configuration under $LLNG_DIR
    LLNG_SRC="$LAB_ROOT/llng"
    LLNG_DIR="$LAB_DIR/llng"
    LLNG_PORT=${LLNG_PORT:-18480}
    # a name (lab hosts file: 127.0.0.1), not the IP: LL::NG always sets Domain=.<domain> on
    # its SSO cookie, and cookie jars disagree about Domain=.127.0.0.1 on an IP-address host
    LLNG_HOST=${LLNG_HOST:-llng.$DNSDOMAIN}
    LLNG_ISSUER="http://$LLNG_HOST:$LLNG_PORT"
    LLNG_CLIENT_ID=${LLNG_CLIENT_ID:-trustdesk}
    LLNG_CLIENT_SECRET=${LLNG_CLIENT_SECRET:-trustdesk-llng-secret}
    LLNG_REDIRECT_URIS=${LLNG_REDIRECT_URIS:-http://127.0.0.1:18481/auth/callback,http://127.0.0.1:18482/auth/callback,http://127.0.0.1:18483/auth/callback,http://127.0.0.1:18484/auth/callback}
    LLNG_POST_LOGOUT_URIS=${LLNG_POST_LOGOUT_URIS:-http://127.0.0.1:18481/,http://127.0.0.1:18482/,http://127.0.0.1:18483/,http://127.0.0.1:18484/}
    LLNG_USER_PW=${LAB_LLNG_USER_PW:-'Llng-Passw0rd!Lab'}
    LLNG_SVC_SAM=svc-llng
    LLNG_SVC_DN="CN=$LLNG_SVC_SAM,CN=Users,$BASEDN"
    LLNG_CHECK_TIME=${LLNG_CHECK_TIME:-600}
    # 2.16 checks the code_verifier only when the RP requires PKCE; otherwise it ignores it,
    # even when the authorization request carried a code_challenge
    LLNG_REQUIRE_PKCE=${LLNG_REQUIRE_PKCE:-1}
    LLNG_LOG_LEVEL=${LLNG_LOG_LEVEL:-notice}
    LLNG_NPROC=${LLNG_NPROC:-4}
}
# the member's files, from MEMBER, MEMBER_DIR and BASEDN; `member-secrets save|restore` keeps
# copies of its private dir (secrets.tdb ...) in MEMBER_SNAPSHOTS
# shellcheck disable=SC2034
member_paths() {
    MEMBER_CONF="$MEMBER_DIR/member.conf"
    MEMBER_SNAPSHOTS="$MEMBER_DIR/snapshots"
    MEMBER_DN="CN=$MEMBER,OU=Paris,OU=Workstations,$BASEDN"
}
# The second forest's settings in place of the first's (--forest2): its realm, DC, CA,
# service account, krb5.conf and domain member F2WS01. Callers swap them in a subshell (up)
# or in a process of their own (the commands run with --member f2).
# shellcheck disable=SC2034
forest2_settings() {
    REALM=$F2_REALM DOMAIN=$F2_DOMAIN DNSDOMAIN=$F2_DNSDOMAIN BASEDN=$F2_BASEDN DC_IP=$F2_IP
    DC_HOST="f2dc1.$F2_DNSDOMAIN" KRB5_CONF=$F2_KRB5
    TLS=$F2_TLS CA="$F2_TLS/ca.pem" ADMIN_UPN="Administrator@$F2_DNSDOMAIN"
    SVC_DN="CN=$SVC_SAM,CN=Users,$F2_BASEDN" SVC_UPN="$SVC_SAM@$F2_DNSDOMAIN"
    DC1_CONF="$LAB_DIR/f2dc1/etc/smb.conf"
    MEMBER=$F2_MEMBER MEMBER_IP=$F2_MEMBER_IP MEMBER_DIR=$F2_MEMBER_DIR
    member_paths
}
# --member NAME: which domain member (and so which forest) a command acts as
select_member() {
    case ${1,,} in
        lab | labws01) MEMBER_SEL=lab ;;
        f2 | f2ws01) MEMBER_SEL=f2; forest2_settings ;;
        *) die "--member: lab (LABWS01, the default) or f2 (F2WS01, up --forest2), not '$1'" ;;
    esac
}
# "$@" without its --member NAME options (those select the member) up to a `--`, in ARGS
# shellcheck disable=SC2034
take_member_opts() {
    ARGS=()
    while [ $# -gt 0 ]; do
        case $1 in
            --) ARGS+=("$@"); return 0 ;;
            --member) [ $# -ge 2 ] || die "--member needs a name (lab or f2)"; select_member "$2"; shift ;;
            --member=*) select_member "${1#*=}" ;;
            *) ARGS+=("$1") ;;
        esac
        shift
    done
}

# ------------------------------------------------------------------ output
now()   { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say()   { printf '%s\n' "$*"; }
warn()  { printf 'lab: %s\n' "$*" >&2; }
die()   { printf 'lab: error: %s\n' "$*" >&2; exit 1; }
showlog() {  # $1 file [$2 lines]: tail of a log, indented, on stderr
    [ -f "$1" ] || return 0
    tail -n "${2:-15}" "$1" | sed 's/^/    | /' >&2
}
# phases of `up`: "phase NAME" ... "phase_done"; prints one line with the duration
phase() { PHASE_NAME=$1; PHASE_T=$(now); }
phase_done() {
    printf '  %-52s %5s s%s\n' "$PHASE_NAME" "$(since "$PHASE_T")" "${1:+  ($1)}"
}
# single-quote a value for a shell file
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# ------------------------------------------------------------------ processes (by PID only)
# one line per process: "pid ppid sid starttime"
proc_table() {
    local f line rest pid
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        pid=${f#/proc/}; pid=${pid%/stat}
        rest=${line##*) }
        # fields after "comm)": state ppid pgrp session ... (starttime is field 22 overall)
        # shellcheck disable=SC2086
        set -- $rest
        printf '%s %s %s %s\n' "$pid" "$2" "$4" "${20}"
    done
}
proc_start() {  # $1 pid -> its start time (clock ticks since boot), empty if gone
    local line rest
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest
    printf '%s\n' "${20}"
}
alive() {  # process $1 exists and is not a zombie (PID 1 may be slow to reap)
    local line
    [ -n "${1:-}" ] || return 1
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    line=${line##*) }
    [ "${line%% *}" != Z ]
}
# pids of all descendants of $1, plus every other process still in session $1
# (our daemons run in their own session: setsid), one per line
related_pids() {
    proc_table | awk -v root="$1" '
        { ppid[$1] = $2; sid[$1] = $3; all[NR] = $1 }
        END {
            want[root] = 1; changed = 1
            while (changed) {
                changed = 0
                for (i in all) { p = all[i]; if (!(p in want) && (ppid[p] in want)) { want[p] = 1; changed = 1 } }
            }
            for (i in all) { p = all[i]; if (p != root && (p in want || sid[p] == root)) print p }
        }'
}
# start a daemon in its own session; records its PID (the PID of the final exec'd program)
# in $PIDS/$1.pid and its start time in $PIDS/$1.start.  $2 = log file, rest = command.
start_daemon() {
    local name=$1 log=$2 i pid
    shift 2
    rm -f "$PIDS/$name.pid" "$PIDS/$name.start" "$PIDS/$name.tmp"
    # the wrapper shell writes its own PID, then execs: the PID stays the daemon's
    # shellcheck disable=SC2016  # expanded by the inner sh
    setsid sh -c 'echo $$ >"$1.tmp" && mv "$1.tmp" "$1.pid" && shift && exec "$@"' \
        sh "$PIDS/$name" "$@" >"$log" 2>&1 </dev/null &
    for i in $(seq 1 100); do [ -s "$PIDS/$name.pid" ] && break; sleep 0.05; done
    pid=$(cat "$PIDS/$name.pid" 2>/dev/null) || { warn "$name did not start"; return 1; }
    proc_start "$pid" >"$PIDS/$name.start" 2>/dev/null || true
    printf '%s\n' "$pid"
}
# the recorded PID of daemon $1 if it still runs (and is the same process), else fail
running_pid() {
    local pid st
    pid=$(cat "$PIDS/$1.pid" 2>/dev/null) || return 1
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    alive "$pid" || return 1
    if [ -s "$PIDS/$1.start" ]; then
        st=$(proc_start "$pid") || return 1
        [ "$st" = "$(cat "$PIDS/$1.start")" ] || return 1   # PID reused by another process
    fi
    printf '%s\n' "$pid"
}
# stop daemon $1 by PID: TERM, wait up to 10 s, KILL; then KILL its leftover descendants
# and session members, by PID
stop_daemon() {
    local name=$1 pid rel p i left=""
    pid=$(running_pid "$name") || { rm -f "$PIDS/$name.pid" "$PIDS/$name.start"; return 0; }
    rel=$(related_pids "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then warn "$name (pid $pid) ignored TERM; sending KILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    # children that outlive their parent are reparented: use the list taken before TERM,
    # plus whatever is still in the daemon's session now
    rel="$rel $(related_pids "$pid")"
    for i in $(seq 1 20); do
        left=""
        for p in $rel; do alive "$p" && left="$left $p"; done
        [ -z "$left" ] && break
        sleep 0.1
    done
    for p in $left; do
        if alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
    done
    rm -f "$PIDS/$name.pid" "$PIDS/$name.start"
    return 0
}
any_running() {  # lists "name pid" of recorded daemons that still run; fails when none
    local f n pid found=1
    [ -d "$PIDS" ] || return 1
    for f in "$PIDS"/*.pid; do
        [ -e "$f" ] || continue
        n=$(basename "$f" .pid)
        if pid=$(running_pid "$n"); then printf '%s %s\n' "$n" "$pid"; found=0; fi
    done
    return $found
}

# ------------------------------------------------------------------ mount namespace
# Call inside a fresh `unshare -m --propagation private`: lab name resolution and a
# private /run/samba (the compiled-in winbindd socket dir) for everything started here.
ns_enter() {
    mount --bind "$LAB_DIR/hosts" /etc/hosts || die "cannot bind-mount the lab hosts file"
    mount --bind "$LAB_DIR/resolv.conf" /etc/resolv.conf || die "cannot bind-mount the lab resolv.conf"
    if [ -f /etc/nsswitch.conf ]; then
        mount --bind "$LAB_DIR/nsswitch.conf" /etc/nsswitch.conf || die "cannot bind-mount nsswitch.conf"
    fi
    mkdir -p /run/samba "$MEMBER_DIR/run-samba"
    mount --bind "$MEMBER_DIR/run-samba" /run/samba || die "cannot bind-mount /run/samba"
    export KRB5_CONFIG="$KRB5_CONF" KRB5CCNAME="FILE:$LAB_DIR/krb5cc"
}
# the `run` view: additionally the member's smb.conf as /etc/samba/smb.conf (Samba tools
# called without -s then act as the workstation LABWS01, or F2WS01 with --member f2)
ns_enter_member() {
    ns_enter
    if [ -f /etc/samba/smb.conf ] && [ -f "$MEMBER_CONF" ]; then
        mount --bind "$MEMBER_CONF" /etc/samba/smb.conf || die "cannot bind-mount member.conf"
    fi
}

# ------------------------------------------------------------------ files
write_name_files() {
    cat >"$LAB_DIR/hosts" <<EOF
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
$DC_IP dc1.$DNSDOMAIN dc1
$DC2_IP dc2.$DNSDOMAIN dc2
$DC3_IP dc3.$DNSDOMAIN dc3
$F2_IP f2dc1.$F2_DNSDOMAIN f2dc1
$MEMBER_IP ${MEMBER,,}.$DNSDOMAIN ${MEMBER,,}
$F2_MEMBER_IP ${F2_MEMBER,,}.$F2_DNSDOMAIN ${F2_MEMBER,,}
EOF
    printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$DC_IP" >"$LAB_DIR/resolv.conf"
    if [ -f /etc/nsswitch.conf ]; then
        sed -E 's/^hosts:.*/hosts:          files dns/' /etc/nsswitch.conf >"$LAB_DIR/nsswitch.conf"
    else
        printf 'hosts: files dns\n' >"$LAB_DIR/nsswitch.conf"
    fi
    krb5_conf "$DC_IP" >"$KRB5_CONF"
    if [ "${WITH_DC2:-0}" = 1 ]; then krb5_conf "$DC2_IP" >"$DC2_KRB5"; fi
    if [ "${WITH_DC3:-0}" = 1 ]; then krb5_conf "$DC3_IP" >"$DC3_KRB5"; fi
}
krb5_conf() {  # $1 the only KDC (and kpasswd server): a krb5.conf on stdout
    cat <<EOF
[libdefaults]
	default_realm = $REALM
	dns_lookup_realm = false
	dns_lookup_kdc = false
	rdns = false
	dns_canonicalize_hostname = false
[realms]
	$REALM = {
		kdc = $1
		admin_server = $1
		kpasswd_server = $1
		default_domain = $DNSDOMAIN
	}
[domain_realm]
	.$DNSDOMAIN = $REALM
	$DNSDOMAIN = $REALM
EOF
}

dc_conf() {  # $1 dc dir, $2 ip, $3 NetBIOS name, $4 cert base name: writes $1/etc/smb.conf
    local d=$1
    mkdir -p "$d"/{etc,log,run,ncalrpc,ntp_signd,cache,run-samba}
    cat >"$d/etc/smb.conf" <<EOF
# trustdesk lab: $3, written by lab.sh (replaces the provisioned file)
[global]
	netbios name = $3
	workgroup = $DOMAIN
	realm = $REALM
	server role = active directory domain controller
	idmap_ldb:use rfc2307 = yes
	# one loopback address only; the IP/mask form makes Samba accept an address lo lacks
	interfaces = $2/8
	bind interfaces only = yes
	# no NetBIOS/WINS/mDNS, no dns/spn update task, no ntp_signd, no DNS forwarding
	disable netbios = yes
	multicast dns register = no
	server services = -nbt -wrepl -dnsupdate -ntp_signd
	dns forwarder =
	# the simple built-in KCC: a full mesh between the lab's DCs. The default python
	# samba_kcc, run 15 s after a DC starts, drops that DC's repsTo for every partner that has
	# no nTDSConnection from it yet (those appear at the partner's next KCC run, every 300 s):
	# a DC joined after the others then stopped notifying them of its changes
	kccsrv:samba_kcc = false
	ldap server require strong auth = yes
	tls enabled = yes
	tls keyfile = $TLS/$4.key
	tls certfile = $TLS/$4.pem
	tls cafile = $CA
	# throwaway lab: no fsync per ldb commit
	ldb:nosync = true
	private dir = $d/private
	state directory = $d/state
	cache directory = $d/cache
	lock directory = $d
	binddns dir = $d/bind-dns
	pid directory = $d/run
	ncalrpc dir = $d/ncalrpc
	ntp signd socket directory = $d/ntp_signd
	log file = $d/log/log.%m
	logging = file
	max log size = 0
[sysvol]
	path = $d/state/sysvol
	read only = No
[netlogon]
	path = $d/state/sysvol/$DNSDOMAIN/scripts
	read only = No
EOF
}

member_conf() {
    local m=$MEMBER_DIR
    mkdir -p "$m"/{private,state,cache,lock,run,log,ncalrpc,run-samba}
    cat >"$MEMBER_CONF" <<EOF
# trustdesk lab: domain member "workstation" $MEMBER of $REALM (no daemons run; tools use -s this file)
[global]
	netbios name = $MEMBER
	workgroup = $DOMAIN
	realm = $REALM
	security = ads
	server role = member server
	# always the forest's first DC, by IP: no DC discovery (testparm warns about this with ads; harmless)
	password server = $DC_IP
	disable netbios = yes
	name resolve order = host
	multicast dns register = no
	kerberos method = secrets only
	# else net/winbindd spawn samba-dcerpcd, which daemonizes and outlives everything
	rpc start on demand helpers = no
	idmap config * : backend = tdb
	idmap config * : range = 3000-7999
	idmap config $DOMAIN : backend = rid
	idmap config $DOMAIN : range = 10000-999999
	interfaces = $MEMBER_IP/8
	bind interfaces only = yes
	private dir = $m/private
	state directory = $m/state
	cache directory = $m/cache
	lock directory = $m/lock
	pid directory = $m/run
	ncalrpc dir = $m/ncalrpc
	log file = $m/log/log.%m
	logging = file
EOF
}

make_ca() {
    mkdir -p "$TLS"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TLS/ca.key" -out "$CA" -days 60 \
        -subj "/CN=trustdesk lab CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" >"$LOGS/openssl.log" 2>&1
    chmod 600 "$TLS/ca.key"
}
make_cert() {  # $1 base name (DC1/DC2/DC3), $2 DNS host name, $3 ip
    openssl req -newkey rsa:2048 -nodes -keyout "$TLS/$1.key" -out "$TLS/$1.csr" \
        -subj "/CN=$2" >>"$LOGS/openssl.log" 2>&1 &&
    printf 'subjectAltName=DNS:%s,DNS:%s,IP:%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
        "$2" "$DNSDOMAIN" "$3" >"$TLS/$1.ext" &&
    openssl x509 -req -in "$TLS/$1.csr" -CA "$CA" -CAkey "$TLS/ca.key" -CAcreateserial \
        -out "$TLS/$1.pem" -days 60 -extfile "$TLS/$1.ext" >>"$LOGS/openssl.log" 2>&1 &&
    chmod 600 "$TLS/$1.key"
}

# ------------------------------------------------------------------ LDAP (TLS verified against the lab CA)
# The password files keep passwords out of `ps`; -y uses the file's whole content.
ldap_tls() { LDAPTLS_REQCERT=demand LDAPTLS_CACERT="$CA" "$@"; }
# admin_search/admin_modify/admin_add [args]; URL from $LDAP_URL (default ldaps://DC1)
admin_search() { ldap_tls ldapsearch -LLL -o ldif-wrap=no -x -H "${LDAP_URL:-ldaps://$DC_IP}" -D "$ADMIN_UPN" -y "$SECRETS/admin.pw" "$@"; }
admin_modify() { ldap_tls ldapmodify -x -H "${LDAP_URL:-ldaps://$DC_IP}" -D "$ADMIN_UPN" -y "$SECRETS/admin.pw" "$@"; }
# shellcheck disable=SC2120  # LDIF on stdin; arguments optional
svc_modify()   { ldap_tls ldapmodify -x -H "${LDAP_URL:-ldaps://$DC_IP}" -D "$SVC_UPN" -y "$SECRETS/svc.pw" "$@"; }
attr() {  # first value of attribute $1 in LDIF on stdin
    awk -v a="$1" 'tolower($0) ~ "^"tolower(a)"::? " { sub(/^[^:]*:+ ?/, ""); print; exit }'
}
wait_ldap() {  # $1 ip, $2 max seconds: rootDSE over plain LDAP (anonymous)
    local i n=$(( ${2:-60} * 10 ))
    for i in $(seq 1 "$n"); do
        ldapsearch -x -H "ldap://$1" -s base -b "" defaultNamingContext >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
wait_ldaps() {  # $1 ip, $2 max seconds: rootDSE over LDAPS, certificate verified
    local i n=$(( ${2:-30} * 10 ))
    for i in $(seq 1 "$n"); do
        ldap_tls ldapsearch -x -H "ldaps://$1" -s base -b "" dnsHostName >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
# a (re)started DC is usable once it answers verified LDAPS and its Kerberos, RPC endpoint
# mapper and SMB listeners are up: samba opens them in separate tasks, and `net ads join`
# right after a restart was refused on RPC while LDAPS already answered
wait_dc() {  # $1 ip, $2 max seconds
    local i p missing n=$(( ${2:-60} * 10 ))
    wait_ldaps "$1" "${2:-60}" || return 1
    for i in $(seq 1 "$n"); do
        missing=""
        for p in 88 135 445; do [ -n "$(ss -Hltn "src $1:$p" 2>/dev/null)" ] || missing="$missing $p"; done
        [ -z "$missing" ] && return 0
        sleep 0.1
    done
    warn "$1: no listener on port(s)$missing"
    return 1
}
find_node() {  # a node >= 20: lab/.node (installed by install.sh) first, then PATH
    local n major
    for n in "$LAB_ROOT/.node/bin/node" "$(command -v node 2>/dev/null || true)"; do
        if [ -z "$n" ] || [ ! -x "$n" ]; then continue; fi
        major=$("$n" -p 'process.versions.node.split(".")[0]' 2>/dev/null) || continue
        [ "$major" -ge 20 ] 2>/dev/null && { printf '%s\n' "$n"; return 0; }
    done
    return 1
}
guid_from_b64() {  # binary objectGUID (base64) -> xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx
    local -a h
    read -r -a h <<<"$(printf '%s' "$1" | base64 -d | od -An -tx1 -v | tr '\n' ' ')"
    [ "${#h[@]}" -eq 16 ] || return 1
    printf '%s%s%s%s-%s%s-%s%s-%s%s-%s%s%s%s%s%s\n' "${h[3]}" "${h[2]}" "${h[1]}" "${h[0]}" "${h[5]}" "${h[4]}" \
        "${h[7]}" "${h[6]}" "${h[8]}" "${h[9]}" "${h[10]}" "${h[11]}" "${h[12]}" "${h[13]}" "${h[14]}" "${h[15]}"
}
rand_pw() { printf 'Lab-%s-9x' "$(head -c 24 /dev/urandom | base64 -w0 | tr -d '/+=')"; }
pw_b64()  { printf '"%s"' "$1" | iconv -f UTF-8 -t UTF-16LE | base64 -w0; }  # unicodePwd value
reset_ldif() {  # $1 dn, $2 new password: an LDIF that resets unicodePwd
    printf 'dn: %s\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: %s\n-\n' "$1" "$(pw_b64 "$2")"
}
sid_from_b64() {  # binary objectSid (base64) -> S-1-5-21-...
    local -a b
    local i o auth=0 s
    read -r -a b <<<"$(printf '%s' "$1" | base64 -d | od -An -tu1 -v | tr '\n' ' ')"
    [ "${#b[@]}" -ge 8 ] || return 1
    for i in 2 3 4 5 6 7; do auth=$(( auth * 256 + b[i] )); done
    s="S-${b[0]}-$auth"
    for (( i = 0; i < b[1]; i++ )); do
        o=$(( 8 + 4 * i ))
        s="$s-$(( b[o] + b[o+1] * 256 + b[o+2] * 65536 + b[o+3] * 16777216 ))"
    done
    printf '%s\n' "$s"
}
# LDIF of one enabled computer with a random password. $1 parent DN, $2 name, $3 OS, $4 OS version
computer_ldif() {  # $1 parent DN, $2 name, $3 OS, $4 OS version, $5 userAccountControl (4096)
    local lc=${2,,}
    printf 'dn: CN=%s,%s\nobjectClass: computer\ncn: %s\nsAMAccountName: %s$\nuserAccountControl: %s\n' "$2" "$1" "$2" "$2" "${5:-4096}"
    printf 'dNSHostName: %s.%s\nservicePrincipalName: HOST/%s\nservicePrincipalName: HOST/%s.%s\n' "$lc" "$DNSDOMAIN" "$2" "$lc" "$DNSDOMAIN"
    printf 'operatingSystem: %s\noperatingSystemVersion: %s\nunicodePwd:: %s\n' "$3" "$4" "$(pw_b64 "$(rand_pw)")"
}
ou_ldif() {  # $1 dn, $2 description
    local ou=${1%%,*}
    printf 'dn: %s\nobjectClass: organizationalUnit\nou: %s\ndescription: %s\n\n' "$1" "${ou#OU=}" "$2"
}

# ------------------------------------------------------------------ sockets
# "n bad..." : number of listening sockets owned by the given PIDs, and those not on $2
sockets_check() {  # $1 "pid pid ...", $2 ip
    ss -Hltunp 2>/dev/null | awk -v pids=" $1 " -v ip="$2" '
        {
            line = $0; mine = 0
            while (match(line, /pid=[0-9]+/)) {
                p = substr(line, RSTART + 4, RLENGTH - 4)
                if (index(pids, " " p " ")) mine = 1
                line = substr(line, RSTART + RLENGTH)
            }
            if (mine) { n++; if (index($5, ip ":") != 1) bad = bad " " $5 }
        }
        END { printf "%d%s\n", n, bad }'
}

# ------------------------------------------------------------------ steps of `up` (run inside the lab namespace)
up_fail() {  # $1 message, $2 log file: stop what we started, keep the dir for the logs
    warn "up failed: $1"
    [ -n "${2:-}" ] && showlog "$2" 25
    local n
    for n in llng-nginx llng-fcgi oidc f2dc1 dc3 dc2 dc1; do stop_daemon "$n"; done
    warn "logs kept in $LOGS; 'lab/lab.sh down' removes $LAB_DIR"
    exit 1
}

# samba in its own mount ns with its own /run/samba; fails (stopping nothing) if it cannot start
start_dc() {  # $1 name (dc1/dc2/dc3), $2 smb.conf
    local d="$LAB_DIR/$1"
    mkdir -p "$d/run-samba" "$d/log"
    start_daemon "$1" "$d/log/samba.stdout" \
        unshare -m --propagation private sh -c 'mount --bind "$1" /run/samba && exec samba -F -s "$2"' \
        sh "$d/run-samba" "$2" >/dev/null
}
dc_ip() {  # $1 name (dc1/dc2/dc3): its address, from its smb.conf (interfaces = IP/8)
    sed -n 's|^[[:space:]]*interfaces = \([0-9.]*\)/.*|\1|p' "$LAB_DIR/$1/etc/smb.conf" 2>/dev/null | head -1
}

# The first DC of a new forest: $REALM/$DOMAIN on $DC_IP (the caller's settings), in
# $LAB_DIR/$1, its smb.conf written by dc_conf with NetBIOS name and certificate $2.
provision_forest_dc() {  # $1 name (dc1, f2dc1), $2 NetBIOS and certificate base name
    local log="$LOGS/$1-provision.log"
    samba-tool domain provision --targetdir="$LAB_DIR/$1" --realm="$REALM" --domain="$DOMAIN" \
        --server-role=dc --dns-backend=SAMBA_INTERNAL --adminpass="$ADMIN_PW" \
        --host-name="$1" --host-ip="$DC_IP" --use-rfc2307 \
        --option="interfaces=$DC_IP/8" --option="bind interfaces only=yes" \
        --option="ldb:nosync=true" >"$log" 2>&1 || up_fail "samba-tool domain provision ($REALM)" "$log"
    dc_conf "$LAB_DIR/$1" "$DC_IP" "$2" "$2"
}

# The second forest (--forest2): one DC, f2dc1 on $F2_IP, provisioned as DC1 is but with its
# own realm, its own CA (a portal trusting the first forest's CA must not verify it) and the
# same content: OUs, PAR-WS001… (names the first forest has too) and its own svc-trustdesk.
# Run in a subshell: the first forest's settings are swapped for the second's there only.
forest2_up() {
    (
        forest2_settings
        krb5_conf "$DC_IP" >"$KRB5_CONF"
        make_ca && make_cert F2DC1 "$DC_HOST" "$DC_IP" || up_fail "forest 2: certificates" "$LOGS/openssl.log"
        provision_forest_dc f2dc1 F2DC1
        start_dc f2dc1 "$DC1_CONF" || up_fail "forest 2: cannot start f2dc1" "$LAB_DIR/f2dc1/log/samba.stdout"
        wait_ldap "$DC_IP" 60 || up_fail "forest 2: f2dc1 does not answer LDAP" "$LAB_DIR/f2dc1/log/log.samba"
        wait_ldaps "$DC_IP" 30 || up_fail "forest 2: f2dc1 does not answer LDAPS verified with its CA" "$LAB_DIR/f2dc1/log/log.samba"
        # its ldap/ SPNs (as for DC1): without them its member's Kerberos LDAP binds fail
        samba_spnupdate -s "$DC1_CONF" >"$LOGS/f2dc1-spnupdate.log" 2>&1 || up_fail "forest 2: samba_spnupdate" "$LOGS/f2dc1-spnupdate.log"
        create_content
    )
}
# Its member workstation F2WS01, joined as LABWS01 is (join_member) with the second forest's
# settings, its own files under $F2_MEMBER_DIR and its KDC (f2dc1) in KRB5_CONFIG.
forest2_member_up() {
    (
        forest2_settings
        export KRB5_CONFIG=$KRB5_CONF
        join_member
    )
}

create_content() {
    local f="$LAB_DIR/content.ldif" log="$LOGS/content.log" c sid w="OU=Workstations,$BASEDN"
    local par="OU=Paris,$w" ber="OU=Berlin,$w"
    {
        ou_ldif "$w" "Workstations (sites below)"
        ou_ldif "$par" "Site Paris"
        ou_ldif "$ber" "Site Berlin"
        ou_ldif "OU=Servers,$BASEDN" "Member servers"
        ou_ldif "OU=Protected,$BASEDN" "Protected: privileged access workstations (the portal refuses these)"
        for c in PAR-WS001 PAR-WS002 PAR-WS003; do
            computer_ldif "$par" "$c" "Windows 11 Enterprise" "10.0 (22631)"; echo
        done
        computer_ldif "$ber" BER-WS001 "Windows 11 Enterprise" "10.0 (22631)"; echo
        computer_ldif "$ber" BER-WS002 "Windows 10 Enterprise" "10.0 (19045)"; echo
        computer_ldif "OU=Servers,$BASEDN" SRV-APP01 "Windows Server 2022 Standard" "10.0 (20348)"; echo
        computer_ldif "OU=Protected,$BASEDN" PAW-ADM01 "Windows 11 Enterprise" "10.0 (22631)"; echo
        computer_ldif "$w" TIER0-WS01 "Windows 11 Enterprise" "10.0 (22631)"; echo "adminCount: 1"; echo
        printf 'dn: %s\nobjectClass: user\ncn: %s\nsAMAccountName: %s\nuserPrincipalName: %s\n' \
            "$SVC_DN" "$SVC_SAM" "$SVC_SAM" "$SVC_UPN"
        printf 'description: trustdesk service account: Reset Password on computers under OU=Workstations and OU=Servers only\n'
        # NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD
        printf 'userAccountControl: 66048\nunicodePwd:: %s\n\n' "$(pw_b64 "$SVC_PW")"
    } >"$f"
    ldap_tls ldapadd -x -H "ldaps://$DC_IP" -D "$ADMIN_UPN" -y "$SECRETS/admin.pw" -f "$f" >"$log" 2>&1 \
        || up_fail "adding the demo OUs/computers/service account over LDAPS" "$log"
    rm -f "$f"   # it held the random passwords

    # least privilege: ONLY the "Reset Password" extended right, on computer objects, inherited
    sid=$(sid_from_b64 "$(admin_search -b "$SVC_DN" -s base objectSid | attr objectSid)") \
        || up_fail "reading the objectSid of $SVC_SAM" ""
    for c in "$w" "OU=Servers,$BASEDN"; do
        samba-tool dsacl set -H "ldap://$DC_IP" -U "Administrator%$ADMIN_PW" -s "$DC1_CONF" --objectdn="$c" \
            --sddl="(OA;CIIO;CR;00299570-246d-11d0-a768-00aa006e0529;bf967a86-0de6-11d0-a285-00aa003049e2;$sid)" \
            >>"$LOGS/dsacl.log" 2>&1 || up_fail "samba-tool dsacl set on $c" "$LOGS/dsacl.log"
    done
    # prove it: the service account resets a Paris workstation, and is refused on PAW-ADM01
    reset_ldif "CN=PAR-WS001,$par" "$(rand_pw)" | svc_modify >"$LOGS/svc-check.log" 2>&1 \
        || up_fail "$SVC_SAM cannot reset CN=PAR-WS001 (ACL?)" "$LOGS/svc-check.log"
    if reset_ldif "CN=PAW-ADM01,OU=Protected,$BASEDN" "$(rand_pw)" | svc_modify >>"$LOGS/svc-check.log" 2>&1; then
        up_fail "$SVC_SAM could reset PAW-ADM01 in OU=Protected (must be refused)" ""
    fi
    LAB_SVC_SID=$sid
}

create_bulk() {  # $1 count: enabled computers without a password set (pwdLastSet 0), by LDAP adds
    local f="$LAB_DIR/bulk.ldif" log="$LOGS/bulk.log"
    awk -v n="$1" -v base="OU=Berlin,OU=Workstations,$BASEDN" -v dom="$DNSDOMAIN" 'BEGIN {
        for (i = 1; i <= n; i++) {
            c = sprintf("PC%05d", i); l = tolower(c)
            printf "dn: CN=%s,%s\nobjectClass: computer\ncn: %s\nsAMAccountName: %s$\n", c, base, c, c
            printf "userAccountControl: 4096\ndNSHostName: %s.%s\n", l, dom
            printf "servicePrincipalName: HOST/%s\nservicePrincipalName: HOST/%s.%s\n", c, l, dom
            printf "operatingSystem: Windows 11 Enterprise\noperatingSystemVersion: 10.0 (22631)\n\n"
        } }' >"$f"
    ldap_tls ldapadd -x -H "ldaps://$DC_IP" -D "$ADMIN_UPN" -y "$SECRETS/admin.pw" -f "$f" >"$log" 2>&1 \
        || up_fail "bulk LDAP add" "$log"
    rm -f "$f"
}

join_member() {  # $MEMBER into $REALM at $DC_IP, files under $MEMBER_DIR (member.conf, private ...)
    local tag=${MEMBER_DIR##*/}
    local log="$LOGS/$tag-join.log"
    member_conf
    # -S: the DC by name, not found through DNS (the lab resolver, DC1, knows only the first forest)
    net ads join -s "$MEMBER_CONF" -S "$DC_HOST" -U "Administrator%$ADMIN_PW" createcomputer=Workstations/Paris \
        osName="Samba" osVer="$(samba --version | awk '{print $2}')" --no-dns-updates >"$log" 2>&1 \
        || up_fail "net ads join ($MEMBER)" "$log"
    net rpc testjoin -s "$MEMBER_CONF" >"$LOGS/$tag-testjoin.log" 2>&1 \
        || up_fail "net rpc testjoin after the join ($MEMBER)" "$LOGS/$tag-testjoin.log"
    admin_search -b "$MEMBER_DN" -s base dn >/dev/null 2>&1 || up_fail "$MEMBER is not at $MEMBER_DN" "$log"
}

# An additional DC, joined the way an admin adds one: `samba-tool domain join DC` against
# DC1 (computer object in OU=Domain Controllers, SERVER_TRUST_ACCOUNT, dNSHostName, nTDSDSA
# under CN=Configuration), its lab certificate, then what samba_dnsupdate would do (its A
# record and _msdcs CNAME in DC1's DNS: without them DC1 cannot replicate from it; and the
# DC locator's SRV record _ldap._tcp.dc._msdcs.<domain>, port 389, priority 0, weight 100, as
# Samba's source4/dsdb/dns/dns_update_list and DC1's own provisioned record have it), and one
# replication of the domain partition each way with every DC already there. That
# DsReplicaSync also adds the new DC as an inbound partner of the other (repsFrom, and
# repsTo on the new DC: change notifications), which their KCC would do only at its next
# periodic run; `samba-tool drs kcc` instead sometimes hung 60 s and failed ("Device
# Timeout") on a loaded machine. DC2 first pulls the new DC's objects from DC1 (else DC3 ->
# DC2 fails: "Failed to find source DC", then WERR_DS_DRA_ACCESS_DENIED).
join_dc() {  # $1 name (dc2/dc3), $2 its address
    local n=$1 ip=$2 nb=${1^^} g other nc admin="Administrator%$ADMIN_PW"
    local conf="$LAB_DIR/$1/etc/smb.conf" log="$LOGS/$1.log"
    samba-tool domain join "$DNSDOMAIN" DC -U "$admin" --targetdir="$LAB_DIR/$n" \
        --server="dc1.$DNSDOMAIN" --dns-backend=SAMBA_INTERNAL --option="netbios name=$nb" \
        --option="interfaces=$ip/8" --option="bind interfaces only=yes" \
        --option="ldb:nosync=true" >"$LOGS/$n-join.log" 2>&1 || up_fail "samba-tool domain join ($nb)" "$LOGS/$n-join.log"
    dc_conf "$LAB_DIR/$n" "$ip" "$nb" "$nb"
    start_dc "$n" "$conf" || up_fail "cannot start $n" "$LAB_DIR/$n/log/samba.stdout"
    wait_ldap "$ip" 60 || up_fail "$nb does not answer LDAP" "$LAB_DIR/$n/log/log.samba"
    wait_dc "$ip" 30 || up_fail "$nb does not answer verified LDAPS (or Kerberos/RPC/SMB)" "$LAB_DIR/$n/log/log.samba"
    samba_spnupdate -s "$conf" >"$LOGS/$n-spnupdate.log" 2>&1 || up_fail "samba_spnupdate ($nb)" "$LOGS/$n-spnupdate.log"
    g=$(guid_from_b64 "$(admin_search -b "CN=NTDS Settings,CN=$nb,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,$BASEDN" \
        -s base objectGUID | attr objectGUID)") || up_fail "reading $nb's NTDS Settings objectGUID" ""
    # (a subshell whose status || tests: set -e does not act in it, hence the explicit exits)
    (
        samba-tool dns add "$DC_IP" "$DNSDOMAIN" "$n" A "$ip" -U "$admin" -s "$DC1_CONF" &&
            samba-tool dns add "$DC_IP" "_msdcs.$DNSDOMAIN" "$g" CNAME "$n.$DNSDOMAIN" -U "$admin" -s "$DC1_CONF" &&
            samba-tool dns add "$DC_IP" "_msdcs.$DNSDOMAIN" _ldap._tcp.dc SRV "$n.$DNSDOMAIN 389 0 100" -U "$admin" -s "$DC1_CONF" || exit 1
        for other in dc1 dc2; do
            if [ "$other" = "$n" ] || ! running_pid "$other" >/dev/null; then continue; fi
            if [ "$other" != dc1 ]; then   # it must know the new DC (account, nTDSDSA) first
                for nc in "CN=Configuration,$BASEDN" "$BASEDN"; do
                    samba-tool drs replicate "$other.$DNSDOMAIN" "dc1.$DNSDOMAIN" "$nc" -U "$admin" -s "$DC1_CONF" || exit 1
                done
            fi
            samba-tool drs replicate "$n.$DNSDOMAIN" "$other.$DNSDOMAIN" "$BASEDN" -U "$admin" -s "$DC1_CONF" &&
                samba-tool drs replicate "$other.$DNSDOMAIN" "$n.$DNSDOMAIN" "$BASEDN" -U "$admin" -s "$DC1_CONF" || exit 1
        done
    ) >"$log" 2>&1 || up_fail "$nb DNS records / replication" "$log"
}

# ------------------------------------------------------------------ LemonLDAP::NG (up --llng)
# nginx (root master, www-data workers) on 127.0.0.1:$LLNG_PORT in front of llng-fastcgi-server
# (www-data, unix socket), both with configuration generated from lab/llng/*.in into $LLNG_DIR.
LLNG_FCGI=/usr/sbin/llng-fastcgi-server
LLNG_ROTATE=/usr/share/lemonldap-ng/bin/rotateOidcKeys
llng_missing() {  # prints what `up --llng` lacks (empty: all there)
    local m=""
    command -v nginx >/dev/null 2>&1 || m="$m nginx"
    [ -x "$LLNG_FCGI" ] || m="$m $LLNG_FCGI(lemonldap-ng-fastcgi-server)"
    [ -x "$LLNG_ROTATE" ] || m="$m $LLNG_ROTATE(liblemonldap-ng-manager-perl)"
    command -v python3 >/dev/null 2>&1 || m="$m python3"
    command -v curl >/dev/null 2>&1 || m="$m curl"
    id www-data >/dev/null 2>&1 || m="$m user:www-data"
    perl -MLemonldap::NG::Portal::Main -MNet::LDAP -MIO::Socket::SSL -MIO::Socket::Timeout \
        -MCrypt::OpenSSL::Bignum -MImage::Magick -e 1 >/dev/null 2>&1 ||
        m="$m perl-modules(Lemonldap::NG::Portal,Net::LDAP,IO::Socket::Timeout,Image::Magick,...)"
    printf '%s' "$m"
}
# the environment of every LL::NG program the lab runs: nothing inherited (no proxies)
llng_env() {
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        LLNG_DEFAULTCONFFILE="$LLNG_DIR/lemonldap-ng.ini" \
        LLNG_DEFAULTLOGGER=Lemonldap::NG::Common::Logger::Std "$@"
}
llng_comma_to_space() { tr ',' ' ' <<<"$1" | tr -s ' ' | sed 's/^ //; s/ $//'; }
llng_kid() { head -c 30 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 10; }
llng_render() {  # $1 template in lab/llng, $2 output; values in LLNG_T_* (exported by the caller)
    python3 "$LLNG_SRC/render.py" "$LLNG_SRC/$1" "$2"
}
# writes $LLNG_DIR: lemonldap-ng.ini, nginx.conf, conf/lmConf-1.json (fresh RS256 key), and the
# writable directories (owned by www-data)
llng_configure() {
    local log="$LOGS/llng-configure.log" d
    rm -rf -- "$LLNG_DIR"
    mkdir -p "$LLNG_DIR"/{conf,sessions/lock,psessions/lock,cache,run,nginx-tmp}
    if ! { (umask 077 && openssl genrsa -traditional -out "$LLNG_DIR/sig.key" 2048) &&
        openssl rsa -in "$LLNG_DIR/sig.key" -pubout -out "$LLNG_DIR/sig.pub"; } >"$log" 2>&1; then
        up_fail "LL::NG: generating the RS256 signing key" "$log"
    fi
    (
        LLNG_T_LOG_LEVEL=$LLNG_LOG_LEVEL LLNG_T_CHECK_TIME=$LLNG_CHECK_TIME
        LLNG_T_CONF_DIR="$LLNG_DIR/conf" LLNG_T_LLNG_DIR=$LLNG_DIR LLNG_T_LOGS=$LOGS
        LLNG_T_LISTEN="127.0.0.1:$LLNG_PORT" LLNG_T_CFG_DATE=$(date +%s)
        LLNG_T_PORTAL="$LLNG_ISSUER/" LLNG_T_ISSUER=$LLNG_ISSUER LLNG_T_COOKIE_DOMAIN=$LLNG_HOST
        LLNG_T_LDAP_URL="ldaps://$DC_IP" LLNG_T_LDAP_CA=$CA LLNG_T_BASEDN=$BASEDN
        LLNG_T_BIND_DN=$LLNG_SVC_DN LLNG_T_BIND_PW=$(cat "$SECRETS/llng-svc.pw")
        LLNG_T_KEY_PRIVATE=$(cat "$LLNG_DIR/sig.key") LLNG_T_KEY_PUBLIC=$(cat "$LLNG_DIR/sig.pub")
        LLNG_T_KEY_ID=$(llng_kid) LLNG_T_CLIENT_ID=$LLNG_CLIENT_ID LLNG_T_CLIENT_SECRET=$LLNG_CLIENT_SECRET
        LLNG_T_REDIRECT_URIS=$(llng_comma_to_space "$LLNG_REDIRECT_URIS")
        LLNG_T_POST_LOGOUT_URIS=$(llng_comma_to_space "$LLNG_POST_LOGOUT_URIS")
        LLNG_T_REQUIRE_PKCE=$LLNG_REQUIRE_PKCE
        export "${!LLNG_T_@}"
        # (an && chain: set -e does not act in a subshell whose status `||` tests)
        llng_render lemonldap-ng.ini.in "$LLNG_DIR/lemonldap-ng.ini" &&
            llng_render nginx.conf.in "$LLNG_DIR/nginx.conf" &&
            llng_render lmConf-1.json.in "$LLNG_DIR/conf/lmConf-1.json"
    ) >>"$log" 2>&1 || up_fail "LL::NG: rendering lab/llng templates" "$log"
    rm -f "$LLNG_DIR/sig.key" "$LLNG_DIR/sig.pub"   # the key lives in lmConf-1.json only
    # www-data: the FastCGI server (it refuses root), nginx workers, rotateOidcKeys
    for d in conf sessions psessions cache run nginx-tmp; do chown -R www-data:www-data "$LLNG_DIR/$d"; done
    chown root:www-data "$LLNG_DIR/lemonldap-ng.ini"
    chmod 750 "$LLNG_DIR/conf"
    chmod 640 "$LLNG_DIR/conf/lmConf-1.json"
    nginx -t -q -c "$LLNG_DIR/nginx.conf" -e "$LOGS/llng-nginx-error.log" >>"$log" 2>&1 \
        || up_fail "LL::NG: nginx -t rejects $LLNG_DIR/nginx.conf" "$log"
}
llng_start() {
    local log="$LOGS/llng-fastcgi.log" i
    start_daemon llng-fcgi "$log" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        LLNG_DEFAULTCONFFILE="$LLNG_DIR/lemonldap-ng.ini" LLNG_DEFAULTLOGGER=Lemonldap::NG::Common::Logger::Std \
        "$LLNG_FCGI" --foreground -u www-data -g www-data \
        -n "$LLNG_NPROC" -s "$LLNG_DIR/run/llng-fastcgi.sock" -p "$LLNG_DIR/run/llng-fastcgi.pid" >/dev/null \
        || up_fail "LL::NG: cannot start llng-fastcgi-server" "$log"
    for i in $(seq 1 300); do
        [ -S "$LLNG_DIR/run/llng-fastcgi.sock" ] && break
        running_pid llng-fcgi >/dev/null || up_fail "LL::NG: llng-fastcgi-server exited" "$log"
        sleep 0.1
    done
    [ -S "$LLNG_DIR/run/llng-fastcgi.sock" ] || up_fail "LL::NG: no FastCGI socket after 30 s" "$log"
    start_daemon llng-nginx "$LOGS/llng-nginx.log" \
        nginx -c "$LLNG_DIR/nginx.conf" -e "$LOGS/llng-nginx-error.log" >/dev/null \
        || up_fail "LL::NG: cannot start nginx" "$LOGS/llng-nginx-error.log"
}
llng_get() {  # $1 path under the issuer: the body, or fail (resolves $LLNG_HOST itself: works outside the namespace too)
    curl -sf --noproxy '*' --max-time 10 --resolve "$LLNG_HOST:$LLNG_PORT:127.0.0.1" "$LLNG_ISSUER$1"
}
llng_wait_ready() {  # $1 max seconds: discovery answers with our issuer (first hit loads the portal)
    local i n=$(( ${1:-60} * 5 ))
    for i in $(seq 1 "$n"); do
        llng_get /.well-known/openid-configuration 2>/dev/null | grep -qF "\"issuer\":\"$LLNG_ISSUER\"" && return 0
        running_pid llng-fcgi >/dev/null || return 1
        running_pid llng-nginx >/dev/null || return 1
        # the portal could not build itself (missing module, bad configuration): no use waiting
        grep -q 'Initialization failed' "$LOGS/llng-fastcgi.log" 2>/dev/null && return 1
        sleep 0.2
    done
    return 1
}
llng_jwks_kids() {  # the kids the JWKS endpoint serves now, space-separated
    llng_get /oauth2/jwks | python3 -c 'import json,sys; print(" ".join(k.get("kid","") for k in json.load(sys.stdin)["keys"]))'
}
llng_conf_latest() {  # "cfgNum kid" of the newest configuration in the file backend
    python3 -c '
import glob, json, os, re, sys
d = sys.argv[1]
n = max(int(re.search(r"lmConf-(\d+)\.json$", f).group(1)) for f in glob.glob(os.path.join(d, "lmConf-*.json")))
print(n, json.load(open(os.path.join(d, "lmConf-%d.json" % n))).get("oidcServiceKeyIdSig", ""))' "$LLNG_DIR/conf"
}

write_env() {
    local tmp="$ENVFILE.tmp" k
    local -a vars=(
        LAB_DIR "$LAB_DIR"
        LAB_REALM "$REALM"
        LAB_DOMAIN "$DOMAIN"
        LAB_DNSDOMAIN "$DNSDOMAIN"
        LAB_BASEDN "$BASEDN"
        LAB_DC_IP "$DC_IP"
        LAB_DC_NAME "dc1.$DNSDOMAIN"
        LAB_LDAPS_URL "ldaps://$DC_IP"
        LAB_LDAP_URL "ldap://$DC_IP"
        LAB_CA "$CA"
        LAB_ADMIN_UPN "$ADMIN_UPN"
        LAB_ADMIN_PW "$ADMIN_PW"
        LAB_SVC_DN "$SVC_DN"
        LAB_SVC_UPN "$SVC_UPN"
        LAB_SVC_PW "$SVC_PW"
        LAB_SVC_SID "$LAB_SVC_SID"
        LAB_DC1_SMBCONF "$DC1_CONF"
        LAB_HOSTS "$LAB_DIR/hosts"
        LAB_RESOLV_CONF "$LAB_DIR/resolv.conf"
        LAB_BULK_COMPUTERS "$N_BULK"
        LAB_F2_BULK_COMPUTERS "${N_F2_BULK:-0}"
        LAB_FIXTURES "$LAB_DIR/fixtures.json"
        LAB_OIDC_DIR "$OIDC_DIR"
        LAB_SCRIPT "$SELF"
        LAB_MEMBER_SNAPSHOTS "$MEMBER_SNAPSHOTS"
        KRB5_CONFIG "$LAB_DIR/krb5.conf"
        KRB5CCNAME "FILE:$LAB_DIR/krb5cc"
    )
    if [ "$WITH_MEMBER" = 1 ]; then
        vars+=(LAB_MEMBER_NAME "$MEMBER" LAB_MEMBER_IP "$MEMBER_IP" LAB_MEMBER_CONF "$MEMBER_CONF" LAB_MEMBER_DN "$MEMBER_DN")
    fi
    if [ "$WITH_DC2" = 1 ]; then
        vars+=(LAB_DC2_IP "$DC2_IP" LAB_DC2_NAME "dc2.$DNSDOMAIN" LAB_DC2_LDAPS_URL "ldaps://$DC2_IP"
            LAB_DC2_LDAP_URL "ldap://$DC2_IP" LAB_DC2_SMBCONF "$DC2_CONF" LAB_DC2_KRB5_CONF "$DC2_KRB5")
    fi
    # DC3: a DC the portal is never told about (no ldap.urls anywhere names it). Unlike
    # LAB_DC2_NAME (the DNS name), LAB_DC3_NAME is the NetBIOS name; LAB_DC3_HOST the DNS name.
    if [ "$WITH_DC3" = 1 ]; then
        vars+=(LAB_DC3_IP "$DC3_IP" LAB_DC3_NAME DC3 LAB_DC3_HOST "dc3.$DNSDOMAIN"
            LAB_DC3_LDAPS_URL "ldaps://$DC3_IP" LAB_DC3_LDAP_URL "ldap://$DC3_IP"
            LAB_DC3_SMBCONF "$DC3_CONF" LAB_DC3_KRB5_CONF "$DC3_KRB5")
    fi
    # FOREST2: a separate forest (its own CA); the same service account name and password
    if [ "${WITH_F2:-0}" = 1 ]; then
        vars+=(LAB_F2_IP "$F2_IP" LAB_F2_REALM "$F2_REALM" LAB_F2_DOMAIN "$F2_DOMAIN"
            LAB_F2_DNSDOMAIN "$F2_DNSDOMAIN" LAB_F2_BASEDN "$F2_BASEDN"
            LAB_F2_LDAPS_URL "ldaps://$F2_IP" LAB_F2_CA "$F2_TLS/ca.pem"
            LAB_F2_ADMIN_UPN "Administrator@$F2_DNSDOMAIN" LAB_F2_ADMIN_PW "$ADMIN_PW" LAB_F2_SVC_UPN "$SVC_SAM@$F2_DNSDOMAIN"
            LAB_F2_SVC_DN "CN=$SVC_SAM,CN=Users,$F2_BASEDN" LAB_F2_DC_NAME "f2dc1.$F2_DNSDOMAIN"
            LAB_F2_KRB5_CONF "$F2_KRB5")
        if [ "$WITH_MEMBER" = 1 ]; then   # its member F2WS01: the paths forest2_settings gives
            local -a f2m
            mapfile -t f2m < <(forest2_settings && printf '%s\n' "$MEMBER_CONF" "$MEMBER_DN" "$MEMBER_SNAPSHOTS")
            vars+=(LAB_F2_MEMBER_NAME "$F2_MEMBER" LAB_F2_MEMBER_IP "$F2_MEMBER_IP" LAB_F2_MEMBER_CONF "${f2m[0]}"
                LAB_F2_MEMBER_DN "${f2m[1]}" LAB_F2_MEMBER_SNAPSHOTS "${f2m[2]}")
        fi
    fi
    if [ "$WITH_LLNG" = 1 ]; then
        vars+=(LLNG_ISSUER "$LLNG_ISSUER" LLNG_HOST "$LLNG_HOST" LLNG_CLIENT_ID "$LLNG_CLIENT_ID" LLNG_CLIENT_SECRET "$LLNG_CLIENT_SECRET"
            LLNG_REDIRECT_URIS "$LLNG_REDIRECT_URIS" LLNG_POST_LOGOUT_URIS "$LLNG_POST_LOGOUT_URIS"
            LLNG_GROUPS_SCOPE groups
            LLNG_SENIOR_USER llng-senior LLNG_AUDITOR_USER llng-auditor LLNG_NOBODY_USER llng-nobody
            LLNG_USER_PW "$LLNG_USER_PW" LLNG_REQUIRE_PKCE "$LLNG_REQUIRE_PKCE" LLNG_DIR "$LLNG_DIR")
    fi
    if [ "$WITH_OIDC" = 1 ]; then
        vars+=(OIDC_ISSUER "$OIDC_ISSUER" OIDC_CLIENT_ID "${OIDC_CLIENT_ID:-trustdesk}"
            OIDC_CLIENT_SECRET "${OIDC_CLIENT_SECRET:-trustdesk-secret}"
            OIDC_REDIRECT_URIS "${OIDC_REDIRECT_URIS:-http://127.0.0.1:8080/auth/callback}")
    fi
    {
        printf '# trustdesk lab environment, written by lab/lab.sh up at %s\n' "$(date -u +%FT%TZ)"
        for ((k = 0; k < ${#vars[@]}; k += 2)); do
            printf 'export %s=%s\n' "${vars[k]}" "$(shq "${vars[k+1]}")"
        done
    } >"$tmp"
    chmod 644 "$tmp"   # lab-only credentials; tests may run as another user
    mv "$tmp" "$ENVFILE"
}

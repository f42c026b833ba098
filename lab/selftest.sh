# shellcheck shell=bash
# trustdesk lab: `lab.sh selftest`, sourced by lab.sh and run inside the lab namespace.
# Prints PASS:/FAIL: lines and ends with "N passed, N failed"; fails if any check failed.
# SC2016: single-quoted scripts for `sh -c` are expanded by that sh, on purpose.
# SC2119: admin_modify/svc_modify read LDIF on stdin.
# shellcheck disable=SC2016,SC2119

PASSES=0 FAILS=0
pass() { say "PASS: $*"; PASSES=$((PASSES + 1)); }
fail() { say "FAIL: $*"; FAILS=$((FAILS + 1)); }
check() {  # check "description" command...: PASS if the command succeeds
    local d=$1
    shift
    if "$@" >>"$LOGS/selftest.log" 2>&1; then pass "$d"; else fail "$d"; fi
}

inner_selftest() {
    ns_enter
    # shellcheck source=/dev/null
    . "$ENVFILE"
    local t w par pid res n c want got out rc dn1 dn2 v
    local -a ous
    t=$(now)
    : >"$LOGS/selftest.log"
    w="OU=Workstations,$BASEDN" par="OU=Paris,OU=Workstations,$BASEDN"

    check "LDAPS to DC1 by IP ($DC_IP), certificate verified against the lab CA, admin bind" \
        admin_search -b "" -s base dnsHostName
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        if LDAPTLS_REQCERT=demand LDAPTLS_CACERT=/etc/ssl/certs/ca-certificates.crt \
            ldapsearch -x -H "ldaps://$DC_IP" -s base -b "" dnsHostName >>"$LOGS/selftest.log" 2>&1; then
            fail "LDAPS verified against the system CAs should fail (lab CA only)"
        else pass "LDAPS verified against the system CAs is rejected (only the lab CA is trusted)"; fi
    fi
    check "StartTLS to ldap://$DC_IP verified (IP SAN)" \
        ldap_tls ldapsearch -LLL -x -ZZ -H "ldap://$DC_IP" -D "$ADMIN_UPN" -y "$SECRETS/admin.pw" -b "" -s base dnsHostName
    check "StartTLS to ldap://dc1.$DNSDOMAIN verified (name via the lab hosts/DNS)" \
        ldap_tls ldapsearch -LLL -x -ZZ -H "ldap://dc1.$DNSDOMAIN" -D "$ADMIN_UPN" -y "$SECRETS/admin.pw" -b "" -s base dnsHostName
    out=$(ldapsearch -LLL -x -H "ldap://$DC_IP" -D "$ADMIN_UPN" -y "$SECRETS/admin.pw" -b "" -s base dnsHostName 2>&1) && rc=0 || rc=$?
    if [ "$rc" != 0 ] && grep -q "Strong(er) authentication required" <<<"$out"; then
        pass "simple bind over plain ldap:// refused (strongerAuthRequired)"
    else fail "simple bind over plain ldap:// must be refused (rc=$rc: $(head -c 120 <<<"$out"))"; fi

    for n in dc1 dc2 dc3; do
        pid=$(running_pid "$n") || { [ "$n" = dc1 ] && fail "DC1 is not running"; continue; }
        v=$(dc_ip "$n")
        res=$(sockets_check "$pid $(related_pids "$pid" | tr '\n' ' ')" "$v")
        if [ "${res%% *}" -gt 0 ] && [ "$res" = "${res%% *}" ]; then
            pass "all ${res%% *} listening sockets of ${n^^} are on $v only"
        else fail "${n^^} listening sockets not only on $v: $res"; fi
    done

    want="$w|OU=Paris,$w|OU=Berlin,$w|OU=Servers,$BASEDN|OU=Protected,$BASEDN|OU=Domain Controllers,$BASEDN"
    got=$(admin_search -b "$BASEDN" '(objectClass=organizationalUnit)' dn 2>>"$LOGS/selftest.log" | sed -n 's/^dn: //p')
    out=""
    IFS="|" read -r -a ous <<<"$want"
    for c in "${ous[@]}"; do grep -qixF "$c" <<<"$got" || out="$out ${c%%,*}"; done
    if [ -z "$out" ]; then pass "demo OUs present (Workstations, Paris, Berlin, Servers, Protected, Domain Controllers)"
    else fail "demo OUs missing:$out"; fi

    out=""
    for c in "PAR-WS001,$par" "PAR-WS002,$par" "PAR-WS003,$par" "BER-WS001,OU=Berlin,$w" "BER-WS002,OU=Berlin,$w" \
        "SRV-APP01,OU=Servers,$BASEDN" "PAW-ADM01,OU=Protected,$BASEDN" "TIER0-WS01,$w"; do
        got=$(admin_search -b "CN=$c" -s base userAccountControl pwdLastSet operatingSystem dNSHostName 2>/dev/null) || { out="$out ${c%%,*}(missing)"; continue; }
        [ "$(attr userAccountControl <<<"$got")" = 4096 ] || out="$out ${c%%,*}(uac)"
        [ "$(attr pwdLastSet <<<"$got")" != 0 ] || out="$out ${c%%,*}(pwdLastSet)"
        [ -n "$(attr operatingSystem <<<"$got")" ] && [ -n "$(attr dNSHostName <<<"$got")" ] || out="$out ${c%%,*}(attrs)"
    done
    [ "$(admin_search -b "CN=TIER0-WS01,$w" -s base adminCount 2>/dev/null | attr adminCount)" = 1 ] || out="$out TIER0-WS01(adminCount)"
    if [ -z "$out" ]; then pass "8 demo computers present, enabled, password set, attributes set; TIER0-WS01 adminCount=1"
    else fail "demo computers:$out"; fi
    if [ "${LAB_BULK_COMPUTERS:-0}" -gt 0 ]; then
        got=$(admin_search -E pr=1000/noprompt -b "OU=Berlin,$w" '(&(objectClass=computer)(cn=PC*))' cn 2>/dev/null | grep -c '^dn: ' || true)
        if [ "$got" = "$LAB_BULK_COMPUTERS" ]; then pass "$got bulk computers in OU=Berlin (paged search)"
        else fail "bulk computers: $got found, $LAB_BULK_COMPUTERS expected"; fi
    fi

    if [ -n "${LAB_MEMBER_CONF:-}" ]; then
        check "member $MEMBER object at $MEMBER_DN" admin_search -b "$MEMBER_DN" -s base dn
        check "member: 'lab.sh run -- net rpc testjoin -s \$LAB_MEMBER_CONF' OK (NETLOGON schannel)" \
            "$SELF" run -- sh -c 'net rpc testjoin -s "$LAB_MEMBER_CONF"'
    fi

    check "kinit $SVC_SAM@$REALM with the lab krb5.conf (KDC on $DC_IP)" \
        sh -c 'kinit "$1" <"$2" && kdestroy' sh "$SVC_SAM@$REALM" "$SECRETS/svc.pw"

    dn1="CN=PAR-WS002,$par"
    v=$(admin_search -b "$dn1" -s base pwdLastSet | attr pwdLastSet)
    if reset_ldif "$dn1" "$(rand_pw)" | svc_modify >>"$LOGS/selftest.log" 2>&1 &&
        [ "$(admin_search -b "$dn1" -s base pwdLastSet | attr pwdLastSet)" != "$v" ]; then
        pass "$SVC_SAM resets PAR-WS002 (in scope) over LDAPS; pwdLastSet moved"
    else fail "$SVC_SAM cannot reset PAR-WS002"; fi
    for dn2 in "CN=PAW-ADM01,OU=Protected,$BASEDN" "CN=DC1,OU=Domain Controllers,$BASEDN"; do
        out=$(reset_ldif "$dn2" "$(rand_pw)" | svc_modify 2>&1) && rc=0 || rc=$?
        if [ "$rc" = 50 ]; then pass "$SVC_SAM refused resetting ${dn2%%,*} (insufficientAccessRights)"
        else fail "$SVC_SAM resetting ${dn2%%,*}: expected rc 50, got $rc"; fi
    done
    out=$(printf 'dn: %s\nchangetype: modify\nreplace: description\ndescription: x\n-\n' "$dn1" | svc_modify 2>&1) && rc=0 || rc=$?
    if [ "$rc" = 50 ]; then pass "$SVC_SAM refused writing description on PAR-WS002 (Reset Password only)"
    else fail "$SVC_SAM writing description: expected rc 50, got $rc"; fi
    out=$(printf 'dn: CN=SELFTEST-NEW,OU=Paris,%s\nobjectClass: computer\ncn: SELFTEST-NEW\nsAMAccountName: SELFTEST-NEW$\n\n' "$w" |
        ldap_tls ldapadd -x -H "ldaps://$DC_IP" -D "$SVC_UPN" -y "$SECRETS/svc.pw" 2>&1) && rc=0 || rc=$?
    if [ "$rc" = 50 ]; then pass "$SVC_SAM refused creating a computer object"
    else fail "$SVC_SAM creating a computer: expected rc 50, got $rc"; fi

    if pid=$(running_pid oidc); then
        out=$(curl -sf --noproxy '*' --max-time 5 "$OIDC_ISSUER/.well-known/openid-configuration" 2>>"$LOGS/selftest.log") || out=""
        if grep -q "\"issuer\":\"$OIDC_ISSUER\"" <<<"$out" && grep -q '"groups"' <<<"$out"; then
            pass "OIDC discovery at $OIDC_ISSUER (issuer matches, groups scope)"
        else fail "OIDC discovery at ${OIDC_ISSUER:-?}"; fi
        res=$(sockets_check "$pid" 127.0.0.1)
        if [ "${res%% *}" -gt 0 ] && [ "$res" = "${res%% *}" ]; then pass "OIDC provider listens on 127.0.0.1 only"
        else fail "OIDC provider sockets: $res"; fi
    fi

    if pid=$(running_pid llng-nginx); then
        res=$(sockets_check "$pid $(related_pids "$pid" | tr '\n' ' ')" 127.0.0.1)
        if [ "${res%% *}" -gt 0 ] && [ "$res" = "${res%% *}" ]; then pass "LL::NG nginx listens on 127.0.0.1 only ($LLNG_ISSUER)"
        else fail "LL::NG nginx sockets: $res"; fi
        if pid=$(running_pid llng-fcgi) && [ "$(sockets_check "$pid $(related_pids "$pid" | tr '\n' ' ')" 127.0.0.1)" = 0 ]; then
            pass "LL::NG FastCGI server: no TCP/UDP listener (unix socket $LLNG_DIR/run/llng-fastcgi.sock)"
        else fail "LL::NG FastCGI server not running, or it listens on TCP/UDP"; fi
        # discovery, JWKS, sign-ins against AD, groups, logout, back-channel logout_token
        out=$(python3 "$LLNG_SRC/oidc_check.py" selftest 2>&1) || true
        printf '%s\n' "$out" >>"$LOGS/selftest.log"
        while IFS= read -r v; do
            case $v in
                PASS:\ *) pass "${v#PASS: }" ;;
                FAIL:\ *) fail "${v#FAIL: }" ;;
                NOTE:\ *) say "$v" ;;
            esac
        done <<<"$out"
        grep -qE '^[0-9]+ passed, [0-9]+ failed$' <<<"$out" || fail "LL::NG checks did not finish: $(tail -n 1 <<<"$out")"
    fi

    if [ -n "${LAB_DC2_LDAPS_URL:-}" ]; then   # in lab.env only with --dc2 (LAB_DC2_IP may come from the caller)
        check "LDAPS to DC2 ($LAB_DC2_IP) verified against the lab CA, admin bind" dc2_rootdse
    fi

    if [ -n "${LAB_DC3_LDAPS_URL:-}" ]; then   # in lab.env only with --dc3
        check "LDAPS to DC3 ($LAB_DC3_IP) verified against the lab CA, admin bind" dc3_rootdse
        check "StartTLS to ldap://$LAB_DC3_HOST verified (name via the lab hosts file)" \
            ldap_tls ldapsearch -LLL -x -ZZ -H "ldap://$LAB_DC3_HOST" -D "$ADMIN_UPN" -y "$SECRETS/admin.pw" -b "" -s base dnsHostName
        got=$(admin_search -b "CN=$LAB_DC3_NAME,OU=Domain Controllers,$BASEDN" -s base userAccountControl dNSHostName 2>/dev/null) || got=""
        v=$(attr userAccountControl <<<"$got")
        if [ -n "$v" ] && [ $((v & 8192)) = 8192 ] && [ "$(attr dNSHostName <<<"$got")" = "$LAB_DC3_HOST" ] &&
            admin_search -b "CN=NTDS Settings,CN=$LAB_DC3_NAME,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,$BASEDN" \
                -s base '(objectClass=nTDSDSA)' dn 2>/dev/null | grep -q '^dn: '; then
            pass "DC3 is a DC of the domain: OU=Domain Controllers, userAccountControl $v (SERVER_TRUST_ACCOUNT), dNSHostName, nTDSDSA"
        else fail "DC3 computer object / nTDSDSA (userAccountControl '$v')"; fi
        check "kinit $SVC_SAM@$REALM at DC3 only (KRB5_CONFIG=\$LAB_DC3_KRB5_CONF)" \
            env KRB5_CONFIG="$LAB_DC3_KRB5_CONF" KRB5CCNAME="FILE:$LAB_DIR/krb5cc-selftest-dc3" \
            sh -c 'kinit "$1" <"$2" && kdestroy' sh "$SVC_SAM@$REALM" "$SECRETS/svc.pw"
    fi

    if [ -n "${LAB_F2_LDAPS_URL:-}" ]; then   # in lab.env only with --forest2
        check "second forest: LDAPS to $LAB_F2_IP verified against its own CA, $LAB_F2_SVC_UPN finds its PAR-WS001" \
            sh -c 'LDAPTLS_REQCERT=demand LDAPTLS_CACERT="$1" ldapsearch -LLL -x -H "$2" -D "$3" -y "$4" -b "$5" "(sAMAccountName=PAR-WS001\$)" dn | grep -q "^dn: CN=PAR-WS001,OU=Paris,OU=Workstations,$5"' \
            sh "$LAB_F2_CA" "$LAB_F2_LDAPS_URL" "$LAB_F2_SVC_UPN" "$SECRETS/svc.pw" "$LAB_F2_BASEDN"
        if ldap_tls ldapsearch -LLL -x -H "$LAB_F2_LDAPS_URL" -b "" -s base dnsHostName >/dev/null 2>&1; then
            fail "second forest: the first forest's CA must not verify its DC"
        else pass "second forest: the first forest's CA does not verify its DC (separate CAs)"; fi
        if [ -n "${LAB_F2_MEMBER_CONF:-}" ]; then   # its member F2WS01 (up --forest2 without --no-member)
            check "second forest: member $LAB_F2_MEMBER_NAME object at $LAB_F2_MEMBER_DN (its CA, its Administrator)" f2_member_object
            if admin_search -b "$BASEDN" "(sAMAccountName=$LAB_F2_MEMBER_NAME\$)" dn 2>>"$LOGS/selftest.log" | grep -q '^dn: '; then
                fail "second forest: $LAB_F2_MEMBER_NAME must not be in the first forest"
            else pass "second forest: $LAB_F2_MEMBER_NAME is not in the first forest"; fi
            check "second forest: 'lab.sh run --member f2 -- net rpc testjoin -s \$LAB_F2_MEMBER_CONF -S \$LAB_F2_DC_NAME' OK (NETLOGON schannel)" \
                "$SELF" run --member f2 -- sh -c 'net rpc testjoin -s "$LAB_F2_MEMBER_CONF" -S "$LAB_F2_DC_NAME"'
            check "second forest: 'lab.sh member-testjoin --member f2 --kerberos' OK (Kerberos logon at f2dc1, \$LAB_F2_KRB5_CONF)" \
                "$SELF" member-testjoin --member f2 --kerberos
            if [ -n "${LAB_MEMBER_CONF:-}" ]; then
                check "member $MEMBER still works next to the second forest's ('lab.sh member-testjoin')" "$SELF" member-testjoin
            fi
        fi
    fi

    # replication between every pair of DCs, both ways: one change written at each DC (each on
    # an object of its own), then each awaited at every other DC; the waits overlap
    local -a dcs=() writes=()
    [ -n "${LAB_DC2_LDAPS_URL:-}" ] && dcs+=("DC2 $LAB_DC2_LDAPS_URL CN=BER-WS002,OU=Berlin,$w")
    [ -n "${LAB_DC3_LDAPS_URL:-}" ] && dcs+=("DC3 $LAB_DC3_LDAPS_URL CN=SRV-APP01,OU=Servers,$BASEDN")
    if [ "${#dcs[@]}" -gt 0 ]; then
        dcs=("DC1 ldaps://$DC_IP CN=BER-WS001,OU=Berlin,$w" "${dcs[@]}")
        for v in "${dcs[@]}"; do writes+=("$(repl_write "${v#* }")"); done
        for ((n = 0; n < ${#dcs[@]}; n++)); do
            for c in "${dcs[@]}"; do
                [ "${c%% *}" = "${dcs[n]%% *}" ] && continue
                repl_wait "${writes[n]}" "$(cut -d' ' -f2 <<<"$c")" "${dcs[n]%% *} -> ${c%% *}"
            done
        done
    fi

    say "selftest took $(since "$t") s (log: $LOGS/selftest.log)"
    say "$PASSES passed, $FAILS failed"
    [ "$FAILS" = 0 ]
}

f2_member_object() { (forest2_settings && admin_search -b "$MEMBER_DN" -s base dn | grep -qixF "dn: $MEMBER_DN"); }
dc2_rootdse() { LDAP_URL=$LAB_DC2_LDAPS_URL admin_search -b "" -s base dnsHostName; }
dc3_rootdse() { LDAP_URL=$LAB_DC3_LDAPS_URL admin_search -b "" -s base dnsHostName; }
repl_write() {  # "$1" = "URL DN": writes a fresh description there; prints "T0 TAG DN" ("" on failure)
    local url=${1%% *} dn=${1#* } tag t
    tag="selftest-$(date +%s%N)"
    t=$(now)
    printf 'dn: %s\nchangetype: modify\nreplace: description\ndescription: %s\n-\n' "$dn" "$tag" |
        LDAP_URL=$url admin_modify >>"$LOGS/selftest.log" 2>&1 || { printf '\n'; return 0; }
    printf '%s %s %s\n' "$t" "$tag" "$dn"
}
repl_wait() {  # $1 "T0 TAG DN" from repl_write, $2 read url, $3 label: the change shows there within 30 s of T0
    local t0 tag dn
    read -r t0 tag dn <<<"$1"
    [ -n "${tag:-}" ] || { fail "replication $3: the write failed"; return; }
    while [ "$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print (b - a < 30) }')" = 1 ]; do
        if [ "$(LDAP_URL=$2 admin_search -b "$dn" -s base description 2>/dev/null | attr description)" = "$tag" ]; then
            pass "replication $3: change visible after $(since "$t0") s"
            return
        fi
        sleep 0.25
    done
    fail "replication $3: change not visible after 30 s"
}

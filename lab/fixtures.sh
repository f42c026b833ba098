# shellcheck shell=bash
# trustdesk lab: directory states the tests need that plain LDAP cannot create.
# Sourced by lab.sh after lib.sh; runs inside the lab namespace during `up`.

# An account lockout policy, as most domains have: without one, Samba does not track
# badPwdCount/badPasswordTime, which the diagnosis reads as evidence of failing logons.
lockout_policy() {
    printf 'dn: %s\nchangetype: modify\nreplace: lockoutThreshold\nlockoutThreshold: 50\n-\n' "$BASEDN" |
        admin_modify >"$LOGS/lockout.log" 2>&1 || up_fail "setting the lockout policy" "$LOGS/lockout.log"
}

# SILENT-WS01 (OU=Paris): a machine that has been off for months but is consistent —
# password set 200 days ago by its own rotation, last logon 150 days ago. LDAP cannot write
# pwdLastSet or lastLogon, so with DC1 stopped the partition file is edited directly (the
# dsdb modules bypassed; lab/fixtures/silent.py, with the metadata layout in
# lab/fixtures/replmeta.py), replication metadata backdated to match, then DC1 starts again.
# DC2 and DC3, joined afterwards, replicate it as it is.
silent_fixture() {
    local par="OU=Paris,OU=Workstations,$BASEDN" log="$LOGS/silent-fixture.log"
    local dn="CN=SILENT-WS01,$par" part="$LAB_DIR/dc1/private/sam.ldb.d/DC=${REALM//./,DC=}.ldb"
    { computer_ldif "$par" SILENT-WS01 "Windows 10 Enterprise" "10.0 (19045)"; echo; } |
        admin_modify -a >"$log" 2>&1 || up_fail "adding SILENT-WS01" "$log"
    stop_daemon dc1
    python3 "$LAB_ROOT/fixtures/silent.py" "$part" "$dn" >>"$log" 2>&1 || up_fail "backdating SILENT-WS01" "$log"
    start_dc dc1 "$DC1_CONF" || up_fail "cannot start dc1" "$LAB_DIR/dc1/log/samba.stdout"
    wait_dc "$DC_IP" 60 || up_fail "DC1 did not come back after the fixture" "$LAB_DIR/dc1/log/log.samba"
}

# The bulk computers PC00001... (OU=Berlin) in mixed states, by number, for the fleet scan
# (lab/fixtures/bulk.py says which; it writes the at-risk ones and their causes to
# $LAB_DIR/fixtures.json, which the tests read). Like SILENT-WS01 these values cannot be
# written over LDAP, so with DC1 stopped the partition is edited directly; DC2 and DC3, joined
# afterwards, replicate them.
bulk_fixture() {
    local n=$1 log="$LOGS/bulk-fixture.log" part="$LAB_DIR/dc1/private/sam.ldb.d/DC=${REALM//./,DC=}.ldb"
    stop_daemon dc1
    python3 "$LAB_ROOT/fixtures/bulk.py" "$part" "$n" "OU=Berlin,OU=Workstations,$BASEDN" \
        "$LAB_DIR/fixtures.json" >"$log" 2>&1 || up_fail "bulk fixture" "$log"
    start_dc dc1 "$DC1_CONF" || up_fail "cannot start dc1" "$LAB_DIR/dc1/log/samba.stdout"
    wait_dc "$DC_IP" 60 || up_fail "DC1 did not come back after the bulk fixture" "$LAB_DIR/dc1/log/log.samba"
}

# LemonLDAP::NG (up --llng): its read account and the staff who sign in through it, with
# real AD group memberships. "Helpdesk-Senior" is mixed case on purpose (AD names are
# case-insensitive; trustdesk's role config says "helpdesk-senior"), and llng-senior is in it
# only through the nested group LLNG-Senior-Staff (LL::NG resolves nesting: ldapGroupRecursive).
#   llng-senior  -> LLNG-Senior-Staff -> Helpdesk-Senior
#   llng-auditor -> Security-Auditors
#   llng-nobody  -> LLNG-Canteen (nothing trustdesk knows)
# All in CN=Users, passwords never expire; the staff share the password $LLNG_USER_PW.
llng_fixture() {
    local log="$LOGS/llng-fixture.log" u="CN=Users,$BASEDN" f="$LAB_DIR/llng-fixture.ldif"
    rand_pw >"$SECRETS/llng-svc.pw"
    chmod 600 "$SECRETS/llng-svc.pw"
    {
        llng_user_ldif "$LLNG_SVC_SAM" "LL::NG" "Service" "$(cat "$SECRETS/llng-svc.pw")" \
            "LemonLDAP::NG read account (bind for user and group searches)"
        llng_user_ldif llng-senior Senior Staffer "$LLNG_USER_PW" "LL::NG test user: Helpdesk-Senior via LLNG-Senior-Staff"
        llng_user_ldif llng-auditor Audit Staffer "$LLNG_USER_PW" "LL::NG test user: Security-Auditors"
        llng_user_ldif llng-nobody Nobody Staffer "$LLNG_USER_PW" "LL::NG test user: no trustdesk group"
        llng_group_ldif LLNG-Senior-Staff "Senior staff (nested into Helpdesk-Senior)" "CN=llng-senior,$u"
        llng_group_ldif Helpdesk-Senior "trustdesk senior helpdesk" "CN=LLNG-Senior-Staff,$u"
        llng_group_ldif Security-Auditors "trustdesk auditors" "CN=llng-auditor,$u"
        llng_group_ldif LLNG-Canteen "A group trustdesk does not know" "CN=llng-nobody,$u"
    } >"$f"
    ldap_tls ldapadd -x -H "ldaps://$DC_IP" -D "$ADMIN_UPN" -y "$SECRETS/admin.pw" -f "$f" >"$log" 2>&1 \
        || { rm -f "$f"; up_fail "adding the LL::NG users and groups over LDAPS" "$log"; }
    rm -f "$f"   # it held the passwords
}
llng_user_ldif() {  # $1 sAMAccountName, $2 givenName, $3 sn, $4 password, $5 description
    printf 'dn: CN=%s,CN=Users,%s\nobjectClass: user\ncn: %s\nsAMAccountName: %s\n' "$1" "$BASEDN" "$1" "$1"
    printf 'userPrincipalName: %s@%s\ngivenName: %s\nsn: %s\ndisplayName: %s %s\nmail: %s@%s\n' \
        "$1" "$DNSDOMAIN" "$2" "$3" "$2" "$3" "$1" "$DNSDOMAIN"
    # NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD
    printf 'description: %s\nuserAccountControl: 66048\nunicodePwd:: %s\n\n' "$5" "$(pw_b64 "$4")"
}
llng_group_ldif() {  # $1 name, $2 description, $3 member DN (a global security group)
    printf 'dn: CN=%s,CN=Users,%s\nobjectClass: group\ncn: %s\nsAMAccountName: %s\ndescription: %s\nmember: %s\n\n' \
        "$1" "$BASEDN" "$1" "$1" "$2" "$3"
}

# Servers that are tier 0 in all but name (security review H-1), in OU=Servers, which the
# service account may reset and the senior role covers: trustdesk must refuse them itself.
#   SRV-UNC01  unconstrained delegation (TRUSTED_FOR_DELEGATION 0x80000)
#   SRV-S4U01  protocol transition (TRUSTED_TO_AUTH_FOR_DELEGATION 0x1000000) to a member's CIFS
#   SRV-KCD01  constrained delegation (no protocol transition) to LDAP on DC1
#   SRV-CA01   in Cert Publishers through the nested global group PKI-Hosts
#   SRV-T0G01  in Tier0-Servers, a group the tests name in ldap.protected_groups
# Adding the delegation flags needs SeEnableDelegationPrivilege: Administrator holds it.
tier0_fixture() {
    local log="$LOGS/tier0-fixture.log" s="OU=Servers,$BASEDN" f="$LAB_DIR/tier0.ldif"
    {
        computer_ldif "$s" SRV-UNC01 "Windows Server 2022 Standard" "10.0 (20348)" 528384; echo
        computer_ldif "$s" SRV-S4U01 "Windows Server 2022 Standard" "10.0 (20348)" 16781312
        echo "msDS-AllowedToDelegateTo: cifs/srv-app01.$DNSDOMAIN"; echo
        computer_ldif "$s" SRV-KCD01 "Windows Server 2022 Standard" "10.0 (20348)"
        echo "msDS-AllowedToDelegateTo: ldap/dc1.$DNSDOMAIN"; echo
        computer_ldif "$s" SRV-CA01 "Windows Server 2022 Standard" "10.0 (20348)"; echo
        computer_ldif "$s" SRV-T0G01 "Windows Server 2022 Standard" "10.0 (20348)"; echo
        # global security groups (groupType ACCOUNT_GROUP | SECURITY_ENABLED)
        printf 'dn: CN=PKI-Hosts,%s\nobjectClass: group\ncn: PKI-Hosts\nsAMAccountName: PKI-Hosts\n' "$s"
        printf 'groupType: -2147483646\nmember: CN=SRV-CA01,%s\n\n' "$s"
        printf 'dn: CN=Tier0-Servers,%s\nobjectClass: group\ncn: Tier0-Servers\nsAMAccountName: Tier0-Servers\n' "$s"
        printf 'groupType: -2147483646\nmember: CN=SRV-T0G01,%s\n\n' "$s"
        printf 'dn: CN=Cert Publishers,CN=Users,%s\nchangetype: modify\nadd: member\nmember: CN=PKI-Hosts,%s\n-\n\n' "$BASEDN" "$s"
    } >"$f"
    ldap_tls ldapmodify -a -x -H "ldaps://$DC_IP" -D "$ADMIN_UPN" -y "$SECRETS/admin.pw" -f "$f" >"$log" 2>&1 \
        || { rm -f "$f"; up_fail "adding the tier-0-equivalent servers over LDAPS" "$log"; }
    rm -f "$f"   # it held the random passwords
}

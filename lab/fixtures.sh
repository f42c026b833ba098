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
# dsdb modules bypassed), replication metadata backdated to match, then DC1 starts again.
# DC2 and DC3, joined afterwards, replicate it as it is.
silent_fixture() {
    local par="OU=Paris,OU=Workstations,$BASEDN" log="$LOGS/silent-fixture.log"
    local dn="CN=SILENT-WS01,$par" part="$LAB_DIR/dc1/private/sam.ldb.d/DC=${REALM//./,DC=}.ldb"
    { computer_ldif "$par" SILENT-WS01 "Windows 10 Enterprise" "10.0 (19045)"; echo; } |
        admin_modify -a >"$log" 2>&1 || up_fail "adding SILENT-WS01" "$log"
    stop_daemon dc1
    python3 - "$part" "$dn" >>"$log" 2>&1 <<'PY' || up_fail "backdating SILENT-WS01" "$log"
import base64, struct, subprocess, sys, time
part, dn = sys.argv[1], sys.argv[2]
day = 86400
now = int(time.time())
def filetime(unix): return (unix + 11644473600) * 10_000_000
def gentime(unix): return time.strftime("%Y%m%d%H%M%S.0Z", time.gmtime(unix))
out = subprocess.run(["ldbsearch", "-H", "tdb://" + part, "-b", dn, "-s", "base", "replPropertyMetaData"],
                     check=True, capture_output=True, text=True).stdout
unfolded = out.replace("\n ", "")   # LDIF folds long lines with a leading space
b64 = "".join(l.split(":: ", 1)[1] for l in unfolded.splitlines() if l.lower().startswith("replpropertymetadata::"))
blob = bytearray(base64.b64decode(b64))
version, _, count, _ = struct.unpack_from("<IIII", blob, 0)
assert version == 1, version
password_attids = {0x9005A, 0x90060, 0x9005E, 0x9007D, 0x90037, 0x900A0}
for i in range(count):
    off = 16 + 48 * i
    attid, = struct.unpack_from("<I", blob, off)
    when = now - (200 if attid in password_attids else 300) * day
    struct.pack_into("<Q", blob, off + 8, when + 11644473600)   # NTTIME, seconds
ldif = (f"dn: {dn}\nchangetype: modify\n"
        f"replace: pwdLastSet\npwdLastSet: {filetime(now - 200 * day)}\n-\n"
        f"replace: lastLogon\nlastLogon: {filetime(now - 150 * day)}\n-\n"
        f"replace: lastLogonTimestamp\nlastLogonTimestamp: {filetime(now - 150 * day)}\n-\n"
        f"replace: whenCreated\nwhenCreated: {gentime(now - 300 * day)}\n-\n"
        f"replace: whenChanged\nwhenChanged: {gentime(now - 150 * day)}\n-\n"
        f"replace: replPropertyMetaData\nreplPropertyMetaData:: {base64.b64encode(bytes(blob)).decode()}\n-\n")
subprocess.run(["ldbmodify", "-H", "tdb://" + part], input=ldif, check=True, capture_output=True, text=True)
print("SILENT-WS01 backdated")
PY
    start_dc dc1 "$DC1_CONF" || up_fail "cannot start dc1" "$LAB_DIR/dc1/log/samba.stdout"
    wait_dc "$DC_IP" 60 || up_fail "DC1 did not come back after the fixture" "$LAB_DIR/dc1/log/log.samba"
}

# The bulk computers PC00001... (OU=Berlin) in mixed states, by number i (i % 20), for the
# fleet scan. Like SILENT-WS01 these values cannot be written over LDAP, so with DC1 stopped
# the partition is edited directly; DC2 and DC3, joined afterwards, replicate them.
#   13: password_set_after_last_logon (password set 2 days ago, last logon 10 days ago)
#   14: account_disabled (recent logon)
#   15: rotation_disabled (password 120 days old, logging on daily)
#   11, 12: silent for months but consistent (healthy: not at risk)
#   every other i: healthy (password 1-29 days old, logon since)
# Every account was created 400 days ago.
bulk_fixture() {
    local n=$1 log="$LOGS/bulk-fixture.log" part="$LAB_DIR/dc1/private/sam.ldb.d/DC=${REALM//./,DC=}.ldb"
    stop_daemon dc1
    python3 - "$part" "$n" "OU=Berlin,OU=Workstations,$BASEDN" >"$log" 2>&1 <<'PY' || up_fail "bulk fixture" "$log"
import base64, struct, subprocess, sys, time
part, n, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
now, hour, day = int(time.time()), 3600, 86400
def ft(unix): return (unix + 11644473600) * 10_000_000
def gt(unix): return time.strftime("%Y%m%d%H%M%S.0Z", time.gmtime(unix))
# Every bulk object's replication metadata, to date its password writes to match.
ldif = subprocess.run(["ldbsearch", "-H", "tdb://" + part, "-b", base, "-s", "one",
                       "(cn=PC*)", "replPropertyMetaData"],
                      check=True, capture_output=True, text=True).stdout.replace("\n ", "")
meta, dn = {}, None
for line in ldif.splitlines():
    if line.startswith("dn: "): dn = line[4:]
    elif line.lower().startswith("replpropertymetadata:: "): meta[dn.split(",")[0][3:]] = base64.b64decode(line.split(":: ", 1)[1])
PASSWORD = {0x9005A, 0x90060, 0x9005E, 0x9007D, 0x900A0}
LLTS = 0x906A0   # lastLogonTimestamp
def redate(blob, pwd, created, llts):
    _, _, count, _ = struct.unpack_from("<IIII", blob, 0)
    entries = [list(struct.unpack_from("<IIQ16sQQ", blob, 16 + 48 * k)) for k in range(count)]
    by = {e[0]: e for e in entries}
    src = by[0x90060]
    if 0x9005A not in by:   # the unicodePwd write a join makes: version 1, like pwdLastSet's
        by[0x9005A] = [0x9005A, 1, 0, src[3], src[4], src[5]]
    if LLTS not in by:      # lastLogonTimestamp replicates: without metadata DC2/DC3 would not get it
        by[LLTS] = [LLTS, 1, 0, src[3], src[4], src[5]]
    for attid, e in by.items():
        e[2] = (pwd if attid in PASSWORD else llts if attid == LLTS else created) + 11644473600
    out = struct.pack("<IIII", 1, 0, len(by), 0)
    for attid in sorted(by):
        out += struct.pack("<IIQ16sQQ", *by[attid])
    return base64.b64encode(out).decode()
out = []
for i in range(1, n + 1):
    s = i % 20
    uac, logon = 4096, None
    if s == 13:   pwd, logon, llts = now - 2 * day, now - 10 * day, now - 10 * day
    elif s == 14: pwd, logon, llts, uac = now - 5 * day, now - day, now - 3 * day, 4098
    elif s == 15: pwd, logon, llts = now - 120 * day, now - hour, now - 10 * day
    elif s in (11, 12): pwd, logon, llts = now - 200 * day, now - 150 * day, now - 150 * day
    else:         pwd, logon, llts = now - (i * 7 % 29 + 1) * day, now - (i * 3 % 20) * hour, now - 3 * day
    cn = f"PC{i:05d}"
    m = [f"dn: CN={cn},{base}", "changetype: modify",
         f"replace: pwdLastSet\npwdLastSet: {ft(pwd)}\n-",
         f"replace: lastLogonTimestamp\nlastLogonTimestamp: {ft(llts)}\n-",
         f"replace: lastLogon\nlastLogon: {ft(logon)}\n-",
         f"replace: userAccountControl\nuserAccountControl: {uac}\n-",
         f"replace: whenCreated\nwhenCreated: {gt(now - 400 * day)}\n-",
         f"replace: replPropertyMetaData\nreplPropertyMetaData:: {redate(meta[cn], pwd, now - 400 * day, llts)}\n-"]
    out.append("\n".join(m) + "\n")
subprocess.run(["ldbmodify", "-H", "tdb://" + part], input="\n".join(out), check=True,
               capture_output=True, text=True)
print(f"{n} bulk computers set to mixed states")
PY
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

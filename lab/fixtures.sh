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
# DC2, joined afterwards, replicates it as it is.
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
    start_dc dc1 "$DC1_CONF"
    wait_ldaps "$DC_IP" 60 || up_fail "DC1 did not come back after the fixture" "$LAB_DIR/dc1/log/log.samba"
}

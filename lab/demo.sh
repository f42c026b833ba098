#!/usr/bin/env bash
# The README's demo command: on a fresh Debian 12 machine (as root) it installs what is
# missing, builds the portal and the companion client, brings up the lab (Samba AD DC,
# domain-member workstation LABWS01, OIDC provider) and serves trustdesk on SQLite over HTTPS
# (a certificate from the lab CA) at https://127.0.0.1:8443 until Ctrl-C, which also stops the
# lab. The portal ships the Linux client (`[downloads]`), so a token page's commands, pasted
# into a root shell on LABWS01 (`lab/lab.sh run`), repair it for real: see the README.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
PORT=${TD_DEMO_PORT:-8443}
URL="https://127.0.0.1:$PORT"
export LAB_DIR=${TD_DEMO_LAB_DIR:-/tmp/trustdesk-demo-lab}
export OIDC_PORT=${OIDC_PORT:-9400}
export OIDC_REDIRECT_URIS="$URL/auth/callback"
export OIDC_POST_LOGOUT_URIS="$URL/"
export OIDC_SKIP_CONSENT=1

echo "== install what is missing"; lab/install.sh
echo "== build"; cargo build --locked --bin trustdesk && cargo build --locked -p trustdesk-client
lab/lab.sh down >/dev/null 2>&1 || true
PORTAL_PID=""
cleanup() {
    [ -n "$PORTAL_PID" ] && kill -TERM "$PORTAL_PID" 2>/dev/null && wait "$PORTAL_PID" 2>/dev/null
    lab/lab.sh down || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "== lab up"; lab/lab.sh up --oidc --computers 500
# shellcheck disable=SC1091
. "$LAB_DIR/lab.env"
# The portal's HTTPS certificate, from the lab CA (the client accepts only HTTPS).
mapfile -t PORTAL_TLS < <(lab/lab.sh cert portal 127.0.0.1 127.0.0.1)
[ "${#PORTAL_TLS[@]}" = 2 ] || { echo "demo: cannot issue the portal's certificate" >&2; exit 1; }

CONF="$LAB_DIR/trustdesk.toml"
cat > "$CONF" <<TOML
# trustdesk demo configuration, written by lab/demo.sh
listen = "127.0.0.1:$PORT"
public_url = "$URL"
data_dir = "$LAB_DIR/portal-data"

[tls]
cert_file = "${PORTAL_TLS[0]}"
key_file = "${PORTAL_TLS[1]}"

# The companion client the token page's commands download (Linux: the lab member LABWS01).
[downloads]
linux_binary = "$ROOT/target/debug/trustdesk-client"
ca_file = "$LAB_CA"

[ldap]
urls = ["$LAB_LDAPS_URL"]
base_dn = "$LAB_BASEDN"
bind_dn = "$LAB_SVC_UPN"
ca_file = "$LAB_CA"
protected_ous = ["OU=Protected,$LAB_BASEDN"]

[oidc]
issuer = "$OIDC_ISSUER"
client_id = "trustdesk"
# The lab provider releases "groups" under a scope of that name, in userinfo (OIDC Core §5.4).
scopes = ["openid", "profile", "email", "groups"]
role_claim = "groups"

[roles.admin]
groups = ["trustdesk-admins"]
actions = ["lookup", "diagnose", "mint_token", "revoke_token", "reset_account", "view_audit", "export_audit", "view_policy", "run_fleet_scan"]
scopes = ["OU=Workstations,$LAB_BASEDN", "OU=Servers,$LAB_BASEDN"]

[roles.senior]
groups = ["helpdesk-senior"]
actions = ["lookup", "diagnose", "mint_token", "revoke_token", "reset_account"]
scopes = ["OU=Workstations,$LAB_BASEDN", "OU=Servers,$LAB_BASEDN"]

[roles.junior]
groups = ["helpdesk-junior-paris"]
actions = ["lookup", "diagnose", "mint_token"]
scopes = ["OU=Paris,OU=Workstations,$LAB_BASEDN"]

[roles.auditor]
groups = ["security-auditors"]
actions = ["view_audit", "export_audit"]
TOML
# Secrets go in as *_FILE, never on a command line.
SECRETS="$LAB_DIR/portal-secrets"; mkdir -p "$SECRETS"; chmod 700 "$SECRETS"
printf '%s' "$LAB_SVC_PW" > "$SECRETS/bind_password"
printf "%s" "trustdesk-secret" > "$SECRETS/client_secret"
export TRUSTDESK_LDAP__BIND_PASSWORD_FILE="$SECRETS/bind_password"
export TRUSTDESK_OIDC__CLIENT_SECRET_FILE="$SECRETS/client_secret"

echo "== portal"
"$ROOT/target/debug/trustdesk" --config "$CONF" serve &
PORTAL_PID=$!
for _ in $(seq 1 100); do
    curl -fsS --cacert "$LAB_CA" "$URL/readyz" >/dev/null 2>&1 && break
    kill -0 "$PORTAL_PID" 2>/dev/null || { echo "demo: the portal exited; see the log above" >&2; exit 1; }
    sleep 0.2
done
curl -fsS --cacert "$LAB_CA" "$URL/readyz" >/dev/null || { echo "demo: /readyz is not 200" >&2; exit 1; }
# The client's configuration as the portal serves it, for redeeming a code by hand.
CLIENT_DIR="$LAB_DIR/client"; mkdir -p "$CLIENT_DIR"
for f in client.toml portal-ca.pem; do
    curl -fsS --cacert "$LAB_CA" -o "$CLIENT_DIR/$f" "$URL/downloads/$f" || { echo "demo: cannot fetch /downloads/$f" >&2; exit 1; }
done
cat <<MSG

  trustdesk demo is up:   $URL/
                          (HTTPS from the lab CA $LAB_CA: import it in the browser, or
                          accept the warning)
  readiness:              $URL/readyz
  OIDC provider:          $OIDC_ISSUER/.well-known/openid-configuration
  lab domain:             $LAB_REALM (DC $LAB_LDAPS_URL), workstation LABWS01

  demo logins (user / password → role):
    alice / alice-pw   → senior   (look up, diagnose, tokens, DC-side reset)
    bob   / bob-pw     → junior   (Paris workstations only)
    carol / carol-pw   → auditor  (audit log only)
    erin  / erin-pw    → admin    (everything, fleet scans at /fleet included)
    dave  / dave-pw    → no role  (refused)

  Repair LABWS01 for real (README, "Demo"): as alice, look LABWS01 up and reset it (this
  breaks it), then press "Fix with a token repair". On the workstation, a root shell:
    LAB_DIR=$LAB_DIR lab/lab.sh run -- env CURL_CA_BUNDLE=$LAB_CA bash
  there paste the token page's Linux commands, or redeem the short code it shows:
    $ROOT/target/debug/trustdesk-client --config $CLIENT_DIR/client.toml redeem K7QF-M2XD-9PWA
  and watch the token page turn to "completed". Check the channel: net rpc testjoin -S dc1.$LAB_REALM

  Ctrl-C stops the portal and the lab.
MSG
wait "$PORTAL_PID"

#!/usr/bin/env bash
# The README's demo command: on a fresh Debian 12 machine (as root) it installs what is
# missing, builds the portal, brings up the lab (Samba AD DC, domain-member workstation,
# OIDC provider) and serves trustdesk on SQLite at http://127.0.0.1:8080 until Ctrl-C,
# which also stops the lab.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
PORT=${TD_DEMO_PORT:-8080}
export LAB_DIR=${TD_DEMO_LAB_DIR:-/tmp/trustdesk-demo-lab}
export OIDC_PORT=${OIDC_PORT:-9400}
export OIDC_REDIRECT_URIS="http://127.0.0.1:$PORT/auth/callback"
export OIDC_POST_LOGOUT_URIS="http://127.0.0.1:$PORT/"
export OIDC_SKIP_CONSENT=1

echo "== install what is missing"; lab/install.sh
echo "== build"; cargo build --locked --bin trustdesk
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

CONF="$LAB_DIR/trustdesk.toml"
cat > "$CONF" <<TOML
# trustdesk demo configuration, written by lab/demo.sh
listen = "127.0.0.1:$PORT"
public_url = "http://127.0.0.1:$PORT"
data_dir = "$LAB_DIR/portal-data"

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
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    kill -0 "$PORTAL_PID" 2>/dev/null || { echo "demo: the portal exited; see the log above" >&2; exit 1; }
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "demo: /readyz is not 200" >&2; exit 1; }
cat <<MSG

  trustdesk demo is up:   http://127.0.0.1:$PORT/
  readiness:              http://127.0.0.1:$PORT/readyz
  OIDC provider:          $OIDC_ISSUER/.well-known/openid-configuration
  lab domain:             $LAB_REALM (DC $LAB_LDAPS_URL), workstation LABWS01

  demo logins (user / password → role):
    alice / alice-pw   → senior   (look up, diagnose, tokens, DC-side reset)
    bob   / bob-pw     → junior   (Paris workstations only)
    carol / carol-pw   → auditor  (audit log only)
    erin  / erin-pw    → admin    (everything, fleet scans at /fleet included)
    dave  / dave-pw    → no role  (refused)

  Ctrl-C stops the portal and the lab.
MSG
wait "$PORTAL_PID"

#!/bin/bash
# trustdesk lab installer for Debian 12 (bookworm), run as root. Idempotent: it installs only
# what is missing, so a second run takes a second or two.
#
#   lab/install.sh            # then: lab/lab.sh up --oidc
#
# What it does (one line of output per step):
#   1. Debian packages: Samba AD DC + member tools, Kerberos/LDAP/ldb/tdb tools, openssl,
#      iproute2, util-linux, python3, chromium + chromium-driver, ca-certificates,
#      build-essential, pkg-config, curl, shellcheck (lab/test.sh lints the scripts), valgrind
#      (bench/instructions.sh counts instructions with callgrind), and
#      postgresql when nothing listens on
#      127.0.0.1:5432. While Samba is being installed, a temporary /usr/sbin/policy-rc.d
#      (exit 101) keeps the packages from starting smbd/nmbd/winbind with the default
#      configuration (nmbd would broadcast on the LAN); the Samba units that the packages
#      installed are then disabled and masked. An existing policy-rc.d is left alone.
#   1b. LemonLDAP::NG 2.16 (Debian), its FastCGI server and nginx, for `lab.sh up --llng`;
#      installed under the same temporary policy-rc.d, then nginx and
#      lemonldap-ng-fastcgi-server are disabled and masked (the lab runs its own instances
#      on 127.0.0.1 with configs under $LAB_DIR). SKIP_LLNG=1 skips it.
#   2. PostgreSQL: role trustdesk/trustdesk (LOGIN CREATEDB), so tests can use
#      postgres://trustdesk:trustdesk@127.0.0.1:5432/postgres
#   3. Node.js >= 20 for the test OpenID Provider: PATH, else Debian nodejs, else the
#      npm-registry package node-linux-<arch>@20 (or node@20) under lab/.node
#   4. npm ci in lab/oidc (pinned oidc-provider) and tests/axe (pinned axe-core)
#   5. Rust toolchain via rustup if cargo is missing
#
# Environment: INSTALL_LOG (default ${TMPDIR:-/tmp}/trustdesk-lab-install.log),
#   SKIP_RUST=1, SKIP_CHROMIUM=1, SKIP_POSTGRES=1, SKIP_LLNG=1, FORCE_NPM_CI=1
set -euo pipefail

LAB_ROOT=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
LOG=${INSTALL_LOG:-${TMPDIR:-/tmp}/trustdesk-lab-install.log}
export DEBIAN_FRONTEND=noninteractive
POLICY=${POLICY_RC_D:-/usr/sbin/policy-rc.d}   # overridable only to test this script
POLICY_CREATED=0
APT_UPDATED=0

step() { printf '==> %s\n' "$*"; }
ok()   { printf '    %s\n' "$*"; }
die()  {
    printf 'install: error: %s\n' "$*" >&2
    if [ -s "$LOG" ]; then printf '    (last lines of %s)\n' "$LOG" >&2; tail -n 15 "$LOG" | sed 's/^/    | /' >&2; fi
    exit 1
}
cleanup() {
    if [ "$POLICY_CREATED" = 1 ] && [ -f "$POLICY" ] && grep -q 'trustdesk-lab' "$POLICY" 2>/dev/null; then
        rm -f "$POLICY"
    fi
}
trap cleanup EXIT
# a temporary policy-rc.d (exit 101) while packages install: their maintainer scripts then
# start no service. An existing policy-rc.d is left alone (it already decides).
block_services() {
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\n# temporary, created by trustdesk lab/install.sh (trustdesk-lab)\nexit 101\n' >"$POLICY"
        chmod 755 "$POLICY"
        POLICY_CREATED=1
    fi
}
unblock_services() { cleanup; POLICY_CREATED=0; }
# never start on boot: systemd units disabled and masked, SysV links disabled
disable_units() {  # unit names; a name without a suffix is NAME.service
    local u unit
    for u in "$@"; do
        unit=$u
        case $u in *.*) ;; *) unit=$u.service ;; esac
        if command -v systemctl >/dev/null && systemctl list-unit-files "$unit" >/dev/null 2>&1; then
            if [ -d /run/systemd/system ]; then systemctl stop "$unit" >>"$LOG" 2>&1 || true; fi
            systemctl disable "$unit" >>"$LOG" 2>&1 || true
            systemctl mask "$unit" >>"$LOG" 2>&1 || true
        fi
        if [ "$unit" = "$u.service" ] && [ -x "/etc/init.d/$u" ] && command -v update-rc.d >/dev/null; then
            update-rc.d "$u" disable >>"$LOG" 2>&1 || true
        fi
    done
}
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "run as root (it installs Debian packages)"
command -v apt-get >/dev/null || die "needs a Debian system (apt-get)"
command -v dpkg-query >/dev/null || die "needs a Debian system (apt-get, dpkg-query)"
if [ -r /etc/os-release ]; then
    # shellcheck source=/dev/null
    . /etc/os-release
    if [ "${ID:-}" != debian ] || [ "${VERSION_ID:-}" != 12 ]; then
        ok "note: tested on Debian 12; this is ${PRETTY_NAME:-unknown}"
    fi
fi
: >"$LOG"

# installed, apt_run, apt_update_once
# shellcheck source=lab/apt.sh
source "$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")/apt.sh"
listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }   # no ss/nc needed

apt_install() {  # installs the given packages; updates the package lists once if needed
    local p need_update=0
    # no package lists at all, or a package apt does not know yet: update first
    compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || need_update=1
    for p in "$@"; do
        case $p in -*) continue ;; esac   # an option such as --no-install-recommends
        apt-cache show "$p" >/dev/null 2>&1 || need_update=1
    done
    [ "$need_update" = 1 ] && apt_update_once
    if ! apt_run install -y -qq "$@"; then
        # stale lists (404 on a superseded .deb): update once and retry
        [ "$APT_UPDATED" = 1 ] && die "apt-get install $* failed"
        apt_update_once
        apt_run install -y -qq "$@" || die "apt-get install $* failed"
    fi
}

# ------------------------------------------------------------------ 1. Debian packages
step "Debian packages"
SAMBA_PKGS=(samba samba-ad-dc samba-ad-provision winbind krb5-user ldb-tools ldap-utils smbclient tdb-tools)
OTHER_PKGS=(openssl iproute2 util-linux python3 ca-certificates build-essential pkg-config curl shellcheck valgrind)
[ "${SKIP_CHROMIUM:-0}" = 1 ] || OTHER_PKGS+=(chromium chromium-driver)
PG_INSTALL=0
if [ "${SKIP_POSTGRES:-0}" != 1 ]; then
    if listening 127.0.0.1 5432; then
        command -v psql >/dev/null || OTHER_PKGS+=(postgresql-client)
    else
        OTHER_PKGS+=(postgresql)
        installed postgresql || PG_INSTALL=1
    fi
fi
missing_samba=() missing_other=()
for p in "${SAMBA_PKGS[@]}"; do installed "$p" || missing_samba+=("$p"); done
for p in "${OTHER_PKGS[@]}"; do installed "$p" || missing_other+=("$p"); done

if [ "${#missing_samba[@]}" -eq 0 ] && [ "${#missing_other[@]}" -eq 0 ]; then
    ok "all present"
else
    # keep maintainer scripts from starting services (smbd/nmbd/winbind, postgresql)
    block_services
    ok "installing: ${missing_samba[*]} ${missing_other[*]}"
    apt_install "${missing_samba[@]}" "${missing_other[@]}"
    unblock_services
    if [ "${#missing_samba[@]}" -gt 0 ] && command -v systemctl >/dev/null; then
        # the lab starts its own daemons with its own configs; the distribution units must
        # never run the default config (nmbd broadcasts on the LAN)
        disable_units smbd nmbd winbind samba-ad-dc
        ok "masked smbd nmbd winbind samba-ad-dc (undo: systemctl unmask smbd nmbd winbind samba-ad-dc)"
    fi
    ok "done"
fi

# ------------------------------------------------------------------ 1b. LemonLDAP::NG
# A second, real OpenID Provider for `lab.sh up --llng`: Debian's LemonLDAP::NG 2.16 (portal,
# manager libraries for lemonldap-ng-cli/rotateOidcKeys, FastCGI server) behind nginx.
# Without recommends (they pull ghostscript/imagemagick); the few the lab needs are named.
# The lab runs its own nginx and llng-fastcgi-server with configs under $LAB_DIR, so the
# distribution units are disabled and masked, and a freshly installed nginx loses its default
# site (it would listen on *:80 if anyone started it).
if [ "${SKIP_LLNG:-0}" != 1 ]; then
    step "LemonLDAP::NG (OpenID Provider for lab.sh up --llng)"
    LLNG_PKGS=(lemonldap-ng lemonldap-ng-fastcgi-server liblemonldap-ng-portal-perl liblemonldap-ng-manager-perl
        nginx libnet-ldap-perl libio-socket-ssl-perl libio-socket-timeout-perl libcrypt-openssl-bignum-perl
        libgd-securityimage-perl libimage-magick-perl libunicode-string-perl libio-string-perl libipc-run-perl
        libhttp-parser-xs-perl libcookie-baker-xs-perl libstring-random-perl liblwp-protocol-https-perl
        libapache-session-browseable-perl curl python3)
    missing_llng=()
    for p in "${LLNG_PKGS[@]}"; do installed "$p" || missing_llng+=("$p"); done
    if [ "${#missing_llng[@]}" -eq 0 ]; then
        ok "all present ($(dpkg-query -W -f='${Version}' liblemonldap-ng-portal-perl))"
    else
        nginx_was_installed=0
        installed nginx-common && nginx_was_installed=1
        block_services
        ok "installing: ${missing_llng[*]}"
        apt_install --no-install-recommends "${missing_llng[@]}"
        unblock_services
        # the purge timers (and their cron.d twins, left as shipped) only clean the caches of
        # the system-wide configuration, which the lab does not use
        # (an nginx that was there before is the admin's: left alone)
        [ "$nginx_was_installed" = 1 ] || disable_units nginx
        disable_units lemonldap-ng-fastcgi-server liblemonldap-ng-handler-perl.service \
            liblemonldap-ng-handler-perl.timer liblemonldap-ng-portal-perl.service liblemonldap-ng-portal-perl.timer
        if [ "$nginx_was_installed" = 0 ] && [ -L /etc/nginx/sites-enabled/default ]; then
            rm -f /etc/nginx/sites-enabled/default
            ok "removed the default nginx site (sites-enabled/default; it listens on *:80)"
        fi
        ok "masked nginx, lemonldap-ng-fastcgi-server and the liblemonldap-ng-*-perl purge timers (undo: systemctl unmask ...)"
        ok "installed LemonLDAP::NG $(dpkg-query -W -f='${Version}' liblemonldap-ng-portal-perl)"
    fi
fi

# ------------------------------------------------------------------ 2. PostgreSQL role
if [ "${SKIP_POSTGRES:-0}" != 1 ]; then
    step "PostgreSQL role trustdesk on 127.0.0.1:5432"
    if [ "$PG_INSTALL" = 1 ] || ! listening 127.0.0.1 5432; then
        # installed just now with services blocked: start the cluster the package created
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
            systemctl enable --now postgresql >>"$LOG" 2>&1 || true
        fi
        if ! listening 127.0.0.1 5432 && command -v pg_lsclusters >/dev/null; then
            while read -r ver name _; do
                pg_ctlcluster "$ver" "$name" start >>"$LOG" 2>&1 || true
            done < <(pg_lsclusters -h 2>/dev/null)
        fi
        for _ in $(seq 1 30); do listening 127.0.0.1 5432 && break; sleep 0.5; done
        listening 127.0.0.1 5432 || die "PostgreSQL does not listen on 127.0.0.1:5432"
    fi
    SQL="DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'trustdesk') THEN
    CREATE ROLE trustdesk LOGIN CREATEDB PASSWORD 'trustdesk';
  ELSE
    ALTER ROLE trustdesk LOGIN CREATEDB PASSWORD 'trustdesk';
  END IF;
END \$\$;"
    # as the postgres OS user over the local socket (Debian's peer auth), else over TCP
    if { id postgres >/dev/null 2>&1 && command -v runuser >/dev/null &&
         (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -c "$SQL") >>"$LOG" 2>&1; } ||
       psql -X -q -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d postgres -c "$SQL" >>"$LOG" 2>&1; then
        :
    else
        die "cannot create the role trustdesk (no access as the postgres superuser)"
    fi
    psql -X -q -w "postgres://trustdesk:trustdesk@127.0.0.1:5432/postgres" -c 'SELECT 1' >>"$LOG" 2>&1 \
        || die "role trustdesk exists but cannot log in over 127.0.0.1 (check pg_hba.conf)"
    ok "postgres://trustdesk:trustdesk@127.0.0.1:5432/postgres works"
fi

# ------------------------------------------------------------------ 3. Node.js >= 20
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
find_node() {
    local n
    for n in "$LAB_ROOT/.node/bin/node" "$(command -v node 2>/dev/null || true)"; do
        if [ -z "$n" ] || [ ! -x "$n" ]; then continue; fi
        [ "$(node_major "$n")" -ge 20 ] && { printf '%s\n' "$n"; return 0; }
    done
    return 1
}
step "Node.js >= 20"
if NODE=$(find_node); then
    ok "$NODE $("$NODE" --version)"
else
    # Debian 12's nodejs is 18: fine to run npm, too old for oidc-provider 9
    if ! command -v npm >/dev/null; then
        ok "installing Debian nodejs npm"
        apt_install nodejs npm
    fi
    if ! NODE=$(find_node); then
        case $(uname -m) in
            x86_64) arch=x64 ;;
            aarch64) arch=arm64 ;;
            *) die "no node >= 20 and no npm-registry build for $(uname -m); install Node.js 20+ yourself" ;;
        esac
        mkdir -p "$LAB_ROOT/.node/bin"
        for pkg in "node-linux-$arch@20" "node@20"; do
            ok "installing $pkg from the npm registry into lab/.node"
            if npm install --prefix "$LAB_ROOT/.node" --no-save --no-package-lock --no-audit --no-fund \
                    --loglevel=error "$pkg" >>"$LOG" 2>&1; then
                bin="$LAB_ROOT/.node/node_modules/${pkg%@*}/bin/node"
                if [ -x "$bin" ] && [ "$(node_major "$bin")" -ge 20 ]; then
                    ln -sfn "../node_modules/${pkg%@*}/bin/node" "$LAB_ROOT/.node/bin/node"
                    break
                fi
            fi
        done
        NODE=$(find_node) || die "could not install Node.js >= 20"
    fi
    ok "$NODE $("$NODE" --version)"
fi

# ------------------------------------------------------------------ 4. npm ci in lab/oidc
step "lab/oidc: npm ci (oidc-provider pinned)"
command -v npm >/dev/null || apt_install npm
OIDC="$LAB_ROOT/oidc"
want=$(sed -n 's/.*"oidc-provider": *"\([^"]*\)".*/\1/p' "$OIDC/package.json" | head -1)
have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$OIDC/node_modules/oidc-provider/package.json" 2>/dev/null | head -1 || true)
if [ "${FORCE_NPM_CI:-0}" != 1 ] && [ -n "$have" ] && [ "$have" = "$want" ] &&
   [ "$OIDC/node_modules/.package-lock.json" -nt "$OIDC/package-lock.json" ]; then
    ok "up to date (oidc-provider $have)"
else
    # npm runs under the node >= 20 found above
    (cd "$OIDC" && PATH="$(dirname "$NODE"):$PATH" npm ci --no-audit --no-fund --loglevel=error) >>"$LOG" 2>&1 \
        || die "npm ci in lab/oidc failed"
    ok "installed oidc-provider $want"
fi

# ------------------------------------------------------------------ 4b. npm ci in tests/axe
step "tests/axe: npm ci (axe-core pinned, for the accessibility checks in Chromium)"
AXE="$LAB_ROOT/../tests/axe"
want=$(sed -n 's/.*"axe-core": *"\([^"]*\)".*/\1/p' "$AXE/package.json" | head -1)
have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$AXE/node_modules/axe-core/package.json" 2>/dev/null | head -1 || true)
if [ "${FORCE_NPM_CI:-0}" != 1 ] && [ -n "$have" ] && [ "$have" = "$want" ] &&
   [ "$AXE/node_modules/.package-lock.json" -nt "$AXE/package-lock.json" ]; then
    ok "up to date (axe-core $have)"
else
    (cd "$AXE" && PATH="$(dirname "$NODE"):$PATH" npm ci --no-audit --no-fund --loglevel=error) >>"$LOG" 2>&1 \
        || die "npm ci in tests/axe failed"
    ok "installed axe-core $want"
fi

# ------------------------------------------------------------------ 5. Rust
step "Rust toolchain (cargo)"
if command -v cargo >/dev/null || [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    c=$(command -v cargo || echo "${CARGO_HOME:-$HOME/.cargo}/bin/cargo")
    ok "$c ($("$c" --version 2>/dev/null || echo '?'))"
elif [ "${SKIP_RUST:-0}" = 1 ]; then
    ok "cargo missing; skipped (SKIP_RUST=1)"
else
    # the official installer (https://rustup.rs): curl ... https://sh.rustup.rs | sh -s -- -y
    ok "installing rustup + stable Rust (minimal profile, clippy, rustfmt) from https://sh.rustup.rs"
    tmp=$(mktemp "${TMPDIR:-/tmp}/rustup-init.XXXXXX")
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs -o "$tmp" >>"$LOG" 2>&1 \
        || { rm -f "$tmp"; die "cannot download the rustup installer"; }
    sh "$tmp" -y --profile minimal --default-toolchain stable --component clippy,rustfmt >>"$LOG" 2>&1 \
        || { rm -f "$tmp"; die "rustup install failed"; }
    rm -f "$tmp"
    ok "installed $("${CARGO_HOME:-$HOME/.cargo}/bin/cargo" --version)"
    ok "new shells get it on PATH; in this one run: . \"\${CARGO_HOME:-\$HOME/.cargo}/env\""
fi

step "ready: lab/lab.sh up --oidc   (then lab/lab.sh selftest)"

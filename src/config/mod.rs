//! Configuration: serialized defaults → TOML file → `TRUSTDESK_*` environment → `*_FILE` secrets.
//!
//! Every struct denies unknown keys, so a typo is an error that names the key. Secrets are
//! [`SecretString`]s: their `Debug` output is redacted and they are never serialized back out.
//! [`Config::load`] only parses; [`Config::validate`] checks what can be checked without the
//! network (URLs, CA file, required secrets, role names) and names the offending key.
//! `crate::checks::validate` adds the checks that need modules above this one.
//!
//! A low layer: it uses `crate::ad` and leaf modules (`pem`), never `directory`, `policy`,
//! `auth`, `downloads` or `db` (they all read `Config`).

mod approval;
mod audit;
mod domains;
mod downloads;
mod load;
mod oidc;
mod proxies;
mod tickets;
mod validate;
mod webhooks;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

pub use approval::ApprovalConfig;
pub use audit::AuditConfig;
pub use domains::dns_server;
pub use downloads::DownloadsConfig;
pub use load::{ConfigError, ENV_PREFIX};
pub use oidc::{OidcConfig, ResponseMode, RoleMatch, SessionConfig, TokenEndpointAuth};
pub use proxies::{ProxyParseError, TrustedProxy, is_trusted};
pub use tickets::{TicketTemplateError, TicketUrlTemplate};
pub use webhooks::{EventType, MIN_SECRET_BYTES, WebhookConfig};

/// The whole portal configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Socket address the HTTP server binds.
    #[serde(default = "defaults::listen")]
    pub listen: SocketAddr,
    /// The URL users reach the portal at (scheme decides HSTS and Secure cookies).
    #[serde(default = "defaults::public_url")]
    pub public_url: String,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For` is believed for
    /// the client address: the audit's source IP and the per-client rate limits. From anyone
    /// else the header is ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<TrustedProxy>,
    /// Where the embedded database, the token signing key and other state live.
    #[serde(default = "defaults::data_dir")]
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: `sqlite://<data_dir>/trustdesk.db`.
    #[serde(default)]
    pub database_url: Option<SecretString>,
    /// How many portal instances run on this database (default 1). Several need
    /// PostgreSQL: on it the per-client rate limits are shared; on SQLite, which serves one
    /// instance, a value above 1 is warned about at start and by `check-config`.
    #[serde(default = "defaults::instances")]
    pub instances: u32,
    #[serde(default)]
    pub log: LogConfig,
    /// The single domain of a configuration from before `[[domains]]`: [`Config::load`] moves
    /// it into `domains` (and sets `single_ldap`), so nothing else reads it.
    #[serde(default)]
    ldap: Option<LdapConfig>,
    /// `[[domains]]`: the managed domains, each with its own DCs, base DN, service account
    /// and CA. A computer's domain is the `DC=` part of its DN.
    #[serde(default)]
    pub domains: Vec<LdapConfig>,
    /// The domain came from a single `[ldap]` table (`check-config` explains the move).
    #[serde(skip)]
    pub single_ldap: bool,
    pub oidc: OidcConfig,
    /// Staff sessions: idle timeout and absolute lifetime.
    #[serde(default)]
    pub session: SessionConfig,
    /// Role name → which OIDC role-claim values (or users) grant it, and what it may do.
    #[serde(default)]
    pub roles: BTreeMap<String, RoleConfig>,
    #[serde(default)]
    pub diagnosis: DiagnosisConfig,
    #[serde(default)]
    pub tokens: TokensConfig,
    /// The audit key and how often it signs the chain head.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Serve HTTPS directly (else put a TLS-terminating proxy in front).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub fleet: FleetConfig,
    /// The companion client served at `/downloads/`; absent: not served.
    #[serde(default)]
    pub downloads: Option<DownloadsConfig>,
    #[serde(default)]
    pub health: HealthConfig,
    /// `https://…{ticket}…`: ticket references on the pages (the audit log, a computer's
    /// recent actions) link there; absent: they stay text.
    #[serde(default)]
    pub ticket_url_template: Option<TicketUrlTemplate>,
    /// `[[webhooks]]`: signed JSON events POSTed to these receivers (`crate::webhooks`).
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
}

/// `/metrics` (per-route volumes, DC names in failure labels) is for the monitoring system
/// only: it answers a request carrying `Authorization: Bearer <metrics_token>`, and 404 to
/// everyone else, and to everyone while no token is set (security review L-5).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    #[serde(default)]
    pub metrics_token: Option<SecretString>,
}

/// The fleet health scan.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// Subtrees to scan, by DN (default: the whole domain, `ldap.base_dn`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Start a scan every this many hours (0: only on demand, from the page or the CLI).
    #[serde(default)]
    pub schedule_hours: u32,
    /// LDAP page size (AD's MaxPageSize is 1000).
    #[serde(default = "defaults::fleet_page_size")]
    pub page_size: u32,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            scopes: Vec::new(),
            schedule_hours: 0,
            page_size: defaults::fleet_page_size(),
        }
    }
}

/// Repair tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensConfig {
    /// Default lifetime of a minted token.
    #[serde(default = "defaults::token_lifetime_minutes")]
    pub lifetime_minutes: u32,
    /// No token lives longer than this, whatever is asked.
    #[serde(default = "defaults::token_max_lifetime_minutes")]
    pub max_lifetime_minutes: u32,
    /// A file holding the Ed25519 signing key (base64url seed); default: generated on first
    /// start in `<data_dir>/token-keys/` with mode 0600.
    #[serde(default)]
    pub signing_key_file: Option<PathBuf>,
    /// After each redeem, how long the client has to rotate the password twice (which kills
    /// the one that crossed the network) before the portal raises "the password that crossed
    /// the network may still be valid".
    #[serde(default = "defaults::repair_watch_secs")]
    pub repair_watch_secs: u64,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            lifetime_minutes: defaults::token_lifetime_minutes(),
            max_lifetime_minutes: defaults::token_max_lifetime_minutes(),
            signing_key_file: None,
            repair_watch_secs: defaults::repair_watch_secs(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Rate limits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Redeem attempts per source address: the burst, refilled at one per
    /// `redeem_refill_secs`.
    #[serde(default = "defaults::redeem_burst")]
    pub redeem_burst: u32,
    #[serde(default = "defaults::redeem_refill_secs")]
    pub redeem_refill_secs: u64,
    /// `/login` and `/auth/callback` hits per client address: the burst, refilled at one per
    /// `signin_refill_secs`.
    #[serde(default = "defaults::signin_burst")]
    pub signin_burst: u32,
    #[serde(default = "defaults::signin_refill_secs")]
    pub signin_refill_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            redeem_burst: defaults::redeem_burst(),
            redeem_refill_secs: defaults::redeem_refill_secs(),
            signin_burst: defaults::signin_burst(),
            signin_refill_secs: defaults::signin_refill_secs(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (default) or `json` (one JSON object per line, for collectors).
    #[serde(default = "defaults::log_format")]
    pub format: LogFormat,
    /// An `EnvFilter` directive; `RUST_LOG` overrides it.
    #[serde(default = "defaults::log_filter")]
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: defaults::log_format(),
            filter: defaults::log_filter(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// One domain's directory connection (a `[[domains]]` entry, or the single `[ldap]`). Only
/// LDAPS, or `ldap://` with StartTLS, is ever used.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// The domain's NetBIOS name (`CORP`), as people write `CORP\PC01`. Required in
    /// `[[domains]]`; for the single `[ldap]`, read from the directory.
    #[serde(default)]
    pub name: Option<String>,
    /// The domain's DNS name (`corp.example.com`): the `DC=` parts of `base_dn`, and the
    /// domain part of its computers' URLs. Required in `[[domains]]`; for the single
    /// `[ldap]`, taken from `base_dn`.
    #[serde(default)]
    pub dns_name: Option<String>,
    /// Domain controllers, tried in this order (before any `dns_srv` finds). May be empty
    /// with `dns_srv`.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Also find the domain's DCs through DNS, as Windows does: the SRV records
    /// `_ldap._tcp.dc._msdcs.<dns_name>` (`directory/locator.rs`).
    #[serde(default)]
    pub dns_srv: bool,
    /// The DNS servers asked for those records and the DCs' addresses (`10.0.0.1` or
    /// `10.0.0.1:53`); default: the system's resolver (`/etc/resolv.conf`).
    #[serde(default)]
    pub dns_servers: Vec<String>,
    /// Required for `ldap://` URLs: upgrade with StartTLS before binding.
    #[serde(default)]
    pub starttls: bool,
    /// The naming context searched, e.g. `DC=corp,DC=example,DC=com`.
    pub base_dn: String,
    /// The service account (a DN or a UPN).
    pub bind_dn: String,
    pub bind_password: Option<SecretString>,
    /// PEM file with the CA(s) that sign the DC certificates; default: the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Opening a connection to one DC (TCP and TLS); past it, the next DC is tried.
    #[serde(default = "defaults::connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// One unit of work on one DC (a search, a password write); past it, the DC's connection
    /// is dropped and, where the work may go to any DC, the next DC is tried.
    #[serde(default = "defaults::op_timeout_secs")]
    pub op_timeout_secs: u64,
    /// After a connection-level failure, a DC rests this long: it is tried only when every
    /// other DC fails too (0: always tried in order; at most 86400).
    #[serde(default = "defaults::retry_after_secs")]
    pub retry_after_secs: u64,
    /// OUs (DNs) whose objects are refused to everyone, whatever the role.
    #[serde(default)]
    pub protected_ous: Vec<String>,
    /// Groups whose members (nested, read through `tokenGroups`) are refused to everyone, by
    /// DN or SID, beyond the built-in privileged groups (Domain Controllers, Cert Publishers,
    /// Key Admins, … see `ad/tier0.rs`). A group that cannot be resolved refuses every
    /// change until it can.
    #[serde(default)]
    pub protected_groups: Vec<String>,
    /// Find every DC of the domain in the directory (writable DCs and RODCs) and read the
    /// per-DC attributes (`lastLogon`, `badPasswordTime`, metadata) from each of them, not only
    /// from `urls`. `urls` stay the DCs for searches and writes. Off: the per-DC view is partial.
    #[serde(default = "defaults::discover_dcs")]
    pub discover_dcs: bool,
    /// Discovered DCs never contacted, by DNS host name (case-insensitive), e.g. a DC behind a
    /// firewall the portal cannot cross. The diagnosis still counts them as unread.
    #[serde(default)]
    pub exclude_dcs: Vec<String>,
    /// How long the discovered DC list is reused before it is read again (60..=86400).
    #[serde(default = "defaults::discovery_refresh_secs")]
    pub discovery_refresh_secs: u64,
}

/// One role: the role-claim values (groups, app roles) or users that grant it, its actions
/// and its OU scopes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// Values of `oidc.role_claim` that grant the role: group names, Entra object IDs, app
    /// role values or Keycloak paths (`/helpdesk/senior`), matched per `oidc.role_values`.
    #[serde(default)]
    pub groups: Vec<String>,
    /// People granted the role directly, by subject (`sub`) or verified e-mail, for
    /// providers without a group claim (Google).
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub actions: Vec<String>,
    /// OU subtrees (DNs) this role may act in; empty means none.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Lookups, diagnoses and repairs one user may make per hour through this role.
    #[serde(default)]
    pub max_actions_per_hour: Option<u32>,
    /// The longest token this role may mint (capped by tokens.max_lifetime_minutes).
    #[serde(default)]
    pub max_token_minutes: Option<u32>,
    /// A computer outside this role's scopes answers exactly as a name that does not exist
    /// ("not in the OUs your roles cover"), so the role cannot learn which names exist
    /// elsewhere. Off (the default), the refusal names the OU the computer is in.
    #[serde(default)]
    pub hide_outside_scope: bool,
    /// The changes this role may only ask for, approved by another person (four eyes).
    #[serde(default)]
    pub approval: Option<ApprovalConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagnosisConfig {
    /// The clients' machine-password rotation period (Group Policy `MaximumPasswordAge`).
    #[serde(default = "defaults::rotation_window_days")]
    pub rotation_window_days: u32,
    /// How long DCs may disagree about a password write before it counts as replication lag
    /// (intra-site replication takes seconds; raise it where inter-site schedules are slow).
    #[serde(default = "defaults::replication_skew_secs")]
    pub replication_skew_secs: u32,
    /// A password set this soon after the machine's last logon counts as its own rotation.
    #[serde(default = "defaults::self_rotation_grace_secs")]
    pub self_rotation_grace_secs: u32,
}

impl Default for DiagnosisConfig {
    fn default() -> Self {
        Self {
            rotation_window_days: defaults::rotation_window_days(),
            replication_skew_secs: defaults::replication_skew_secs(),
            self_rotation_grace_secs: defaults::self_rotation_grace_secs(),
        }
    }
}

/// The actions a role may be granted (README, "Configuration": the `actions` comment).
/// The actions an approval can hold back (`[roles.X].approval`): the changes a request can
/// wait for.
pub const APPROVABLE: &[&str] = &["mint_token", "reset_account"];

pub const ACTIONS: &[&str] = &[
    "lookup",
    "diagnose",
    "mint_token",
    "revoke_token",
    "reset_account",
    "view_audit",
    "export_audit",
    "view_policy",
    "run_fleet_scan",
    "override_diagnosis",
];

mod defaults {
    pub fn fleet_page_size() -> u32 {
        1000
    }

    use std::net::SocketAddr;
    use std::path::PathBuf;

    use super::LogFormat;

    pub fn listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }
    pub fn public_url() -> String {
        "http://127.0.0.1:8080".into()
    }
    pub fn data_dir() -> PathBuf {
        PathBuf::from("data")
    }
    pub fn log_format() -> LogFormat {
        LogFormat::Text
    }
    pub fn log_filter() -> String {
        "info".into()
    }
    pub fn connect_timeout_secs() -> u64 {
        5
    }
    pub fn op_timeout_secs() -> u64 {
        10
    }
    pub fn retry_after_secs() -> u64 {
        30
    }
    pub fn discover_dcs() -> bool {
        true
    }
    pub fn discovery_refresh_secs() -> u64 {
        3600
    }
    pub fn self_rotation_grace_secs() -> u32 {
        600
    }
    pub fn rotation_window_days() -> u32 {
        30
    }
    pub fn replication_skew_secs() -> u32 {
        300
    }
    pub fn repair_watch_secs() -> u64 {
        900
    }
    pub fn token_lifetime_minutes() -> u32 {
        15
    }
    pub fn token_max_lifetime_minutes() -> u32 {
        60
    }
    pub fn instances() -> u32 {
        1
    }
    pub fn redeem_burst() -> u32 {
        10
    }
    pub fn redeem_refill_secs() -> u64 {
        6
    }
    pub fn signin_burst() -> u32 {
        20
    }
    pub fn signin_refill_secs() -> u64 {
        3
    }
}

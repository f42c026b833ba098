//! `TestApp`: the whole portal in-process, on plain `cargo test` — no root, no lab, no
//! PostgreSQL, no network. SQLite in a temporary directory, an LDAPS URL nothing listens on
//! (with a CA made at test time, since the configuration's check loads it) and an OIDC issuer
//! nothing answers; `trustdesk::build` contacts neither at startup. Requests go through the
//! router with `oneshot`, from a fixed client address.
//!
//! Built as `TestApp::new().with_config(|c| …).start().await`: the configuration is typed,
//! parsed once from a minimal TOML and then edited field by field.
//!
//! Actors: [`TestApp::key`] (an API key bound to a role, for `/api/v1`) and
//! [`TestApp::signed_in`] (a server-side session seeded as the callback stores one, with its
//! login row, for pages).
//!
//! `TEST_LOG=1 cargo test …` prints the portal's logs (zero2prod's switch); otherwise they go
//! to a sink.

mod request;

use std::net::SocketAddr;
use std::sync::LazyLock;

use axum::Router;
use axum::extract::connect_info::MockConnectInfo;
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use trustdesk::auth::{RoleInputs, STAFF_KEY, Staff};
use trustdesk::config::{Config, RoleConfig};
use trustdesk::db::LoginRow;
use trustdesk::web::AppState;

pub use request::{Resp, Who};

/// The base DN of the test configuration's directory (which never answers).
pub const BASE_DN: &str = "DC=lab,DC=example,DC=test";
/// The LDAPS URL of the test configuration: nothing listens on port 1.
pub const DEAD_DC: &str = "ldaps://127.0.0.1:1";
/// The OIDC issuer of the test configuration: nothing answers there either.
pub const DEAD_ISSUER: &str = "http://127.0.0.1:1/issuer";
/// The monitoring system's bearer token for `/metrics`.
pub const METRICS_TOKEN: &str = "test-metrics-token";
/// The client address every request comes from (TEST-NET-1): limits and audit key on it.
pub const CLIENT: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10)),
    40_000,
);

/// Only what has no default; everything else is set as typed fields in [`base_config`].
const MINIMAL_TOML: &str = r#"
[ldap]
urls = ["ldaps://127.0.0.1:1"]
base_dn = "DC=lab,DC=example,DC=test"
bind_dn = "svc-trustdesk@lab.example.test"
bind_password = "not-used"

[oidc]
issuer = "http://127.0.0.1:1/issuer"
client_id = "trustdesk"
client_secret = "trustdesk-secret"
"#;

/// The roles of every test portal, by the role-claim value that grants them.
pub const ROLES: &[(&str, &str, &[&str])] = &[
    (
        "senior",
        "helpdesk-senior",
        &[
            "lookup",
            "diagnose",
            "mint_token",
            "revoke_token",
            "reset_account",
        ],
    ),
    ("junior", "helpdesk-junior", &["lookup", "diagnose"]),
    (
        "auditor",
        "security-auditors",
        &["view_audit", "export_audit"],
    ),
    // Every action of `config::ACTIONS` but `override_diagnosis`.
    ("admin", "trustdesk-admins", &[]),
];

/// The actions a test role is granted: as [`ROLES`] lists them; the admin's are every action
/// but overriding the diagnosis.
fn actions_of(name: &str, listed: &[&str]) -> Vec<String> {
    let all = trustdesk::config::ACTIONS
        .iter()
        .filter(|a| **a != "override_diagnosis");
    let chosen: Vec<&str> = if name == "admin" {
        all.copied().collect()
    } else {
        listed.to_vec()
    };
    chosen.into_iter().map(str::to_string).collect()
}

/// Install the test subscriber once per process: stdout with `TEST_LOG`, else a sink.
fn init_tracing() {
    static ONCE: LazyLock<()> = LazyLock::new(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let builder = tracing_subscriber::fmt().with_env_filter(filter);
        // `try_init`: another module of the binary may have installed one first.
        let _ = if std::env::var_os("TEST_LOG").is_some() {
            builder.with_writer(std::io::stdout).try_init()
        } else {
            builder.with_writer(std::io::sink).try_init()
        };
    });
    LazyLock::force(&ONCE);
}

/// The configuration every test portal starts from, its files in `dir`.
fn base_config(dir: &std::path::Path) -> Config {
    let mut c: Config = toml::from_str(MINIMAL_TOML).expect("the minimal test configuration");
    c.move_single_ldap()
        .expect("the minimal test configuration's [ldap]");
    let (ca, _, _) = crate::tap::test_pki(dir);
    c.public_url = "http://portal.test".into();
    c.domains[0].urls = vec![DEAD_DC.into()];
    c.oidc.issuer = DEAD_ISSUER.into();
    c.data_dir = dir.join("data");
    c.domains[0].ca_file = Some(ca);
    c.domains[0].connect_timeout_secs = 1;
    c.domains[0].op_timeout_secs = 1;
    c.domains[0].discover_dcs = false;
    c.health.metrics_token = Some(METRICS_TOKEN.to_string().into());
    for (name, group, listed) in ROLES {
        let actions = actions_of(name, listed);
        let scoped = actions.iter().any(|a| a == "lookup");
        c.roles.insert(
            (*name).to_string(),
            RoleConfig {
                groups: vec![(*group).to_string()],
                actions,
                scopes: if scoped {
                    vec![format!("OU=Workstations,{BASE_DN}")]
                } else {
                    Vec::new()
                },
                ..RoleConfig::default()
            },
        );
    }
    c
}

/// A portal being configured: [`TestApp::new`] … [`TestAppBuilder::start`].
pub struct TestAppBuilder {
    dir: tempfile::TempDir,
    config: Config,
}

impl TestAppBuilder {
    /// Edit the typed configuration before the portal is built.
    pub fn with_config(mut self, edit: impl FnOnce(&mut Config)) -> Self {
        edit(&mut self.config);
        self
    }

    /// Build the portal as `trustdesk::build` does for `serve`, and its router.
    pub async fn start(self) -> TestApp {
        crate::common::install_crypto();
        let state = trustdesk::build(self.config)
            .await
            .expect("the test portal builds");
        let router = trustdesk::web::app(state.clone()).layer(MockConnectInfo(CLIENT));
        TestApp {
            state,
            router,
            _dir: self.dir,
        }
    }
}

/// The portal in-process.
pub struct TestApp {
    pub state: AppState,
    router: Router,
    /// The SQLite database, keys and CA: removed when the app is dropped.
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// The default test configuration, to edit with [`TestAppBuilder::with_config`].
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> TestAppBuilder {
        init_tracing();
        let dir = tempfile::tempdir().unwrap();
        let config = base_config(dir.path());
        TestAppBuilder { dir, config }
    }

    /// The portal with the default test configuration.
    pub async fn default_app() -> TestApp {
        Self::new().start().await
    }

    pub fn store(&self) -> &trustdesk::db::Store {
        &self.state.store
    }

    /// An API key for `role` (as `trustdesk api-key create` makes one).
    pub async fn key(&self, role: &str) -> Who {
        let name = format!("test-{role}-{}", uuid::Uuid::new_v4().simple());
        let key = trustdesk::auth::api_keys::create(&self.state.store, &name, role)
            .await
            .unwrap();
        Who::Key(key)
    }

    /// Someone signed in whose provider sent these role-claim values (`ROLES` names the ones
    /// that grant a role; any other value grants none), as the callback leaves them: a
    /// session record holding the staff, and the login row for back-channel logout.
    pub async fn signed_in(&self, sub: &str, values: &[&str]) -> Who {
        let now = trustdesk::clock::now();
        let staff = Staff {
            sub: sub.to_string(),
            name: Some(format!("Test {sub}")),
            email: None,
            roles: Vec::new(),
            csrf: format!("csrf-{}", uuid::Uuid::new_v4().simple()),
            signed_in_at: now.unix_timestamp(),
            touched_at: now.unix_timestamp(),
            id_token: None,
            role_inputs: Some(RoleInputs {
                values: values.iter().map(|v| (*v).to_string()).collect(),
                verified_email: None,
            }),
            can_lookup: false,
            can_approve: false,
        };
        self.seed_session(staff, now).await
    }

    /// Someone signed in holding the role `role` of [`ROLES`].
    pub async fn signed_in_as(&self, role: &str) -> Who {
        let group = ROLES
            .iter()
            .find(|(name, _, _)| *name == role)
            .map(|(_, group, _)| *group)
            .unwrap_or_else(|| panic!("no test role {role}"));
        self.signed_in(&format!("{role}-sub"), &[group]).await
    }

    /// Store `staff` in a new session through the portal's own session store (so under the
    /// stored id, as a real sign-in) and remember the login; returns the browser holding its
    /// cookie.
    pub async fn seed_session(&self, staff: Staff, at: OffsetDateTime) -> Who {
        let lifetime = time::Duration::seconds(
            i64::try_from(self.state.config.session.absolute_lifetime_secs).unwrap(),
        );
        let mut record = Record {
            id: Id::default(),
            data: [(STAFF_KEY.to_string(), serde_json::to_value(&staff).unwrap())].into(),
            expiry_date: at + time::Duration::hours(1),
        };
        self.state.sessions.create(&mut record).await.unwrap();
        self.state
            .store
            .add_login(&LoginRow {
                session_id: trustdesk::auth::sessions::stored_id(&record.id).to_string(),
                issuer: self.state.config.oidc.issuer.clone(),
                sub: staff.sub.clone(),
                sid: None,
                name: staff.name.clone(),
                signed_in_at: at,
                expires_at: at + lifetime,
            })
            .await
            .unwrap();
        Who::Session {
            cookie: format!("td_session={}", record.id),
            csrf: staff.csrf,
        }
    }
}

//! Helpers shared by the integration modules: the lab, the test OpenID Provider, lab
//! portals, a cookie-keeping HTTP client and its sign-in; `chromium` drives a browser.

pub mod chromium;
mod client;
mod oidc;
mod pg;

pub use client::*;
pub use oidc::*;

use std::path::{Path, PathBuf};

use trustdesk::config::Config;

/// The running lab, as `lab/lab.sh run` exports it.
pub struct Lab {
    pub ldaps_url: String,
    pub dc2_ldaps_url: Option<String>,
    pub ca: PathBuf,
    pub svc_upn: String,
    pub svc_pw: String,
    pub base_dn: String,
}

impl Lab {
    /// The DCs a test portal lists in `ldap.urls`: DC1, then DC2 when the lab has it (never
    /// DC3, which only discovery finds).
    pub fn configured_dcs(&self) -> Vec<&str> {
        let mut urls = vec![self.ldaps_url.as_str()];
        urls.extend(self.dc2_ldaps_url.as_deref());
        urls
    }
}

/// The running lab. Every test that calls this is `#[ignore = "needs the lab"]`, so it runs
/// only when asked for (`lab/test.sh` passes `--include-ignored`): a missing lab is then a
/// failure, never a silent pass.
pub fn lab() -> Lab {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let need = |k: &str| {
        get(k).unwrap_or_else(|| {
            panic!("{k} is not set: this test needs the lab; run it inside `lab/lab.sh run -- …`")
        })
    };
    Lab {
        ldaps_url: need("LAB_LDAPS_URL"),
        dc2_ldaps_url: get("LAB_DC2_LDAPS_URL"),
        ca: PathBuf::from(need("LAB_CA")),
        svc_upn: need("LAB_SVC_UPN"),
        svc_pw: need("LAB_SVC_PW"),
        base_dn: need("LAB_BASEDN"),
    }
}

/// PostgreSQL for the store suite: `TD_TEST_PG_URL`, default the local server.
pub fn pg_admin_url() -> String {
    std::env::var("TD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://trustdesk:trustdesk@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty PostgreSQL database on the test server: its URL and its name (for
/// [`drop_pg_database`]).
pub async fn create_pg_database() -> (String, String) {
    pg::create_database_on(&pg_admin_url(), "td_test_").await
}

/// Drop a database [`create_pg_database`] made, whoever is still connected.
pub async fn drop_pg_database(name: &str) {
    use sqlx::Executor;
    let admin = sqlx::PgPool::connect(&pg_admin_url()).await.unwrap();
    admin
        .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
}

pub fn install_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The `[oidc] scopes` line for providers that release `groups` under a scope of that name
/// (the lab provider's default profile, Okta, LemonLDAP::NG).
pub const GROUPS_SCOPES: &str = "scopes = [\"openid\", \"profile\", \"email\", \"groups\"]";

/// The lab portals' `health.metrics_token`: what the monitoring system would send.
pub const METRICS_TOKEN: &str = "lab-metrics-token";

/// `/metrics` as the monitoring system reads it (with the bearer token).
pub async fn metrics_text(base: &str) -> String {
    reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A config file for tests: `ldap_urls` in order, the lab CA, SQLite in `dir`.
pub fn config_toml(dir: &Path, ldap_urls: &[&str], ca: &Path, lab: &Lab) -> String {
    let urls = ldap_urls
        .iter()
        .map(|u| format!("{u:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:8080"
data_dir = {data:?}

[ldap]
urls = [{urls}]
base_dn = {base:?}
bind_dn = {bind:?}
bind_password = {pw:?}
ca_file = {ca:?}
connect_timeout_secs = 3

[health]
metrics_token = {metrics:?}

[oidc]
issuer = "http://127.0.0.1:9400"
client_id = "portal"
client_secret = "portal-secret"
{scopes}
"#,
        scopes = GROUPS_SCOPES,
        metrics = METRICS_TOKEN,
        data = dir.join("data").display().to_string(),
        base = lab.base_dn,
        bind = lab.svc_upn,
        pw = lab.svc_pw,
        ca = ca.display().to_string(),
    )
}

pub fn load_config(dir: &Path, toml: &str) -> Config {
    let path = dir.join("trustdesk.toml");
    std::fs::write(&path, toml).unwrap();
    Config::load(Some(&path)).unwrap()
}

/// A portal on a free port with its own OP, against the lab DC.
pub struct Portal {
    /// The public URL (the TLS proxy's when there is one).
    pub base: String,
    pub op: Op,
    pub state: trustdesk::web::AppState,
    /// With a TLS front: the test CA, and what crossed the network in redeem requests.
    pub ca: Option<PathBuf>,
    pub redeems: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
    pub _dir: tempfile::TempDir,
}

pub async fn start_portal(lab: &Lab, extra_toml: &str) -> Portal {
    start_portal_with(lab, "", extra_toml, false).await
}

/// `top_toml` goes before the first table (top-level keys such as `database_url`); with
/// `tls_front`, a TLS-terminating proxy with a test CA is the public URL.
pub async fn start_portal_with(
    lab: &Lab,
    top_toml: &str,
    extra_toml: &str,
    tls_front: bool,
) -> Portal {
    start_portal_on(lab, &lab.configured_dcs(), top_toml, extra_toml, tls_front).await
}

/// The same, with these DC URLs in this order.
pub async fn start_portal_on(
    lab: &Lab,
    urls: &[&str],
    top_toml: &str,
    extra_toml: &str,
    tls_front: bool,
) -> Portal {
    let spec = PortalSpec {
        urls,
        top_toml,
        extra_toml,
        tls_front,
        setup: &OpSetup::default(),
        oidc_toml: None,
        roles_toml: None,
        ldap_toml: "",
    };
    start_portal_full(lab, spec).await
}

/// A portal on both DCs whose `[ldap]` table also holds `ldap_toml` (`discover_dcs = false`).
pub async fn start_portal_ldap(
    lab: &Lab,
    ldap_toml: &str,
    extra_toml: &str,
    tls_front: bool,
) -> Portal {
    let urls = lab.configured_dcs();
    let spec = PortalSpec {
        urls: &urls,
        top_toml: "",
        extra_toml,
        tls_front,
        setup: &OpSetup::default(),
        oidc_toml: None,
        roles_toml: None,
        ldap_toml,
    };
    start_portal_full(lab, spec).await
}

/// A portal on both DCs against a provider started as `setup`. `oidc_toml` replaces the
/// `[oidc]` settings after the issuer and client (scopes, role claim, …; `{op_origin}` in it
/// becomes the provider's origin) and `roles_toml` the default roles, when given.
pub async fn start_portal_idp(
    lab: &Lab,
    setup: &OpSetup,
    oidc_toml: &str,
    roles_toml: Option<&str>,
) -> Portal {
    let urls = lab.configured_dcs();
    let spec = PortalSpec {
        urls: &urls,
        top_toml: "",
        extra_toml: "",
        tls_front: false,
        setup,
        oidc_toml: Some(oidc_toml),
        roles_toml,
        ldap_toml: "",
    };
    start_portal_full(lab, spec).await
}

/// A portal with `top_toml` (a shared `database_url`, say) and these roles in place of the
/// default ones.
pub async fn start_portal_roles(lab: &Lab, top_toml: &str, roles_toml: &str) -> Portal {
    let urls = lab.configured_dcs();
    let spec = PortalSpec {
        urls: &urls,
        top_toml,
        extra_toml: "",
        tls_front: false,
        setup: &OpSetup::default(),
        oidc_toml: None,
        roles_toml: Some(roles_toml),
        ldap_toml: "",
    };
    start_portal_full(lab, spec).await
}

/// Everything a test portal can differ in.
struct PortalSpec<'a> {
    urls: &'a [&'a str],
    top_toml: &'a str,
    extra_toml: &'a str,
    tls_front: bool,
    setup: &'a OpSetup,
    oidc_toml: Option<&'a str>,
    roles_toml: Option<&'a str>,
    /// More keys of the `[ldap]` table.
    ldap_toml: &'a str,
}

async fn start_portal_full(lab: &Lab, spec: PortalSpec<'_>) -> Portal {
    let PortalSpec {
        urls,
        top_toml,
        extra_toml,
        tls_front,
        setup,
        oidc_toml,
        roles_toml,
        ldap_toml,
    } = spec;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let internal = format!("http://{}", listener.local_addr().unwrap());
    let (base, ca, redeems) = if tls_front {
        let (ca, cert, key) = crate::tap::test_pki(dir.path());
        let (base, redeems) = crate::tap::start(internal.clone(), &cert, &key).await;
        (base, Some(ca), Some(redeems))
    } else {
        (internal.clone(), None, None)
    };
    let op = start_op(&base, setup).await;
    let mut toml = config_toml(dir.path(), urls, &lab.ca, lab);
    if let Some(oidc) = oidc_toml {
        // `{op_origin}` stands for the provider's origin, known only now.
        let origin = url::Url::parse(&op.issuer)
            .unwrap()
            .origin()
            .ascii_serialization();
        toml = toml.replace(
            &format!("{GROUPS_SCOPES}\n"),
            &format!("{}\n", oidc.replace("{op_origin}", &origin)),
        );
    }
    let default_roles = default_roles(&lab.base_dn);
    let roles = roles_toml.unwrap_or(&default_roles);
    let toml = toml
        .replace("http://127.0.0.1:8080", &base)
        .replace("http://127.0.0.1:9400", &op.issuer)
        .replace("client_id = \"portal\"", "client_id = \"trustdesk\"")
        .replace(
            "client_secret = \"portal-secret\"",
            "client_secret = \"trustdesk-secret\"",
        )
        + roles
        + extra_toml;
    let toml = toml.replace(
        "[ldap]\n",
        &format!(
            "[ldap]\nprotected_ous = [\"OU=Protected,{0}\"]\nprotected_groups = [\"{1},{0}\"]\n{ldap_toml}\n",
            lab.base_dn, TIER0_GROUP
        ),
    );
    // `{front_ca}` in the TOML stands for the TLS front's CA file, made only now.
    let toml = match &ca {
        Some(ca) => toml.replace("{front_ca}", &ca.display().to_string()),
        None => toml,
    };
    let cfg = load_config(dir.path(), &format!("{top_toml}\n{toml}"));
    let state = trustdesk::build(cfg).await.unwrap();
    tokio::spawn(trustdesk::serve(listener, state.clone()));
    Portal {
        base,
        op,
        state,
        ca,
        redeems,
        _dir: dir,
    }
}

/// The lab's group of tier-0 servers (`lab/fixtures.sh`), named in every lab portal's
/// `ldap.protected_groups`, under the base DN.
pub const TIER0_GROUP: &str = "CN=Tier0-Servers,OU=Servers";

/// The roles every lab portal has unless a test names its own.
pub fn default_roles(base_dn: &str) -> String {
    format!(
        r#"
[roles.senior]
groups = ["helpdesk-senior"]
actions = ["lookup", "diagnose", "mint_token", "revoke_token", "reset_account"]
scopes = ["OU=Workstations,{base_dn}", "OU=Servers,{base_dn}"]

[roles.junior]
groups = ["helpdesk-junior-paris"]
actions = ["lookup", "diagnose", "mint_token"]
scopes = ["OU=Paris,OU=Workstations,{base_dn}"]
max_actions_per_hour = 40
max_token_minutes = 10

[roles.auditor]
groups = ["security-auditors"]
actions = ["view_audit", "export_audit"]

[roles.domainwide]
groups = ["trustdesk-admins"]
actions = ["lookup", "diagnose"]
scopes = ["{base_dn}"]

[roles.admin]
groups = ["trustdesk-admins"]
actions = ["lookup", "diagnose", "mint_token", "revoke_token", "reset_account", "view_audit", "export_audit", "view_policy"]
scopes = ["OU=Workstations,{base_dn}", "OU=Servers,{base_dn}"]
"#
    )
}

/// The top likely cause code of a diagnosis JSON.
pub fn top_cause(report: &serde_json::Value) -> String {
    report["diagnosis"]["likely_causes"][0]["cause"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Every cause code of a diagnosis JSON.
pub fn causes(report: &serde_json::Value) -> Vec<String> {
    report["diagnosis"]["likely_causes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["cause"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Both lab forests as `[[domains]]` (`lab/lab.sh up --forest2`): the first with its CA, then
/// the second with the CA file `f2_ca` (a test may give it the wrong one).
pub fn both_forests_domains(f2_ca: &str) -> String {
    let lab = lab();
    let var = |k: &str| {
        std::env::var(k)
            .unwrap_or_else(|_| panic!("{k} is not set: this test needs `lab/lab.sh up --forest2`"))
    };
    let domain = |nb: String, dns: String, url: &str, base: &str, upn: &str, ca: &str| {
        format!(
            "[[domains]]\nname = {nb:?}\ndns_name = {dns:?}\nurls = [{url:?}]\n\
             base_dn = {base:?}\nbind_dn = {upn:?}\nbind_password = {pw:?}\nca_file = {ca:?}\n\
             connect_timeout_secs = 3\n\n",
            pw = lab.svc_pw,
        )
    };
    domain(
        var("LAB_DOMAIN"),
        var("LAB_DNSDOMAIN"),
        &lab.ldaps_url,
        &lab.base_dn,
        &lab.svc_upn,
        &lab.ca.display().to_string(),
    ) + &domain(
        var("LAB_F2_DOMAIN"),
        var("LAB_F2_DNSDOMAIN"),
        &var("LAB_F2_LDAPS_URL"),
        &var("LAB_F2_BASEDN"),
        &var("LAB_F2_SVC_UPN"),
        f2_ca,
    )
}

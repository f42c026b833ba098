//! What several benchmarks share (each bench is its own crate and includes this file).

#![allow(dead_code)]

/// A `LAB_*` variable; the lab benches run inside `lab/lab.sh run --`.
pub fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set: run inside `lab/lab.sh run --`"))
}

/// A portal configuration: `data_dir` under `dir`, quiet logs, exactly these DCs (DC discovery
/// off: a benchmark names the DCs its baseline uses; see [`discovering`]), a dead OIDC issuer
/// (never contacted), and `extra` TOML after it.
pub fn config_toml(
    dir: &std::path::Path,
    urls: &[String],
    base_dn: &str,
    bind: (&str, &str),
    ca: &str,
    extra: &str,
) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = {data:?}\n[log]\nfilter = \"warn\"\n[ldap]\nurls = {urls:?}\nbase_dn = {base_dn:?}\nbind_dn = {u:?}\nbind_password = {p:?}\nca_file = {ca:?}\ndiscover_dcs = false\n[oidc]\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"bench\"\nclient_secret = \"unused\"\n{extra}",
        data = dir.join("data").display().to_string(),
        u = bind.0,
        p = bind.1,
    )
}

/// The portal in-process on a free port with `toml`; returns its base URL and an API key of
/// role `bench`.
pub async fn start_portal(dir: &std::path::Path, toml: &str) -> (String, String) {
    let path = dir.join("bench.toml");
    std::fs::write(&path, toml).unwrap();
    let cfg = trustdesk::config::Config::load(Some(&path)).unwrap();
    let state = trustdesk::build(cfg).await.unwrap();
    let key = trustdesk::auth::api_keys::create(&state.store, "bench", "bench")
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(trustdesk::serve(listener, state));
    (base, key)
}

/// The same configuration with DC discovery on: per-DC reads also go to every DC the
/// directory lists beyond `urls`.
pub fn discovering(toml: &str) -> String {
    toml.replace("discover_dcs = false\n", "discover_dcs = true\n")
}

/// A portal needing no DC (its one DC URL is never contacted) with a role `bench` that may
/// view the policy page; its base URL and an API key of that role.
pub async fn page_portal(dir: &std::path::Path) -> (String, String) {
    // A CA file must exist for the config to validate; the directory is never contacted.
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, include_str!("../crates/client/testdata/tls/ca.pem")).unwrap();
    let roles = "[roles.bench]\ngroups = [\"bench\"]\nactions = [\"lookup\", \"view_policy\"]\nscopes = [\"DC=bench,DC=test\"]\n";
    let urls = ["ldaps://127.0.0.1:1".to_string()];
    let ca = ca.display().to_string();
    let toml = config_toml(
        dir,
        &urls,
        "DC=bench,DC=test",
        ("bench", "unused"),
        &ca,
        roles,
    );
    start_portal(dir, &toml).await
}

/// The `n`th audit event of a benchmark: a diagnosis by a person, as the portal writes them.
pub fn audit_event(n: usize) -> trustdesk::db::NewAuditRow {
    use trustdesk::audit::{Action, Outcome};
    trustdesk::db::NewAuditRow {
        at: time::OffsetDateTime::from_unix_timestamp(1_790_000_000 + n as i64).unwrap(),
        actor_sub: Some("alice".into()),
        actor_name: Some("Alice Senior".into()),
        actor_email: Some("alice@example.test".into()),
        actor_roles: "senior".into(),
        source_ip: Some("10.1.2.3".into()),
        user_agent: Some("Mozilla/5.0 (bench)".into()),
        request_id: Some(format!("req-{n}")),
        action: Action::Diagnose.as_str().into(),
        target_dn: Some(format!(
            "CN=PC{n:05},OU=Berlin,OU=Workstations,DC=lab,DC=example,DC=test"
        )),
        target_guid: Some("9a3c1a52-0000-4000-8000-000000000001".into()),
        target_name: Some(format!("PC{n:05}")),
        outcome: Outcome::Success.as_str().into(),
        reason: Some("likely cause: healthy".into()),
        ticket: None,
    }
}

/// The lab's DCs a portal is configured with: DC1, and DC2 when the lab has it (DC3 is left
/// for DC discovery to find).
pub fn lab_dc_urls() -> Vec<String> {
    let mut urls = vec![env("LAB_LDAPS_URL")];
    if let Ok(u) = std::env::var("LAB_DC2_LDAPS_URL") {
        urls.push(u);
    }
    urls
}

/// A portal on the lab's domain with `urls` as its DCs (discovering the others when
/// `discover`), and an API key of a role `bench` that may look up and diagnose anything in
/// the domain; its base URL and the key.
pub async fn lab_portal(
    dir: &std::path::Path,
    urls: &[String],
    discover: bool,
) -> (String, String) {
    let base_dn = env("LAB_BASEDN");
    let roles = format!(
        "[roles.bench]\ngroups = [\"bench\"]\nactions = [\"lookup\", \"diagnose\"]\nscopes = [{base_dn:?}]\n"
    );
    let (svc, pw) = (env("LAB_SVC_UPN"), env("LAB_SVC_PW"));
    let toml = config_toml(dir, urls, &base_dn, (&svc, &pw), &env("LAB_CA"), &roles);
    let toml = if discover { discovering(&toml) } else { toml };
    let toml = match std::env::var("BENCH_PG_URL") {
        Ok(admin) => format!(
            "database_url = {:?}\n{toml}",
            fresh_pg_database(&admin).await
        ),
        Err(_) => toml,
    };
    start_portal(dir, &toml).await
}

#[path = "../tests/it/common/pg.rs"]
mod pg;

/// A new, empty PostgreSQL database on the server `admin` for one portal: its URL. The
/// `td_bench_*` databases of earlier settings and runs are dropped first (each portal holds
/// connections to its own until the bench ends).
async fn fresh_pg_database(admin: &str) -> String {
    use sqlx::{Executor, Row};
    let pool = sqlx::PgPool::connect(admin).await.unwrap();
    let old = sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'td_bench_%'")
        .fetch_all(&pool)
        .await
        .unwrap();
    for row in old {
        let name: String = row.get(0);
        let _ = pool
            .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
            .await;
    }
    pg::create_database_on(admin, "td_bench_").await.0
}

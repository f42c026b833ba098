//! Several portal instances on one PostgreSQL database share what they must. Each instance
//! here is the whole app (`TestApp`) with its own data directory and in-memory state, as a
//! second process has; the database is all they share.

use axum::http::StatusCode;
use serde_json::json;

use crate::app::{TestApp, Who};
use crate::common::{create_pg_database, drop_pg_database};

/// Two instances on the fresh database `url`, with `burst` redeems per client refilled one
/// per `refill_secs`.
async fn two_instances(url: &str, burst: u32, refill_secs: u64) -> (TestApp, TestApp) {
    two_instances_with(url, |c| {
        c.limits.redeem_burst = burst;
        c.limits.redeem_refill_secs = refill_secs;
    })
    .await
}

/// Two instances on the fresh database `url` (`instances = 2`), each configured by `edit`.
async fn two_instances_with(
    url: &str,
    edit: impl Fn(&mut trustdesk::config::Config),
) -> (TestApp, TestApp) {
    let start = || {
        TestApp::new()
            .with_config(|c| {
                c.database_url = Some(url.to_string().into());
                c.instances = 2;
                edit(c);
            })
            .start()
    };
    let a = start().await;
    let b = start().await;
    (a, b)
}

/// One redeem from the test client through `app`: passed the limit (the empty body is then
/// refused as malformed, 400) or not (429).
async fn redeem(app: &TestApp) -> bool {
    let r = app
        .post_json(&Who::Anonymous, "/api/v1/redeem", &json!({}))
        .await;
    passed_the_limit(r.status, &r.body)
}

/// Whether an empty redeem passed the limit (400: then refused as malformed) or not (429).
fn passed_the_limit(status: StatusCode, body: &str) -> bool {
    match status {
        StatusCode::BAD_REQUEST => true,
        StatusCode::TOO_MANY_REQUESTS => {
            let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            assert_eq!(v["error"], "rate_limited", "{body}");
            false
        }
        other => panic!("unexpected {other}: {body}"),
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_redeem_flood_spread_over_two_instances_is_limited_as_one() {
    let (url, name) = create_pg_database().await;
    let (a, b) = two_instances(&url, 4, 3600).await;
    // Sixteen attempts from one client, every other one through each instance: each
    // instance's own bucket would let four through, eight in all; the shared one lets four.
    let mut passed = Vec::new();
    for i in 0..16 {
        passed.push(redeem(if i % 2 == 0 { &a } else { &b }).await);
    }
    assert_eq!(
        passed,
        [vec![true; 4], vec![false; 12]].concat(),
        "the burst of one client, over both instances"
    );
    drop((a, b));
    drop_pg_database(&name).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn the_shared_bucket_refills_on_the_databases_clock() {
    let (url, name) = create_pg_database().await;
    let (a, b) = two_instances(&url, 2, 2).await;
    assert!(redeem(&a).await && redeem(&b).await, "the burst");
    assert!(!redeem(&a).await, "the burst is used up on A…");
    assert!(!redeem(&b).await, "…and so on B");
    tokio::time::sleep(std::time::Duration::from_millis(2_400)).await;
    // One interval later, one more passes, through either instance, and only one.
    assert!(redeem(&b).await, "refilled by one");
    assert!(!redeem(&a).await, "by one only");
    // A bucket is forgotten once it is full again, not before.
    assert_eq!(a.store().sweep_shared_limits().await.unwrap(), 0);
    tokio::time::sleep(std::time::Duration::from_millis(3_800)).await;
    assert_eq!(b.store().sweep_shared_limits().await.unwrap(), 1);
    assert!(redeem(&a).await, "a forgotten bucket is a full one");
    drop((a, b));
    drop_pg_database(&name).await;
}

/// A scan held by instance A (its report opened with A's holder id, its heartbeats carrying
/// the progress, as A's scan task sends them) shows on B's progress API; when A's heartbeat
/// stops past the lease, B's next read fails the report: it is never shown complete, and B
/// may start the next scan. (Running a real scan needs the lab; this needs PostgreSQL only.)
#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_scan_on_one_instance_shows_on_the_other_and_fails_when_its_heartbeat_stops() {
    let (url, name) = create_pg_database().await;
    let (a, b) = two_instances(&url, 10, 60).await;
    let now = trustdesk::clock::now();
    let store = a.store();
    let id = store
        .fleet_begin(now, "alice", a.state.fleet.holder())
        .await
        .unwrap();
    let beat = |at, scanned| trustdesk::db::FleetBeat {
        at,
        dc: Some("dc1.lab.example.test"),
        scanned,
        estimate: Some(1_000),
        restarts: 0,
    };
    assert!(
        store
            .fleet_beat(id, a.state.fleet.holder(), beat(now, 250))
            .await
            .unwrap()
    );
    let admin = b.key("admin").await;
    let r = b.get(&admin, "/api/v1/fleet/progress").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let p = r.json();
    assert_eq!(
        (
            &p["scan_id"],
            &p["state"],
            &p["scanned"],
            &p["estimate"],
            &p["started_by"]
        ),
        (
            &json!(id),
            &json!("running"),
            &json!(250),
            &json!(1_000),
            &json!("alice")
        ),
        "{p}"
    );
    // B may not start another while A's runs.
    assert!(matches!(
        b.store()
            .fleet_begin(now, "bob", b.state.fleet.holder())
            .await,
        Err(trustdesk::db::StoreError::Conflict(_))
    ));
    // A "dies": its last heartbeat was more than the lease ago.
    let old = now - time::Duration::seconds(31);
    sqlx_set_heartbeat(&url, id, old).await;
    let p = b.get(&admin, "/api/v1/fleet/progress").await.json();
    assert_eq!(
        (&p["scan_id"], &p["state"]),
        (&json!(id), &json!("failed")),
        "{p}"
    );
    assert_eq!(p["error"], trustdesk::db::STALE_SCAN, "{p}");
    let row = b.store().fleet_scan(id).await.unwrap().unwrap();
    assert_eq!(row.state, trustdesk::db::FleetState::Failed);
    assert!(
        !store
            .fleet_beat(id, a.state.fleet.holder(), beat(now, 300))
            .await
            .unwrap()
    );
    assert!(
        b.store()
            .fleet_begin(now, "bob", b.state.fleet.holder())
            .await
            .is_ok()
    );
    drop((a, b));
    drop_pg_database(&name).await;
}

/// Move report `id`'s heartbeat back to `at`, as a holder that stopped beating leaves it.
async fn sqlx_set_heartbeat(url: &str, id: i64, at: time::OffsetDateTime) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query("UPDATE fleet_scans SET heartbeat_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// The hourly limit counts a person's actions from the audit log, which every instance
/// writes to: three diagnoses on A use up a limit of three, and B refuses the fourth (before
/// any directory read: this portal's DC never answers).
#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn the_hourly_limit_counts_what_the_person_did_on_every_instance() {
    use trustdesk::audit::{self, Action, Actor, Outcome};
    let (url, name) = create_pg_database().await;
    let (a, b) = two_instances_with(&url, |c| {
        if let Some(junior) = c.roles.get_mut("junior") {
            junior.max_actions_per_hour = Some(3);
        }
    })
    .await;
    let key = trustdesk::auth::api_keys::create(a.store(), "limited", "junior")
        .await
        .unwrap();
    let who = Actor {
        sub: format!("{}limited", trustdesk::auth::API_KEY_SUB_PREFIX),
        name: Some("API key limited".into()),
        email: None,
        roles: vec!["junior".into()],
    };
    for _ in 0..3 {
        let e = audit::event(Action::Diagnose, Outcome::Success, trustdesk::clock::now());
        audit::record(a.store(), &e.actor(&who).target_name("PAR-WS001"))
            .await
            .unwrap();
    }
    let r = b.get(&Who::Key(key), "/api/v1/computers/PAR-WS001").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    drop((a, b));
    drop_pg_database(&name).await;
}

/// Both instances run the schedule (here every two seconds, with a DC that never answers,
/// so each scan fails at once), B's timer a second behind A's, as instances started at
/// different times are: one scheduled report per period is opened between them (at 2 s and
/// 4 s), not one per instance and tick (2, 3, 4 and 5 s).
#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn the_schedule_starts_one_scan_per_period_across_instances() {
    let (url, name) = create_pg_database().await;
    let (a, b) = two_instances(&url, 10, 60).await;
    let every = std::time::Duration::from_secs(2);
    let schedule = |app: &TestApp| {
        trustdesk::fleet::spawn_every(app.state.fleet.clone(), app.state.scan.clone(), every)
    };
    let on_a = schedule(&a);
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    let on_b = schedule(&b);
    tokio::time::sleep(std::time::Duration::from_millis(4_500)).await;
    on_a.abort();
    on_b.abort();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let started: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM fleet_scans WHERE started_by = 'schedule'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(
        started, 2,
        "at 2 s and 4 s by A; B's ticks at 3 s and 5 s find it done"
    );
    drop((a, b));
    drop_pg_database(&name).await;
}

/// A `trustdesk serve` process on the database `url` (`instances = 2`), listening on a port of
/// its own; killed when dropped. Returns it and its base URL once `/healthz` answers.
async fn serve_process(
    dir: &std::path::Path,
    url: &str,
    name: &str,
) -> (tokio::process::Child, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (ca, _, _) = crate::tap::test_pki(dir);
    let conf = dir.join(format!("{name}.toml"));
    let toml = format!(
        r#"listen = "127.0.0.1:{port}"
data_dir = {data:?}
database_url = {url:?}
instances = 2

[ldap]
urls = ["ldaps://127.0.0.1:1"]
base_dn = "DC=lab,DC=example,DC=test"
bind_dn = "svc-trustdesk@lab.example.test"
bind_password = "not-used"
ca_file = {ca:?}
connect_timeout_secs = 1
discover_dcs = false

[oidc]
issuer = {issuer:?}
client_id = "trustdesk"
client_secret = "trustdesk-secret"

[limits]
redeem_burst = 4
redeem_refill_secs = 3600
"#,
        data = dir.join(name).display().to_string(),
        ca = ca.display().to_string(),
        issuer = crate::app::DEAD_ISSUER,
    );
    std::fs::write(&conf, toml).unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_trustdesk"))
        .args(["--config", conf.to_str().unwrap(), "serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            return (child, base);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{name} did not start on {base}");
}

/// The same flood as above, through two `trustdesk serve` processes: each its own OS process,
/// memory and connection pool, the database all they share.
#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_redeem_flood_over_two_serve_processes_is_limited_as_one() {
    let (url, name) = create_pg_database().await;
    let dir = tempfile::tempdir().unwrap();
    // One after the other: both migrating the fresh database at once is not what is tested.
    let (a, base_a) = serve_process(dir.path(), &url, "a").await;
    let (b, base_b) = serve_process(dir.path(), &url, "b").await;
    let client = reqwest::Client::new();
    let mut passed = Vec::new();
    for i in 0..16 {
        let base = if i % 2 == 0 { &base_a } else { &base_b };
        let r = client
            .post(format!("{base}/api/v1/redeem"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        passed.push(passed_the_limit(status, &r.text().await.unwrap()));
    }
    assert_eq!(
        passed,
        [vec![true; 4], vec![false; 12]].concat(),
        "the burst of one client, over both processes"
    );
    drop((a, b));
    drop_pg_database(&name).await;
}

//! Lookup + diagnosis latency through the portal's HTTP API, against the raw LDAP searches it
//! needs done directly with ldap3 on open connections, in the same run.
//!
//!   lab/lab.sh up --dc2 && lab/lab.sh run -- cargo bench --offline --bench lookup
//!
//! Environment: BENCH_NAME (default PAR-WS001), BENCH_REQUESTS (default 400 per setting).
//!
//! A third column, "floor", is the raw searches plus one `GET /healthz` on the same portal
//! (every middleware, no authentication, no audit, no database): what any HTTP service in
//! front of these searches would cost at least, on this machine, in this run. Its ratio to the
//! raw searches bounds from below the ratio a portal lookup can reach.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ldap3::controls::RawControl;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope};

#[path = "common.rs"]
mod common;
use common::env;

async fn ldap(url: &str, tls: Arc<rustls::ClientConfig>) -> Ldap {
    let (conn, mut l) = LdapConnAsync::with_settings(LdapConnSettings::new().set_config(tls), url)
        .await
        .unwrap();
    ldap3::drive!(conn);
    l.simple_bind(&env("LAB_SVC_UPN"), &env("LAB_SVC_PW"))
        .await
        .unwrap()
        .success()
        .unwrap();
    l
}

/// The searches one diagnosis needs: find the account, then per DC the per-DC attributes,
/// and the tombstone search — concurrently, as the portal does.
async fn raw_lookup(dcs: &[Ldap], base: &str, name: &str) {
    // The portal's own filters, so the two sides cannot drift apart.
    let q = trustdesk::directory::filter::ComputerQuery::parse(name).unwrap();
    let filter = q.exact_filters().swap_remove(0);
    let mut first = dcs[0].clone();
    let (entries, _) = first
        .search(
            base,
            Scope::Subtree,
            &filter,
            trustdesk::directory::computers::ACCOUNT_ATTRS.to_vec(),
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let dn = ldap3::SearchEntry::construct(entries.into_iter().next().unwrap()).dn;
    let per_dc = dcs.iter().map(|l| {
        let (mut l, dn) = (l.clone(), dn.clone());
        async move {
            l.search(
                &dn,
                Scope::Base,
                "(objectClass=*)",
                trustdesk::directory::computers::PER_DC_ATTRS.to_vec(),
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        }
    });
    let tomb = async {
        let mut l = dcs[0].clone();
        let _ = l
            .with_controls(RawControl {
                ctype: "1.2.840.113556.1.4.417".into(),
                crit: true,
                val: None,
            })
            .search(
                &format!("CN=Deleted Objects,{base}"),
                Scope::OneLevel,
                &trustdesk::directory::filter::tombstone_filter(&format!("{name}$")),
                vec![
                    "objectGUID",
                    "sAMAccountName",
                    "whenChanged",
                    "lastKnownParent",
                ],
            )
            .await;
    };
    tokio::join!(futures_util::future::join_all(per_dc), tomb);
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Run `total` calls of `f` with `conc` in flight; latencies sorted.
async fn measure<F, Fut>(total: usize, conc: usize, f: F) -> (Vec<Duration>, Duration)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let per = total / conc;
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for _ in 0..per {
                let t = Instant::now();
                f().await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    (all, start.elapsed())
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let name = std::env::var("BENCH_NAME").unwrap_or_else(|_| "PAR-WS001".into());
    let total: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let base_dn = env("LAB_BASEDN");
    let mut urls = vec![env("LAB_LDAPS_URL")];
    if let Ok(u) = std::env::var("LAB_DC2_LDAPS_URL") {
        urls.push(u);
    }

    // The portal, in-process on a free port, SQLite in a temp dir, an API key.
    let dir = tempfile::tempdir().unwrap();
    let roles = format!(
        "[roles.bench]\ngroups = [\"bench\"]\nactions = [\"lookup\", \"diagnose\"]\nscopes = [{base_dn:?}]\n"
    );
    let (svc, pw) = (env("LAB_SVC_UPN"), env("LAB_SVC_PW"));
    let toml = common::config_toml(
        dir.path(),
        &urls,
        &base_dn,
        (&svc, &pw),
        &env("LAB_CA"),
        &roles,
    );
    let (base, key) = common::start_portal(dir.path(), &toml).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let url = format!("{base}/api/v1/computers/{name}");

    let roots = trustdesk::directory::tls::load_ca(std::path::Path::new(&env("LAB_CA"))).unwrap();
    let tls = Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let mut dcs = Vec::new();
    for u in &urls {
        dcs.push(ldap(u, tls.clone()).await);
    }
    let dcs = Arc::new(dcs);

    // Warm up both paths.
    for _ in 0..20 {
        let r = http.get(&url).bearer_auth(&key).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        raw_lookup(&dcs, &base_dn, &name).await;
    }

    println!(
        "lookup + diagnosis of {name}, {} DC(s), {total} requests per setting",
        urls.len()
    );
    println!(
        "{:<8} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10} {:>12} {:>12}",
        "clients",
        "portal p50",
        "portal p99",
        "raw p50",
        "raw p99",
        "p50 ratio",
        "p99 ratio",
        "floor p50",
        "floor ratio"
    );
    for conc in [1usize, 32] {
        let (h, k, u) = (http.clone(), key.clone(), url.clone());
        let (portal, _) = measure(total, conc, move || {
            let (h, k, u) = (h.clone(), k.clone(), u.clone());
            async move {
                let r = h.get(&u).bearer_auth(&k).send().await.unwrap();
                assert!(r.status().is_success());
                let _ = r.bytes().await.unwrap();
            }
        })
        .await;
        let (d, b, n) = (dcs.clone(), base_dn.clone(), name.clone());
        let (raw, _) = measure(total, conc, move || {
            let (d, b, n) = (d.clone(), b.clone(), n.clone());
            async move { raw_lookup(&d, &b, &n).await }
        })
        .await;
        let (d, b, n, h, hz) = (
            dcs.clone(),
            base_dn.clone(),
            name.clone(),
            http.clone(),
            format!("{base}/healthz"),
        );
        let (floor, _) = measure(total, conc, move || {
            let (d, b, n, h, hz) = (d.clone(), b.clone(), n.clone(), h.clone(), hz.clone());
            async move {
                raw_lookup(&d, &b, &n).await;
                let r = h.get(&hz).send().await.unwrap();
                assert!(r.status().is_success());
                let _ = r.bytes().await.unwrap();
            }
        })
        .await;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:<8} {:>10.2}ms {:>10.2}ms {:>10.2}ms {:>10.2}ms {:>9.2}x {:>9.2}x {:>10.2}ms {:>11.2}x",
            conc,
            ms(pct(&portal, 0.5)),
            ms(pct(&portal, 0.99)),
            ms(pct(&raw, 0.5)),
            ms(pct(&raw, 0.99)),
            ms(pct(&portal, 0.5)) / ms(pct(&raw, 0.5)),
            ms(pct(&portal, 0.99)) / ms(pct(&raw, 0.99)),
            ms(pct(&floor, 0.5)),
            ms(pct(&floor, 0.5)) / ms(pct(&raw, 0.5)),
        );
    }
}

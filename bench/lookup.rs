//! Lookup + diagnosis latency through the portal's HTTP API, against the raw LDAP searches it
//! needs done directly with ldap3 on open connections, in the same run.
//!
//!   lab/lab.sh up --dc2 --dc3 && lab/lab.sh run -- cargo bench --offline --bench lookup
//!
//! Environment: BENCH_NAME (default PAR-WS001), BENCH_REQUESTS (default 400 per setting).
//!
//! With the lab's third DC up (`--dc3`, not in `ldap.urls`), it runs twice: "2 DCs" (DC
//! discovery off: the per-DC reads go to DC1 and DC2) and "3 DCs" (discovery on: DC3 is found
//! in the directory and read too), each against raw searches on the same DCs. The per-DC reads
//! run in parallel, so the 3-DC p50 should stay close to the 2-DC p50.
//!
//! At one client the portal, the raw searches and the floor are taken in turn, request by
//! request, so that the machine's drift during the run falls on all three alike; at 32
//! clients each runs on its own as a load.
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
/// and the tombstone search (the Deleted Objects container itself, then its children) —
/// concurrently, as the portal does.
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
        let controls = || {
            vec![
                RawControl {
                    ctype: "1.2.840.113556.1.4.417".into(),
                    crit: true,
                    val: None,
                },
                RawControl {
                    ctype: "1.2.840.113556.1.4.2064".into(),
                    crit: false,
                    val: None,
                },
            ]
        };
        let container = format!("CN=Deleted Objects,{base}");
        let _ = l
            .with_controls(controls())
            .search(&container, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await;
        let _ = l
            .with_controls(controls())
            .search(
                &container,
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

type Op = Box<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>;

/// One client, the settings' operations taken in turn (the order rotated each round), so that
/// drift in the machine's load during the run (the other core, the DCs' caches) falls on all
/// of them alike; latencies of each, sorted.
async fn measure_interleaved(total: usize, ops: &[Op]) -> Vec<Vec<Duration>> {
    let mut lat = vec![Vec::with_capacity(total); ops.len()];
    for round in 0..total {
        for k in 0..ops.len() {
            let i = (round + k) % ops.len();
            let t = Instant::now();
            ops[i]().await;
            lat[i].push(t.elapsed());
        }
    }
    for l in &mut lat {
        l.sort();
    }
    lat
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
    let dc3 = std::env::var("LAB_DC3_LDAPS_URL").ok();
    let mut p50_at_1 = Vec::new();
    // (label, discovery on, the DCs the raw searches read)
    let mut settings = vec![(
        format!("{} DC(s), DC discovery off", urls.len()),
        false,
        urls.clone(),
    )];
    if let Some(u) = &dc3 {
        let mut all = urls.clone();
        all.push(u.clone());
        settings.push((
            format!("{} DCs, the third found by DC discovery", all.len()),
            true,
            all,
        ));
    }
    for (label, discover, raw_urls) in settings {
        let p50 = run(&name, total, &base_dn, &urls, discover, &raw_urls, &label).await;
        p50_at_1.push((label, p50));
    }
    if let [(l2, two), (l3, three)] = p50_at_1.as_slice() {
        println!(
            "portal p50 at 1 client: {three:.2} ms ({l3}) / {two:.2} ms ({l2}) = {:.2}x",
            three / two
        );
    }
}

/// One setting: a portal on `urls` (discovering or not) against raw searches on `raw_urls`.
/// Returns the portal's p50 at one client, in ms.
async fn run(
    name: &str,
    total: usize,
    base_dn: &str,
    urls: &[String],
    discover: bool,
    raw_urls: &[String],
    label: &str,
) -> f64 {
    let (name, base_dn) = (name.to_string(), base_dn.to_string());
    // The portal, in-process on a free port, SQLite in a temp dir, an API key.
    let dir = tempfile::tempdir().unwrap();
    let roles = format!(
        "[roles.bench]\ngroups = [\"bench\"]\nactions = [\"lookup\", \"diagnose\"]\nscopes = [{base_dn:?}]\n"
    );
    let (svc, pw) = (env("LAB_SVC_UPN"), env("LAB_SVC_PW"));
    let toml = common::config_toml(
        dir.path(),
        urls,
        &base_dn,
        (&svc, &pw),
        &env("LAB_CA"),
        &roles,
    );
    let toml = if discover {
        common::discovering(&toml)
    } else {
        toml
    };
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
    for u in raw_urls {
        dcs.push(ldap(u, tls.clone()).await);
    }
    let dcs = Arc::new(dcs);

    // Warm up both paths.
    for _ in 0..20 {
        let r = http.get(&url).bearer_auth(&key).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        raw_lookup(&dcs, &base_dn, &name).await;
    }

    println!("\nlookup + diagnosis of {name}, {label}, {total} requests per setting");
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
    let mut p50_1 = 0.0;
    for conc in [1usize, 32] {
        let (h, k, u) = (http.clone(), key.clone(), url.clone());
        let portal_op = move || {
            let (h, k, u) = (h.clone(), k.clone(), u.clone());
            async move {
                let r = h.get(&u).bearer_auth(&k).send().await.unwrap();
                assert!(r.status().is_success());
                let _ = r.bytes().await.unwrap();
            }
        };
        let (d, b, n) = (dcs.clone(), base_dn.clone(), name.clone());
        let raw_op = move || {
            let (d, b, n) = (d.clone(), b.clone(), n.clone());
            async move { raw_lookup(&d, &b, &n).await }
        };
        let (d, b, n, h, hz) = (
            dcs.clone(),
            base_dn.clone(),
            name.clone(),
            http.clone(),
            format!("{base}/healthz"),
        );
        let floor_op = move || {
            let (d, b, n, h, hz) = (d.clone(), b.clone(), n.clone(), h.clone(), hz.clone());
            async move {
                raw_lookup(&d, &b, &n).await;
                let r = h.get(&hz).send().await.unwrap();
                assert!(r.status().is_success());
                let _ = r.bytes().await.unwrap();
            }
        };
        // One client: the three interleaved. 32 clients: each on its own, as a load.
        let (portal, raw, floor) = if conc == 1 {
            let (p, r, f) = (portal_op.clone(), raw_op.clone(), floor_op.clone());
            let ops: Vec<Op> = vec![
                Box::new(move || Box::pin(p())),
                Box::new(move || Box::pin(r())),
                Box::new(move || Box::pin(f())),
            ];
            let mut lat = measure_interleaved(total, &ops).await.into_iter();
            let mut next = || lat.next().unwrap_or_default();
            (next(), next(), next())
        } else {
            (
                measure(total, conc, portal_op).await.0,
                measure(total, conc, raw_op).await.0,
                measure(total, conc, floor_op).await.0,
            )
        };
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        if conc == 1 {
            p50_1 = ms(pct(&portal, 0.5));
        }
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
    p50_1
}

//! Lookup + diagnosis latency through the portal's HTTP API, against the raw LDAP searches it
//! needs done directly with ldap3 on open connections, in the same run.
//!
//!   lab/lab.sh up --dc2 --dc3 && lab/lab.sh run -- cargo bench --offline --bench lookup
//!
//! Environment: BENCH_NAME (default PAR-WS001), BENCH_REQUESTS (default 400 per setting),
//! BENCH_LATENCY_MS (default 20), BENCH_PG_URL (the portal's store on that PostgreSQL
//! server, a new database per setting, e.g. `postgres://trustdesk:trustdesk@127.0.0.1/postgres`;
//! default SQLite in a temporary directory).
//!
//! Settings, each against raw searches on the same DCs (`raw.rs`: the fewest round trips a
//! diagnosis can take, one search to find the computer, then everything else at once):
//! - "2 DCs": DC discovery off, the per-DC reads go to DC1 and DC2;
//! - "3 DCs", with the lab's third DC up (`--dc3`, not in `ldap.urls`): discovery on, DC3 is
//!   found in the directory and read too. The per-DC reads run in parallel, so the 3-DC p50
//!   should stay close to the 2-DC p50;
//! - "20 ms away": DC1 and DC2 each behind a delaying TCP relay (`tests/it/relay.rs`, on a
//!   runtime and threads of its own, as a network beside the portal's runtime) that
//!   adds BENCH_LATENCY_MS to every round trip, for the portal and the raw searches alike. A
//!   lookup that takes the fewest round trips (two) costs about two delays more than nearby;
//! - "3 DCs, 20 ms away" (with `--dc3`): DC3 behind a relay too, named in `ldap.urls`. On
//!   loopback the three DCs share the machine's cores, and a third DC's read adds its CPU time
//!   to the others' (BENCHMARKS.md, session 24); a network away, the reads wait in parallel,
//!   and the 3-DC p50 shows whether they do.
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

#[path = "common.rs"]
mod common;
use common::env;
#[path = "raw.rs"]
mod raw;
use raw::{ldap, raw_lookup};
#[path = "../tests/it/relay.rs"]
mod relay;

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

/// One setting of the benchmark.
struct Setting {
    label: String,
    /// The portal's `ldap.urls`.
    portal_urls: Vec<String>,
    /// DC discovery on.
    discover: bool,
    /// The DCs the raw searches read.
    raw_urls: Vec<String>,
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let name = std::env::var("BENCH_NAME").unwrap_or_else(|_| "PAR-WS001".into());
    let total: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let latency_ms: u64 = std::env::var("BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let base_dn = env("LAB_BASEDN");
    let urls = common::lab_dc_urls();
    let dc3 = std::env::var("LAB_DC3_LDAPS_URL").ok();
    let mut settings = vec![Setting {
        label: format!("{} DC(s), DC discovery off", urls.len()),
        portal_urls: urls.clone(),
        discover: false,
        raw_urls: urls.clone(),
    }];
    if let Some(u) = &dc3 {
        let mut all = urls.clone();
        all.push(u.clone());
        settings.push(Setting {
            label: format!("{} DCs, the third found by DC discovery", all.len()),
            portal_urls: urls.clone(),
            discover: true,
            raw_urls: all,
        });
    }
    // Each DC a network's distance away: a delaying relay in front of each (DC3's too, when
    // the lab has it), used by the portal and the raw searches alike.
    // The relays live until the end of `main` (a dropped relay stops).
    let mut relays = Vec::new();
    for u in urls.iter().chain(&dc3) {
        let host = url::Url::parse(u).unwrap().host_str().unwrap().to_string();
        relays.push(relay::with_latency(&host, Duration::from_millis(latency_ms)).await);
    }
    let far_all: Vec<String> = relays.iter().map(|r| r.url.clone()).collect();
    let far = far_all[..urls.len()].to_vec();
    let far_at = settings.len();
    settings.push(Setting {
        label: format!(
            "{} DC(s), {latency_ms} ms added to every round trip (a delaying relay), DC discovery off",
            far.len()
        ),
        portal_urls: far.clone(),
        discover: false,
        raw_urls: far,
    });
    // The third DC a network's distance away too, each DC behind its own relay: on loopback
    // the DCs share this machine's cores, so a third DC's read adds its CPU time to the
    // others'; here the reads wait on the network, as with DCs on machines of their own.
    // Named in `ldap.urls` (discovery would find DC3's own address, not its relay's).
    if dc3.is_some() {
        settings.push(Setting {
            label: format!(
                "{} DCs, {latency_ms} ms added to every round trip (a delaying relay each), all in ldap.urls, DC discovery off",
                far_all.len()
            ),
            portal_urls: far_all.clone(),
            discover: false,
            raw_urls: far_all,
        });
    }
    let mut p50_at_1 = Vec::new();
    for setting in &settings {
        p50_at_1.push(run(&name, total, &base_dn, setting).await);
    }
    let (near, raw_near) = p50_at_1[0];
    let ratio = |three: usize, two: usize| {
        let ((p3, r3), (p2, r2)) = (p50_at_1[three], p50_at_1[two]);
        println!(
            "portal p50 at 1 client: {p3:.2} ms ({}) / {p2:.2} ms ({}) = {:.2}x (raw searches: {:.2}x)",
            settings[three].label,
            settings[two].label,
            p3 / p2,
            r3 / r2
        );
    };
    if dc3.is_some() {
        ratio(1, 0);
        ratio(far_at + 1, far_at);
    }
    let ((far, raw_far), budget) = (p50_at_1[far_at], 2.2 * latency_ms as f64 + near);
    println!(
        "portal p50 at 1 client with {latency_ms} ms per round trip: {far:.2} ms = {:.2} round trips \
         beyond the p50 without it (raw searches: {:.2}); goal <= 2.2 x {latency_ms} ms + {near:.2} ms \
         = {budget:.2} ms: {:.2}x of it",
        (far - near) / latency_ms as f64,
        (raw_far - raw_near) / latency_ms as f64,
        far / budget
    );
}

/// One setting: a portal on its URLs (discovering or not) against raw searches on its raw
/// URLs. Returns the portal's and the raw searches' p50 at one client, in ms.
async fn run(name: &str, total: usize, base_dn: &str, setting: &Setting) -> (f64, f64) {
    let (name, base_dn) = (name.to_string(), base_dn.to_string());
    let label = &setting.label;
    // The portal, in-process on a free port, SQLite in a temp dir, an API key.
    let dir = tempfile::tempdir().unwrap();
    let (base, key) = common::lab_portal(dir.path(), &setting.portal_urls, setting.discover).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let url = format!("{base}/api/v1/computers/{name}");

    let tls = raw::lab_tls();
    let mut dcs = Vec::new();
    for u in &setting.raw_urls {
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
    let mut p50_1 = (0.0, 0.0);
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
            p50_1 = (ms(pct(&portal, 0.5)), ms(pct(&raw, 0.5)));
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

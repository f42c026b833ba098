//! HTTP: an authenticated page (`/policy`, rendered for an API key's role) at 64 concurrent
//! connections, against `/healthz` (no auth, no template) on the same server in the same run.
//! Server and load generator share the machine, as they would on a 2-core box; no DC is needed.
//!
//!   cargo bench --bench http        (BENCH_REQUESTS per setting, default 20000)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

#[path = "common.rs"]
mod common;

const CONNECTIONS: usize = 64;

async fn run(
    http: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    total: usize,
) -> (f64, Duration) {
    let start = Instant::now();
    let per = total / CONNECTIONS;
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (http, url, key) = (http.clone(), url.to_string(), key.map(str::to_string));
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per);
                for _ in 0..per {
                    let t = Instant::now();
                    let mut req = http.get(&url);
                    if let Some(k) = &key {
                        req = req.bearer_auth(k);
                    }
                    let r = req.send().await.unwrap();
                    assert!(r.status().is_success(), "{}", r.status());
                    let _ = r.bytes().await.unwrap();
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    let p99 = all[((all.len() as f64 - 1.0) * 0.99).round() as usize];
    (all.len() as f64 / secs, p99)
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let total: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let (base, key) = common::page_portal(dir.path()).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .unwrap();
    // Warm-up.
    run(&http, &format!("{base}/healthz"), None, 2 * CONNECTIONS).await;
    run(
        &http,
        &format!("{base}/policy"),
        Some(&key),
        2 * CONNECTIONS,
    )
    .await;

    println!("HTTP, {CONNECTIONS} connections, {total} requests per setting");
    println!("{:<40} {:>10} {:>10} {:>10}", "", "req/s", "p99", "ratio");
    let (base_rps, base_p99) = run(&http, &format!("{base}/healthz"), None, total).await;
    println!(
        "{:<40} {:>10.0} {:>8.2}ms {:>9.2}x",
        "GET /healthz (baseline)",
        base_rps,
        base_p99.as_secs_f64() * 1000.0,
        1.0
    );
    let (rps, p99) = run(&http, &format!("{base}/policy"), Some(&key), total).await;
    println!(
        "{:<40} {:>10.0} {:>8.2}ms {:>9.2}x",
        "GET /policy (API key, rendered page)",
        rps,
        p99.as_secs_f64() * 1000.0,
        rps / base_rps
    );
}

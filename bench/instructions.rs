//! One kind of operation, a given number of times, for `bench/instructions.sh` to run under
//! `valgrind --tool=callgrind` and count the instructions each costs: it runs the program twice
//! with different counts and divides the difference of the totals by the difference of the
//! counts, so start-up, warm-up and shut-down cancel out.
//!
//!   cargo bench --bench instructions -- <kind> <count>
//!
//! Kinds (everything in this one process: the portal, its client, the raw searches):
//! - `healthz`: `GET /healthz` (the HTTP floor: no authentication, no database);
//! - `page`: `GET /policy` with an API key (authentication, policy, a rendered page);
//! - `append`: `audit::record` on SQLite (the hash chain's append);
//! - `lookup`: `GET /api/v1/computers/PAR-WS001` (needs the lab: `lab/lab.sh run --`);
//! - `raw-lookup`: the same searches done directly with ldap3 (`raw.rs`), its baseline.
//!
//! The runtime is single-threaded here (the portal's is not): under valgrind, which runs one
//! thread at a time, idle worker threads looking for work add a varying count of their own.
//! sqlx's SQLite connections keep their own threads, whose work is counted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common.rs"]
mod common;
use common::env;
#[path = "raw.rs"]
mod raw;

/// What each operation needs, set up before the counted part.
enum Kind {
    Http {
        http: reqwest::Client,
        url: String,
        key: Option<String>,
    },
    Append(trustdesk::db::Store),
    Raw {
        dcs: Vec<ldap3::Ldap>,
        base: String,
    },
}

const NAME: &str = "PAR-WS001";

impl Kind {
    async fn once(&self, n: usize) {
        match self {
            Kind::Http { http, url, key } => {
                let mut req = http.get(url);
                if let Some(k) = key {
                    req = req.bearer_auth(k);
                }
                let r = req.send().await.unwrap();
                assert!(r.status().is_success(), "{}", r.status());
                let _ = r.bytes().await.unwrap();
            }
            Kind::Append(store) => {
                trustdesk::audit::record(store, &common::audit_event(n))
                    .await
                    .unwrap();
            }
            Kind::Raw { dcs, base } => raw::raw_lookup(dcs, base, NAME).await,
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // `cargo bench` adds `--bench`: only the words that are not flags count.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (kind, count) = match args.as_slice() {
        [k, c] => (k.as_str(), c.parse::<usize>().expect("a count")),
        _ => panic!("usage: instructions <healthz|page|append|lookup|raw-lookup> <count>"),
    };
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let op = match kind {
        "healthz" | "page" => {
            let (base, key) = common::page_portal(dir.path()).await;
            let (path, key) = if kind == "page" {
                ("/policy", Some(key))
            } else {
                ("/healthz", None)
            };
            Kind::Http {
                http,
                url: format!("{base}{path}"),
                key,
            }
        }
        "append" => {
            let store = trustdesk::db::Store::connect(&trustdesk::db::default_url(dir.path()))
                .await
                .unwrap();
            store.migrate().await.unwrap();
            Kind::Append(store)
        }
        "lookup" => {
            let (base, key) = common::lab_portal(dir.path(), &common::lab_dc_urls(), false).await;
            Kind::Http {
                http,
                url: format!("{base}/api/v1/computers/{NAME}"),
                key: Some(key),
            }
        }
        "raw-lookup" => {
            let tls = raw::lab_tls();
            let mut dcs = Vec::new();
            for u in common::lab_dc_urls() {
                dcs.push(raw::ldap(&u, tls.clone()).await);
            }
            Kind::Raw {
                dcs,
                base: env("LAB_BASEDN"),
            }
        }
        other => panic!("unknown kind {other}"),
    };
    // Warm-up: connections, caches, prepared statements.
    for n in 0..20 {
        op.once(n).await;
    }
    for n in 0..count {
        op.once(20 + n).await;
    }
}

//! Token redeem throughput on SQLite against the lab DC, with the same number of raw
//! `unicodePwd` writes over ldap3 as the baseline, in one run.
//!
//!   lab/lab.sh up && lab/lab.sh run -- cargo bench --offline --bench redeem
//!   (REDEEM_TOKENS=200, REDEEM_CONCURRENCY=8)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use ldap3::Mod;
use trustdesk::audit::{Actor, Origin};
use trustdesk::directory::filter::ComputerQuery;
use trustdesk::policy::{MintToken, Target};

#[path = "common.rs"]
mod common;
#[path = "raw.rs"]
mod raw;
use common::env;

fn password(i: usize) -> String {
    // 120 printable characters, distinct per token.
    let base = format!(
        "{i:08}-Bench-Password-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ-"
    );
    base.repeat(2).chars().take(120).collect()
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let n: usize = std::env::var("REDEEM_TOKENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let conc: usize = std::env::var("REDEEM_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let base_dn = env("LAB_BASEDN");
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = {data:?}\n[ldap]\nurls = [{url:?}]\nbase_dn = {base_dn:?}\nbind_dn = {bind:?}\nbind_password = {pw:?}\nca_file = {ca:?}\n[oidc]\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"bench\"\nclient_secret = \"unused\"\n[limits]\nredeem_burst = 100000\n[roles.bench]\ngroups = [\"bench\"]\nactions = [\"lookup\", \"diagnose\", \"mint_token\"]\nscopes = [\"OU=Workstations,{base_dn}\"]\n",
        data = dir.path().join("data").display().to_string(),
        url = env("LAB_LDAPS_URL"),
        bind = env("LAB_SVC_UPN"),
        pw = env("LAB_SVC_PW"),
        ca = env("LAB_CA"),
    );
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, toml).unwrap();
    let state = trustdesk::build(trustdesk::config::Config::load(Some(&path)).unwrap())
        .await
        .unwrap();
    let account = state
        .domains
        .first()
        .find_computer(&ComputerQuery::parse("PAR-WS003").unwrap())
        .await
        .unwrap()
        .unwrap();
    // A search returns an account without its privileges, which the policy refuses every
    // change: read them, as the mint page does.
    let account = state.domains.first().with_privilege(account).await.unwrap();
    let roles = vec!["bench".to_string()];
    let grant = state
        .policy
        .authorize::<MintToken>(
            &roles,
            &Target {
                dn: &account.dn,
                account: Some(&account),
            },
        )
        .unwrap();
    let actor = Actor {
        sub: "bench".into(),
        name: Some("Bench".into()),
        ..Actor::default()
    };
    let origin = Origin::default();
    let req = trustdesk::repair::RepairRequest {
        actor: &actor,
        origin: &origin,
        account: &account,
        ticket: None,
        approval: None,
    };
    let mut tokens = Vec::with_capacity(n);
    let t = Instant::now();
    for _ in 0..n {
        let m = trustdesk::repair::mint_token(
            &grant,
            &state.repairs,
            &req,
            &roles,
            Some(15),
            trustdesk::clock::now(),
        )
        .await
        .unwrap();
        tokens.push(m.token);
    }
    let mint_rate = n as f64 / t.elapsed().as_secs_f64();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(trustdesk::serve(listener, state));
    let http = reqwest::Client::new();

    let tokens = Arc::new(tokio::sync::Mutex::new(
        tokens.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (tokens, http, base) = (tokens.clone(), http.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some((i, token)) = tokens.lock().await.pop() else {
                    break;
                };
                let r = http
                    .post(format!("{base}/api/v1/redeem"))
                    .json(&serde_json::json!({ "token": token, "password": password(i) }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let redeem_rate = n as f64 / t.elapsed().as_secs_f64();

    // Baseline: the same number of unicodePwd replaces, straight over ldap3 on one connection.
    let ldap = raw::ldap(&env("LAB_LDAPS_URL"), raw::lab_tls()).await;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (mut l, next, dn) = (ldap.clone(), next.clone(), account.dn.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let v: Vec<u8> = format!("\"{}\"", password(i))
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect();
                l.modify(
                    &dn,
                    vec![Mod::Replace(b"unicodePwd".to_vec(), HashSet::from([v]))],
                )
                .await
                .unwrap()
                .success()
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let raw_rate = n as f64 / t.elapsed().as_secs_f64();
    println!("token mint: {mint_rate:.0} tokens/s (sign, store the hash, audit)");
    println!(
        "token redeem over HTTP, SQLite, {conc} concurrent clients: {redeem_rate:.1} redeems/s"
    );
    println!("raw unicodePwd replace over ldap3, {conc} concurrent: {raw_rate:.1} writes/s");
    println!(
        "ratio redeem / raw DC write: {:.2}x",
        redeem_rate / raw_rate
    );
}

//! Audit log: append rate on SQLite (one writer and eight) and the time to verify a chain of
//! 1,000,000 events, in one run.
//!
//!   cargo bench --bench audit            (AUDIT_ROWS=1000000, AUDIT_APPENDS=20000)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use sqlx::Connection;
use trustdesk::audit;
use trustdesk::db::Store;

#[path = "common.rs"]
mod common;
use common::audit_event as event;

async fn fresh() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&trustdesk::db::default_url(dir.path()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

#[tokio::main]
async fn main() {
    let appends: usize = std::env::var("AUDIT_APPENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rows: usize = std::env::var("AUDIT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);

    // Append rate through audit::record (queue, lock, link, insert, commit; concurrent
    // appends are committed together).
    let (store, _d1) = fresh().await;
    let t = Instant::now();
    for n in 0..appends {
        audit::record(&store, &event(n)).await.unwrap();
    }
    let one = appends as f64 / t.elapsed().as_secs_f64();
    let (store8, _d2) = fresh().await;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let s = store8.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..appends / 8 {
                audit::record(&s, &event(w * 1_000_000 + n)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let eight = (appends / 8 * 8) as f64 / t.elapsed().as_secs_f64();
    audit::verify(&store8).await.unwrap();

    // A chain of `rows` events, written in large transactions (the fixture), then verified.
    let (big, _d3) = fresh().await;
    let Store::Sqlite(db) = &big else {
        unreachable!()
    };
    let t = Instant::now();
    let mut prev = audit::GENESIS.to_string();
    let mut conn = db.pool.acquire().await.unwrap();
    for chunk in 0..rows.div_ceil(10_000) {
        let mut tx = conn.begin().await.unwrap();
        for i in 0..10_000.min(rows - chunk * 10_000) {
            let seq = (chunk * 10_000 + i + 1) as i64;
            let e = event(seq as usize);
            let hash = audit::link_hash(&prev, seq, &e);
            sqlx::query(
                "INSERT INTO audit_events (seq, at, actor_sub, actor_name, actor_email, actor_roles, source_ip, user_agent, \
                 request_id, action, target_dn, target_guid, target_name, outcome, reason, ticket, prev_hash, hash) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)",
            )
            .bind(seq).bind(e.at).bind(&e.actor_sub).bind(&e.actor_name).bind(&e.actor_email).bind(&e.actor_roles)
            .bind(&e.source_ip).bind(&e.user_agent).bind(&e.request_id).bind(&e.action).bind(&e.target_dn)
            .bind(&e.target_guid).bind(&e.target_name).bind(&e.outcome).bind(&e.reason).bind(&e.ticket)
            .bind(&prev).bind(&hash)
            .execute(&mut *tx)
            .await
            .unwrap();
            prev = hash;
        }
        tx.commit().await.unwrap();
    }
    drop(conn);
    let built = t.elapsed().as_secs_f64();
    // For comparison: reading every row back as typed columns (the review and export path;
    // verification on SQLite reads one database-built canonical body a row instead).
    let t = Instant::now();
    let (mut after, mut read) = (0i64, 0usize);
    loop {
        let page = big.audit_page(after, 20_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        read += page.len();
    }
    let read_only = t.elapsed().as_secs_f64();
    assert_eq!(read, rows);
    let t = Instant::now();
    let head = audit::verify(&big).await.unwrap();
    let verify = t.elapsed().as_secs_f64();
    assert_eq!(head.rows as usize, rows);

    println!("audit append, SQLite (WAL, synchronous=NORMAL), {appends} events:");
    println!(
        "  1 writer   {one:>9.0} events/s   (target >= 5000: {:.2}x)",
        one / 5000.0
    );
    println!(
        "  8 writers  {eight:>9.0} events/s   (target >= 5000: {:.2}x)",
        eight / 5000.0
    );
    println!(
        "  reading the {rows} rows back as typed rows takes {read_only:.2} s (verify reads canonical bodies)"
    );
    println!(
        "verify a chain of {rows} events: {verify:.2} s   (target < 5 s: {:.2}x of the budget; fixture built in {built:.1} s)",
        verify / 5.0
    );
}

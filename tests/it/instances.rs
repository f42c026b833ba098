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
    let start = || {
        TestApp::new()
            .with_config(|c| {
                c.database_url = Some(url.to_string().into());
                c.instances = 2;
                c.limits.redeem_burst = burst;
                c.limits.redeem_refill_secs = refill_secs;
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
    match r.status {
        StatusCode::BAD_REQUEST => true,
        StatusCode::TOO_MANY_REQUESTS => {
            assert_eq!(r.json()["error"], "rate_limited", "{}", r.body);
            false
        }
        other => panic!("unexpected {other}: {}", r.body),
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

//! M-2: anonymous hits on the sign-in routes write (almost) nothing. 10,000 hits on `/login`
//! and `/auth/callback` from twenty workstation addresses (loopback addresses the client
//! binds) add no session row and at most a few audit rows per address; a real sign-in still
//! works afterwards. (M-1, junk redeems audited as counts, needs no lab: `web/api.rs`.)

use std::net::IpAddr;

use crate::common::{browser, install_crypto, lab, sign_in, start_portal};

const ADDRESSES: u8 = 20;
const HITS_PER_ADDRESS: usize = 500;

/// Rows in the session table and in the audit log.
async fn rows(state: &trustdesk::web::AppState) -> (i64, i64) {
    let trustdesk::db::Store::Sqlite(db) = &state.store else {
        panic!("the test portal uses SQLite")
    };
    let count = |table: &str| {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    (count("tower_sessions").await, count("audit_events").await)
}

/// One anonymous hit of the `i`-th kind: the sign-in start, or a callback with nothing, with
/// a provider error (control characters in it), with a made-up code and state, or with a
/// made-up pending sign-in cookie.
async fn hit(c: &reqwest::Client, base: &str, i: usize) -> u16 {
    let req = match i % 5 {
        0 => c.get(format!("{base}/login?next=/computers")),
        1 => c.get(format!("{base}/auth/callback")),
        2 => c.get(format!(
            "{base}/auth/callback?error=access_denied%07%1b%5B31m&error_description=a%0d%0ab"
        )),
        3 => c.get(format!("{base}/auth/callback?code=made-up&state=made-up")),
        _ => c
            .get(format!("{base}/auth/callback?code=made-up&state=s"))
            .header("cookie", "td_login=eyJ4IjoxfQ"),
    };
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn ten_thousand_anonymous_sign_in_hits_add_a_bounded_number_of_rows() {
    install_crypto();
    let lab = lab();
    let p = start_portal(&lab, "").await;
    let (sessions_before, audit_before) = rows(&p.state).await;

    let mut tasks = Vec::new();
    for n in 0..ADDRESSES {
        let base = p.base.clone();
        tasks.push(tokio::spawn(async move {
            let addr: IpAddr = format!("127.0.1.{}", n + 1).parse().unwrap();
            let c = reqwest::Client::builder()
                .local_address(addr)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let mut limited = 0;
            for i in 0..HITS_PER_ADDRESS {
                if hit(&c, &base, i).await == 429 {
                    limited += 1;
                }
            }
            limited
        }));
    }
    let mut limited = 0;
    for t in tasks {
        limited += t.await.unwrap();
    }
    let hits = usize::from(ADDRESSES) * HITS_PER_ADDRESS;
    assert_eq!(hits, 10_000);
    assert!(limited > hits * 9 / 10, "most hits are refused: {limited}");

    let (sessions_after, audit_after) = rows(&p.state).await;
    assert_eq!(sessions_after, sessions_before, "no session row for anyone");
    // Per address: the rate limit's refusals audited at 1, 10, 100 and the failed callbacks
    // at 1 and 10 of their windows.
    let added = audit_after - audit_before;
    assert!(
        added <= 5 * i64::from(ADDRESSES),
        "{added} audit rows for {hits} anonymous hits"
    );
    let recent = p.state.store.audit_recent(200).await.unwrap();
    let reasons: Vec<String> = recent
        .iter()
        .filter(|r| r.event.action == "sign_in")
        .filter_map(|r| r.event.reason.clone())
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("rate_limited")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().all(|r| !r.chars().any(char::is_control)),
        "control characters are stripped: {reasons:?}"
    );

    // A real sign-in, from another address, still works, and its session is the one row.
    let (page, _) = sign_in(&browser(), &p.base, "alice", "alice-pw").await;
    assert_eq!(page.status(), 200);
    assert_eq!(rows(&p.state).await.0, sessions_before + 1);
}

//! The store contract suite: every test runs on SQLite and on PostgreSQL.

use std::future::Future;

use sqlx::Executor;
use time::OffsetDateTime;
use trustdesk::audit;
use trustdesk::db::{FleetState, NewAuditRow, ObservationRow, Store};

use crate::common::{create_pg_database, drop_pg_database, pg_admin_url};

/// A fresh SQLite file store.
async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = trustdesk::db::default_url(dir.path());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

/// A fresh, migrated PostgreSQL database, dropped afterwards.
pub(crate) async fn with_pg<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    with_bare_pg(|store| async move {
        store.migrate().await.unwrap();
        test(store).await;
    })
    .await;
}

/// A fresh PostgreSQL database with no tables, dropped afterwards.
async fn with_bare_pg<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let (url, name) = create_pg_database().await;
    let store = Store::connect(&url).await.unwrap();
    test(store.clone()).await;
    if let Store::Postgres(pool) = store {
        pool.close().await;
    }
    drop_pg_database(&name).await;
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() {
                let (store, _dir) = super::sqlite_store().await;
                super::$name(store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            #[ignore = "needs PostgreSQL"]
            async fn $name() {
                super::with_pg(super::$name).await;
            })*
        }
    };
}

contract!(
    migrations_are_idempotent,
    audit_chain_links_and_verifies,
    audit_edit_is_detected,
    audit_delete_is_detected,
    audit_insert_is_detected,
    audit_swap_is_detected,
    audit_truncation_is_caught_by_the_recorded_head,
    audit_rows_made_now_verify,
    audit_awkward_text_verifies,
    concurrent_appends_form_one_chain,
    group_commit_gives_every_caller_its_own_committed_row,
    a_refused_row_fails_only_its_own_caller,
    a_key_changed_elsewhere_is_refused_on_the_next_request,
    observations_round_trip,
    fleet_reports_round_trip,
    one_fleet_scan_runs_at_a_time_and_one_without_a_heartbeat_is_failed,
    logins_by_person_and_provider_session,
    audit_filters_match_parts_in_any_case,
);

/// Migration 0008 rebuilds the SQLite audit table and changes its indexes on both: a chain
/// written before it verifies after it, row for row, and the diagnosis's read of trustdesk's
/// own writes finds them among the lookups.
async fn an_audit_chain_from_before_0008_verifies_after_it(store: Store) {
    // The migrations before 0008, through sqlx's public API: a directory holding only them.
    let backend = match &store {
        Store::Sqlite(_) => "sqlite",
        Store::Postgres(_) => "postgres",
    };
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let dir = tempfile::tempdir().unwrap();
    for file in std::fs::read_dir(&all).unwrap() {
        let file = file.unwrap();
        if file.file_name().to_string_lossy().as_ref() < "0008" {
            std::fs::copy(file.path(), dir.path().join(file.file_name())).unwrap();
        }
    }
    let earlier = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    assert_eq!(earlier.iter().count(), 7);
    match &store {
        Store::Sqlite(db) => earlier.run(&db.pool).await.unwrap(),
        Store::Postgres(db) => earlier.run(&db.pool).await.unwrap(),
    }
    let guid = "0b6f6b0e-1111-2222-3333-444455556666";
    let on_it = |action: &str, n: usize| NewAuditRow {
        target_guid: Some(guid.into()),
        ..event(action, n)
    };
    for n in 0..40 {
        let action = if n == 17 { "reset_account" } else { "diagnose" };
        audit::record(&store, &on_it(action, n)).await.unwrap();
    }
    let before = audit::verify(&store).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(audit::verify(&store).await.unwrap(), before);
    let since = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let writes = store.portal_writes(guid, since).await.unwrap();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].event, on_it("reset_account", 17));
    // The chain goes on from the same head.
    let next = audit::record(&store, &on_it("diagnose", 40)).await.unwrap();
    assert_eq!((next.seq, next.prev_hash), (before.seq + 1, before.hash));
}

#[tokio::test]
async fn sqlite_an_audit_chain_from_before_0008_verifies_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&trustdesk::db::default_url(dir.path()))
        .await
        .unwrap();
    an_audit_chain_from_before_0008_verifies_after_it(store).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn postgres_an_audit_chain_from_before_0008_verifies_after_it() {
    with_bare_pg(an_audit_chain_from_before_0008_verifies_after_it).await;
}

/// The pool pings a connection back from an idle second or more before it hands it out
/// (`Store::connect`): one the server ended meanwhile, as a restart or a failover does, is
/// dropped, and the statement runs on a new connection instead of failing.
#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn postgres_a_connection_the_server_ended_while_idle_is_not_handed_out() {
    let (url, name) = create_pg_database().await;
    let store = Store::connect(&url).await.unwrap();
    store.ping().await.unwrap();
    let admin = sqlx::PgPool::connect(&pg_admin_url()).await.unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
    )
    .bind(&name)
    .fetch_all(&admin)
    .await
    .unwrap();
    assert!(!ended.is_empty() && ended.iter().all(|e| *e), "{ended:?}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    store
        .ping()
        .await
        .expect("a new connection in place of the one the server ended");
    if let Store::Postgres(pool) = store {
        pool.close().await;
    }
    drop_pg_database(&name).await;
}

/// The auditor's filters: part of a name in any case for the actor and the computer, any case
/// for the action and the outcome; `%` and `_` typed into a filter are literal.
async fn audit_filters_match_parts_in_any_case(store: Store) {
    for n in 0..5 {
        audit::record(
            &store,
            &event(if n == 3 { "reset_account" } else { "lookup" }, n),
        )
        .await
        .unwrap();
    }
    let seqs = |f: trustdesk::db::AuditFilter| {
        let store = store.clone();
        async move {
            let rows = store.audit_query(&f, i64::MAX, 100).await.unwrap();
            rows.iter().map(|r| r.seq).collect::<Vec<_>>()
        }
    };
    let f = |actor: &str, target: &str, action: &str| trustdesk::db::AuditFilter {
        actor: (!actor.is_empty()).then(|| actor.to_string()),
        target: (!target.is_empty()).then(|| target.to_string()),
        action: (!action.is_empty()).then(|| action.to_string()),
        ..Default::default()
    };
    // The actor is the exact `sub`, never the display name the person may edit (#16 L-9).
    assert_eq!(seqs(f("alice", "", "")).await, vec![5, 4, 3, 2, 1]);
    assert_eq!(seqs(f("Alice Senior", "", "")).await, Vec::<i64>::new());
    assert_eq!(seqs(f("ALICE", "", "")).await, Vec::<i64>::new());
    assert_eq!(seqs(f("alice", "ws003", "")).await, vec![4]);
    assert_eq!(seqs(f("", "par-ws00", "RESET_ACCOUNT")).await, vec![4]);
    assert_eq!(seqs(f("", "%", "")).await, Vec::<i64>::new());
    assert_eq!(seqs(f("", "_", "")).await, Vec::<i64>::new());
    assert_eq!(seqs(f("bob", "", "")).await, Vec::<i64>::new());
}

fn event(action: &str, n: usize) -> NewAuditRow {
    NewAuditRow {
        at: OffsetDateTime::from_unix_timestamp(1_790_000_000 + n as i64).unwrap(),
        actor_sub: Some("alice".into()),
        actor_name: Some("Alice Senior".into()),
        actor_roles: "senior".into(),
        action: action.into(),
        target_name: Some(format!("PAR-WS{n:03}")),
        outcome: "success".into(),
        ..Default::default()
    }
}

async fn migrations_are_idempotent(store: Store) {
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

async fn audit_chain_links_and_verifies(store: Store) {
    let mut last = None;
    for n in 0..5 {
        let row = audit::record(&store, &event("lookup", n)).await.unwrap();
        assert_eq!(row.seq, n as i64 + 1);
        if let Some(prev) = &last {
            assert_eq!(&row.prev_hash, prev);
        } else {
            assert_eq!(row.prev_hash, audit::GENESIS);
        }
        last = Some(row.hash.clone());
    }
    let head = audit::verify(&store).await.unwrap();
    assert_eq!(head.rows, 5);
    assert_eq!(Some(head.hash), last);
    let recent = store.audit_recent(2).await.unwrap();
    assert_eq!(recent.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![5, 4]);
    assert_eq!(recent[0].event, event("lookup", 4));
}

async fn audit_edit_is_detected(store: Store) {
    for n in 0..4 {
        audit::record(&store, &event("lookup", n)).await.unwrap();
    }
    exec(
        &store,
        "UPDATE audit_events SET outcome = 'denied' WHERE seq = 3",
    )
    .await;
    let err = audit::verify(&store).await.unwrap_err();
    assert!(err.to_string().contains("seq 3"), "{err}");
}

async fn audit_rows_made_now_verify(store: Store) {
    // Real events carry the clock's nanoseconds; the chain must verify after the round trip.
    for _ in 0..3 {
        audit::record(
            &store,
            &audit::event(
                audit::Action::Lookup,
                audit::Outcome::Success,
                trustdesk::clock::now(),
            )
            .target_name("PAR-WS001"),
        )
        .await
        .unwrap();
    }
    assert_eq!(audit::verify(&store).await.unwrap().rows, 3);
}

/// Strings JSON escapes in different ways (quotes, backslashes, control characters, non-ASCII,
/// line separators, HTML): the chain verifies, and on SQLite the body the database builds for
/// verification is byte for byte the canonical form `link_hash` hashes.
async fn audit_awkward_text_verifies(store: Store) {
    let awkward = [
        "plain",
        "quote \" and back\\slash",
        "tab\tnew\nline\rcr",
        "ctl \u{1}\u{1f}\u{7f}",
        "é ü 日本 🚀",
        "sep \u{2028}\u{2029}",
        "</script><b>&amp;",
        "'; DROP TABLE x; --",
    ];
    for (i, text) in awkward.iter().enumerate() {
        let mut e = audit::event(
            audit::Action::Lookup,
            audit::Outcome::Success,
            trustdesk::clock::now(),
        )
        .target_name(text)
        .reason(*text);
        e.user_agent = Some(format!("agent {i} {text}"));
        audit::record(&store, &e).await.unwrap();
    }
    assert_eq!(
        audit::verify(&store).await.unwrap().rows,
        awkward.len() as u64
    );
    let links = store.audit_links(0, 100).await.unwrap();
    let rows = store.audit_page(0, 100).await.unwrap();
    let mut differ = Vec::new();
    for (l, r) in links.iter().zip(&rows) {
        if let trustdesk::db::LinkBody::Canonical(body) = &l.body
            && audit::link_hash(&r.prev_hash, r.seq, &r.event)
                != trustdesk::audit::body_hash(&l.prev_hash, body.as_bytes())
        {
            differ.push(r.event.reason.clone());
        }
    }
    assert!(
        differ.is_empty(),
        "SQLite's canonical body differs for {differ:?}"
    );
}

/// A fleet report: opened running, rows added, closed; the newest complete one is found by
/// state and by id; a failed scan's rows can be dropped.
async fn fleet_reports_round_trip(store: Store) {
    let t = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    assert!(
        store
            .fleet_latest(FleetState::Complete)
            .await
            .unwrap()
            .is_none()
    );
    let id = store.fleet_begin(t, "alice", "instance-a").await.unwrap();
    let row = |name: &str| finding(name, "OU=Berlin,DC=lab", "disabled \"quoted\"", t);
    let rows = [row("PC00002"), row("PC00001")];
    store.fleet_add_findings(id, &rows).await.unwrap();
    store.fleet_add_findings(id, &[]).await.unwrap();
    assert_eq!(
        store.fleet_scan(id).await.unwrap().unwrap().state,
        FleetState::Running
    );
    let end = completed(t + time::Duration::seconds(3));
    store.fleet_finish(id, &end).await.unwrap();
    let done = store
        .fleet_latest(FleetState::Complete)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done, store.fleet_scan(id).await.unwrap().unwrap());
    assert_eq!(
        (done.id, done.scanned, done.dc.as_deref()),
        (id, 2, Some("dc1"))
    );
    assert_eq!(done.finished_at, Some(t + time::Duration::seconds(3)));
    let found = store.fleet_findings(id).await.unwrap();
    assert_eq!(
        found,
        vec![rows[1].clone(), rows[0].clone()],
        "by cause, then name"
    );
    // A closed report is not closed again; another scan's rows can be dropped.
    store
        .fleet_finish(
            id,
            &trustdesk::db::FleetEnd {
                state: FleetState::Failed,
                ..end
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.fleet_scan(id).await.unwrap().unwrap().state,
        FleetState::Complete
    );
    let other = store.fleet_begin(t, "bob", "instance-a").await.unwrap();
    // A domain's rows are dropped alone (its DC failed, its scan starts over; #19).
    let f2 = finding("F2-PC", "OU=Berlin,DC=forest2,DC=example", "x", t);
    assert_eq!(f2.domain.as_deref(), Some("forest2.example"));
    store
        .fleet_add_findings(other, &[rows[0].clone(), rows[1].clone(), f2])
        .await
        .unwrap();
    store
        .fleet_clear_domain(other, "forest2.example")
        .await
        .unwrap();
    assert_eq!(store.fleet_findings(other).await.unwrap().len(), rows.len());
    store.fleet_clear_findings(other).await.unwrap();
    assert!(store.fleet_findings(other).await.unwrap().is_empty());
    assert_eq!(store.fleet_findings(id).await.unwrap().len(), 2);
    assert!(store.fleet_scan(other + 100).await.unwrap().is_none());
}

/// #19: one report runs at a time, whichever instance opens it; its holder's heartbeats
/// carry the progress every instance reads; a report whose heartbeat stopped is failed with
/// its rows dropped, its holder's next beat and its close are refused, and the next scan
/// may start.
async fn one_fleet_scan_runs_at_a_time_and_one_without_a_heartbeat_is_failed(store: Store) {
    use trustdesk::db::{FleetBeat, StoreError};
    let t = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let s = |n: i64| t + time::Duration::seconds(n);
    let a = store.fleet_begin(t, "alice", "instance-a").await.unwrap();
    assert!(matches!(
        store.fleet_begin(s(1), "bob", "instance-b").await,
        Err(StoreError::Conflict(_))
    ));
    let beat = |at, scanned| FleetBeat {
        at,
        dc: Some("dc1"),
        scanned,
        estimate: Some(100),
        restarts: 0,
    };
    assert!(
        store
            .fleet_beat(a, "instance-a", beat(s(5), 40))
            .await
            .unwrap()
    );
    assert!(
        !store
            .fleet_beat(a, "instance-b", beat(s(5), 99))
            .await
            .unwrap(),
        "only the holder beats"
    );
    let row = store.fleet_newest().await.unwrap().unwrap();
    assert_eq!(
        (
            row.id,
            row.scanned,
            row.estimate,
            row.heartbeat_at,
            row.holder.as_deref()
        ),
        (a, 40, Some(100), Some(s(5)), Some("instance-a"))
    );
    store
        .fleet_add_findings(a, &[finding("PC1", "OU=Berlin,DC=lab", "x", t)])
        .await
        .unwrap();
    // Beating until s(5): not stale as of s(30); stale as of s(40).
    assert!(
        store
            .fleet_fail_stale(s(5), s(30))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.fleet_fail_stale(s(10), s(40)).await.unwrap(), vec![a]);
    let failed = store.fleet_scan(a).await.unwrap().unwrap();
    assert_eq!(failed.state, FleetState::Failed);
    assert_eq!(failed.error.as_deref(), Some(trustdesk::db::STALE_SCAN));
    assert!(store.fleet_findings(a).await.unwrap().is_empty());
    // Its holder, back, may neither beat nor complete it.
    assert!(
        !store
            .fleet_beat(a, "instance-a", beat(s(41), 100))
            .await
            .unwrap()
    );
    store.fleet_finish(a, &completed(s(42))).await.unwrap();
    assert_eq!(
        store.fleet_scan(a).await.unwrap().unwrap().state,
        FleetState::Failed,
        "never complete"
    );
    let b = store
        .fleet_begin(s(43), "schedule", "instance-b")
        .await
        .unwrap();
    assert!(b > a);
    assert_eq!(
        store
            .fleet_latest_by("schedule")
            .await
            .unwrap()
            .map(|r| r.id),
        Some(b)
    );
}

/// How a scan of two computers on `dc1` ends well at `at`.
pub(crate) fn completed(at: OffsetDateTime) -> trustdesk::db::FleetEnd<'static> {
    trustdesk::db::FleetEnd {
        state: FleetState::Complete,
        finished_at: at,
        dc: Some("dc1"),
        scanned: 2,
        restarts: 0,
        error: None,
        notes: None,
        tally: Some("{}"),
    }
}

/// A fleet finding for `name` under `ou` (a DN), as a scan stores it: disabled, seen at `at`.
pub(crate) fn finding(
    name: &str,
    ou: &str,
    summary: &str,
    at: OffsetDateTime,
) -> trustdesk::db::FleetFindingRow {
    trustdesk::db::FleetFindingRow {
        name: name.into(),
        dn: format!("CN={name},{ou}"),
        domain: trustdesk::ad::dn::dn_domain(ou).map(|d| d.to_ascii_lowercase()),
        ou: ou.into(),
        object_guid: "00000000-0000-0000-0000-000000000001".into(),
        cause: "account_disabled".into(),
        confidence: "high".into(),
        causes: "account_disabled".into(),
        pwd_last_set: Some(at),
        last_logon: None,
        summary: summary.into(),
    }
}

/// Run `sql` as a database administrator would: on SQLite, first dropping the append-only
/// triggers (migration 0011), which whoever holds the file can do.
pub(crate) async fn exec(store: &Store, sql: &str) {
    if let Store::Sqlite(db) = store {
        for trigger in ["audit_events_no_update", "audit_events_no_delete"] {
            let drop = format!("DROP TRIGGER IF EXISTS {trigger}");
            db.pool.execute(drop.as_str()).await.unwrap();
        }
    }
    match store {
        Store::Sqlite(db) => db.pool.execute(sql).await.map(|_| ()),
        Store::Postgres(p) => p.execute(sql).await.map(|_| ()),
    }
    .unwrap();
}

async fn five_rows(store: &Store) {
    for n in 0..5 {
        audit::record(store, &event("lookup", n)).await.unwrap();
    }
    audit::verify(store).await.unwrap();
}

async fn audit_delete_is_detected(store: Store) {
    five_rows(&store).await;
    exec(&store, "DELETE FROM audit_events WHERE seq = 3").await;
    let err = audit::verify(&store).await.unwrap_err().to_string();
    assert!(err.contains("seq 4") && err.contains("missing"), "{err}");
}

async fn audit_insert_is_detected(store: Store) {
    five_rows(&store).await;
    // Make room at seq 3 and insert a row whose own links are computed correctly.
    for seq in (3..=5).rev() {
        exec(
            &store,
            &format!(
                "UPDATE audit_events SET seq = {} WHERE seq = {seq}",
                seq + 1
            ),
        )
        .await;
    }
    let prev = store.audit_page(1, 1).await.unwrap()[0].hash.clone();
    let forged = event("reset_account", 99);
    let hash = audit::link_hash(&prev, 3, &forged);
    let at = forged
        .at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let at = if matches!(store, Store::Sqlite(_)) {
        format!("'{at}'")
    } else {
        format!("'{at}'::timestamptz")
    };
    exec(
        &store,
        &format!(
            "INSERT INTO audit_events (seq, at, actor_sub, actor_name, actor_roles, action, target_name, outcome, prev_hash, hash)              VALUES (3, {at}, 'alice', 'Alice Senior', 'senior', 'reset_account', 'PAR-WS099', 'success', '{prev}', '{hash}')"
        ),
    )
    .await;
    let err = audit::verify(&store).await.unwrap_err().to_string();
    assert!(
        err.contains("seq 4"),
        "the row after the insertion breaks: {err}"
    );
}

async fn audit_swap_is_detected(store: Store) {
    five_rows(&store).await;
    exec(&store, "UPDATE audit_events SET seq = 100 WHERE seq = 2").await;
    exec(&store, "UPDATE audit_events SET seq = 2 WHERE seq = 3").await;
    exec(&store, "UPDATE audit_events SET seq = 3 WHERE seq = 100").await;
    let err = audit::verify(&store).await.unwrap_err().to_string();
    assert!(err.contains("seq 2"), "{err}");
}

async fn audit_truncation_is_caught_by_the_recorded_head(store: Store) {
    five_rows(&store).await;
    let head = audit::verify(&store).await.unwrap();
    exec(&store, "DELETE FROM audit_events WHERE seq >= 4").await;
    // The shortened chain is consistent by itself...
    assert_eq!(audit::verify(&store).await.unwrap().seq, 3);
    // ...but the head the reviewer noted is gone.
    let err = audit::verify_with_head(&store, Some((head.seq, &head.hash)))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("recorded head is gone"), "{err}");
    // And a head that is still there passes.
    let kept = store.audit_page(2, 1).await.unwrap()[0].clone();
    audit::verify_with_head(&store, Some((kept.seq, &kept.hash)))
        .await
        .unwrap();
}

async fn concurrent_appends_form_one_chain(store: Store) {
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..25 {
                audit::record(&store, &event("diagnose", w * 100 + n))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let head = audit::verify(&store).await.unwrap();
    assert_eq!(head.rows, 100);
    assert_eq!(head.seq, 100);
}

/// Group commit: eight writers × 200 appends make one chain of 1,600 rows; every caller got
/// its own row back, each `seq` once, and the database holds exactly what each was told.
async fn group_commit_gives_every_caller_its_own_committed_row(store: Store) {
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut rows = Vec::new();
            for n in 0..200 {
                rows.push(
                    audit::record(&store, &event("diagnose", w * 1000 + n))
                        .await
                        .unwrap(),
                );
            }
            rows
        }));
    }
    let mut returned = Vec::new();
    for t in tasks {
        returned.extend(t.await.unwrap());
    }
    let head = audit::verify(&store).await.unwrap();
    assert_eq!((head.rows, head.seq), (1600, 1600));
    returned.sort_by_key(|r| r.seq);
    let seqs: Vec<i64> = returned.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (1..=1600).collect::<Vec<_>>(),
        "each seq exactly once"
    );
    let stored = store.audit_page(0, 2000).await.unwrap();
    assert_eq!(stored, returned, "each caller was told what was committed");
}

/// A row the database refuses fails its own caller only, even when it was queued with
/// others: the rest of its batch is committed, nothing is lost or forked, and the next
/// append links to the head.
async fn a_refused_row_fails_only_its_own_caller(store: Store) {
    let poison = match &store {
        Store::Sqlite(_) => "CREATE TRIGGER audit_poison BEFORE INSERT ON audit_events \
             WHEN NEW.reason = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
            .to_string(),
        Store::Postgres(_) => "CREATE FUNCTION audit_poison() RETURNS trigger LANGUAGE plpgsql \
             AS $$ BEGIN IF NEW.reason = 'poison' THEN RAISE EXCEPTION 'poisoned row'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER audit_poison BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION audit_poison()"
            .to_string(),
    };
    match &store {
        Store::Sqlite(db) => db.pool.execute(poison.as_str()).await.map(|_| ()),
        Store::Postgres(p) => p.execute(poison.as_str()).await.map(|_| ()),
    }
    .unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for n in 0..40 {
                let bad = (w + n) % 5 == 0;
                let mut e = event("diagnose", w * 1000 + n);
                e.reason = Some(if bad { "poison" } else { "fine" }.into());
                out.push((bad, audit::record(&store, &e).await));
            }
            out
        }));
    }
    let mut written = Vec::new();
    for t in tasks {
        for (bad, result) in t.await.unwrap() {
            match result {
                Ok(row) => {
                    assert!(!bad, "a refused row was reported written");
                    written.push(row);
                }
                Err(e) => {
                    assert!(bad, "a good row failed: {e}");
                    assert!(format!("{e:?}").contains("poisoned row"), "{e:?}");
                }
            }
        }
    }
    assert_eq!(written.len(), 8 * 40 * 4 / 5);
    let head = audit::verify(&store).await.unwrap();
    assert_eq!(head.rows as usize, written.len());
    written.sort_by_key(|r| r.seq);
    assert_eq!(store.audit_page(0, 1000).await.unwrap(), written);
    // The next append (alone, and refused alone) still links to the head.
    let mut e = event("lookup", 1);
    e.reason = Some("poison".into());
    assert!(audit::record(&store, &e).await.is_err());
    let next = audit::record(&store, &event("lookup", 2)).await.unwrap();
    assert_eq!(
        (next.seq, next.prev_hash.as_str()),
        (head.seq + 1, head.hash.as_str())
    );
    assert_eq!(audit::verify(&store).await.unwrap().rows, head.rows + 1);
}

/// Logins are found by person or provider session, an empty value is an ordinary value (no
/// match, no error), past ones are swept, and a logout token's `jti` is used once.
async fn logins_by_person_and_provider_session(store: Store) {
    use trustdesk::db::{LoginRow, LoginsOf};
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let login = |id: &str, sub: &str, sid: Option<&str>, ends: i64| LoginRow {
        session_id: id.into(),
        issuer: "https://idp.example".into(),
        sub: sub.into(),
        sid: sid.map(str::to_string),
        name: None,
        signed_in_at: now,
        expires_at: now + time::Duration::seconds(ends),
    };
    for row in [
        login("s1", "alice", Some("p1"), 60),
        login("s2", "alice", Some("p2"), 60),
        login("s3", "bob", None, 60),
        login("s4", "alice", Some("p1"), -1),
    ] {
        store.add_login(&row).await.unwrap();
    }
    let ids = |rows: Vec<LoginRow>| rows.into_iter().map(|r| r.session_id).collect::<Vec<_>>();
    let iss = "https://idp.example";
    assert_eq!(
        ids(store.logins(LoginsOf::All, now).await.unwrap()).len(),
        3
    );
    assert_eq!(
        ids(store.logins(LoginsOf::Subject("alice"), now).await.unwrap()),
        ["s1", "s2"]
    );
    assert_eq!(
        ids(store
            .logins(LoginsOf::IssuerSid(iss, "p1"), now)
            .await
            .unwrap()),
        ["s1"]
    );
    assert_eq!(
        ids(store
            .logins(LoginsOf::IssuerSubject(iss, "bob"), now)
            .await
            .unwrap()),
        ["s3"]
    );
    assert!(
        store
            .logins(LoginsOf::Subject(""), now)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .logins(LoginsOf::IssuerSid("", ""), now)
            .await
            .unwrap()
            .is_empty()
    );
    store.remove_login("s1").await.unwrap();
    store.sweep_logins(now).await.unwrap();
    assert_eq!(
        ids(store
            .logins(LoginsOf::All, now - time::Duration::seconds(10))
            .await
            .unwrap()),
        ["s2", "s3"]
    );
    let until = now + time::Duration::seconds(300);
    assert!(store.remember_logout_jti("j1", until).await.unwrap());
    assert!(
        !store.remember_logout_jti("j1", until).await.unwrap(),
        "a replay"
    );
}

async fn observations_round_trip(store: Store) {
    let t0 = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    // The same name in another domain (issue #19) is another computer's history; a row from
    // before domains were recorded (no domain) counts for every domain.
    let lab = Some("lab.example.test".to_string());
    let other = Some("forest2.example.test".to_string());
    for (i, v, domain) in [
        (0i64, 2i64, lab.clone()),
        (3600, 3, None),
        (5400, 9, other),
        (7200, 4, lab),
    ] {
        store
            .add_observation(&ObservationRow {
                name: "PAR-WS001".into(),
                domain,
                observed_at: t0 + time::Duration::seconds(i),
                object_guid: "9a3c1a52-0000-4000-8000-000000000001".into(),
                unicode_pwd_version: Some(v),
                originating_dc: None,
                last_logon: Some(t0),
            })
            .await
            .unwrap();
    }
    let got = store
        .observations(
            "PAR-WS001",
            "lab.example.test",
            t0 + time::Duration::seconds(1),
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        got.iter()
            .map(|o| o.unicode_pwd_version)
            .collect::<Vec<_>>(),
        vec![Some(3), Some(4)]
    );
    assert_eq!(got[0].last_logon, Some(t0));
    assert!(
        store
            .observations("OTHER", "lab.example.test", t0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn eight_writers_times_1000_events_on_postgres_make_one_chain() {
    with_pg(|store| async move {
        // Two independent pools: like two portal instances on one database.
        let Store::Postgres(pool) = &store else {
            unreachable!()
        };
        let url = (*pool.connect_options()).clone();
        let second = Store::Postgres(sqlx::PgPool::connect_with(url).await.unwrap().into());
        let mut tasks = Vec::new();
        for w in 0..8 {
            let s = if w % 2 == 0 {
                store.clone()
            } else {
                second.clone()
            };
            tasks.push(tokio::spawn(async move {
                for n in 0..1000 {
                    audit::record(&s, &event("diagnose", w * 10_000 + n))
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        if let Store::Postgres(p) = second {
            p.close().await;
        }
        let head = audit::verify(&store).await.unwrap();
        assert_eq!((head.rows, head.seq), (8000, 8000));
    })
    .await;
}

/// Another handle on the same database, as the `api-key` command or a second instance has.
async fn elsewhere(store: &Store) -> Store {
    match store {
        Store::Sqlite(db) => {
            let file = db
                .pool
                .connect_options()
                .get_filename()
                .display()
                .to_string();
            Store::connect(&format!("sqlite://{file}")).await.unwrap()
        }
        Store::Postgres(pool) => Store::Postgres(
            sqlx::PgPool::connect_with((*pool.connect_options()).clone())
                .await
                .unwrap()
                .into(),
        ),
    }
}

/// The portal keeps the keys it has checked in memory, but a key revoked, expired or deleted
/// by another process is refused on the very next request, concurrent ones included.
async fn a_key_changed_elsewhere_is_refused_on_the_next_request(store: Store) {
    use trustdesk::auth::api_keys::{ApiKeys, KeyRefusal, create};
    let other = elsewhere(&store).await;
    let keys = std::sync::Arc::new(ApiKeys::new(store.clone()));
    let (k1, k2, k3) = (
        create(&store, "k1", "auditor").await.unwrap(),
        create(&store, "k2", "auditor").await.unwrap(),
        create(&store, "k3", "auditor").await.unwrap(),
    );
    for _ in 0..3 {
        for k in [&k1, &k2, &k3] {
            assert!(keys.authenticate(k).await.unwrap().is_ok());
        }
    }
    let unknown = format!("{}x", &k1[..k1.len() - 1]);
    assert_eq!(
        keys.authenticate(&unknown).await.unwrap().err(),
        Some(KeyRefusal::Invalid)
    );

    // Revoked by the command: refused at once, by every request in flight after it.
    assert!(
        other
            .revoke_api_key("k1", trustdesk::clock::now())
            .await
            .unwrap()
    );
    let tries: Vec<_> = (0..16)
        .map(|_| {
            let (keys, k) = (keys.clone(), k1.clone());
            tokio::spawn(async move { keys.authenticate(&k).await.unwrap().err() })
        })
        .collect();
    for t in tries {
        assert_eq!(t.await.unwrap(), Some(KeyRefusal::Invalid));
    }
    assert!(
        keys.authenticate(&k2).await.unwrap().is_ok(),
        "others stand"
    );

    // Expired, or deleted, by hand in the database: the same.
    let sql = "UPDATE api_keys SET expires_at = $1 WHERE name = 'k2'";
    let past = trustdesk::clock::now() - time::Duration::seconds(1);
    match &other {
        Store::Sqlite(db) => sqlx::query(sql)
            .bind(past)
            .execute(&db.pool)
            .await
            .map(|_| ()),
        Store::Postgres(p) => sqlx::query(sql)
            .bind(past)
            .execute(&p.pool)
            .await
            .map(|_| ()),
    }
    .unwrap();
    let expired = keys.authenticate(&k2).await.unwrap().err();
    assert!(
        matches!(expired, Some(KeyRefusal::Expired(at)) if (at - past).abs() < time::Duration::seconds(1)),
        "{expired:?}"
    );
    let sql = "DELETE FROM api_keys WHERE name = 'k3'";
    match &other {
        Store::Sqlite(db) => sqlx::query(sql).execute(&db.pool).await.map(|_| ()),
        Store::Postgres(p) => sqlx::query(sql).execute(&p.pool).await.map(|_| ()),
    }
    .unwrap();
    assert_eq!(
        keys.authenticate(&k3).await.unwrap().err(),
        Some(KeyRefusal::Invalid)
    );
    if let Store::Postgres(p) = other {
        p.close().await;
    }
}

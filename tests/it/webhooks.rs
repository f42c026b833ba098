//! Webhooks end to end, in-process: the portal (`TestApp`) on SQLite or PostgreSQL, its
//! webhook tasks started as `serve` starts them (with short timings), and a real HTTP
//! receiver on 127.0.0.1 that checks each signature with the portal's own pure `verify`, as
//! an integrator would, and records what it got.
//!
//! Each scenario runs on SQLite; the same on PostgreSQL is `#[ignore = "needs PostgreSQL"]`
//! (`TD_TEST_PG_URL`, default the local server), a fresh database each.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use trustdesk::ad::ComputerAccount;
use trustdesk::ad::tier0::{GroupCheck, Privilege};
use trustdesk::audit::{self, Action, Actor, Origin, Outcome};
use trustdesk::config::{EventType, WebhookConfig};
use trustdesk::db::{AuditRow, DeliveryRow, DeliveryState, Store};
use trustdesk::policy::{MintToken, Target};
use trustdesk::webhooks::{
    DELIVERY_HEADER, EVENT_HEADER, Running, SIGNATURE_HEADER, SignatureError, Timing, WebhookBody,
    Webhooks, verify,
};

use crate::app::{BASE_DN, TestApp};
use crate::common::{create_pg_database, drop_pg_database};

/// The hook's secret, shared with the receiver.
pub(crate) const SECRET: &str = "test-hook-secret-0123456789abcdef-0123456789";
/// The computer the events are about, in the senior role's scope.
const COMPUTER: &str = "PAR-WS001";
const GUID: &str = "6b29fc40-ca47-1067-b31d-00dd010662da";

fn dn() -> String {
    format!("CN={COMPUTER},OU=Paris,OU=Workstations,{BASE_DN}")
}

// ---------------------------------------------------------------------------------------
// The database the portals of one scenario share.

/// A SQLite file, or a fresh PostgreSQL database (dropped by [`Db::finish`]).
struct Db {
    url: String,
    pg_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl Db {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = trustdesk::db::default_url(&dir.path().join("shared"));
        Self {
            url,
            pg_name: None,
            _dir: dir,
        }
    }

    async fn postgres() -> Self {
        let (url, name) = create_pg_database().await;
        Self {
            url,
            pg_name: Some(name),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn finish(self) {
        if let Some(name) = &self.pg_name {
            drop_pg_database(name).await;
        }
    }
}

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let db = super::Db::sqlite().await;
                super::$name(&db).await;
                db.finish().await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs PostgreSQL"]
            async fn $name() {
                let db = super::Db::postgres().await;
                super::$name(&db).await;
                db.finish().await;
            })*
        }
    };
}

on_both_databases!(
    a_mapped_audit_event_is_delivered_signed_and_history_is_not_replayed,
    a_receiver_that_fails_first_gets_the_delivery_again_later,
    what_was_not_sent_before_a_stop_is_sent_by_the_next_start,
    no_secret_reaches_the_receiver_or_the_outbox,
);

// ---------------------------------------------------------------------------------------
// The receiver.

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Got {
    pub(crate) delivery: String,
    pub(crate) event: String,
    pub(crate) signature: String,
    pub(crate) body: String,
    pub(crate) verified: Result<(), SignatureError>,
    pub(crate) answered: u16,
}

#[derive(Default)]
struct Inbox {
    got: Mutex<Vec<Got>>,
    /// The next this many requests are answered 500.
    fail: AtomicUsize,
}

/// A webhook receiver on 127.0.0.1, stopped when dropped.
pub(crate) struct Receiver {
    pub(crate) url: String,
    inbox: Arc<Inbox>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let inbox = Arc::new(Inbox::default());
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(inbox.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, inbox, task }
    }

    pub(crate) fn got(&self) -> Vec<Got> {
        self.inbox.got.lock().unwrap().clone()
    }

    /// Answer the next `n` requests with 500.
    fn fail_next(&self, n: usize) {
        self.inbox.fail.store(n, Ordering::SeqCst);
    }
}

/// Verify as an integrator would (the pure `verify`, five minutes' tolerance), then answer
/// 400 to a bad signature, 500 while told to fail, else 204.
async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let signature = header(SIGNATURE_HEADER);
    let verified = verify(
        SECRET.as_bytes(),
        &signature,
        &body,
        trustdesk::clock::now(),
        time::Duration::minutes(5),
    );
    let fail = inbox
        .fail
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let answered = match (&verified, fail) {
        (Err(_), _) => StatusCode::BAD_REQUEST,
        (Ok(()), true) => StatusCode::INTERNAL_SERVER_ERROR,
        (Ok(()), false) => StatusCode::NO_CONTENT,
    };
    inbox.got.lock().unwrap().push(Got {
        delivery: header(DELIVERY_HEADER),
        event: header(EVENT_HEADER),
        signature,
        body: String::from_utf8_lossy(&body).into_owned(),
        verified,
        answered: answered.as_u16(),
    });
    answered
}

// ---------------------------------------------------------------------------------------
// The portal.

/// Timings for tests: look every 50 ms, retry after 300 ms (doubling).
fn fast() -> Timing {
    Timing {
        poll: Duration::from_millis(50),
        backoff_base: time::Duration::milliseconds(300),
        ..Timing::default()
    }
}

/// A portal on `db` with one hook to `url` for repairs and mints.
async fn portal(db: &Db, url: &str) -> TestApp {
    let (db_url, url) = (db.url.clone(), url.to_string());
    TestApp::new()
        .with_config(move |c| {
            c.database_url = Some(db_url.into());
            c.webhooks = vec![WebhookConfig {
                url,
                events: vec![
                    EventType::TokenMinted,
                    EventType::RepairCompleted,
                    EventType::RepairFailed,
                ],
                secret: Some(SECRET.to_string().into()),
            }];
        })
        .start()
        .await
}

/// The portal's webhook tasks, as `serve` starts them.
async fn start_webhooks(app: &TestApp) -> Running {
    Webhooks::new(&app.state.config.webhooks, app.store().clone(), fast())
        .unwrap()
        .expect("a hook is configured")
        .start()
        .await
        .unwrap()
}

fn alice() -> Actor {
    Actor {
        sub: "alice-sub".into(),
        name: Some("Alice Senior".into()),
        email: Some("alice@example.test".into()),
        roles: vec!["senior".into()],
    }
}

/// Write an audit event about the computer through the portal's own audit API.
async fn event(store: &Store, action: Action, outcome: Outcome, reason: &str) -> AuditRow {
    let mut e = audit::event(action, outcome, trustdesk::clock::now())
        .actor(&alice())
        .target(&dn(), GUID, COMPUTER)
        .reason(reason);
    e.ticket = Some("INC0012345".into());
    audit::record(store, &e).await.unwrap()
}

/// Poll `check` until it answers, for at most 15 s.
async fn eventually<T, Fut: Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> Fut,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What `hooks` got once `done` holds of it (at most 15 s).
pub(crate) async fn eventually_got(hooks: &Receiver, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
    eventually("the webhook deliveries", || async {
        let got = hooks.got();
        done(&got).then_some(got)
    })
    .await
}

/// Every stored delivery, oldest first.
async fn deliveries(store: &Store) -> Vec<DeliveryRow> {
    let mut rows = store.webhook_recent(1000).await.unwrap();
    rows.reverse();
    rows
}

/// Wait until there are `n` deliveries and none is pending, and return them.
async fn settled(store: &Store, n: usize) -> Vec<DeliveryRow> {
    eventually(&format!("{n} settled deliveries"), || async {
        let rows = deliveries(store).await;
        (rows.len() == n && rows.iter().all(|d| d.state != DeliveryState::Pending)).then_some(rows)
    })
    .await
}

// ---------------------------------------------------------------------------------------
// The scenarios.

/// (1) A `mint_token` success written through the audit API becomes one signed POST that
/// verifies, with the documented headers and body; what was in the log before the first start
/// is not replayed, and events no hook maps (a lookup, a reset's `started`) send nothing.
async fn a_mapped_audit_event_is_delivered_signed_and_history_is_not_replayed(db: &Db) {
    let rx = Receiver::start().await;
    let app = portal(db, &rx.url).await;
    let store = app.store();
    event(
        store,
        Action::MintToken,
        Outcome::Success,
        "before webhooks",
    )
    .await;
    let _running = start_webhooks(&app).await;
    event(store, Action::Lookup, Outcome::Success, "a lookup").await;
    event(
        store,
        Action::ResetAccount,
        Outcome::Started,
        "a reset begins",
    )
    .await;
    let minted = event(
        store,
        Action::MintToken,
        Outcome::Success,
        "token jti-1 valid until later",
    )
    .await;
    let got = eventually("the delivery", || async { rx.got().first().cloned() }).await;
    assert_eq!(got.verified, Ok(()), "{got:?}");
    assert_eq!(got.answered, 204);
    assert_eq!(got.event, "token.minted");
    let t: i64 = got.signature[2..got.signature.find(',').unwrap()]
        .parse()
        .unwrap();
    assert!(
        (trustdesk::clock::now().unix_timestamp() - t).abs() < 60,
        "t is the attempt's time: {}",
        got.signature
    );
    let body: WebhookBody = serde_json::from_str(&got.body).unwrap();
    assert_eq!(body.id.to_string(), got.delivery);
    assert_eq!(body.event_type, EventType::TokenMinted);
    assert_eq!(body.audit_seq, minted.seq);
    assert_eq!(body.occurred_at, minted.event.at);
    assert_eq!(
        (body.action.as_str(), body.outcome.as_str()),
        ("mint_token", "success")
    );
    assert_eq!(body.actor.sub.as_deref(), Some("alice-sub"));
    assert_eq!(body.actor.name.as_deref(), Some("Alice Senior"));
    assert_eq!(body.computer.name.as_deref(), Some(COMPUTER));
    assert_eq!(body.computer.dn, Some(dn()));
    assert_eq!(body.computer.guid.as_deref(), Some(GUID));
    assert_eq!(body.ticket.as_deref(), Some("INC0012345"));
    assert_eq!(
        body.reason.as_deref(),
        Some("token jti-1 valid until later")
    );
    assert!(
        !got.body.contains("alice@example.test"),
        "no e-mail: {}",
        got.body
    );
    let rows = settled(store, 1).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let d = &rows[0];
    assert_eq!(d.id, got.delivery);
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!((d.attempts, d.last_status), (1, Some(204)));
    assert!(d.delivered_at.is_some() && d.last_error.is_none());
    assert_eq!(
        d.body, got.body,
        "the stored body is the one signed and sent"
    );
    // Nothing else arrives: not the earlier mint, nor the unmapped events.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.got().len(), 1, "{:#?}", rx.got());
    assert_eq!(store.webhook_cursor().await.unwrap(), Some(minted.seq));
}

/// (2) The receiver answers 500 first: the delivery stays pending with the status noted,
/// is sent again after the backoff under the same id and a fresh signature, and ends
/// `delivered` after two attempts.
async fn a_receiver_that_fails_first_gets_the_delivery_again_later(db: &Db) {
    let rx = Receiver::start().await;
    rx.fail_next(1);
    let app = portal(db, &rx.url).await;
    let store = app.store();
    let _running = start_webhooks(&app).await;
    event(
        store,
        Action::ResetAccount,
        Outcome::Failure,
        "the DC refused",
    )
    .await;
    let rows = settled(store, 1).await;
    assert_eq!(rows.len(), 1);
    let d = &rows[0];
    assert_eq!(d.state, DeliveryState::Delivered, "{d:#?}");
    assert_eq!((d.attempts, d.last_status), (2, Some(204)));
    let got = rx.got();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(
        got.iter().map(|g| g.answered).collect::<Vec<_>>(),
        [500, 204]
    );
    for g in &got {
        assert_eq!(g.verified, Ok(()));
        assert_eq!(g.delivery, d.id, "one delivery id on every attempt");
        assert_eq!(g.event, "repair.failed");
        assert_eq!(g.body, d.body, "the same body");
    }
    let gap = d.delivered_at.unwrap() - d.created_at;
    assert!(
        gap >= time::Duration::milliseconds(300),
        "retried only after the backoff: {gap}"
    );
}

/// (3) A delivery whose attempt failed, and an event written while no portal ran, are both
/// sent by the next portal built on the same database: nothing is lost by a stop, and
/// nothing is sent twice.
async fn what_was_not_sent_before_a_stop_is_sent_by_the_next_start(db: &Db) {
    let rx = Receiver::start().await;
    rx.fail_next(usize::MAX);
    let first = portal(db, &rx.url).await;
    let running = start_webhooks(&first).await;
    let failed = event(
        first.store(),
        Action::RepairOutcome,
        Outcome::Success,
        "the client repaired it",
    )
    .await;
    eventually("a failed attempt recorded", || async {
        deliveries(first.store())
            .await
            .first()
            .is_some_and(|d| d.attempts >= 1 && d.last_status == Some(500))
            .then_some(())
    })
    .await;
    drop(running);
    drop(first);
    // While no portal runs: an event no dispatcher has seen.
    let store = Store::connect(&db.url).await.unwrap();
    let offline = event(&store, Action::MintToken, Outcome::Success, "token jti-2").await;
    rx.fail_next(0);
    let before_restart = rx.got().len();
    let second = portal(db, &rx.url).await;
    let _running = start_webhooks(&second).await;
    let rows = settled(second.store(), 2).await;
    assert!(
        rows.iter().all(|d| d.state == DeliveryState::Delivered),
        "{rows:#?}"
    );
    let by_seq = |seq| rows.iter().find(|d| d.audit_seq == seq).unwrap();
    assert!(by_seq(failed.seq).attempts >= 2);
    assert_eq!(by_seq(failed.seq).event_type, "repair.completed");
    assert_eq!(by_seq(offline.seq).attempts, 1);
    assert_eq!(by_seq(offline.seq).event_type, "token.minted");
    let delivered: Vec<Got> = rx.got().into_iter().filter(|g| g.answered == 204).collect();
    assert_eq!(delivered.len(), 2, "each delivered once: {delivered:#?}");
    assert!(rx.got().len() > before_restart);
    assert!(rx.got().iter().all(|g| g.verified.is_ok()));
    assert_eq!(
        second.store().webhook_cursor().await.unwrap(),
        Some(offline.seq)
    );
}

/// (4) A real mint (the repair capability, not a hand-made row): the token and its short code
/// are shown once to the minter; the webhook says a token was minted, naming its id, and
/// neither the token, the code nor the hook's secret is in any body, header but the
/// signature, or stored delivery.
async fn no_secret_reaches_the_receiver_or_the_outbox(db: &Db) {
    let rx = Receiver::start().await;
    rx.fail_next(1);
    let app = portal(db, &rx.url).await;
    let _running = start_webhooks(&app).await;
    let account = ComputerAccount {
        dn: dn(),
        object_guid: uuid::Uuid::parse_str(GUID).unwrap(),
        object_sid: Some("S-1-5-21-1-2-3-1105".into()),
        sam_account_name: format!("{COMPUTER}$"),
        dns_host_name: Some("par-ws001.lab.example.test".into()),
        operating_system: None,
        operating_system_version: None,
        when_created: trustdesk::clock::now() - time::Duration::days(400),
        when_changed: trustdesk::clock::now(),
        uac: trustdesk::ad::uac::Uac(4096),
        supported_enc_types: None,
        pwd_last_set: None,
        last_logon_timestamp: None,
        admin_count: false,
        key_version: Some(3),
        privilege: Privilege {
            primary_group_id: Some(515),
            groups: GroupCheck::Read {
                privileged: Vec::new(),
            },
            ..Privilege::default()
        },
    };
    let roles = vec!["senior".to_string()];
    let grant = app
        .state
        .policy
        .authorize::<MintToken>(
            &roles,
            &Target {
                dn: &account.dn,
                account: Some(&account),
            },
        )
        .unwrap();
    let actor = alice();
    let origin = Origin::default();
    let req = trustdesk::repair::RepairRequest {
        actor: &actor,
        origin: &origin,
        account: &account,
        ticket: Some("INC0012345"),
        approval: None,
    };
    let minted = trustdesk::repair::mint_token(
        &grant,
        &app.state.repairs,
        &req,
        &roles,
        None,
        trustdesk::clock::now(),
    )
    .await
    .unwrap();
    let (code, bare_code) = (minted.code.grouped(), minted.code.normalized().to_string());
    let rows = settled(app.store(), 1).await;
    assert_eq!(rows.len(), 1);
    let got = rx.got();
    assert_eq!(
        got.len(),
        2,
        "a failed attempt and a delivered one: {got:#?}"
    );
    let body: WebhookBody = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(body.event_type, EventType::TokenMinted);
    assert!(
        body.reason
            .as_deref()
            .unwrap_or_default()
            .contains(&minted.row.jti),
        "the token's id, which is no secret: {body:?}"
    );
    let secrets = [SECRET, minted.token.as_str(), &code, &bare_code];
    for g in &got {
        for s in secrets {
            assert!(!g.body.contains(s), "a secret in a body: {}", g.body);
            for v in [&g.delivery, &g.event] {
                assert!(!v.contains(s));
            }
            assert!(!g.signature.contains(s));
        }
        assert!(!g.body.contains("td1."), "no token text: {}", g.body);
    }
    for d in &rows {
        let stored = format!("{d:?}");
        for s in secrets {
            assert!(!stored.contains(s), "a secret in the outbox: {stored}");
        }
        for g in &got {
            let v1 = g.signature.split_once("v1=").unwrap().1;
            assert!(!stored.contains(v1), "a signature in the outbox: {stored}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The page.

/// `GET /webhooks`: the hook (never its secret) and the deliveries, for the auditor, whose
/// `view_audit` has no scopes; 403 for the admin (scoped), the senior and junior (no
/// `view_audit`), each refusal audited.
#[tokio::test]
async fn the_page_shows_hooks_and_deliveries_to_unscoped_audit_viewers_only() {
    let db = Db::sqlite().await;
    let rx = Receiver::start().await;
    let app = portal(&db, &rx.url).await;
    let _running = start_webhooks(&app).await;
    event(
        app.store(),
        Action::MintToken,
        Outcome::Success,
        "token jti-3",
    )
    .await;
    let rows = settled(app.store(), 1).await;
    let auditor = app.signed_in_as("auditor").await;
    let r = app.get(&auditor, "/webhooks").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains(&rx.url), "{}", r.body);
    assert!(
        r.body
            .contains("<code>token.minted</code>, <code>repair.completed</code>")
    );
    assert!(r.body.contains(&format!("id=\"delivery-{}\"", rows[0].id)));
    assert!(r.body.contains("delivered") && r.body.contains(COMPUTER));
    assert!(!r.body.contains(SECRET));
    let home = app.get(&auditor, "/").await;
    assert!(home.body.contains("href=\"/webhooks\""));
    for role in ["admin", "senior", "junior"] {
        let who = app.signed_in_as(role).await;
        let r = app.get(&who, "/webhooks").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{role}: {}", r.body);
        assert!(r.body.contains(r.request_id()));
        assert!(!r.body.contains(&rx.url), "{role}");
        let home = app.get(&who, "/").await;
        assert!(!home.body.contains("href=\"/webhooks\""), "{role}");
    }
    let denied = app
        .store()
        .audit_recent(20)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event.action == "view_audit" && r.event.outcome == "denied")
        .map(|r| r.event.actor_sub.unwrap_or_default())
        .collect::<Vec<_>>();
    assert_eq!(denied.len(), 3, "{denied:?}");
    assert!(denied.contains(&"admin-sub".to_string()));
    db.finish().await;
}

/// An audit append in this process wakes the dispatcher, and the plan wakes the sender: with
/// a 30 s poll, a delivery still arrives within a second or two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_append_wakes_the_tasks_before_their_poll() {
    let db = Db::sqlite().await;
    let rx = Receiver::start().await;
    let app = portal(&db, &rx.url).await;
    let slow = Timing {
        poll: Duration::from_secs(30),
        ..fast()
    };
    let _running = Webhooks::new(&app.state.config.webhooks, app.store().clone(), slow)
        .unwrap()
        .unwrap()
        .start()
        .await
        .unwrap();
    // Let both tasks reach their wait.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    event(
        app.store(),
        Action::RepairOutcome,
        Outcome::Failure,
        "rejoin failed",
    )
    .await;
    eventually("the delivery", || async { rx.got().first().cloned() }).await;
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    db.finish().await;
}

//! Webhooks: signed JSON events POSTed to the receivers `[[webhooks]]` names, when a repair
//! completes or fails, a token is minted, an approval is asked for or decided, a fleet scan
//! reports.
//!
//! The audit log is the outbox. Every event worth a webhook is already an audit row, written
//! before the action and before the response. A dispatcher tails the log from a cursor stored
//! in the database, maps each new row to its event with a pure function
//! ([`event::webhook_event`]), and adds one delivery per hook that wants it while moving the
//! cursor, in one transaction (`db/webhooks.rs`): nothing is lost on a restart, nothing is
//! planned twice by a crash between the two. The first start with webhooks begins at the
//! audit head (history is not replayed). A sender POSTs the due deliveries (signed, see
//! [`signature`]) and retries failures with backoff ([`retry_at`]); a delivery is claimed
//! before each attempt, so several instances on one database send it once, and a receiver
//! that answered 2xx but whose answer was lost may see it again: it drops a repeat by the
//! `Trustdesk-Delivery` id. Deliveries due at start are sent at start.
//!
//! No secret reaches a body (built from the audit row only), the database, a log line or a
//! delivery's `last_error` (the error of a request never holds its headers).

pub mod event;
pub mod signature;

use std::time::Duration;

use futures_util::future::join_all;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::config::{EventType, WebhookConfig};
use crate::db::{AttemptEnd, AuditRow, DeliveryRow, DeliveryState, Store, StoreError};

pub use event::{WebhookBody, webhook_event};
pub use signature::{
    DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, SignatureError, sign, verify,
};

/// Audit rows read per planning pass.
const PLAN_BATCH: i64 = 200;
/// Deliveries attempted at once.
const SEND_BATCH: i64 = 20;

/// How often and how long: production values by [`Timing::default`]; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The dispatcher and the sender look again at least this often (an audit append in
    /// this process wakes the dispatcher at once).
    pub poll: Duration,
    /// The wait after the first failed attempt; it doubles with each failure …
    pub backoff_base: time::Duration,
    /// … up to this.
    pub backoff_cap: time::Duration,
    /// A delivery that has failed for this long since it was planned is given up …
    pub give_up_after: time::Duration,
    /// … or after this many attempts.
    pub max_attempts: i64,
    /// One attempt's bound (connect, send, the answer's head).
    pub timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(1),
            backoff_base: time::Duration::seconds(10),
            backoff_cap: time::Duration::hours(1),
            give_up_after: time::Duration::hours(24),
            max_attempts: 30,
            timeout: Duration::from_secs(10),
        }
    }
}

impl Timing {
    /// How long a claimed attempt keeps others off its delivery: past the attempt's bound.
    fn lease(&self) -> time::Duration {
        time::Duration::try_from(self.timeout).unwrap_or(time::Duration::MINUTE)
            + time::Duration::MINUTE
    }
}

/// When a delivery planned at `created_at`, whose attempt number `attempts` just failed at
/// `now`, is tried again: `backoff_base · 2^(attempts−1)`, at most `backoff_cap`, after
/// `now`. `None`: give up (the attempts are used up, or the next one would fall past
/// `give_up_after`). Pure.
pub fn retry_at(
    attempts: i64,
    created_at: OffsetDateTime,
    now: OffsetDateTime,
    timing: &Timing,
) -> Option<OffsetDateTime> {
    if attempts >= timing.max_attempts {
        return None;
    }
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let wait = timing
        .backoff_base
        .checked_mul(1_i32 << doublings)
        .unwrap_or(timing.backoff_cap)
        .min(timing.backoff_cap);
    let at = now.checked_add(wait)?;
    let last = created_at.checked_add(timing.give_up_after);
    last.is_none_or(|last| at <= last).then_some(at)
}

/// One configured receiver.
struct Hook {
    url: String,
    events: Vec<EventType>,
    secret: SecretString,
}

/// Why the webhook service could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhooks: cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("webhooks: {0}")]
    Store(#[from] StoreError),
}

/// The dispatcher and the sender, over one store; cheap to clone.
#[derive(Clone)]
pub struct Webhooks(std::sync::Arc<Inner>);

struct Inner {
    store: Store,
    hooks: Vec<Hook>,
    client: reqwest::Client,
    timing: Timing,
    /// Deliveries were planned: the sender looks now.
    planned: Notify,
}

/// The running tasks; dropping it stops them (an attempt in flight is abandoned, its
/// delivery due again when its claim ends).
pub struct Running(Vec<JoinHandle<()>>);

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl Webhooks {
    /// The service for `hooks` (already validated), or `None` when there are none: then
    /// nothing runs and nothing is written.
    pub fn new(
        hooks: &[WebhookConfig],
        store: Store,
        timing: Timing,
    ) -> Result<Option<Self>, WebhookError> {
        let hooks: Vec<Hook> = hooks
            .iter()
            .filter_map(|h| {
                Some(Hook {
                    url: h.url.clone(),
                    events: h.events.clone(),
                    secret: h.secret.clone()?,
                })
            })
            .collect();
        if hooks.is_empty() {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timing.timeout)
            .user_agent(concat!("trustdesk-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(WebhookError::Client)?;
        Ok(Some(Self(std::sync::Arc::new(Inner {
            store,
            hooks,
            client,
            timing,
            planned: Notify::new(),
        }))))
    }

    /// Make the cursor (at the audit head, the first time), then run the dispatcher and the
    /// sender until the returned [`Running`] is dropped.
    pub async fn start(&self) -> Result<Running, StoreError> {
        let cursor = self.0.store.webhook_cursor_start().await?;
        tracing::info!(
            webhooks = self.0.hooks.len(),
            audit.seq = cursor,
            "webhooks: delivering audit events after this row"
        );
        let (planner, sender) = (self.clone(), self.clone());
        Ok(Running(vec![
            tokio::spawn(async move { planner.plan_forever().await }),
            tokio::spawn(async move { sender.send_forever().await }),
        ]))
    }

    async fn plan_forever(&self) {
        loop {
            let read = match self.plan_once(crate::clock::now()).await {
                Ok(read) => read,
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: could not plan deliveries");
                    0
                }
            };
            if read < PLAN_BATCH {
                tokio::select! {
                    () = self.0.store.audit_appended().notified() => {}
                    () = tokio::time::sleep(self.0.timing.poll) => {}
                }
            }
        }
    }

    async fn send_forever(&self) {
        loop {
            if let Err(e) = self.send_due(crate::clock::now()).await {
                tracing::warn!(error = %e, "webhooks: could not read the due deliveries");
            }
            tokio::select! {
                () = self.0.planned.notified() => {}
                () = tokio::time::sleep(self.0.timing.poll) => {}
            }
        }
    }

    /// One planning pass at `now`: the audit rows after the cursor (at most a batch), their
    /// deliveries added and the cursor moved in one transaction. Returns how many rows were
    /// read (0 when another instance planned them first).
    pub async fn plan_once(&self, now: OffsetDateTime) -> Result<i64, StoreError> {
        let store = &self.0.store;
        // A read: the cursor exists since `start` (made again only if someone dropped it).
        let cursor = match store.webhook_cursor().await? {
            Some(cursor) => cursor,
            None => store.webhook_cursor_start().await?,
        };
        let rows = store.audit_page(cursor, PLAN_BATCH).await?;
        let Some(last) = rows.last().map(|r| r.seq) else {
            return Ok(0);
        };
        let deliveries: Vec<DeliveryRow> = rows.iter().flat_map(|r| self.plan(r, now)).collect();
        if !store.webhook_enqueue(cursor, last, &deliveries).await? {
            return Ok(0);
        }
        if !deliveries.is_empty() {
            tracing::debug!(deliveries = deliveries.len(), "webhooks: planned");
            self.0.planned.notify_one();
        }
        Ok(i64::try_from(rows.len()).unwrap_or(PLAN_BATCH))
    }

    /// The deliveries of `row`: one per hook that wants its event.
    fn plan(&self, row: &AuditRow, now: OffsetDateTime) -> Vec<DeliveryRow> {
        let Some(event) = webhook_event(row) else {
            return Vec::new();
        };
        self.0
            .hooks
            .iter()
            .filter(|h| h.events.contains(&event))
            .filter_map(|h| {
                let id = uuid::Uuid::new_v4();
                let body = serde_json::to_string(&WebhookBody::new(id, event, row))
                    .inspect_err(|e| tracing::error!(error = %e, "webhooks: body not serialisable"))
                    .ok()?;
                Some(DeliveryRow {
                    id: id.to_string(),
                    hook: h.url.clone(),
                    event_type: event.as_str().to_string(),
                    audit_seq: row.seq,
                    body,
                    state: DeliveryState::Pending,
                    attempts: 0,
                    next_attempt_at: now,
                    last_error: None,
                    last_status: None,
                    created_at: now,
                    delivered_at: None,
                })
            })
            .collect()
    }

    /// Attempt every delivery due at `now` (a batch, at once); returns how many were delivered.
    pub async fn send_due(&self, now: OffsetDateTime) -> Result<usize, StoreError> {
        let due = self.0.store.webhook_due(now, SEND_BATCH).await?;
        let results = join_all(due.into_iter().map(|d| self.attempt(d, now))).await;
        let mut delivered = 0;
        for r in results {
            match r {
                Ok(true) => delivered += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "webhooks: attempt not recorded"),
            }
        }
        Ok(delivered)
    }

    /// Claim `d`, POST it signed at `now`, record the outcome; `true` when delivered.
    async fn attempt(&self, d: DeliveryRow, now: OffsetDateTime) -> Result<bool, StoreError> {
        let (store, timing) = (&self.0.store, &self.0.timing);
        if !store
            .webhook_claim(&d, now, now.saturating_add(timing.lease()))
            .await?
        {
            return Ok(false);
        }
        let Some(hook) = self.0.hooks.iter().find(|h| h.url == d.hook) else {
            let end = AttemptEnd {
                state: DeliveryState::Failed,
                attempts: d.attempts,
                next_attempt_at: now,
                status: None,
                error: Some("the hook is no longer configured".into()),
                delivered_at: None,
            };
            store.webhook_attempted(&d.id, d.attempts, &end).await?;
            return Ok(false);
        };
        let answer = self.post(hook, &d, now).await;
        let attempts = d.attempts + 1;
        let ended = crate::clock::now();
        let end = match answer {
            Ok(status) if (200..300).contains(&status) => AttemptEnd {
                state: DeliveryState::Delivered,
                attempts,
                next_attempt_at: ended,
                status: Some(status),
                error: None,
                delivered_at: Some(ended),
            },
            failed => {
                let (status, error) = match failed {
                    Ok(status) => (Some(status), format!("the receiver answered HTTP {status}")),
                    Err(error) => (None, error),
                };
                let retry = retry_at(attempts, d.created_at, ended, timing);
                tracing::warn!(
                    webhook.delivery = %d.id,
                    webhook.attempts = attempts,
                    webhook.given_up = retry.is_none(),
                    error = %error,
                    "webhooks: delivery attempt failed"
                );
                AttemptEnd {
                    state: if retry.is_some() {
                        DeliveryState::Pending
                    } else {
                        DeliveryState::Failed
                    },
                    attempts,
                    next_attempt_at: retry.unwrap_or(ended),
                    status,
                    error: Some(error),
                    delivered_at: None,
                }
            }
        };
        store.webhook_attempted(&d.id, d.attempts, &end).await?;
        Ok(end.state == DeliveryState::Delivered)
    }

    /// POST `d` to `hook`, signed at `now`: the answer's status, or why there was none (a
    /// text without the request's headers, so without the signature).
    async fn post(&self, hook: &Hook, d: &DeliveryRow, now: OffsetDateTime) -> Result<i64, String> {
        let secret = hook.secret.expose_secret().as_bytes();
        let signed =
            sign(secret, now.unix_timestamp(), d.body.as_bytes()).map_err(|e| e.to_string())?;
        let resp = self
            .0
            .client
            .post(&d.hook)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signed)
            .header(EVENT_HEADER, &d.event_type)
            .header(DELIVERY_HEADER, &d.id)
            .body(d.body.clone())
            .send()
            .await
            .map_err(|e| crate::errors::error_chain(&e))?;
        Ok(i64::from(resp.status().as_u16()))
    }
}

/// A delivery as the admin page lists it: the row, and the computer its body names.
#[derive(Debug, Clone)]
pub struct DeliveryView {
    pub row: DeliveryRow,
    pub computer: Option<String>,
}

/// The newest `limit` deliveries, newest first.
pub async fn recent(store: &Store, limit: i64) -> Result<Vec<DeliveryView>, StoreError> {
    Ok(store
        .webhook_recent(limit)
        .await?
        .into_iter()
        .map(|row| DeliveryView {
            computer: serde_json::from_str::<WebhookBody>(&row.body)
                .ok()
                .and_then(|b| b.computer.name),
            row,
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn backoff_doubles_from_ten_seconds_to_an_hour_then_gives_up_after_a_day() {
        let t = Timing::default();
        let created = datetime!(2026-12-06 10:00:00 UTC);
        let wait = |attempts, now| retry_at(attempts, created, now, &t).map(|at| at - now);
        let s = time::Duration::seconds;
        assert_eq!(wait(1, created), Some(s(10)));
        assert_eq!(wait(2, created), Some(s(20)));
        assert_eq!(wait(3, created), Some(s(40)));
        assert_eq!(wait(9, created), Some(s(2560)));
        assert_eq!(wait(10, created), Some(s(3600)), "capped at an hour");
        assert_eq!(wait(29, created), Some(s(3600)));
        assert_eq!(wait(30, created), None, "the attempts are used up");
        // Past a day since it was planned, however few the attempts.
        let late = created + time::Duration::hours(23) + time::Duration::minutes(59);
        assert_eq!(wait(1, late), Some(s(10)));
        assert_eq!(wait(12, late), None);
        assert_eq!(wait(1, created + time::Duration::hours(24)), None);
        // Silly inputs stay in range.
        assert_eq!(wait(0, created), Some(s(10)));
        assert_eq!(wait(i64::MIN, created), Some(s(10)));
        let many = Timing {
            max_attempts: i64::MAX,
            give_up_after: time::Duration::weeks(10_000),
            ..t
        };
        assert_eq!(
            retry_at(i64::MAX - 1, created, created, &many).map(|at| at - created),
            Some(s(3600))
        );
    }

    #[test]
    fn the_default_schedule_spans_most_of_a_day_in_at_most_30_attempts() {
        let t = Timing::default();
        let created = datetime!(2026-12-06 10:00:00 UTC);
        let (mut now, mut attempts) = (created, 0);
        while let Some(at) = retry_at(attempts + 1, created, now, &t) {
            attempts += 1;
            now = at;
        }
        assert_eq!(attempts + 1, 30, "the 30th failure gives up");
        let span = now - created;
        assert!(
            span > time::Duration::hours(20) && span <= time::Duration::hours(24),
            "{span}"
        );
    }

    #[test]
    fn a_lease_outlasts_an_attempt() {
        let t = Timing::default();
        assert!(t.lease() > time::Duration::try_from(t.timeout).unwrap());
    }
}

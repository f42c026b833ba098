//! The per-client rate limits on their routes: the companion client's redeem
//! (`limits.redeem_*`), and the sign-in start and callback (`limits.signin_*`), keyed by the
//! client address the audit log trusts (`meta::client_addr`), so that behind a reverse proxy
//! each workstation has its own bucket instead of all sharing the proxy's. The buckets and
//! counts are `crate::limits` (pure); here a refusal is answered, counted in
//! `trustdesk_rate_limited_total` and audited at the 1st, 10th, 100th … of the client's window.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppError;
use super::AppState;
use crate::audit::{self, Origin};
use crate::limits::{ClientKey, Counted, KeyedLimit, SWEEP_EVERY, WINDOW};

/// Audit `c` when it is one of the audited counts: `action`/`denied`, the reason starting
/// with `head` (this one's reason), then the count of `what` in the client's window.
pub async fn audit_count(
    state: &AppState,
    origin: &Origin,
    action: audit::Action,
    (head, what): (&str, &str),
    c: Counted,
) {
    if !c.audit {
        return;
    }
    let minutes = Instant::now().saturating_duration_since(c.since).as_secs() / 60;
    let e = audit::event(action, audit::Outcome::Denied, crate::clock::now())
        .origin(origin)
        .reason(format!(
            "{head} ({} {what} from {} in the last {minutes} min; audited at the 1st, 10th, 100th \
         … of a {}-min window)",
            c.count,
            c.key,
            WINDOW.as_secs() / 60
        ));
    if let Err(e) = audit::record(&state.store, &e).await {
        tracing::warn!(error = %e, "cannot audit a count of refusals");
    }
}

/// The client key of `req`, as the audit log would name its address.
pub fn key_of(state: &AppState, req: &Request) -> ClientKey {
    ClientKey::of(super::meta::client_addr(
        req.headers(),
        req.extensions(),
        &state.config.trusted_proxies,
    ))
}

/// The keyed limits of the routes anyone can reach, by the name their shared buckets carry.
#[derive(Debug, Clone, Copy)]
enum Limit {
    Redeem,
    Signin,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Self::Redeem => "redeem",
            Self::Signin => "signin",
        }
    }

    fn of(self, state: &AppState) -> &KeyedLimit {
        match self {
            Self::Redeem => &state.limits.redeem,
            Self::Signin => &state.limits.signin,
        }
    }
}

/// Take a request of `key` through `which` limit: this process's bucket, then, when the
/// store is shared by several instances (PostgreSQL), the bucket they share, so that a flood
/// spread over the instances is limited as one. `Err` with the counted refusal. When the
/// database cannot answer, this process's bucket has already allowed the request and decides
/// alone.
async fn admit(state: &AppState, which: Limit, key: ClientKey) -> Result<(), Counted> {
    let (name, limit) = (which.name(), which.of(state));
    let now = Instant::now();
    limit.check(key, now)?;
    if !state.store.shares_rate_limits() {
        return Ok(());
    }
    match state
        .store
        .take_shared(name, &key.to_string(), limit.quota())
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(limit.refuse(key, now)),
        Err(e) => {
            tracing::warn!(error = %e, limit = name, "the instances' shared rate limit is unavailable; this instance's own applies");
            Ok(())
        }
    }
}

/// The origin of a refused request, for its audit event (made only for a refusal).
fn origin(state: &AppState, req: &Request) -> Origin {
    super::meta::origin_of(req.headers(), req.extensions(), state)
}

/// Count a refusal of the `action` limit, audited at the audited counts.
async fn refused(state: &AppState, action: audit::Action, (c, origin): (Counted, Origin)) {
    metrics::counter!("trustdesk_rate_limited_total", "limit" => action.to_string()).increment(1);
    let what = ("rate_limited", "request(s) refused by the rate limit");
    audit_count(state, &origin, action, what, c).await;
}

/// The redeem limit (`limits.redeem_*`); a refusal answers in the redeem API's JSON form.
pub async fn redeem(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let key = key_of(&state, &req);
    if let Err(c) = admit(&state, Limit::Redeem, key).await {
        let r = (c, origin(&state, &req));
        refused(&state, audit::Action::RedeemToken, r).await;
        return super::error::ApiRefusal::response(
            StatusCode::TOO_MANY_REQUESTS,
            trustdesk_token::RedeemCode::RateLimited.as_str(),
            "too many redeem attempts from this address; wait a minute and try again".into(),
        );
    }
    next.run(req).await
}

/// The sign-in limit (`limits.signin_*`) on `/login` and `/auth/callback`.
pub async fn signin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let key = key_of(&state, &req);
    if let Err(c) = admit(&state, Limit::Signin, key).await {
        let r = (c, origin(&state, &req));
        refused(&state, audit::Action::SignIn, r).await;
        return AppError::TooMany(
            "Too many sign-in attempts from this address. Wait a minute and try again.".into(),
        )
        .into_response();
    }
    next.run(req).await
}

/// Forget the instances' shared buckets that are full again, every [`SWEEP_EVERY`], as this
/// process forgets its own (PostgreSQL only; each instance sweeps, and a row swept twice is
/// gone once).
pub fn spawn_shared_sweep(store: crate::db::Store) {
    if !store.shares_rate_limits() {
        return;
    }
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        loop {
            every.tick().await;
            if let Err(e) = store.sweep_shared_limits().await {
                tracing::warn!(error = %e, "could not sweep the shared rate limits");
            }
        }
    });
}

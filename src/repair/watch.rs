//! The watch after each redeem (security review H-1): the redeem records the key version its
//! write left; `tokens.repair_watch_secs` later the portal reads the account again. Shown the
//! client's two rotations (`diagnostics::watch::rotated`), the password that crossed the
//! network is dead and the watch ends `rotated`. Otherwise it ends `exposed`: an audit event
//! (`repair_watch` / `failure`) and a warning in the log, the critical finding on the
//! computer's page (the diagnosis reads the same rule) and a line in the fleet report. A
//! `curl` redeem and a technician redeeming their own token both end this way.

use time::OffsetDateTime;

use super::Repairs;
use crate::audit::{self, Action, Outcome};
use crate::db::{TokenRow, WatchRow, WatchState};
use crate::diagnostics::watch::{CLIENT_ROTATIONS, rotated};
use crate::directory::password::WrittenDc;

/// Start watching a redeem that wrote on `dc` (best effort: a DC that did not say its key
/// version leaves nothing to compare with, and is logged).
pub async fn start(repairs: &Repairs, row: &TokenRow, dc: &WrittenDc, now: OffsetDateTime) {
    let Some(key_version) = dc.key_version else {
        tracing::warn!(token.jti = %row.jti, "no key version after the redeem; nothing to watch");
        return;
    };
    let secs = i64::try_from(repairs.tokens.repair_watch_secs).unwrap_or(i64::MAX);
    let watch = WatchRow {
        jti: row.jti.clone(),
        computer_guid: row.computer_guid.clone(),
        computer_sam: row.computer_sam.clone(),
        computer_dn: row.computer_dn.clone(),
        redeemed_at: now,
        due_at: now.saturating_add(time::Duration::seconds(secs)),
        key_version: i64::from(key_version),
        state: WatchState::Watching,
        seen_version: None,
    };
    if let Err(e) = repairs.store.watch_start(&watch).await {
        tracing::error!(token.jti = %row.jti, error = %e, "could not start the post-repair watch");
    }
}

/// End every watch that is due; returns how many ended `exposed`.
#[tracing::instrument(name = "repair.watch", skip_all)]
pub async fn check_due(repairs: &Repairs, now: OffsetDateTime) -> usize {
    let due = match repairs.store.watches_due(now, 100).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "post-repair watches unavailable");
            return 0;
        }
    };
    let mut exposed = 0;
    for w in due {
        let Ok(guid) = uuid::Uuid::parse_str(&w.computer_guid) else {
            continue;
        };
        // A DC that does not answer now is asked again on the next round.
        let Ok(dir) = repairs.domains.holding(&w.computer_dn) else {
            continue;
        };
        let Ok(account) = dir.find_by_guid(&guid).await else {
            continue;
        };
        let seen = account.as_ref().and_then(|a| a.key_version).map(i64::from);
        // An object that is gone takes its password with it.
        let dead = account.is_none() || seen.is_some_and(|v| rotated(w.key_version, v));
        let to = if dead {
            WatchState::Rotated
        } else {
            WatchState::Exposed
        };
        match repairs.store.watch_end(&w.jti, to, seen, now).await {
            Ok(true) => {}
            // Another instance ended it, or the database failed: nothing to say twice.
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(token.jti = %w.jti, error = %e, "could not end the watch");
                continue;
            }
        }
        let name = w.computer_sam.trim_end_matches('$');
        let reason = match (dead, seen) {
            (true, None) => format!("token {}: the object no longer exists", w.jti),
            (true, Some(v)) => format!(
                "token {}: rotated (key version {v}, the redeem left {}): the password that \
                 crossed the network is no longer valid",
                w.jti, w.key_version
            ),
            (false, v) => {
                exposed += 1;
                tracing::warn!(token.jti = %w.jti, computer = name, "the password that crossed the network may still be valid");
                format!(
                    "token {}: the password that crossed the network may still be valid: key \
                     version {} where the client's {CLIENT_ROTATIONS} rotations after the \
                     redeem's {} would show {} or more",
                    w.jti,
                    v.map_or_else(|| "unknown".to_string(), |v| v.to_string()),
                    w.key_version,
                    w.key_version.saturating_add(CLIENT_ROTATIONS)
                )
            }
        };
        let e = audit::event(Action::RepairWatch, Outcome::of(dead), now)
            .target(&w.computer_dn, &w.computer_guid, name)
            .reason(reason);
        if let Err(e) = audit::record(&repairs.store, &e).await {
            tracing::error!(token.jti = %w.jti, error = %e, "could not audit the end of the watch");
        }
    }
    exposed
}

/// Check the watches every `min(60 s, repair_watch_secs / 2)`, at least every second.
pub fn spawn(repairs: &Repairs) -> tokio::task::JoinHandle<()> {
    let half = repairs.tokens.repair_watch_secs / 2;
    let period = std::time::Duration::from_secs(half.clamp(1, 60));
    let repairs = repairs.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            check_due(&repairs, crate::clock::now()).await;
        }
    })
}

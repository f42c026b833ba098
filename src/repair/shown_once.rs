//! A repair's result, held for the one page that shows it.
//!
//! A mint or a reset is a POST that answers with a redirect (so a reload never repeats it), and
//! the page it redirects to takes the result from here: once, for the person who asked for it,
//! within [`HOLD`]. After that, Back, Forward and reload find nothing: the token page says the
//! token was shown once, the reset page goes to the computer's page (whose diagnosis names the
//! reset). A token lives only in this process's memory, never in the database or the session
//! store (`repair` stores tokens as hashes only).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::SecretString;

/// How long a minted token waits for its page: the redirect is followed at once.
pub const HOLD: Duration = Duration::from_secs(120);
/// At most this many tokens wait at once; a mint beyond it evicts the oldest.
const MAX_HELD: usize = 1024;

/// What the reset page shows.
pub struct ShownReset {
    pub name: String,
    pub dc: String,
}

/// What the token page shows.
pub struct ShownToken {
    pub name: String,
    pub token: SecretString,
    /// The short repair code, grouped (`K7QF-M2XD-9PWA`).
    pub code: SecretString,
    pub expires: String,
    pub minutes: u32,
}

struct Held<T> {
    minter: String,
    at: Instant,
    shown: T,
}

/// Results waiting for their page, by a key the redirect names (a token's `jti`, a reset's
/// random id).
pub struct ShownOnce<T> {
    held: Mutex<HashMap<String, Held<T>>>,
}

impl<T> Default for ShownOnce<T> {
    fn default() -> Self {
        Self {
            held: Mutex::default(),
        }
    }
}

impl<T> ShownOnce<T> {
    /// Hold `shown` for the person (`sub`) who asked for it, under `key`.
    pub fn hold(&self, key: &str, minter: &str, shown: T, now: Instant) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|_, h| now.saturating_duration_since(h.at) < HOLD);
        if held.len() >= MAX_HELD
            && let Some(oldest) = held
                .iter()
                .min_by_key(|(_, h)| h.at)
                .map(|(k, _)| k.clone())
        {
            held.remove(&oldest);
        }
        held.insert(
            key.to_string(),
            Held {
                minter: minter.to_string(),
                at: now,
                shown,
            },
        );
    }

    /// The result held under `key` for `minter`, once; `None` when it was taken, has waited
    /// too long, or is someone else's (who then does not consume it either).
    pub fn take(&self, key: &str, minter: &str, now: Instant) -> Option<T> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        match held.get(key) {
            Some(h) if h.minter == minter => {}
            _ => return None,
        }
        let h = held.remove(key)?;
        (now.saturating_duration_since(h.at) < HOLD).then_some(h.shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn shown(token: &str) -> ShownToken {
        ShownToken {
            name: "PC01".into(),
            token: SecretString::from(token.to_string()),
            code: SecretString::from("K7QF-M2XD-9PWA".to_string()),
            expires: "2026-12-05T12:00:00Z".into(),
            minutes: 30,
        }
    }

    #[test]
    fn a_token_is_shown_once_to_its_minter_within_the_hold() {
        let t0 = Instant::now();
        let once = ShownOnce::<ShownToken>::default();
        once.hold("j1", "alice", shown("td1.a"), t0);
        assert!(once.take("j1", "mallory", t0).is_none(), "not to another");
        let got = once.take("j1", "alice", t0).unwrap();
        assert_eq!(got.token.expose_secret(), "td1.a");
        assert!(once.take("j1", "alice", t0).is_none(), "once");
        once.hold("j2", "alice", shown("td1.b"), t0);
        assert!(
            once.take("j2", "alice", t0 + HOLD).is_none(),
            "not after the hold"
        );
        assert!(once.take("j3", "alice", t0).is_none());
    }

    #[test]
    fn the_oldest_waiting_token_makes_room() {
        let t0 = Instant::now();
        let once = ShownOnce::<ShownToken>::default();
        for i in 0..=MAX_HELD {
            let at = t0 + Duration::from_millis(i as u64);
            once.hold(&format!("j{i}"), "alice", shown("td1.x"), at);
        }
        let later = t0 + Duration::from_secs(1);
        assert!(once.take("j0", "alice", later).is_none(), "evicted");
        assert!(once.take(&format!("j{MAX_HELD}"), "alice", later).is_some());
    }
}

//! API keys for ticketing automation: `tdk_` + 32 random bytes (base64url), each bound to one
//! role, optionally expiring. Only the SHA-256 of a key is stored (a key has 256 bits of
//! entropy, so a fast hash is enough); the key itself is printed once at creation. Creating
//! and revoking a key are audited with the OS user who ran the command.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{CredentialError, Staff, random_token};
use crate::audit::{self, Actor};
use crate::db::{ApiKeyRow, Store, StoreError};

pub const PREFIX: &str = "tdk_";

/// `last_used_at` is written at most this often per key: an API call is a read, not a write
/// each time.
const TOUCH_EVERY: time::Duration = time::Duration::minutes(1);

pub fn hash(key: &str) -> String {
    // sha2's digests print themselves in lower-case hex (as `downloads::sha256_hex` does).
    format!("{:x}", Sha256::digest(key.as_bytes()))
}

/// Why a presented key was refused. Only someone holding the key hears it, so an expired key
/// is told apart (with when, so its owner knows to ask for a new one); an unknown and a revoked
/// key are refused alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// None was sent, to a route that takes only API keys.
    Missing,
    /// Not a key of ours (or no longer: revoked, or deleted).
    Invalid,
    /// It expired at this time.
    Expired(OffsetDateTime),
}

/// Where a key stands at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Active,
    Expired,
    Revoked,
}

impl KeyState {
    /// A key's state at `now` (pure): revoked wins over expired; a key is expired from its
    /// `expires_at` on.
    pub fn of(key: &ApiKeyRow, now: OffsetDateTime) -> Self {
        match (key.revoked_at, key.expires_at) {
            (Some(_), _) => Self::Revoked,
            (None, Some(end)) if now >= end => Self::Expired,
            _ => Self::Active,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// Create a key for `role`, expiring `expires_days` from now if given, audited as `by`;
/// returns the key, to be shown once. If the audit row cannot be written the key is revoked
/// at once and the error returned: no key exists unaudited.
pub async fn create_audited(
    store: &Store,
    name: &str,
    role: &str,
    expires_days: Option<u32>,
    by: &Actor,
) -> Result<String, CredentialError> {
    let key = format!(
        "{PREFIX}{}",
        random_token().map_err(CredentialError::Random)?
    );
    let now = crate::clock::now();
    let expires_at = expires_days.map(|d| now + time::Duration::days(i64::from(d)));
    store
        .add_api_key(name, role, &hash(&key), now, expires_at)
        .await?;
    let expiry = expires_at.map_or("never expires".to_string(), |t| {
        format!("expires {}", t.date())
    });
    let event = audit::event(
        audit::Action::ApiKeyCreate,
        audit::Outcome::Success,
        crate::clock::now(),
    )
    .actor(by)
    .reason(format!("API key {name:?} (role {role}, {expiry})"));
    if let Err(e) = audit::record(store, &event).await {
        store.revoke_api_key(name, now).await?;
        return Err(e.into());
    }
    Ok(key)
}

/// [`create_audited`] with no expiry, by the OS user running this process.
pub async fn create(store: &Store, name: &str, role: &str) -> Result<String, CredentialError> {
    create_audited(store, name, role, None, &audit::command_line_actor()).await
}

/// Revoke the live key `name`, audited as `by`: `false` if there is no such live key.
pub async fn revoke_audited(store: &Store, name: &str, by: &Actor) -> Result<bool, StoreError> {
    let now = crate::clock::now();
    if !store.revoke_api_key(name, now).await? {
        return Ok(false);
    }
    let event = audit::event(
        audit::Action::ApiKeyRevoke,
        audit::Outcome::Success,
        crate::clock::now(),
    )
    .actor(by)
    .reason(format!("API key {name:?}"));
    audit::record(store, &event).await?;
    Ok(true)
}

/// The API keys as this process checks them: the keys it has seen, kept in memory at the
/// keys' generation (`Store::api_key_generation`) they were read at.
///
/// Every request still asks the database, so a key revoked by another process (the
/// `api-key revoke` command, another portal instance) is refused on the next request: but it
/// asks for the generation, and one read serves every request that arrived before it started
/// (as group commit does for writes). A request waits for a read that began after it arrived,
/// never takes an older one; while the generation stays the same, a key seen once is not read
/// again. An unknown key is never remembered: each costs a read of the key.
pub struct ApiKeys {
    store: Store,
    /// Generation reads started so far (each read's number is taken before it asks).
    started: AtomicU64,
    /// The newest read and what it allows; locked while a read runs, so the requests that
    /// arrive meanwhile wait for it and then for one more at most.
    latest: tokio::sync::Mutex<Latest>,
}

#[derive(Default)]
struct Latest {
    /// The number of the read (0: none yet).
    read: u64,
    generation: i64,
    /// Keys read at `generation`, by hash: revoked, expired or not (the state is worked out
    /// at each use).
    keys: HashMap<String, ApiKeyRow>,
}

impl ApiKeys {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            started: AtomicU64::new(0),
            latest: tokio::sync::Mutex::new(Latest::default()),
        }
    }

    /// The staff identity a presented key stands for, or why it is refused.
    pub async fn authenticate(
        &self,
        presented: &str,
    ) -> Result<Result<Staff, KeyRefusal>, CredentialError> {
        if !presented.starts_with(PREFIX) || presented.len() > 128 {
            return Ok(Err(KeyRefusal::Invalid));
        }
        let key_hash = hash(presented);
        let (generation, known) = self.fresh(&key_hash).await?;
        let key = match known {
            Some(key) => key,
            None => {
                let Some(key) = self.store.api_key_by_hash(&key_hash).await? else {
                    return Ok(Err(KeyRefusal::Invalid));
                };
                self.remember(generation, &key_hash, &key).await;
                key
            }
        };
        let now = crate::clock::now();
        match (KeyState::of(&key, now), key.expires_at) {
            (KeyState::Active, _) => {}
            (KeyState::Expired, Some(at)) => return Ok(Err(KeyRefusal::Expired(at))),
            _ => return Ok(Err(KeyRefusal::Invalid)),
        }
        if key.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY) {
            self.store.touch_api_key(&key.name, now).await?;
            let used = ApiKeyRow {
                last_used_at: Some(now),
                ..key.clone()
            };
            self.remember(generation, &key_hash, &used).await;
        }
        Ok(Ok(staff_of(key)?))
    }

    /// The generation as read after this call began, and the key if it was read at it.
    async fn fresh(&self, key_hash: &str) -> Result<(i64, Option<ApiKeyRow>), StoreError> {
        let arrived = self.started.load(Ordering::SeqCst);
        let mut latest = self.latest.lock().await;
        // A read numbered above `arrived` took its number, then asked, after this call began.
        if latest.read <= arrived {
            let read = self.started.fetch_add(1, Ordering::SeqCst) + 1;
            let generation = self.store.api_key_generation().await?;
            if generation != latest.generation {
                latest.keys.clear();
                latest.generation = generation;
            }
            latest.read = read;
        }
        Ok((latest.generation, latest.keys.get(key_hash).cloned()))
    }

    /// Keep `key`, read after the generation `generation` was: only while that is still the
    /// newest generation seen (a key read before a later change is not kept past it).
    async fn remember(&self, generation: i64, key_hash: &str, key: &ApiKeyRow) {
        let mut latest = self.latest.lock().await;
        if latest.generation == generation {
            latest.keys.insert(key_hash.to_string(), key.clone());
        }
    }
}

fn staff_of(key: ApiKeyRow) -> Result<Staff, CredentialError> {
    // API calls carry no forms: no CSRF token matches an API key's caller.
    Ok(Staff::without_session(
        format!("{}{}", super::API_KEY_SUB_PREFIX, key.name),
        Some(format!("API key {}", key.name)),
        vec![key.role],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_expired_from_its_end_and_revoked_wins() {
        let t = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut key = ApiKeyRow {
            name: "k".into(),
            role: "r".into(),
            created_at: t,
            revoked_at: None,
            expires_at: None,
            last_used_at: None,
        };
        assert_eq!(
            KeyState::of(&key, t + time::Duration::days(9999)),
            KeyState::Active
        );
        key.expires_at = Some(t + time::Duration::days(1));
        assert_eq!(KeyState::of(&key, t), KeyState::Active);
        assert_eq!(
            KeyState::of(&key, t + time::Duration::days(1)),
            KeyState::Expired
        );
        key.revoked_at = Some(t);
        assert_eq!(KeyState::of(&key, t), KeyState::Revoked);
        assert_eq!(
            KeyState::of(&key, t + time::Duration::days(2)),
            KeyState::Revoked
        );
    }
}

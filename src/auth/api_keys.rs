//! API keys for ticketing automation: `tdk_` + 32 random bytes (base64url), each bound to one
//! role. Only the SHA-256 of a key is stored (a key has 256 bits of entropy, so a fast hash is
//! enough); the key itself is printed once at creation.

use sha2::{Digest, Sha256};

use super::{Staff, random_token};
use crate::db::{Store, StoreError};
use crate::web::AppError;

pub const PREFIX: &str = "tdk_";

pub fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Create a key for `role`; returns the key, to be shown once.
pub async fn create(store: &Store, name: &str, role: &str) -> Result<String, StoreError> {
    let key = format!(
        "{PREFIX}{}",
        random_token().map_err(|e| StoreError::Query(e.to_string()))?
    );
    store
        .add_api_key(name, role, &hash(&key), time::OffsetDateTime::now_utc())
        .await?;
    Ok(key)
}

/// The staff identity a presented key stands for, or `None` for an unknown or revoked key.
pub async fn authenticate(store: &Store, presented: &str) -> Result<Option<Staff>, AppError> {
    if !presented.starts_with(PREFIX) || presented.len() > 128 {
        return Ok(None);
    }
    let Some((name, role)) = store.api_key_role(&hash(presented)).await? else {
        return Ok(None);
    };
    Ok(Some(Staff {
        sub: format!("api-key:{name}"),
        name: Some(format!("API key {name}")),
        email: None,
        roles: vec![role],
        // API calls carry no forms; this token is never shown.
        csrf: random_token()?,
        signed_in_at: 0,
        touched_at: 0,
        id_token: None,
        can_lookup: false,
    }))
}

//! The token signing keys.
//!
//! Default: `<data_dir>/token-keys/<kid>.key` files (the base64url Ed25519 seed, mode 0600),
//! with `current` naming the key that signs. The first start generates one. `trustdesk
//! token-key rotate` makes a new current key and marks the old one retired; a retired key
//! keeps verifying until every token it signed has expired (the maximum lifetime), then
//! rotation deletes it. With `tokens.signing_key_file` the key comes from that file only.

use std::path::{Path, PathBuf};

use secrecy::ExposeSecret;

use time::OffsetDateTime;
use trustdesk_token::{SigningKey, VerifyingKey};

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("token signing key {path}: {reason}")]
    File { path: String, reason: String },
    #[error("token signing key {0}")]
    Private(#[from] crate::keyfile::KeyFileError),
    #[error("token signing key: {0}")]
    Key(String),
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> KeyError {
    KeyError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The key that signs new tokens and every key that may still verify one.
pub struct TokenKeys {
    signing: SigningKey,
    verifying: Vec<VerifyingKey>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("current", &self.signing.kid())
            .field(
                "verifying",
                &self
                    .verifying
                    .iter()
                    .map(VerifyingKey::kid)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TokenKeys {
    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }
    pub fn verifying(&self) -> &[VerifyingKey] {
        &self.verifying
    }

    /// Load (and on first start create) the keys the configuration names.
    pub fn load(cfg: &Config) -> Result<Self, KeyError> {
        match &cfg.tokens.signing_key_file {
            Some(path) => {
                let signing = read_key(path)?;
                let verifying = vec![signing.verifying_key()];
                Ok(Self { signing, verifying })
            }
            None => Self::load_dir(&key_dir(cfg)),
        }
    }

    fn load_dir(dir: &Path) -> Result<Self, KeyError> {
        let current = dir.join("current");
        if !current.exists() {
            rotate_dir(dir, crate::clock::now(), time::Duration::ZERO)?;
        }
        let kid = std::fs::read_to_string(&current).map_err(|e| file_err(&current, e))?;
        let signing = read_key(&dir.join(format!("{}.key", kid.trim())))?;
        let mut verifying = Vec::new();
        for entry in std::fs::read_dir(dir)
            .map_err(|e| file_err(dir, e))?
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "key") {
                verifying.push(read_key(&path)?.verifying_key());
            }
        }
        Ok(Self { signing, verifying })
    }
}

pub fn key_dir(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("token-keys")
}

fn read_key(path: &Path) -> Result<SigningKey, KeyError> {
    let text = crate::keyfile::read_private(path)?;
    SigningKey::from_seed_b64(text.expose_secret().trim()).map_err(|e| file_err(path, e))
}

/// Why `trustdesk token-key rotate` did not rotate.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(
        "tokens.signing_key_file is set ({0}): that file is the only key; replace it to rotate"
    )]
    KeyFileConfigured(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the key was rotated, but its audit event was not written: {0}")]
    Audit(#[from] crate::db::StoreError),
}

/// `trustdesk token-key rotate`: a new current key in `<data_dir>/token-keys` (the old one
/// retired, those retired longer than the maximum token lifetime deleted), audited as `by`.
/// Returns the new key id. Running instances sign with the key they loaded until restarted.
pub async fn rotate_audited(
    cfg: &Config,
    store: &crate::db::Store,
    by: &crate::audit::Actor,
) -> Result<String, RotateError> {
    if let Some(path) = &cfg.tokens.signing_key_file {
        return Err(RotateError::KeyFileConfigured(path.display().to_string()));
    }
    let max = time::Duration::minutes(i64::from(cfg.tokens.max_lifetime_minutes));
    let kid = rotate_dir(&key_dir(cfg), crate::clock::now(), max)?;
    let event = crate::audit::event(
        crate::audit::Action::TokenKeyRotate,
        crate::audit::Outcome::Success,
        crate::clock::now(),
    )
    .actor(by)
    .reason(format!("token-key rotate (command line): new key {kid}"));
    crate::audit::record(store, &event).await?;
    Ok(kid)
}

/// Write a new current key into `dir`; retire the previous one, and delete keys retired more
/// than `max_lifetime` ago (no token they signed can still be valid). Returns the new kid.
pub fn rotate_dir(
    dir: &Path,
    now: OffsetDateTime,
    max_lifetime: time::Duration,
) -> Result<String, KeyError> {
    crate::keyfile::create_private_dir(dir)?;
    let key = SigningKey::generate().map_err(|e| KeyError::Key(e.to_string()))?;
    let kid = key.kid();
    crate::keyfile::create_private(&dir.join(format!("{kid}.key")), &key.to_seed_b64())?;
    let current = dir.join("current");
    if let Ok(old) = std::fs::read_to_string(&current) {
        let retired = dir.join(format!("{}.retired", old.trim()));
        std::fs::write(&retired, now.unix_timestamp().to_string())
            .map_err(|e| file_err(&retired, e))?;
    }
    std::fs::write(&current, &kid).map_err(|e| file_err(&current, e))?;
    // Prune keys retired long enough ago.
    for entry in std::fs::read_dir(dir)
        .map_err(|e| file_err(dir, e))?
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "retired")
            && let Ok(at) = std::fs::read_to_string(&path)
            && let Ok(at) = at.trim().parse::<i64>()
            && now.unix_timestamp() - at > max_lifetime.whole_seconds()
        {
            let _ = std::fs::remove_file(path.with_extension("key"));
            let _ = std::fs::remove_file(&path);
        }
    }
    Ok(kid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// #16 L-13: the directory is private, and a key file others may read is refused at load
    /// (the start) with its path and the fix, in the directory and as `signing_key_file`.
    #[cfg(unix)]
    #[test]
    fn the_key_directory_is_private_and_a_loose_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("token-keys");
        let kid = TokenKeys::load_dir(&keys_dir).unwrap().signing().kid();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&keys_dir), 0o700);
        let key = keys_dir.join(format!("{kid}.key"));
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = TokenKeys::load_dir(&keys_dir).unwrap_err().to_string();
        assert!(
            e.starts_with("token signing key ")
                && e.contains(&format!("{kid}.key"))
                && e.contains("mode 0644")
                && e.contains("chmod 600"),
            "{e}"
        );
        let e = read_key(&key).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_key(&key).unwrap().kid(), kid);
    }

    #[test]
    fn first_start_creates_a_private_key_and_rotation_keeps_the_old_one_verifying() {
        let dir = tempfile::tempdir().unwrap();
        let keys = TokenKeys::load_dir(dir.path()).unwrap();
        let first = keys.signing().kid();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(format!("{first}.key")))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let now = crate::clock::now();
        let second = rotate_dir(dir.path(), now, time::Duration::hours(1)).unwrap();
        let keys = TokenKeys::load_dir(dir.path()).unwrap();
        assert_eq!(keys.signing().kid(), second);
        assert!(
            keys.verifying().iter().any(|k| k.kid() == first),
            "the retired key still verifies"
        );
        // Two hours later, a third rotation prunes the first key.
        rotate_dir(
            dir.path(),
            now + time::Duration::hours(2),
            time::Duration::hours(1),
        )
        .unwrap();
        let keys = TokenKeys::load_dir(dir.path()).unwrap();
        assert!(!keys.verifying().iter().any(|k| k.kid() == first));
        assert!(keys.verifying().iter().any(|k| k.kid() == second));
    }
}

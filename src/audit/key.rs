//! The audit key: an Ed25519 key kept in a file, never in the database, that signs the chain
//! head (seq and hash) now and then. A signed head is proof only under a public key given from
//! outside the database (`trustdesk audit verify --key PUB`): whoever can write the database
//! can rewrite rows and re-hash the chain, but cannot sign a head for the rewritten chain.
//!
//! The key file is the base64url Ed25519 seed, mode 0600 (`keyfile`); by default
//! `<data_dir>/audit.key`, created on the first start; `audit.key_file` names another path.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::Signer as _;
use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::config::Config;
use crate::keyfile::{self, KeyFileError};

#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    #[error("audit key {0}")]
    File(#[from] KeyFileError),
    #[error("audit key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("audit public key: {0}")]
    Public(String),
}

pub use crate::db::SignedHead;

/// The signed bytes: a fixed label, then the head and the time, one per line.
fn message(seq: i64, hash: &str, signed_at: OffsetDateTime) -> Vec<u8> {
    format!(
        "trustdesk audit head v1\n{seq}\n{hash}\n{}",
        signed_at.unix_timestamp()
    )
    .into_bytes()
}

/// The key that signs heads. `Debug` shows only the key id; the seed is wiped on drop.
pub struct AuditKey {
    inner: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("key_id", &self.public().key_id())
            .finish_non_exhaustive()
    }
}

/// The audit key file the configuration names.
pub fn key_path(cfg: &Config) -> PathBuf {
    cfg.audit
        .key_file
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("audit.key"))
}

impl AuditKey {
    /// Read the key at `path`; create it (0600, in a 0700 directory if that is new) only when
    /// no file is there.
    pub fn load_or_create(path: &Path) -> Result<Self, AuditKeyError> {
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                keyfile::create_private_dir(dir)?;
            }
            let mut seed = SecretBox::new(Box::new([0u8; 32]));
            getrandom::fill(seed.expose_secret_mut()).map_err(|e| AuditKeyError::Key {
                path: path.to_path_buf(),
                reason: format!("CSPRNG: {e}"),
            })?;
            let text = secrecy::SecretString::from(URL_SAFE_NO_PAD.encode(seed.expose_secret()));
            // Another instance on the same directory may have made it first: then that one.
            keyfile::create_private_if_absent(path, text.expose_secret())?;
        }
        Self::load(path)
    }

    /// Read the key at `path` (refused unless the file is private to this user).
    pub fn load(path: &Path) -> Result<Self, AuditKeyError> {
        let text = keyfile::read_private(path)?;
        let bad = |reason: &str| AuditKeyError::Key {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let bytes: SecretBox<[u8]> = URL_SAFE_NO_PAD
            .decode(text.expose_secret().trim())
            .map_err(|_| bad("not a base64url Ed25519 seed"))?
            .into();
        let seed: &[u8; 32] = bytes
            .expose_secret()
            .try_into()
            .map_err(|_| bad("not a 32-byte Ed25519 seed"))?;
        Ok(Self {
            inner: ed25519_dalek::SigningKey::from_bytes(seed),
        })
    }

    pub fn public(&self) -> AuditPublicKey {
        AuditPublicKey(self.inner.verifying_key())
    }

    /// Sign the head `seq`/`hash` at `now` (cut to whole seconds).
    pub fn sign(&self, seq: i64, hash: &str, now: OffsetDateTime) -> SignedHead {
        let signed_at = now.replace_nanosecond(0).unwrap_or(now);
        let signature = self.inner.sign(&message(seq, hash, signed_at));
        SignedHead {
            seq,
            hash: hash.to_string(),
            signed_at,
            key_id: self.public().key_id(),
            signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
        }
    }
}

/// The public half: printed by `trustdesk audit-key public`, given to `audit verify --key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPublicKey(ed25519_dalek::VerifyingKey);

impl AuditPublicKey {
    /// base64url, no padding (43 characters).
    pub fn to_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.to_bytes())
    }

    pub fn key_id(&self) -> String {
        super::hex(
            Sha256::digest(self.0.as_bytes())
                .get(..8)
                .unwrap_or_default(),
        )
    }

    /// A key in base64url or standard base64 (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<Self, AuditKeyError> {
        let text = text.trim();
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .or_else(|_| STANDARD.decode(text))
            .map_err(|_| AuditKeyError::Public("not base64".into()))?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AuditKeyError::Public("not 32 bytes".into()))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| AuditKeyError::Public("not an Ed25519 public key".into()))?;
        if key.is_weak() {
            return Err(AuditKeyError::Public("a weak (small-order) key".into()));
        }
        Ok(Self(key))
    }

    /// `--key`'s value: the path of a file holding the key, else the key itself.
    pub fn from_arg(arg: &str) -> Result<Self, AuditKeyError> {
        let path = Path::new(arg);
        if path.is_file() {
            let text = std::fs::read_to_string(path)
                .map_err(|e| AuditKeyError::Public(format!("{arg}: {e}")))?;
            return Self::parse(&text).map_err(|e| AuditKeyError::Public(format!("{arg}: {e}")));
        }
        Self::parse(arg)
    }

    /// Whether `head`'s signature is this key's, over its seq, hash and time.
    pub fn verifies(&self, head: &SignedHead) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(&head.signature) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&sig) else {
            return false;
        };
        self.0
            .verify_strict(&message(head.seq, &head.hash, head.signed_at), &sig)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (tempfile::TempDir, AuditKey) {
        let dir = tempfile::tempdir().unwrap();
        let key = AuditKey::load_or_create(&dir.path().join("keys/audit.key")).unwrap();
        (dir, key)
    }

    #[test]
    fn a_signed_head_verifies_only_as_signed_and_only_under_its_key() {
        let (dir, key) = key();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let head = key.sign(7, "ab", now + time::Duration::milliseconds(300));
        assert_eq!(head.signed_at, now);
        let public = AuditPublicKey::parse(&key.public().to_b64()).unwrap();
        assert!(public.verifies(&head));
        assert_eq!(head.key_id, public.key_id());
        for forged in [
            SignedHead {
                seq: 8,
                ..head.clone()
            },
            SignedHead {
                hash: "ac".into(),
                ..head.clone()
            },
            SignedHead {
                signed_at: now + time::Duration::SECOND,
                ..head.clone()
            },
            SignedHead {
                signature: "AAAA".into(),
                ..head.clone()
            },
        ] {
            assert!(!public.verifies(&forged), "{forged:?}");
        }
        let (_other_dir, other) = super::tests::key();
        assert!(!other.public().verifies(&head));
        // The same file gives the same key; it is not overwritten.
        let again = AuditKey::load_or_create(&dir.path().join("keys/audit.key")).unwrap();
        assert_eq!(again.public(), key.public());
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_private_and_a_loose_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, _key) = key();
        let path = dir.path().join("keys/audit.key");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("keys")), 0o700);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = AuditKey::load(&path).unwrap_err().to_string();
        assert!(
            e.starts_with("audit key ") && e.contains("chmod 600"),
            "{e}"
        );
    }

    #[test]
    fn a_public_key_is_read_from_text_or_a_file_and_nonsense_is_refused() {
        let (dir, key) = key();
        let b64 = key.public().to_b64();
        let file = dir.path().join("audit.pub");
        std::fs::write(&file, format!("{b64}\n")).unwrap();
        assert_eq!(
            AuditPublicKey::from_arg(file.to_str().unwrap()).unwrap(),
            key.public()
        );
        let standard = STANDARD.encode(key.public().0.to_bytes());
        assert_eq!(AuditPublicKey::parse(&standard).unwrap(), key.public());
        assert!(AuditPublicKey::from_arg("not-a-key").is_err());
        assert!(AuditPublicKey::parse(&URL_SAFE_NO_PAD.encode([0u8; 32])).is_err());
    }
}

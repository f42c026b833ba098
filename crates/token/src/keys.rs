//! Ed25519 signing and verifying keys, key ids, and the two public forms of a verifying key:
//! [`PublicKeyInfo`] (JSON, published by the portal) and the pin string `<kid>:<base64url>`.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::TokenError;

/// The only algorithm, as named in [`PublicKeyInfo::alg`].
pub const ALG: &str = "Ed25519";

/// Length of a key id in hex characters (8 bytes of SHA-256).
pub const KID_LEN: usize = 16;

/// Key id of a public key: the first 8 bytes of its SHA-256, lower-case hex.
fn kid_of(public: &ed25519_dalek::VerifyingKey) -> String {
    crate::hex(Sha256::digest(public.as_bytes()).iter().take(KID_LEN / 2))
}

/// The portal's token signing key. The 32-byte seed is secret: `Debug` prints only the key id,
/// and the inner key is wiped from memory on drop.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
    kid: String,
}

impl SigningKey {
    /// A new random key from the OS CSPRNG (getrandom).
    ///
    /// # Errors
    /// [`TokenError::Random`] if the OS generator fails.
    pub fn generate() -> Result<Self, TokenError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice()).map_err(|e| TokenError::Random(e.to_string()))?;
        Ok(Self::from_seed(&seed))
    }

    /// The key for a 32-byte seed.
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let inner = ed25519_dalek::SigningKey::from_bytes(seed);
        let kid = kid_of(&inner.verifying_key());
        Self { inner, kid }
    }

    /// The key for a seed in base64url (no padding), as written by [`Self::to_seed_b64`].
    /// Surrounding whitespace (a trailing newline in a key file) is ignored.
    ///
    /// # Errors
    /// [`TokenError::BadKey`] unless the text decodes to exactly 32 bytes.
    pub fn from_seed_b64(b64: &str) -> Result<Self, TokenError> {
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(b64.trim())
                .map_err(|_| TokenError::BadKey)?,
        );
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| TokenError::BadKey)?,
        );
        Ok(Self::from_seed(&seed))
    }

    /// The secret seed in base64url (43 characters), for the caller to store in a 0600 file.
    /// This is the secret: never log it.
    #[must_use]
    pub fn to_seed_b64(&self) -> String {
        let seed = Zeroizing::new(self.inner.to_bytes());
        URL_SAFE_NO_PAD.encode(seed.as_slice())
    }

    /// Key id: first 8 bytes of the SHA-256 of the public key, lower-case hex (16 characters).
    #[must_use]
    pub fn kid(&self) -> String {
        self.kid.clone()
    }

    /// The public half, to publish and to verify with.
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            kid: self.kid.clone(),
            key: self.inner.verifying_key(),
        }
    }

    pub(crate) fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.inner.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A public key that verifies tokens, with its key id. The key id is always the one computed
/// from the key: constructors that are given a key id check it.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    pub(crate) kid: String,
    pub(crate) key: ed25519_dalek::VerifyingKey,
}

impl VerifyingKey {
    /// The key for 32 public-key bytes in base64url (no padding). If `kid` is given it must
    /// equal the key id computed from the key (a pin that does not match its key is refused).
    ///
    /// # Errors
    /// [`TokenError::BadKey`]: bad base64url, not 32 bytes, not a valid Ed25519 point,
    /// a weak (small-order) key, or a key id that does not match.
    pub fn from_b64(kid: Option<&str>, b64: &str) -> Result<Self, TokenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(b64.trim())
            .map_err(|_| TokenError::BadKey)?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| TokenError::BadKey)?;
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| TokenError::BadKey)?;
        if key.is_weak() {
            return Err(TokenError::BadKey);
        }
        let computed = kid_of(&key);
        match kid {
            Some(given) if given != computed => Err(TokenError::BadKey),
            _ => Ok(Self { kid: computed, key }),
        }
    }

    /// The 32 public-key bytes in base64url without padding (43 characters).
    #[must_use]
    pub fn to_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.as_bytes())
    }

    /// Key id (16 lower-case hex characters).
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw 32 public-key bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The published description (`GET /api/v1/token-key`).
    #[must_use]
    pub fn to_info(&self) -> PublicKeyInfo {
        PublicKeyInfo {
            kid: self.kid.clone(),
            alg: ALG.to_owned(),
            public_key: self.to_b64(),
        }
    }

    /// The key from a published description; `alg` must be `Ed25519` and `kid` must match.
    ///
    /// # Errors
    /// [`TokenError::BadKey`].
    pub fn from_info(info: &PublicKeyInfo) -> Result<Self, TokenError> {
        if info.alg != ALG {
            return Err(TokenError::BadKey);
        }
        Self::from_b64(Some(&info.kid), &info.public_key)
    }

    /// The pin string `<kid>:<base64url>` for client config files.
    #[must_use]
    pub fn to_pin(&self) -> String {
        format!("{}:{}", self.kid, self.to_b64())
    }

    /// Parses a pin string `<kid>:<base64url>` (surrounding whitespace ignored); the key id is
    /// required and must match the key.
    ///
    /// # Errors
    /// [`TokenError::BadKey`].
    pub fn from_pin(pin: &str) -> Result<Self, TokenError> {
        let (kid, b64) = pin.trim().split_once(':').ok_or(TokenError::BadKey)?;
        Self::from_b64(Some(kid), b64)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("public_key", &self.to_b64())
            .finish()
    }
}

/// Formats as the pin string `<kid>:<base64url>`.
impl fmt::Display for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kid, self.to_b64())
    }
}

/// Parses the pin string `<kid>:<base64url>`.
impl FromStr for VerifyingKey {
    type Err = TokenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_pin(s)
    }
}

/// A verifying key as the portal publishes it and the client pins it:
/// `{"kid": "…", "alg": "Ed25519", "public_key": "<base64url of 32 bytes>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicKeyInfo {
    /// Key id, 16 lower-case hex characters.
    pub kid: String,
    /// Always `"Ed25519"`.
    pub alg: String,
    /// The 32 public-key bytes, base64url without padding.
    pub public_key: String,
}

impl From<&VerifyingKey> for PublicKeyInfo {
    fn from(key: &VerifyingKey) -> Self {
        key.to_info()
    }
}

impl From<VerifyingKey> for PublicKeyInfo {
    fn from(key: VerifyingKey) -> Self {
        key.to_info()
    }
}

impl TryFrom<&PublicKeyInfo> for VerifyingKey {
    type Error = TokenError;
    fn try_from(info: &PublicKeyInfo) -> Result<Self, Self::Error> {
        Self::from_info(info)
    }
}

impl TryFrom<PublicKeyInfo> for VerifyingKey {
    type Error = TokenError;
    fn try_from(info: PublicKeyInfo) -> Result<Self, Self::Error> {
        Self::from_info(&info)
    }
}

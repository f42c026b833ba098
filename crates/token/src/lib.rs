//! The `td1.` one-time repair token: claims, encoding and Ed25519 sign/verify with an
//! explicit `now`. Shared by the portal and the companion client; no I/O (except the OS
//! random generator), no runtime, no panics on any input.
//!
//! Format: `td1.<payload>.<signature>`, both parts base64url without padding.
//! `payload` is the UTF-8 JSON of [`Claims`]; `signature` is Ed25519 over the ASCII bytes of
//! `td1.<payload>` (the prefix is signed, so the version cannot be swapped), checked with
//! `verify_strict`. Base64 must be canonical and signatures non-malleable, so a token has
//! exactly one valid spelling: [`token_hash`] identifies it.
//!
//! See this crate's README for the format and the checks.
//!
//! ```
//! use trustdesk_token::{Claims, ComputerRef, SigningKey, VerifyingKey, new_jti, sign, verify};
//!
//! # fn main() -> Result<(), trustdesk_token::TokenError> {
//! // Portal: a key (stored as `to_seed_b64()` in a 0600 file), then a token.
//! let key = SigningKey::generate()?;
//! let now = 1_760_000_000;
//! let claims = Claims {
//!     v: 1,
//!     kid: String::new(), // set by `sign`
//!     jti: new_jti()?,
//!     computer: ComputerRef {
//!         guid: uuid::Uuid::nil(),
//!         sam: "PC01$".into(),
//!         dns: Some("pc01.corp.example.com".into()),
//!     },
//!     domain: "corp.example.com".into(),
//!     portal: "https://trustdesk.corp.example.com".into(),
//!     issued_by: "Ada Lovelace".into(),
//!     iat: now,
//!     exp: now + 15 * 60,
//! };
//! let token = sign(&claims, &key)?;
//!
//! // Client: the pinned key from its config, then verification at its own clock.
//! let pin = key.verifying_key().to_pin();
//! let pinned: VerifyingKey = pin.parse()?;
//! let verified = verify(&token, &[pinned], now + 5)?;
//! assert_eq!(verified.computer.sam, "PC01$");
//! # Ok(())
//! # }
//! ```

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

mod claims;
mod error;
mod keys;
mod redeem_code;
mod short_code;

pub use claims::{Claims, ComputerRef};
pub use error::TokenError;
pub use keys::{ALG, KID_LEN, PublicKeyInfo, SigningKey, VerifyingKey};
pub use redeem_code::RedeemCode;
pub use short_code::ShortCode;

/// The prefix every trustdesk repair token carries (format version 1).
pub const PREFIX: &str = "td1.";

/// Former name of [`PREFIX`], kept for existing callers.
pub const TOKEN_PREFIX: &str = PREFIX;

/// The longest input [`verify`] and [`peek`] look at, and the longest token [`sign`] makes.
pub const MAX_TOKEN_LEN: usize = 4096;

/// The claims version this crate reads and writes.
pub const VERSION: u8 = 1;

/// How far in the future `iat` may be (seconds) before a token is [`TokenError::NotYetValid`].
pub const CLOCK_SKEW_SECS: i64 = 60;

/// Random bytes in a [`new_jti`].
const JTI_BYTES: usize = 16;

/// Length of an Ed25519 signature.
const SIG_LEN: usize = 64;

/// Lower-case hex of some bytes.
pub(crate) fn hex<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> String {
    let mut out = String::new();
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A fresh token id: 128 bits from the OS CSPRNG, base64url without padding (22 characters).
///
/// # Errors
/// [`TokenError::Random`] if the OS generator fails.
pub fn new_jti() -> Result<String, TokenError> {
    let mut bytes = [0u8; JTI_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Signs `claims` into a token. `claims.kid` is set to `key.kid()` whatever it was.
///
/// # Errors
/// [`TokenError::UnsupportedVersion`] if `claims.v` is not [`VERSION`],
/// [`TokenError::BadJson`] if the claims cannot be serialized,
/// [`TokenError::TooLong`] if the token would exceed [`MAX_TOKEN_LEN`].
pub fn sign(claims: &Claims, key: &SigningKey) -> Result<String, TokenError> {
    if claims.v != VERSION {
        return Err(TokenError::UnsupportedVersion(claims.v));
    }
    let mut claims = claims.clone();
    claims.kid = key.kid();
    let json = serde_json::to_vec(&claims).map_err(|_| TokenError::BadJson)?;
    let mut token = String::with_capacity(PREFIX.len() + json.len() * 4 / 3 + 90);
    token.push_str(PREFIX);
    URL_SAFE_NO_PAD.encode_string(&json, &mut token);
    let signature = key.sign_bytes(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLong);
    }
    Ok(token)
}

/// A token taken apart, signature not yet checked.
struct Decoded<'a> {
    /// `td1.<payload>`: the signed bytes.
    signed: &'a str,
    signature: ed25519_dalek::Signature,
    claims: Claims,
}

/// Length, prefix, structure, base64, JSON and version checks, in that order.
fn decode(token: &str) -> Result<Decoded<'_>, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLong);
    }
    if !token.starts_with(PREFIX) {
        return Err(TokenError::BadPrefix);
    }
    let (signed, signature_b64) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let payload_b64 = signed.strip_prefix(PREFIX).ok_or(TokenError::Malformed)?;
    if payload_b64.is_empty() || signature_b64.is_empty() || payload_b64.contains('.') {
        return Err(TokenError::Malformed);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| TokenError::BadEncoding)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| TokenError::BadEncoding)?;
    let signature: [u8; SIG_LEN] = signature
        .as_slice()
        .try_into()
        .map_err(|_| TokenError::Malformed)?;
    let version: claims::VersionOnly =
        serde_json::from_slice(&payload).map_err(|_| TokenError::BadJson)?;
    if version.v != VERSION {
        return Err(TokenError::UnsupportedVersion(version.v));
    }
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::BadJson)?;
    Ok(Decoded {
        signed,
        signature: ed25519_dalek::Signature::from_bytes(&signature),
        claims,
    })
}

/// **UNVERIFIED** decode: the claims of a token WITHOUT checking its signature, key or expiry.
///
/// Anyone can write a token that `peek` accepts. Use it only to choose a verifying key or to
/// display what a token *claims* before (or after failing) [`verify`]; never to decide
/// anything. Structure, base64, JSON and version are checked as in [`verify`].
///
/// # Errors
/// Any of the format errors of [`verify`] (not `UnknownKey`, `BadSignature`, `Expired`,
/// `NotYetValid`).
pub fn peek(token: &str) -> Result<Claims, TokenError> {
    decode(token).map(|d| d.claims)
}

/// Verifies a token against the trusted `keys` at time `now` (unix seconds) and returns its
/// claims.
///
/// Checks, in order: length, prefix, structure, base64, JSON, `v == 1`, `kid` among `keys`
/// (else [`TokenError::UnknownKey`]), the signature (`verify_strict`), then
/// `iat <= now + 60` ([`TokenError::NotYetValid`]) and `now < exp` ([`TokenError::Expired`]).
/// The signature is checked before the times, so an expired forgery is `BadSignature`.
///
/// The input is not trimmed: callers reading a token from a terminal should trim whitespace.
/// This does not check that the token is for this computer, nor its one-time state.
///
/// # Errors
/// The first failed check, as a [`TokenError`].
pub fn verify(token: &str, keys: &[VerifyingKey], now: i64) -> Result<Claims, TokenError> {
    let decoded = decode(token)?;
    let mut candidates = keys
        .iter()
        .filter(|k| k.kid == decoded.claims.kid)
        .peekable();
    if candidates.peek().is_none() {
        return Err(TokenError::UnknownKey);
    }
    let signed = decoded.signed.as_bytes();
    if !candidates.any(|k| k.key.verify_strict(signed, &decoded.signature).is_ok()) {
        return Err(TokenError::BadSignature);
    }
    let claims = decoded.claims;
    if claims.iat > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(TokenError::NotYetValid);
    }
    if now >= claims.exp {
        return Err(TokenError::Expired { exp: claims.exp });
    }
    Ok(claims)
}

/// Lower-case hex SHA-256 of the whole token string (64 characters): what the portal stores
/// and looks tokens up by, instead of the token.
#[must_use]
pub fn token_hash(token: &str) -> String {
    hex(Sha256::digest(token.as_bytes()).iter())
}

#[cfg(test)]
mod tests;

//! The sign-in in progress, from `/login` to `/auth/callback`, carried by the browser in a
//! short-lived cookie (`td_login`), so that an anonymous `/login` writes nothing to the
//! database (M-2).
//!
//! The cookie holds what the callback checks: the OAuth `state`, the OIDC `nonce`, the PKCE
//! verifier, the page to return to, and an expiry. It is HttpOnly, SameSite=Lax (the
//! provider's redirect back is a top-level GET, which carries it), Secure on https, sent only
//! to `/auth/callback`, and lives [`MAX_AGE`]; the callback clears it.
//!
//! Why a plain cookie, not a signed one or an in-memory map: it protects what the database
//! session did, no less. Whoever can read this cookie can read the session cookie beside it;
//! whoever can plant one (login CSRF) could plant a pre-login session cookie before. A forged
//! cookie gains nothing: the state must match the provider's answer, the code is redeemed with
//! its verifier at the provider and the ID token's nonce must match, so a made-up value only
//! fails; the return path is checked again here. It needs no key to share between instances,
//! and unlike a bounded map in memory, a flood of `/login` cannot push out a real sign-in.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tower_sessions::cookie::{Cookie, SameSite};

use super::AppError;
use crate::auth::oidc::PendingLogin;
use crate::auth::safe_return_to;

/// The cookie's name.
pub const COOKIE: &str = "td_login";
/// The only path the browser sends it to.
const PATH: &str = "/auth/callback";
/// How long a sign-in may take at the provider (typing a password, a second factor).
pub const MAX_AGE: time::Duration = time::Duration::minutes(10);
/// The longest cookie value read (a browser keeps 4 KiB per cookie).
const MAX_LEN: usize = 3500;

#[derive(Serialize, Deserialize)]
struct Carried {
    pending: PendingLogin,
    /// Unix seconds after which the callback refuses it, whatever the browser kept.
    exp: i64,
}

/// The `Set-Cookie` value that starts a sign-in.
pub fn start(
    pending: PendingLogin,
    now: OffsetDateTime,
    secure: bool,
) -> Result<HeaderValue, AppError> {
    let carried = Carried {
        exp: now.saturating_add(MAX_AGE).unix_timestamp(),
        pending,
    };
    let json = serde_json::to_vec(&carried)
        .map_err(|e| AppError::internal(format!("pending sign-in: {e}")))?;
    let cookie = Cookie::build((COOKIE, URL_SAFE_NO_PAD.encode(json)))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path(PATH)
        .max_age(MAX_AGE)
        .build();
    HeaderValue::from_str(&cookie.to_string())
        .map_err(|e| AppError::internal(format!("pending sign-in cookie: {e}")))
}

/// The `Set-Cookie` value that ends it (the callback sends it whatever happened).
#[must_use]
pub fn clear(secure: bool) -> HeaderValue {
    let cookie = Cookie::build((COOKIE, ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path(PATH)
        .removal()
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// The sign-in in progress this browser sent, unless it is missing, unreadable or expired.
pub fn read(headers: &HeaderMap, now: OffsetDateTime) -> Option<PendingLogin> {
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())?;
    if value.len() > MAX_LEN {
        return None;
    }
    let json = URL_SAFE_NO_PAD.decode(value).ok()?;
    let carried: Carried = serde_json::from_slice(&json).ok()?;
    if carried.exp < now.unix_timestamp() {
        return None;
    }
    let mut pending = carried.pending;
    pending.return_to = safe_return_to(Some(&pending.return_to));
    Some(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(return_to: &str) -> PendingLogin {
        serde_json::from_value(serde_json::json!({
            "state": "s", "nonce": "n", "pkce_verifier": "v", "return_to": return_to
        }))
        .unwrap()
    }

    fn sent(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=1; {pair}")).unwrap(),
        );
        h
    }

    #[test]
    fn the_pending_sign_in_goes_to_the_callback_only_and_expires() {
        let t0 = crate::clock::now();
        let set = start(pending("/computers?q=PAR"), t0, true).unwrap();
        let text = set.to_str().unwrap();
        for attr in [
            "td_login=",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/auth/callback",
        ] {
            assert!(text.contains(attr), "{text}");
        }
        let got = read(&sent(&set), t0).unwrap();
        assert_eq!(got.return_to, "/computers?q=PAR");
        assert!(read(&sent(&set), t0 + MAX_AGE + time::Duration::seconds(1)).is_none());
        assert!(read(&HeaderMap::new(), t0).is_none());
        assert!(clear(false).to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn a_tampered_return_path_or_garbage_gets_nothing_unsafe() {
        let t0 = crate::clock::now();
        let set = start(pending("//evil.example/"), t0, false).unwrap();
        assert_eq!(read(&sent(&set), t0).unwrap().return_to, "/");
        for junk in ["td_login=%%%", "td_login=e30", "td_login="] {
            let mut h = HeaderMap::new();
            h.insert(header::COOKIE, HeaderValue::from_str(junk).unwrap());
            assert!(read(&h, t0).is_none(), "{junk}");
        }
    }
}

//! OIDC Back-Channel Logout 1.0 §2.4 and §2.6: checking a `logout_token` (pure; the keys and
//! the time are parameters).
//!
//! openidconnect verifies ID tokens only, and a logout token is not one (no `nonce` allowed,
//! `sub` optional, an `events` claim), so the JWS is checked here with that crate's own key
//! types and signature code; only the claim rules are ours.

use base64::Engine;
use openidconnect::JsonWebKey;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use serde::Deserialize;
use serde_json::Value;

use super::provider::key_for;

/// The `events` member that makes a JWT a logout token.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How old an `iat` may be (the provider sends the token as the session ends).
const MAX_AGE_SECS: i64 = 300;
/// Clock difference tolerated between the provider and us.
const SKEW_SECS: i64 = 60;

/// Why a logout token was refused; the audit reason's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutRefusal {
    Malformed,
    AlgNotAllowed,
    UnknownKey,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    NotALogoutToken,
    NoncePresent,
    Stale,
    NoSubject,
    Replayed,
}

impl LogoutRefusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "logout_token.malformed",
            Self::AlgNotAllowed => "logout_token.alg_not_allowed",
            Self::UnknownKey => "logout_token.unknown_key",
            Self::BadSignature => "logout_token.bad_signature",
            Self::WrongIssuer => "logout_token.wrong_issuer",
            Self::WrongAudience => "logout_token.wrong_audience",
            Self::NotALogoutToken => "logout_token.no_logout_event",
            Self::NoncePresent => "logout_token.nonce_present",
            Self::Stale => "logout_token.stale",
            Self::NoSubject => "logout_token.no_sid_or_sub",
            Self::Replayed => "logout_token.replayed",
        }
    }
}

/// A verified logout token: whose sessions end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    pub sub: Option<String>,
    pub sid: Option<String>,
    pub jti: String,
    /// Until when a replay must be recognised (unix seconds).
    pub remember_until: i64,
}

/// What the check needs besides the token.
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub algs: &'a [CoreJwsSigningAlgorithm],
    /// The client secret, for HS* when those are allowed.
    pub hs_secret: Option<&'a [u8]>,
    pub now: i64,
}

#[derive(Deserialize)]
struct Header {
    alg: Value,
    kid: Option<String>,
    typ: Option<String>,
}

type Refused = (LogoutRefusal, String);

fn refused(r: LogoutRefusal, detail: impl Into<String>) -> Refused {
    (r, detail.into())
}

/// Check `token` against `jwks` and `expect`. Replays are the caller's (it has the store).
pub fn verify(
    token: &str,
    jwks: &CoreJsonWebKeySet,
    expect: &Expect<'_>,
) -> Result<LogoutClaims, Refused> {
    use LogoutRefusal as R;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.trim().split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refused(R::Malformed, "not a compact JWS (three parts)"));
    };
    let header: Header = b64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| refused(R::Malformed, "header is not base64url JSON"))?;
    if header
        .typ
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("logout+jwt") && !t.eq_ignore_ascii_case("JWT"))
    {
        return Err(refused(R::Malformed, "typ is neither logout+jwt nor JWT"));
    }
    let alg: CoreJwsSigningAlgorithm = serde_json::from_value(header.alg.clone())
        .map_err(|_| refused(R::AlgNotAllowed, format!("alg {}", header.alg)))?;
    if !expect.algs.contains(&alg) {
        return Err(refused(R::AlgNotAllowed, format!("alg {}", header.alg)));
    }
    let signature = b64
        .decode(s)
        .map_err(|_| refused(R::Malformed, "signature is not base64url"))?;
    let message = format!("{h}.{p}");
    let symmetric;
    let key = if matches!(
        alg,
        CoreJwsSigningAlgorithm::HmacSha256
            | CoreJwsSigningAlgorithm::HmacSha384
            | CoreJwsSigningAlgorithm::HmacSha512
    ) {
        let secret = expect
            .hs_secret
            .ok_or_else(|| refused(R::AlgNotAllowed, "HS* without a client secret"))?;
        symmetric = CoreJsonWebKey::new_symmetric(secret.to_vec());
        &symmetric
    } else {
        key_for(jwks, header.kid.as_deref()).ok_or_else(|| {
            refused(
                R::UnknownKey,
                format!("no published key {:?}", header.kid.unwrap_or_default()),
            )
        })?
    };
    key.verify_signature(&alg, message.as_bytes(), &signature)
        .map_err(|e| refused(R::BadSignature, e.to_string()))?;

    let claims: serde_json::Map<String, Value> = b64
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| refused(R::Malformed, "payload is not base64url JSON"))?;
    let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
    if text("iss").as_deref() != Some(expect.issuer) {
        return Err(refused(R::WrongIssuer, format!("iss {:?}", text("iss"))));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == expect.client_id,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(expect.client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err(refused(R::WrongAudience, "aud does not name this client"));
    }
    if !claims
        .get("events")
        .and_then(Value::as_object)
        .is_some_and(|e| e.get(LOGOUT_EVENT).is_some_and(Value::is_object))
    {
        return Err(refused(
            R::NotALogoutToken,
            "events lacks the back-channel logout event",
        ));
    }
    if claims.contains_key("nonce") {
        return Err(refused(
            R::NoncePresent,
            "a logout token must not carry a nonce",
        ));
    }
    let iat = claims.get("iat").and_then(Value::as_i64);
    let Some(iat) = iat else {
        return Err(refused(R::Malformed, "no iat"));
    };
    if iat < expect.now - MAX_AGE_SECS || iat > expect.now + SKEW_SECS {
        return Err(refused(
            R::Stale,
            format!("iat {iat} is not within {MAX_AGE_SECS} s of now"),
        ));
    }
    let exp = claims.get("exp").and_then(Value::as_i64);
    if exp.is_some_and(|exp| exp < expect.now - SKEW_SECS) {
        return Err(refused(R::Stale, "expired"));
    }
    let (sub, sid) = (text("sub"), text("sid"));
    if sub.is_none() && sid.is_none() {
        return Err(refused(R::NoSubject, "neither sid nor sub"));
    }
    let jti = text("jti").ok_or_else(|| refused(R::Malformed, "no jti"))?;
    if jti.len() > 256 {
        return Err(refused(R::Malformed, "jti longer than 256 characters"));
    }
    Ok(LogoutClaims {
        sub,
        sid,
        jti,
        remember_until: exp.unwrap_or(iat + MAX_AGE_SECS).max(iat + MAX_AGE_SECS) + SKEW_SECS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openidconnect::PrivateSigningKey;
    use openidconnect::core::CoreHmacKey;
    use serde_json::json;

    const SECRET: &[u8] = b"a client secret long enough for HS256";
    const NOW: i64 = 1_800_000_000;

    fn token(header: Value, claims: Value) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let sig = CoreHmacKey::new(SECRET)
            .sign(&CoreJwsSigningAlgorithm::HmacSha256, input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64.encode(sig))
    }

    fn good() -> Value {
        json!({
            "iss": "https://idp.example", "aud": ["trustdesk"], "iat": NOW - 5,
            "exp": NOW + 115, "jti": "j1", "sid": "s1", "sub": "u1",
            "events": {LOGOUT_EVENT: {}},
        })
    }

    fn check(t: &str, algs: &[CoreJwsSigningAlgorithm]) -> Result<LogoutClaims, Refused> {
        let expect = Expect {
            issuer: "https://idp.example",
            client_id: "trustdesk",
            algs,
            hs_secret: Some(SECRET),
            now: NOW,
        };
        verify(t, &CoreJsonWebKeySet::new(vec![]), &expect)
    }

    fn refusal(t: &str) -> LogoutRefusal {
        check(t, &[CoreJwsSigningAlgorithm::HmacSha256])
            .unwrap_err()
            .0
    }

    #[test]
    fn a_good_token_names_whose_sessions_end() {
        let hs = [CoreJwsSigningAlgorithm::HmacSha256];
        let c = check(
            &token(json!({"alg": "HS256", "typ": "logout+jwt"}), good()),
            &hs,
        )
        .unwrap();
        assert_eq!(
            (c.sid.as_deref(), c.sub.as_deref(), c.jti.as_str()),
            (Some("s1"), Some("u1"), "j1")
        );
        assert!(c.remember_until >= NOW + 115);
    }

    #[test]
    fn each_rule_of_the_spec_refuses_with_its_reason() {
        use LogoutRefusal as R;
        let h = json!({"alg": "HS256"});
        let with = |k: &str, v: Value| {
            let mut c = good();
            c[k] = v;
            token(h.clone(), c)
        };
        let without = |k: &str| {
            let mut c = good();
            c.as_object_mut().unwrap().remove(k);
            token(h.clone(), c)
        };
        assert_eq!(
            refusal(&with("iss", json!("https://evil.example"))),
            R::WrongIssuer
        );
        assert_eq!(
            refusal(&with("aud", json!("someone-else"))),
            R::WrongAudience
        );
        assert_eq!(
            refusal(&with("events", json!({"other": {}}))),
            R::NotALogoutToken
        );
        assert_eq!(refusal(&with("nonce", json!("n"))), R::NoncePresent);
        assert_eq!(refusal(&with("iat", json!(NOW - 3600))), R::Stale);
        assert_eq!(refusal(&with("exp", json!(NOW - 600))), R::Stale);
        assert_eq!(refusal(&without("jti")), R::Malformed);
        let mut anon = good();
        anon.as_object_mut().unwrap().remove("sid");
        anon.as_object_mut().unwrap().remove("sub");
        assert_eq!(refusal(&token(h.clone(), anon)), R::NoSubject);
        assert_eq!(refusal("a.b"), R::Malformed);
        assert_eq!(
            refusal(&token(json!({"alg": "HS256", "typ": "at+jwt"}), good())),
            R::Malformed
        );
        // Tampered after signing.
        let t = token(h.clone(), good());
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged_payload = with("sub", json!("u2"));
        let p2 = forged_payload.split('.').nth(1).unwrap().to_string();
        parts[1] = &p2;
        assert_eq!(refusal(&parts.join(".")), R::BadSignature);
        // HS256 only when allowed; RS256 with a kid nobody published.
        let hs = token(h.clone(), good());
        let rs_only = [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256];
        assert_eq!(check(&hs, &rs_only).unwrap_err().0, R::AlgNotAllowed);
        let rs = token(json!({"alg": "RS256", "kid": "nobody"}), good());
        assert_eq!(check(&rs, &rs_only).unwrap_err().0, R::UnknownKey);
        let none = token(json!({"alg": "none"}), good());
        assert_eq!(check(&none, &rs_only).unwrap_err().0, R::AlgNotAllowed);
    }
}

//! `Trustdesk-Signature`: Stripe's webhook signature scheme
//! (<https://docs.stripe.com/webhooks#verify-manually>), under trustdesk's header name.
//!
//! The header is `t=<unix seconds>,v1=<hex>`, where `<hex>` is
//! `HMAC-SHA256(secret, "<t>.<body>")` over the body's exact bytes, and `t` is the time of the
//! attempt (each retry is signed again). A receiver recomputes the HMAC with its copy of the
//! secret, compares in constant time, and refuses a `t` further than its tolerance from its
//! own clock (5 minutes is usual), so a captured request cannot be replayed later. Several
//! `v1=` entries may be present; one matching is enough. Other keys are ignored.
//!
//! Pure: the time is a parameter.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "Trustdesk-Signature";
/// The event type's header (`repair.completed`, …).
pub const EVENT_HEADER: &str = "Trustdesk-Event";
/// The delivery id's header (the body's `id`, the same on every retry).
pub const DELIVERY_HEADER: &str = "Trustdesk-Delivery";

/// Why a signature was refused. Says nothing of the expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("malformed signature header: {0}")]
    Malformed(&'static str),
    #[error("the signature's timestamp is {age_secs} s away from now, beyond the tolerance")]
    Stale { age_secs: i64 },
    #[error("no v1 signature matches the body")]
    Mismatch,
    #[error("the secret cannot key HMAC-SHA256")]
    Key,
}

/// The HMAC of `"<t>.<body>"` under `secret`, ready to finalize or verify.
fn mac(secret: &[u8], t: i64, body: &[u8]) -> Result<HmacSha256, SignatureError> {
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::Key)?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The header value for `body` signed at unix time `t`: `t=<t>,v1=<hex>`.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> Result<String, SignatureError> {
    let tag = mac(secret, t, body)?.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("t={t},v1={hex}"))
}

/// Check `header` against `body` under `secret`: one `v1` must be the HMAC (compared in
/// constant time, by `hmac`'s `verify_slice`), and `t` within `tolerance` of `now` either
/// way.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: OffsetDateTime,
    tolerance: time::Duration,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed("an entry is not key=value"))?;
        match key {
            "t" if t.is_some() => return Err(SignatureError::Malformed("t given twice")),
            "t" => {
                let secs: i64 = value
                    .parse()
                    .map_err(|_| SignatureError::Malformed("t is not unix seconds"))?;
                t = Some(secs);
            }
            "v1" => tags.push(unhex(value).ok_or(SignatureError::Malformed("v1 is not hex"))?),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed("no t"))?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed("no v1"));
    }
    let unverified = mac(secret, t, body)?;
    if !tags
        .iter()
        .any(|tag| unverified.clone().verify_slice(tag).is_ok())
    {
        return Err(SignatureError::Mismatch);
    }
    let age_secs = now.unix_timestamp().saturating_sub(t);
    if age_secs.unsigned_abs() > tolerance.whole_seconds().unsigned_abs() {
        return Err(SignatureError::Stale { age_secs });
    }
    Ok(())
}

/// The bytes of a hex string (either case), or `None`.
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let digit = |c: u8| char::from(c).to_digit(16);
            u8::try_from(digit(*pair.first()?)? * 16 + digit(*pair.get(1)?)?).ok()
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    const SECRET: &[u8] = b"whsec-0123456789abcdef0123456789abcdef";
    const BODY: &[u8] = br#"{"id":"x","type":"repair.completed"}"#;
    const FIVE_MIN: Duration = Duration::minutes(5);

    fn now() -> OffsetDateTime {
        datetime!(2026-12-06 10:00:00 UTC)
    }

    #[test]
    fn a_signature_verifies_and_is_hmac_sha256_of_t_dot_body() {
        let t = now().unix_timestamp();
        let header = sign(SECRET, t, BODY).unwrap();
        assert!(header.starts_with(&format!("t={t},v1=")), "{header}");
        assert_eq!(header.len(), format!("t={t},v1=").len() + 64);
        verify(SECRET, &header, BODY, now(), FIVE_MIN).unwrap();
        // The same HMAC computed independently over "<t>.<body>".
        let mut m = HmacSha256::new_from_slice(SECRET).unwrap();
        m.update(format!("{t}.").as_bytes());
        m.update(BODY);
        let hex: String = m
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(header.ends_with(&hex));
        // Within the tolerance either way; upper-case hex, spaces and extra keys are fine.
        verify(
            SECRET,
            &header,
            BODY,
            now() + Duration::minutes(4),
            FIVE_MIN,
        )
        .unwrap();
        verify(
            SECRET,
            &header,
            BODY,
            now() - Duration::minutes(4),
            FIVE_MIN,
        )
        .unwrap();
        let (ts, v1) = header.split_once(',').unwrap();
        let loose = format!(
            "{ts}, v0=abc, v1=00ff, {}",
            v1.to_uppercase().replace("V1", "v1")
        );
        verify(SECRET, &loose, BODY, now(), FIVE_MIN).unwrap();
    }

    /// A fixed vector computed elsewhere (Python's `hmac`), so the scheme cannot drift.
    #[test]
    fn the_signature_of_a_known_vector() {
        assert_eq!(
            sign(SECRET, 1_796_551_200, BODY).unwrap(),
            "t=1796551200,v1=38fef2a0e9931e0513c086200acbafa0e8f96e74873c6ce33fb9cb787863a7a6"
        );
        assert_eq!(now().unix_timestamp(), 1_796_551_200);
    }

    #[test]
    fn refusals() {
        let t = now().unix_timestamp();
        let header = sign(SECRET, t, BODY).unwrap();
        let wrong_secret = b"another-secret-0123456789abcdef0123";
        assert_eq!(
            verify(wrong_secret, &header, BODY, now(), FIVE_MIN),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, &header, b"{\"id\":\"y\"}", now(), FIVE_MIN),
            Err(SignatureError::Mismatch),
            "another body"
        );
        // A replay: the right signature, six minutes later.
        assert_eq!(
            verify(
                SECRET,
                &header,
                BODY,
                now() + Duration::minutes(6),
                FIVE_MIN
            ),
            Err(SignatureError::Stale { age_secs: 360 })
        );
        assert_eq!(
            verify(
                SECRET,
                &header,
                BODY,
                now() - Duration::minutes(6),
                FIVE_MIN
            ),
            Err(SignatureError::Stale { age_secs: -360 })
        );
        // A changed timestamp breaks the signature (it is signed).
        let v1 = header.split_once(",v1=").unwrap().1;
        let moved = format!("t={},v1={v1}", t + 60);
        assert_eq!(
            verify(SECRET, &moved, BODY, now(), FIVE_MIN),
            Err(SignatureError::Mismatch)
        );
        for (bad, why) in [
            ("", "key=value"),
            ("v1=00", "no t"),
            (&format!("t={t}") as &str, "no v1"),
            (&format!("t=soon,v1={v1}"), "unix seconds"),
            (&format!("t={t},t={t},v1={v1}"), "twice"),
            (&format!("t={t},v1=xyz"), "hex"),
            (&format!("t={t},v1=abc"), "hex"),
            (&format!("t={t};v1={v1}"), "unix seconds"),
        ] {
            match verify(SECRET, bad, BODY, now(), FIVE_MIN) {
                Err(SignatureError::Malformed(m)) => assert!(m.contains(why), "{bad}: {m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        // A truncated tag is not a match.
        let short = format!("t={t},v1={}", &v1[..32]);
        assert_eq!(
            verify(SECRET, &short, BODY, now(), FIVE_MIN),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn errors_never_show_the_expected_signature() {
        let t = now().unix_timestamp();
        let good = sign(SECRET, t, BODY).unwrap();
        let v1 = good.split_once(",v1=").unwrap().1.to_string();
        let e = verify(
            SECRET,
            &format!("t={t},v1={}", "0".repeat(64)),
            BODY,
            now(),
            FIVE_MIN,
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains(&v1), "{e}");
    }
}

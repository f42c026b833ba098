//! Test helpers: a fixed signing key and tokens minted with it.

use trustdesk_token::{Claims, ComputerRef, SigningKey, VerifyingKey};

/// Unix time the tests pretend it is.
pub const NOW: i64 = 1_800_000_000;

pub fn signing_key() -> SigningKey {
    SigningKey::from_seed(&[7u8; 32])
}

pub fn verifying_key() -> VerifyingKey {
    signing_key().verifying_key()
}

pub fn pin() -> String {
    verifying_key().to_pin()
}

pub fn claims(sam: &str, domain: &str, portal: &str) -> Claims {
    Claims {
        v: trustdesk_token::VERSION,
        kid: String::new(),
        jti: "test-jti".into(),
        computer: ComputerRef {
            guid: uuid::Uuid::nil(),
            sam: sam.into(),
            dns: None,
        },
        domain: domain.into(),
        portal: portal.into(),
        issued_by: "Test Helpdesk".into(),
        iat: NOW - 60,
        exp: NOW + 900,
    }
}

pub fn token_for(claims: &Claims) -> String {
    trustdesk_token::sign(claims, &signing_key()).unwrap()
}

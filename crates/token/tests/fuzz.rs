//! Property tests: no input makes `verify` or `peek` panic, and no mutation of a valid token
//! verifies into anything but the original claims (in fact, into anything but the original
//! token: base64 must be canonical and `verify_strict` refuses malleated signatures).
//!
//! Case counts default to 20 000 for the cheap properties (mutations of a whole token, random
//! strings) and fewer for those where nearly every case runs Ed25519 (slow in debug builds);
//! `PROPTEST_CASES` sets them all. Run with `--nocapture` to see the outcome tallies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use trustdesk_token::{
    Claims, ComputerRef, MAX_TOKEN_LEN, SigningKey, TokenError, VerifyingKey, peek, sign, verify,
};

const NOW: i64 = 1_760_000_000;
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn runner(default_cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases: cases(default_cases),
        failure_persistence: None,
        ..Config::default()
    })
}

struct Fixture {
    key: SigningKey,
    keys: Vec<VerifyingKey>,
    claims: Claims,
    token: String,
}

static FIX: LazyLock<Fixture> = LazyLock::new(|| {
    let key = SigningKey::from_seed(&[7; 32]);
    let claims = Claims {
        v: 1,
        kid: key.kid(),
        jti: "AAECAwQFBgcICQoLDA0ODw".into(),
        computer: ComputerRef {
            guid: uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            sam: "PC01$".into(),
            dns: Some("pc01.corp.example.com".into()),
        },
        domain: "corp.example.com".into(),
        portal: "https://trustdesk.corp.example.com".into(),
        issued_by: "Ada Lovelace".into(),
        iat: NOW - 60,
        exp: NOW + 840,
    };
    let token = sign(&claims, &key).unwrap();
    let keys = vec![
        SigningKey::from_seed(&[9; 32]).verifying_key(),
        key.verifying_key(),
    ];
    Fixture {
        key,
        keys,
        claims,
        token,
    }
});

/// Tally of outcomes, printed after a run.
#[derive(Default)]
struct Tally(RefCell<BTreeMap<&'static str, u64>>);

impl Tally {
    fn add(&self, r: &Result<Claims, TokenError>) {
        *self
            .0
            .borrow_mut()
            .entry(r.as_ref().map_or_else(TokenError::code, |_| "ok"))
            .or_default() += 1;
    }
    fn print(&self, name: &str, runs: u32) {
        eprintln!(
            "{name}: {runs} cases, 0 panics, outcomes {:?}",
            self.0.borrow()
        );
    }
}

/// Runs `peek` and `verify` (with and without keys) on `input` and returns the result of
/// `verify` with the fixture keys. A panic inside fails the property (proptest catches it).
fn check_no_panic(input: &str, tally: &Tally) -> Result<Claims, TokenError> {
    let _ = peek(input);
    let _ = verify(input, &[], NOW);
    let r = verify(input, &FIX.keys, NOW);
    tally.add(&r);
    r
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    SetB64(Index, Index),
    Insert(Index, u8),
    InsertB64(Index, Index),
    Delete(Index),
    Truncate(Index),
    Swap(Index, Index),
    /// Copy a run of the token over another place (splices, duplicated dots, ...).
    Splice(Index, Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(i, c)| Mutation::SetB64(i, c)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(i, c)| Mutation::InsertB64(i, c)),
        1 => any::<Index>().prop_map(Mutation::Delete),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        1 => (any::<Index>(), any::<Index>(), 1u8..40).prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len();
    match *m {
        Mutation::FlipBit(i, b) if n > 0 => bytes[i.index(n)] ^= 1 << b,
        Mutation::SetByte(i, v) if n > 0 => bytes[i.index(n)] = v,
        Mutation::SetB64(i, c) if n > 0 => bytes[i.index(n)] = B64[c.index(B64.len())],
        Mutation::Insert(i, v) => bytes.insert(i.index(n + 1), v),
        Mutation::InsertB64(i, c) => bytes.insert(i.index(n + 1), B64[c.index(B64.len())]),
        Mutation::Delete(i) if n > 0 => {
            bytes.remove(i.index(n));
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(n + 1)),
        Mutation::Swap(a, b) if n > 0 => bytes.swap(a.index(n), b.index(n)),
        Mutation::Splice(a, b, len) if n > 0 => {
            let from = a.index(n);
            let to = b.index(n);
            let run: Vec<u8> = bytes[from..(from + usize::from(len)).min(n)].to_vec();
            for (k, v) in run.into_iter().enumerate() {
                if let Some(slot) = bytes.get_mut(to + k) {
                    *slot = v;
                }
            }
        }
        _ => {}
    }
}

/// Mutations of a valid token never panic, and never verify into other claims. Stronger: the
/// only string that verifies is the original token itself.
#[test]
fn mutated_tokens_never_verify_into_other_claims() {
    let fix = &*FIX;
    let tally = Tally::default();
    let changed = Cell::new(0u64);
    let mut runner = runner(20_000);
    let cases = runner.config().cases;
    runner
        .run(&prop::collection::vec(mutation(), 1..5), |ms| {
            let mut bytes = fix.token.clone().into_bytes();
            for m in &ms {
                apply(&mut bytes, m);
            }
            let input = match String::from_utf8(bytes) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            };
            match check_no_panic(&input, &tally) {
                Ok(claims) => {
                    prop_assert_eq!(&claims, &fix.claims);
                    prop_assert_eq!(&input, &fix.token);
                }
                Err(_) => {
                    prop_assert_ne!(&input, &fix.token);
                    changed.set(changed.get() + 1);
                }
            }
            Ok(())
        })
        .unwrap();
    tally.print("mutations of a valid token", cases);
    assert!(changed.get() > 0);
}

/// Mutations confined to the signature part, with base64url characters only, so that almost
/// every case reaches the Ed25519 check.
#[test]
fn signature_mutations_are_bad_signature() {
    let fix = &*FIX;
    let dot = fix.token.rfind('.').unwrap();
    let sig_len = fix.token.len() - dot - 1;
    let tally = Tally::default();
    let mut runner = runner(2_000);
    let cases = runner.config().cases;
    runner
        .run(
            &prop::collection::vec((any::<Index>(), any::<Index>()), 1..4),
            |edits| {
                let mut bytes = fix.token.clone().into_bytes();
                for (i, c) in &edits {
                    bytes[dot + 1 + i.index(sig_len)] = B64[c.index(B64.len())];
                }
                let input = String::from_utf8(bytes).unwrap();
                let r = verify(&input, &fix.keys, NOW);
                tally.add(&r);
                if input == fix.token {
                    prop_assert!(r.is_ok());
                } else {
                    // BadEncoding only for non-zero padding bits in the last character.
                    prop_assert!(
                        matches!(r, Err(TokenError::BadSignature | TokenError::BadEncoding)),
                        "{:?}",
                        r
                    );
                }
                Ok(())
            },
        )
        .unwrap();
    tally.print("signature mutations", cases);
}

/// Claims edited at the JSON level (one byte set to printable ASCII), re-encoded, original
/// signature kept: never accepted.
#[test]
fn claim_edits_never_verify() {
    let fix = &*FIX;
    let json = serde_json::to_vec(&fix.claims).unwrap();
    let (_, sig) = fix.token.rsplit_once('.').unwrap();
    let tally = Tally::default();
    let mut runner = runner(5_000);
    let cases = runner.config().cases;
    runner
        .run(&(any::<Index>(), 0x20u8..0x7f), |(i, c)| {
            use base64::Engine as _;
            let mut edited = json.clone();
            let at = i.index(edited.len());
            let same = edited[at] == c;
            edited[at] = c;
            let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&edited);
            let input = format!("td1.{payload}.{sig}");
            let r = verify(&input, &fix.keys, NOW);
            tally.add(&r);
            if same {
                prop_assert_eq!(r, Ok(fix.claims.clone()));
            } else {
                prop_assert!(r.is_err(), "edited claims verified: {:?}", r);
            }
            Ok(())
        })
        .unwrap();
    tally.print("claim edits", cases);
}

/// Arbitrary strings: unicode, token-shaped, and raw bytes.
#[test]
fn random_strings_never_panic() {
    let tally = Tally::default();
    let mut runner = runner(20_000);
    let cases = runner.config().cases;
    let strategy = prop_oneof![
        any::<String>(),
        "td1\\.[A-Za-z0-9_=.+/-]{0,700}",
        "td1\\.[A-Za-z0-9_-]{1,600}\\.[A-Za-z0-9_-]{80,90}",
        prop::collection::vec(any::<u8>(), 0..800)
            .prop_map(|b| format!("td1.{}", String::from_utf8_lossy(&b))),
        (0usize..3, MAX_TOKEN_LEN - 8..MAX_TOKEN_LEN + 8)
            .prop_map(|(c, n)| format!("td1.{}", ["A", ".", "é"][c].repeat(n))),
    ];
    runner
        .run(&strategy, |s| {
            let r = check_no_panic(&s, &tally);
            prop_assert!(r.is_err() || s == FIX.token);
            if s.len() > MAX_TOKEN_LEN {
                prop_assert_eq!(r, Err(TokenError::TooLong));
            }
            Ok(())
        })
        .unwrap();
    tally.print("random strings", cases);
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-zA-Z0-9.$ -]{0,40}"]
}

prop_compose! {
    fn arb_claims()(
        guid in any::<u128>(),
        sam in text(),
        dns in prop::option::of(text()),
        kid in text(),
        jti in text(),
        domain in text(),
        portal in text(),
        issued_by in text(),
        iat in any::<i64>(),
        life in prop_oneof![1i64..=86_400, any::<i64>()],
    ) -> Claims {
        Claims {
            v: 1,
            kid,
            jti,
            computer: ComputerRef { guid: uuid::Uuid::from_u128(guid), sam, dns },
            domain,
            portal,
            issued_by,
            iat,
            exp: iat.saturating_add(life),
        }
    }
}

/// Any claims sign and verify back to themselves (with the signer's kid) during their
/// lifetime, and `peek` agrees.
#[test]
fn arbitrary_claims_round_trip() {
    let fix = &*FIX;
    let tally = Tally::default();
    let mut runner = runner(1_000);
    let cases = runner.config().cases;
    runner
        .run(&arb_claims(), |claims| {
            let token = match sign(&claims, &fix.key) {
                Ok(t) => t,
                Err(TokenError::TooLong) => return Ok(()),
                Err(e) => return Err(TestCaseError::fail(format!("sign: {e}"))),
            };
            prop_assert!(token.len() <= MAX_TOKEN_LEN);
            let mut want = claims.clone();
            want.kid = fix.key.kid();
            prop_assert_eq!(peek(&token), Ok(want.clone()));
            let r = verify(&token, &fix.keys, claims.iat);
            tally.add(&r);
            if claims.iat < claims.exp {
                prop_assert_eq!(r, Ok(want));
            } else {
                prop_assert_eq!(r, Err(TokenError::Expired { exp: claims.exp }));
            }
            Ok(())
        })
        .unwrap();
    tally.print("arbitrary claims round trip", cases);
}

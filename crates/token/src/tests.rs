//! Unit tests with a fixed key (fixed seed) and a fixed clock.

use super::*;

const SEED: [u8; 32] = [7; 32];
const OTHER_SEED: [u8; 32] = [9; 32];
/// A fixed "now": 2025-10-09T08:53:20Z.
const NOW: i64 = 1_760_000_000;
const IAT: i64 = NOW - 60;
const EXP: i64 = IAT + 15 * 60;

fn key() -> SigningKey {
    SigningKey::from_seed(&SEED)
}

fn other_key() -> SigningKey {
    SigningKey::from_seed(&OTHER_SEED)
}

fn claims() -> Claims {
    Claims {
        v: 1,
        kid: String::new(),
        jti: "AAECAwQFBgcICQoLDA0ODw".to_owned(),
        computer: ComputerRef {
            guid: uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            sam: "PC01$".to_owned(),
            dns: Some("pc01.corp.example.com".to_owned()),
        },
        domain: "corp.example.com".to_owned(),
        portal: "https://trustdesk.corp.example.com".to_owned(),
        issued_by: "Ada Lovelace".to_owned(),
        iat: IAT,
        exp: EXP,
    }
}

fn token() -> String {
    sign(&claims(), &key()).unwrap()
}

fn keys() -> Vec<VerifyingKey> {
    vec![key().verifying_key()]
}

/// (payload_b64, signature_b64) of a well-formed token.
fn parts(token: &str) -> (String, String) {
    let rest = token.strip_prefix(PREFIX).unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    (p.to_owned(), s.to_owned())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// A token with arbitrary payload bytes, correctly signed by `key` (for format tests that
/// must get past the signature-independent checks).
fn signed_raw(payload: &[u8], key: &SigningKey) -> String {
    let signed = format!("{PREFIX}{}", b64(payload));
    let sig = key.sign_bytes(signed.as_bytes());
    format!("{signed}.{}", b64(&sig))
}

// --- golden vector -------------------------------------------------------------------------

/// The exact token for the fixed claims and seed. Ed25519 is deterministic and the JSON field
/// order is the struct order, so this pins the wire format: if it changes, the portal and
/// already-installed clients disagree.
const GOLDEN: &str = concat!(
    "td1.eyJ2IjoxLCJraWQiOiJmZTgxMmMxMmYzYWI0Y2U2IiwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsImNvbXB1dGVyIjp7Imd1aWQiOiIwMTIzNDU2Ny04OWFiLWNkZWYtMDEyMy00NTY3ODlhYmNkZWYiLCJzYW0iOiJQQzAxJCIsImRucyI6InBjMDEuY29ycC5leGFtcGxlLmNvbSJ9LCJkb21haW4iOiJjb3JwLmV4YW1wbGUuY29tIiwicG9ydGFsIjoiaHR0cHM6Ly90cnVzdGRlc2suY29ycC5leGFtcGxlLmNvbSIsImlzc3VlZF9ieSI6IkFkYSBMb3ZlbGFjZSIsImlhdCI6MTc1OTk5OTk0MCwiZXhwIjoxNzYwMDAwODQwfQ",
    ".H8zPoGM-fI7q37wSsBtcHWrTBr9LH01eh_penAXMW4j5dbouuxvOnS4f9WreZMyZIshlG_O2gTkJmdp9Y6H5AQ",
);
/// Its `token_hash`.
const GOLDEN_HASH: &str = "c002e67507c13beebb4c5514eb457de0743852efadc96fb474b24e339a885cf2";
/// The fixed key's id.
const GOLDEN_KID: &str = "fe812c12f3ab4ce6";

#[test]
fn golden_token_is_stable() {
    assert_eq!(token(), GOLDEN);
    assert_eq!(key().kid(), GOLDEN_KID);
    assert_eq!(verify(GOLDEN, &keys(), NOW).unwrap().kid, GOLDEN_KID);
    let (p, _) = parts(GOLDEN);
    let json = String::from_utf8(unb64(&p)).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"v":1,"kid":"{}","jti":"AAECAwQFBgcICQoLDA0ODw","computer":{{"guid":"01234567-89ab-cdef-0123-456789abcdef","sam":"PC01$","dns":"pc01.corp.example.com"}},"domain":"corp.example.com","portal":"https://trustdesk.corp.example.com","issued_by":"Ada Lovelace","iat":1759999940,"exp":1760000840}}"#,
            key().kid()
        )
    );
}

// --- round trip ----------------------------------------------------------------------------

#[test]
fn round_trip() {
    let t = token();
    assert!(t.starts_with("td1."));
    assert_eq!(t.matches('.').count(), 2);
    assert!(!t.contains('='));
    let got = verify(&t, &keys(), NOW).unwrap();
    let mut want = claims();
    want.kid = key().kid();
    assert_eq!(got, want);
}

#[test]
fn round_trip_without_dns_and_with_unicode() {
    let mut c = claims();
    c.computer.dns = None;
    c.issued_by = "Zoë Ångström 山田".to_owned();
    let t = sign(&c, &key()).unwrap();
    let got = verify(&t, &keys(), NOW).unwrap();
    assert_eq!(got.computer.dns, None);
    assert_eq!(got.issued_by, c.issued_by);
}

#[test]
fn sign_overrides_kid() {
    let mut c = claims();
    c.kid = "ffffffffffffffff".to_owned();
    let t = sign(&c, &key()).unwrap();
    assert_eq!(peek(&t).unwrap().kid, key().kid());
    assert!(verify(&t, &keys(), NOW).is_ok());
}

#[test]
fn sign_refuses_other_versions_and_oversize() {
    let mut c = claims();
    c.v = 2;
    assert_eq!(sign(&c, &key()), Err(TokenError::UnsupportedVersion(2)));
    let mut c = claims();
    c.issued_by = "x".repeat(MAX_TOKEN_LEN);
    assert_eq!(sign(&c, &key()), Err(TokenError::TooLong));
}

#[test]
fn verify_accepts_any_listed_key() {
    let ks = vec![other_key().verifying_key(), key().verifying_key()];
    assert!(verify(&token(), &ks, NOW).is_ok());
}

// --- tampering -----------------------------------------------------------------------------

#[test]
fn tampered_payload_is_bad_signature() {
    let t = token();
    let (p, s) = parts(&t);
    let mut json = unb64(&p);
    // One byte of the claims: PC01$ -> PC02$.
    let at = json.windows(5).position(|w| w == b"PC01$").unwrap() + 3;
    json[at] = b'2';
    let forged = format!("{PREFIX}{}.{s}", b64(&json));
    assert_eq!(peek(&forged).unwrap().computer.sam, "PC02$");
    assert_eq!(verify(&forged, &keys(), NOW), Err(TokenError::BadSignature));

    // One byte of the expiry, still valid JSON.
    let mut json = unb64(&p);
    let at = json.windows(6).position(|w| w == b"\"exp\":").unwrap() + 6;
    json[at] = b'2';
    let forged = format!("{PREFIX}{}.{s}", b64(&json));
    assert_eq!(verify(&forged, &keys(), NOW), Err(TokenError::BadSignature));
}

#[test]
fn tampered_signature_is_bad_signature() {
    let t = token();
    let (p, s) = parts(&t);
    for i in [0, 31, 32, 63] {
        let mut sig = unb64(&s);
        sig[i] ^= 0x01;
        let forged = format!("{PREFIX}{p}.{}", b64(&sig));
        assert_eq!(
            verify(&forged, &keys(), NOW),
            Err(TokenError::BadSignature),
            "byte {i}"
        );
    }
}

/// S + L (the group order) is the classic malleation; `verify_strict` must refuse it.
/// Guards against `legacy_compatibility` being switched on by feature unification.
#[test]
fn malleated_signature_scalar_is_refused() {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let t = token();
    let (p, s) = parts(&t);
    let mut sig = unb64(&s);
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(sig[32 + i]) + u16::from(L[i]) + carry;
        sig[32 + i] = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + L fits in 32 bytes since S < L < 2^253");
    let forged = format!("{PREFIX}{p}.{}", b64(&sig));
    assert_eq!(verify(&forged, &keys(), NOW), Err(TokenError::BadSignature));
}

#[test]
fn non_canonical_base64_is_refused() {
    let t = token();
    let (p, s) = parts(&t);
    // 64 bytes -> 86 characters with 4 unused low bits in the last one; set one of them.
    let last = s.chars().last().unwrap();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.iter().position(|&c| c == last as u8).unwrap();
    let bumped = alphabet[idx | 1] as char;
    assert_ne!(bumped, last);
    let forged = format!("{PREFIX}{p}.{}{bumped}", &s[..s.len() - 1]);
    assert_eq!(verify(&forged, &keys(), NOW), Err(TokenError::BadEncoding));
    // Padding is refused.
    let padded = format!("{PREFIX}{p}.{s}==");
    assert_eq!(verify(&padded, &keys(), NOW), Err(TokenError::BadEncoding));
}

#[test]
fn swapped_prefix_is_refused() {
    let t = token();
    let swapped = t.replacen("td1.", "td2.", 1);
    assert_eq!(verify(&swapped, &keys(), NOW), Err(TokenError::BadPrefix));
    assert_eq!(peek(&swapped), Err(TokenError::BadPrefix));
    let upper = t.replacen("td1.", "TD1.", 1);
    assert_eq!(verify(&upper, &keys(), NOW), Err(TokenError::BadPrefix));
}

#[test]
fn signature_covers_the_prefix() {
    // A signature over the payload alone (no prefix) must not verify.
    let (p, _) = parts(&token());
    let sig = key().sign_bytes(p.as_bytes());
    let forged = format!("{PREFIX}{p}.{}", b64(&sig));
    assert_eq!(verify(&forged, &keys(), NOW), Err(TokenError::BadSignature));
    // Nor one over a different version prefix.
    let sig = key().sign_bytes(format!("td2.{p}").as_bytes());
    let forged = format!("{PREFIX}{p}.{}", b64(&sig));
    assert_eq!(verify(&forged, &keys(), NOW), Err(TokenError::BadSignature));
}

// --- keys ----------------------------------------------------------------------------------

#[test]
fn wrong_key_is_bad_signature() {
    // A verifier whose key for this kid is not the signer's key.
    let impostor = VerifyingKey {
        kid: key().kid(),
        key: other_key().verifying_key().key,
    };
    assert_eq!(
        verify(&token(), &[impostor], NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn unknown_kid_is_unknown_key() {
    assert_eq!(verify(&token(), &[], NOW), Err(TokenError::UnknownKey));
    assert_eq!(
        verify(&token(), &[other_key().verifying_key()], NOW),
        Err(TokenError::UnknownKey)
    );
    // Signed by another key: unknown to a verifier that pins ours.
    let t = sign(&claims(), &other_key()).unwrap();
    assert_eq!(verify(&t, &keys(), NOW), Err(TokenError::UnknownKey));
}

#[test]
fn forged_kid_cannot_borrow_a_known_key() {
    // Signed by another key but claiming our kid.
    let mut c = claims();
    c.kid = key().kid();
    let json = serde_json::to_vec(&c).unwrap();
    let t = signed_raw(&json, &other_key());
    assert_eq!(verify(&t, &keys(), NOW), Err(TokenError::BadSignature));
}

// --- time ----------------------------------------------------------------------------------

#[test]
fn expiry_is_exclusive() {
    let t = token();
    assert!(verify(&t, &keys(), EXP - 1).is_ok());
    assert_eq!(
        verify(&t, &keys(), EXP),
        Err(TokenError::Expired { exp: EXP })
    );
    assert_eq!(
        verify(&t, &keys(), EXP + 1),
        Err(TokenError::Expired { exp: EXP })
    );
}

#[test]
fn not_yet_valid_beyond_skew() {
    let t = token();
    assert!(verify(&t, &keys(), IAT - CLOCK_SKEW_SECS).is_ok());
    assert_eq!(
        verify(&t, &keys(), IAT - CLOCK_SKEW_SECS - 1),
        Err(TokenError::NotYetValid)
    );
}

#[test]
fn expired_forgery_is_bad_signature() {
    let t = token();
    let (p, s) = parts(&t);
    let mut sig = unb64(&s);
    sig[5] ^= 0x80;
    let forged = format!("{PREFIX}{p}.{}", b64(&sig));
    assert_eq!(
        verify(&forged, &keys(), EXP + 1000),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn extreme_clocks_do_not_panic() {
    let t = token();
    assert_eq!(
        verify(&t, &keys(), i64::MAX),
        Err(TokenError::Expired { exp: EXP })
    );
    assert_eq!(verify(&t, &keys(), i64::MIN), Err(TokenError::NotYetValid));
    let mut c = claims();
    c.iat = i64::MAX;
    c.exp = i64::MIN;
    let t = sign(&c, &key()).unwrap();
    assert_eq!(verify(&t, &keys(), 0), Err(TokenError::NotYetValid));
    assert_eq!(
        verify(&t, &keys(), i64::MAX),
        Err(TokenError::Expired { exp: i64::MIN })
    );
}

// --- garbage -------------------------------------------------------------------------------

#[test]
fn garbage_is_refused_with_the_right_error() {
    let t = token();
    let (p, s) = parts(&t);
    let cases: Vec<(String, TokenError)> = vec![
        (String::new(), TokenError::BadPrefix),
        ("td1".into(), TokenError::BadPrefix),
        (" td1.a.b".into(), TokenError::BadPrefix),
        ("hello world".into(), TokenError::BadPrefix),
        ("td1.".into(), TokenError::Malformed),
        ("td1..".into(), TokenError::Malformed),
        ("td1...".into(), TokenError::Malformed),
        ("td1.abc".into(), TokenError::Malformed),
        (format!("td1.{p}"), TokenError::Malformed),
        (format!("td1.{p}."), TokenError::Malformed),
        (format!("td1..{s}"), TokenError::Malformed),
        (format!("td1.{p}..{s}"), TokenError::Malformed),
        (format!("td1.{p}.{s}."), TokenError::Malformed),
        (format!("td1.{p}.{s}.x"), TokenError::Malformed),
        (format!("td1.x.{p}.{s}"), TokenError::Malformed),
        (format!("td1.td1.{p}.{s}"), TokenError::Malformed),
        ("td1.a.b".into(), TokenError::BadEncoding),
        ("td1.!!!!.AAAA".into(), TokenError::BadEncoding),
        ("td1.é.ü".into(), TokenError::BadEncoding),
        ("td1.日本語.文字".into(), TokenError::BadEncoding),
        (format!("td1.{p}.{s}\n"), TokenError::BadEncoding),
        (format!("td1.{p} .{s}"), TokenError::BadEncoding),
        (format!("td1.{p}+.{s}"), TokenError::BadEncoding),
        (format!("td1.{p}.AAAA"), TokenError::Malformed),
        (format!("td1.{p}.{}", b64(&[0; 65])), TokenError::Malformed),
        (format!("td1.{}.{s}", b64(b"not json")), TokenError::BadJson),
        (format!("td1.{}.{s}", b64(b"{}")), TokenError::BadJson),
        (format!("td1.{}.{s}", b64(b"[1]")), TokenError::BadJson),
        (
            format!("td1.{}.{s}", b64(br#"{"v":1}"#)),
            TokenError::BadJson,
        ),
        (
            format!("td1.{}.{s}", b64(br#"{"v":-1}"#)),
            TokenError::BadJson,
        ),
        (
            format!("td1.{}.{s}", b64(br#"{"v":256}"#)),
            TokenError::BadJson,
        ),
        (
            format!("td1.{}.{s}", b64(br#"{"v":2}"#)),
            TokenError::UnsupportedVersion(2),
        ),
        (
            format!("td1.{}.{s}", b64(br#"{"v":0,"whatever":[]}"#)),
            TokenError::UnsupportedVersion(0),
        ),
        (
            "td1.".to_owned() + &"A".repeat(MAX_TOKEN_LEN - 4),
            TokenError::Malformed,
        ),
        (
            "td1.".to_owned() + &"A".repeat(MAX_TOKEN_LEN - 3),
            TokenError::TooLong,
        ),
        ("x".repeat(1 << 20), TokenError::TooLong),
        ("é".repeat(MAX_TOKEN_LEN), TokenError::TooLong),
    ];
    for (input, want) in cases {
        let shown: String = input.chars().take(60).collect();
        assert_eq!(verify(&input, &keys(), NOW), Err(want.clone()), "{shown:?}");
        if !matches!(want, TokenError::UnknownKey | TokenError::BadSignature) {
            assert_eq!(peek(&input), Err(want), "peek {shown:?}");
        }
    }
}

#[test]
fn bad_json_types_are_bad_json() {
    let mut value = serde_json::to_value(claims()).unwrap();
    value["computer"]["guid"] = "not-a-uuid".into();
    let t = signed_raw(&serde_json::to_vec(&value).unwrap(), &key());
    assert_eq!(verify(&t, &keys(), NOW), Err(TokenError::BadJson));

    let mut value = serde_json::to_value(claims()).unwrap();
    value["exp"] = "soon".into();
    let t = signed_raw(&serde_json::to_vec(&value).unwrap(), &key());
    assert_eq!(verify(&t, &keys(), NOW), Err(TokenError::BadJson));

    // Duplicate field.
    let json = serde_json::to_string(&claims()).unwrap();
    let dup = json.replacen("\"v\":1,", "\"v\":1,\"v\":1,", 1);
    let t = signed_raw(dup.as_bytes(), &key());
    assert_eq!(verify(&t, &keys(), NOW), Err(TokenError::BadJson));

    // Trailing garbage after the JSON object.
    let t = signed_raw(format!("{json} x").as_bytes(), &key());
    assert_eq!(verify(&t, &keys(), NOW), Err(TokenError::BadJson));
}

#[test]
fn unknown_fields_are_ignored_but_signed() {
    let mut value = serde_json::to_value(claims()).unwrap();
    value["kid"] = key().kid().into();
    value["future"] = "field".into();
    let t = signed_raw(&serde_json::to_vec(&value).unwrap(), &key());
    let got = verify(&t, &keys(), NOW).unwrap();
    assert_eq!(got.computer.sam, "PC01$");
}

#[test]
fn deeply_nested_json_does_not_overflow() {
    let json = format!(r#"{{"v":1,"x":{}{}}}"#, "[".repeat(1400), "]".repeat(1400));
    let t = format!("td1.{}.{}", b64(json.as_bytes()), b64(&[0; 64]));
    assert!(t.len() <= MAX_TOKEN_LEN);
    assert_eq!(verify(&t, &keys(), NOW), Err(TokenError::BadJson));
}

// --- peek ----------------------------------------------------------------------------------

#[test]
fn peek_reads_unverified_tokens() {
    let mut want = claims();
    want.kid = key().kid();
    // Valid.
    assert_eq!(peek(&token()).unwrap(), want);
    // Expired: peek does not look at the clock.
    let mut c = claims();
    c.exp = 1;
    assert_eq!(peek(&sign(&c, &key()).unwrap()).unwrap().exp, 1);
    // Unknown key.
    assert_eq!(
        peek(&sign(&claims(), &other_key()).unwrap()).unwrap().kid,
        other_key().kid()
    );
    // Garbage signature of the right size.
    let (p, _) = parts(&token());
    let forged = format!("{PREFIX}{p}.{}", b64(&[0xAB; 64]));
    assert_eq!(peek(&forged).unwrap(), want);
    assert_eq!(verify(&forged, &keys(), NOW), Err(TokenError::BadSignature));
}

// --- token_hash ----------------------------------------------------------------------------

#[test]
fn token_hash_is_stable_sha256_hex() {
    assert_eq!(
        token_hash("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        token_hash(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let t = token();
    let h = token_hash(&t);
    assert_eq!(h, token_hash(&t));
    assert_eq!(h, GOLDEN_HASH);
    assert_eq!(h.len(), 64);
    assert!(
        h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert!(!h.contains(&t));
    assert_ne!(h, token_hash(&format!("{t}x")));
}

// --- key handling --------------------------------------------------------------------------

#[test]
fn seed_round_trip_and_kid() {
    let k = key();
    let seed = k.to_seed_b64();
    assert_eq!(seed.len(), 43);
    assert_eq!(seed, b64(&SEED));
    let back = SigningKey::from_seed_b64(&seed).unwrap();
    assert_eq!(back.kid(), k.kid());
    assert_eq!(back.verifying_key(), k.verifying_key());
    // A key file with a trailing newline.
    assert_eq!(
        SigningKey::from_seed_b64(&format!("{seed}\n"))
            .unwrap()
            .kid(),
        k.kid()
    );
    let kid = k.kid();
    assert_eq!(kid.len(), KID_LEN);
    assert!(
        kid.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    // kid = first 8 bytes of SHA-256(public key).
    let digest = Sha256::digest(k.verifying_key().to_bytes());
    assert_eq!(kid, hex(digest.iter().take(8)));
    assert_ne!(kid, other_key().kid());
}

#[test]
fn bad_seeds_are_bad_key() {
    for s in [
        "",
        "AAAA",
        &b64(&[1; 31]),
        &b64(&[1; 33]),
        &(b64(&[1; 32]) + "="),
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        "é",
    ] {
        assert_eq!(
            SigningKey::from_seed_b64(s).map(|k| k.kid()),
            Err(TokenError::BadKey)
        );
    }
}

#[test]
fn generate_gives_distinct_keys() {
    let a = SigningKey::generate().unwrap();
    let b = SigningKey::generate().unwrap();
    assert_ne!(a.kid(), b.kid());
    assert_ne!(a.to_seed_b64(), b.to_seed_b64());
    let t = sign(&claims(), &a).unwrap();
    assert!(verify(&t, &[a.verifying_key()], NOW).is_ok());
}

#[test]
fn signing_key_debug_hides_the_secret() {
    let k = key();
    let shown = format!("{k:?} {k:#?}");
    assert!(shown.contains(&k.kid()));
    assert!(!shown.contains(&k.to_seed_b64()));
    assert!(!shown.contains("secret"));
    // Not the seed bytes in any Debug form either.
    assert!(!shown.contains("7, 7, 7"));
    assert!(!shown.contains("[7"));
}

#[test]
fn verifying_key_forms_round_trip() {
    let vk = key().verifying_key();
    let b = vk.to_b64();
    assert_eq!(b.len(), 43);
    assert_eq!(VerifyingKey::from_b64(None, &b).unwrap(), vk);
    assert_eq!(VerifyingKey::from_b64(Some(vk.kid()), &b).unwrap(), vk);

    let pin = vk.to_pin();
    assert_eq!(pin, format!("{}:{}", vk.kid(), b));
    assert_eq!(vk.to_string(), pin);
    assert_eq!(VerifyingKey::from_pin(&pin).unwrap(), vk);
    assert_eq!(format!(" {pin}\n").parse::<VerifyingKey>().unwrap(), vk);

    let info = vk.to_info();
    assert_eq!(info.alg, "Ed25519");
    assert_eq!(info.kid, vk.kid());
    assert_eq!(info.public_key, b);
    let json = serde_json::to_string(&info).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"kid":"{}","alg":"Ed25519","public_key":"{b}"}}"#,
            vk.kid()
        )
    );
    let parsed: PublicKeyInfo = serde_json::from_str(&json).unwrap();
    assert_eq!(VerifyingKey::try_from(&parsed).unwrap(), vk);
    assert_eq!(VerifyingKey::try_from(parsed).unwrap(), vk);
    assert_eq!(PublicKeyInfo::from(&vk), info);
    assert_eq!(PublicKeyInfo::from(vk.clone()), info);
}

#[test]
fn bad_verifying_keys_are_bad_key() {
    let vk = key().verifying_key();
    let b = vk.to_b64();
    let other_kid = other_key().kid();
    // Key id that does not belong to the key.
    assert_eq!(
        VerifyingKey::from_b64(Some(&other_kid), &b),
        Err(TokenError::BadKey)
    );
    assert_eq!(
        VerifyingKey::from_b64(Some(&vk.kid().to_uppercase()), &b),
        Err(TokenError::BadKey)
    );
    // Wrong length, bad base64.
    assert_eq!(
        VerifyingKey::from_b64(None, "AAAA"),
        Err(TokenError::BadKey)
    );
    assert_eq!(VerifyingKey::from_b64(None, "!!"), Err(TokenError::BadKey));
    // The identity point (small order): weak.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(
        VerifyingKey::from_b64(None, &b64(&identity)),
        Err(TokenError::BadKey)
    );
    // Pins.
    for pin in [
        "",
        ":",
        &b,
        &format!(":{b}"),
        &format!("{other_kid}:{b}"),
        &format!("{}:", vk.kid()),
        &format!("{}:{b}:x", vk.kid()),
    ] {
        assert_eq!(
            VerifyingKey::from_pin(pin),
            Err(TokenError::BadKey),
            "{pin:?}"
        );
    }
    // Published info with the wrong algorithm or kid.
    let mut info = vk.to_info();
    info.alg = "EdDSA".into();
    assert_eq!(VerifyingKey::from_info(&info), Err(TokenError::BadKey));
    let mut info = vk.to_info();
    info.kid = other_kid;
    assert_eq!(VerifyingKey::from_info(&info), Err(TokenError::BadKey));
}

// --- jti -----------------------------------------------------------------------------------

#[test]
fn jti_is_128_random_bits() {
    let a = new_jti().unwrap();
    let b = new_jti().unwrap();
    assert_eq!(a.len(), 22);
    assert_eq!(unb64(&a).len(), 16);
    assert_ne!(a, b);
}

// --- errors --------------------------------------------------------------------------------

fn all_errors() -> Vec<TokenError> {
    vec![
        TokenError::TooLong,
        TokenError::BadPrefix,
        TokenError::Malformed,
        TokenError::BadEncoding,
        TokenError::BadJson,
        TokenError::UnsupportedVersion(2),
        TokenError::UnknownKey,
        TokenError::BadSignature,
        TokenError::Expired { exp: EXP },
        TokenError::NotYetValid,
        TokenError::Random("os error".into()),
        TokenError::BadKey,
    ]
}

#[test]
fn error_codes_are_distinct_snake_case() {
    let codes: Vec<&str> = all_errors().iter().map(TokenError::code).collect();
    let mut unique = codes.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), codes.len());
    for c in &codes {
        assert!(
            c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{c}"
        );
    }
    assert_eq!(TokenError::Expired { exp: 0 }.code(), "expired");
    assert_eq!(TokenError::BadSignature.code(), "bad_signature");
    assert_eq!(TokenError::Malformed.code(), "malformed");
    assert_eq!(TokenError::UnknownKey.code(), "unknown_key");
}

#[test]
fn error_messages_never_contain_the_token_or_keys() {
    let t = token();
    let (p, s) = parts(&t);
    let secret = key().to_seed_b64();
    let public = key().verifying_key().to_b64();
    let mut errors = all_errors();
    // And the errors real inputs produce.
    for input in [
        format!("{t}x"),
        t.replacen("td1.", "td2.", 1),
        format!("td1.{p}.{}", b64(&[1; 64])),
    ] {
        errors.push(verify(&input, &keys(), NOW).unwrap_err());
        errors.push(verify(&input, &[], EXP).unwrap_err());
    }
    errors.push(VerifyingKey::from_pin(&format!("x:{public}")).unwrap_err());
    errors.push(SigningKey::from_seed_b64(&format!("{secret}!")).unwrap_err());
    for e in errors {
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(!shown.is_empty());
            for needle in [
                t.as_str(),
                p.as_str(),
                s.as_str(),
                secret.as_str(),
                public.as_str(),
                &p[..10],
                &s[..10],
            ] {
                assert!(!shown.contains(needle), "{shown}");
            }
        }
    }
}

#[test]
fn legacy_prefix_alias() {
    assert_eq!(TOKEN_PREFIX, PREFIX);
    assert_eq!(PREFIX, "td1.");
}

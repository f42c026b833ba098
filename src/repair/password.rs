//! Machine passwords: the DC-side reset's, 120 characters of ASCII 32–122 from the OS CSPRNG,
//! the alphabet `Reset-ComputerMachinePassword` uses — never the guessable default
//! (lower-case name) password; and the check that a redeemed password has the shape the
//! companion client makes (the same length and alphabet), so that whoever holds a token cannot
//! set a memorable one (security review L-8).

use secrecy::SecretString;

pub const LENGTH: usize = 120;
const LOW: u8 = 32;
const SPAN: u8 = 91; // 32..=122

/// Fewer distinct characters than this in 120 is no random password: the client's have about
/// 67 (120 draws from 91 symbols); a constant or short repeated pattern has a handful.
const MIN_DISTINCT: usize = 16;

/// Whether a password sent to redeem has the client's shape: exactly [`LENGTH`] characters,
/// each in ASCII 32..=122, at least [`MIN_DISTINCT`] of them different.
pub fn is_client_shaped(pw: &SecretString) -> bool {
    use secrecy::ExposeSecret;
    let p = pw.expose_secret().as_bytes();
    let mut seen = [false; 128];
    for &b in p {
        if !(LOW..LOW + SPAN).contains(&b) {
            return false;
        }
        if let Some(s) = seen.get_mut(usize::from(b)) {
            *s = true;
        }
    }
    p.len() == LENGTH && seen.iter().filter(|s| **s).count() >= MIN_DISTINCT
}

/// A fresh random machine password. Rejection sampling keeps every character equally likely.
pub fn generate() -> Result<SecretString, getrandom::Error> {
    let mut out = String::with_capacity(LENGTH);
    let mut buf = [0u8; 64];
    // The largest multiple of SPAN that fits in a byte: bytes at or above it are redrawn.
    let limit = (256 / u16::from(SPAN) * u16::from(SPAN)) as u8;
    while out.len() < LENGTH {
        getrandom::fill(&mut buf)?;
        for b in buf {
            if b < limit && out.len() < LENGTH {
                out.push(char::from(LOW + b % SPAN));
            }
        }
    }
    Ok(SecretString::from(out))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    #[test]
    fn passwords_are_long_random_and_in_the_alphabet() {
        let a = super::generate().unwrap();
        let b = super::generate().unwrap();
        assert_eq!(a.expose_secret().len(), 120);
        assert_ne!(a.expose_secret(), b.expose_secret());
        for _ in 0..200 {
            let p = super::generate().unwrap();
            assert!(p.expose_secret().bytes().all(|c| (32..=122).contains(&c)));
            assert!(
                super::is_client_shaped(&p),
                "every generated password has the shape"
            );
        }
    }

    #[test]
    fn only_the_clients_shape_is_accepted() {
        use secrecy::SecretString;
        let shaped = |s: String| super::is_client_shaped(&SecretString::from(s));
        let good: String = (0..120u8).map(|i| char::from(32 + i % 91)).collect();
        assert!(shaped(good.clone()));
        for bad in [
            String::new(),
            good[..119].to_string(),                     // one short
            format!("{good}x"),                          // one long
            format!("{}{{", &good[..119]),               // `{` is 123: outside the alphabet
            format!("{}~", &good[..119]),                // so is `~`
            format!("{}é", &good[..118]),                // not ASCII (120 bytes)
            format!("Aa1{}", "a".repeat(117)),           // passes AD complexity, not random
            "Summer2026!".repeat(11)[..120].to_string(), // a memorable pattern
        ] {
            assert!(!shaped(bad.clone()), "{bad:?}");
        }
    }
}

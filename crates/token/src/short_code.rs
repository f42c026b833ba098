//! The short repair code: what a technician reads over the phone instead of a 500-character
//! token. `K7QF-M2XD-9PWA`: twelve symbols of Crockford's base32 (<https://www.crockford.com/base32.html>:
//! digits and capitals without I, L, O and U, so nothing reads as something else), 60 bits from
//! the OS CSPRNG, in three groups of four.
//!
//! The code is not a token. The portal keeps only [`ShortCode::hash`] beside the token's row;
//! `trustdesk-client redeem <code>` sends the code *and* the computer's own name to the portal,
//! which answers with the signed token, and the client then verifies that token exactly as if
//! it had been pasted. Reading is forgiving the way Crockford specifies: any case, `-` and
//! spaces ignored, `O` read as `0`, `I` and `L` as `1`.

use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::TokenError;

/// Symbols in a code.
const SYMBOLS: usize = ShortCode::SYMBOLS;

/// Crockford's base32 alphabet, in value order.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A short repair code, normalized (upper case, no separators).
#[derive(Clone, PartialEq, Eq)]
pub struct ShortCode([u8; SYMBOLS]);

impl ShortCode {
    /// Symbols in a code.
    pub const SYMBOLS: usize = 12;

    /// Bits of entropy in a code (5 per symbol).
    pub const BITS: u32 = 60;

    /// A fresh code from the OS generator.
    ///
    /// # Errors
    /// [`TokenError::Random`] if the OS generator fails.
    pub fn generate() -> Result<Self, TokenError> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
        Ok(Self::from_bits(u64::from_le_bytes(bytes)))
    }

    /// The code whose value is the low 60 bits of `bits`.
    #[must_use]
    pub fn from_bits(bits: u64) -> Self {
        let mut out = [0u8; SYMBOLS];
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 5 * (SYMBOLS - 1 - i);
            // The mask keeps the index below 32: `get` never misses.
            let index = usize::try_from((bits >> shift) & 31).unwrap_or_default();
            *slot = ALPHABET.get(index).copied().unwrap_or(b'0');
        }
        Self(out)
    }

    /// Reads a code as a person typed it; `None` unless it is exactly twelve symbols once
    /// separators (`-`, spaces) are dropped. A token, or anything longer than 40 characters,
    /// is never a code.
    #[must_use]
    pub fn parse(input: &str) -> Option<Self> {
        let input = input.trim();
        if input.len() > 40 {
            return None;
        }
        let mut out = [0u8; SYMBOLS];
        let mut n = 0;
        for c in input.bytes() {
            let symbol = match c.to_ascii_uppercase() {
                b'-' | b' ' => continue,
                b'O' => b'0',
                b'I' | b'L' => b'1',
                b'U' => return None,
                s if ALPHABET.contains(&s) => s,
                _ => return None,
            };
            *out.get_mut(n)? = symbol;
            n += 1;
        }
        (n == SYMBOLS).then_some(Self(out))
    }

    /// The code in its three groups, `K7QF-M2XD-9PWA`.
    #[must_use]
    pub fn grouped(&self) -> String {
        let s = self.normalized();
        format!("{}-{}-{}", &s[0..4], &s[4..8], &s[8..12])
    }

    /// The twelve symbols without separators.
    #[must_use]
    pub fn normalized(&self) -> &str {
        // Only ALPHABET bytes are ever stored, all ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// What the portal stores and looks the code up by: lower-case hex SHA-256 of
    /// `td-code:` and the normalized symbols (64 characters).
    #[must_use]
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"td-code:");
        h.update(self.0);
        crate::hex(h.finalize().iter())
    }
}

impl fmt::Display for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.grouped())
    }
}

/// Redacted: a code is a secret while its token lives.
impl fmt::Debug for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShortCode(****-****-****)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_twelve_grouped_crockford_symbols() {
        let code = ShortCode::from_bits(0);
        assert_eq!(code.grouped(), "0000-0000-0000");
        let all = ShortCode::from_bits(u64::MAX);
        assert_eq!(all.grouped(), "ZZZZ-ZZZZ-ZZZZ");
        // Only the low 60 bits count.
        assert_eq!(ShortCode::from_bits(1 << 60), code);
        let fresh = ShortCode::generate().unwrap();
        assert_eq!(fresh.grouped().len(), 14);
        for c in fresh.normalized().bytes() {
            assert!(ALPHABET.contains(&c));
            assert!(!b"ILOU".contains(&c));
        }
        assert_eq!(ShortCode::parse(&fresh.grouped()), Some(fresh.clone()));
        assert_eq!(ShortCode::parse(fresh.normalized()), Some(fresh));
    }

    #[test]
    fn reading_forgives_what_crockford_forgives_and_nothing_else() {
        let want = ShortCode::parse("K7QF-M2XD-9PWA").unwrap();
        for same in [
            "k7qf-m2xd-9pwa",
            " K7QF M2XD 9PWA ",
            "K7QFM2XD9PWA",
            "K7Q-FM2-XD9-PWA",
        ] {
            assert_eq!(ShortCode::parse(same).as_ref(), Some(&want), "{same:?}");
        }
        assert_eq!(
            ShortCode::parse("O1IL-0000-0000"),
            ShortCode::parse("0111-0000-0000")
        );
        for bad in [
            "",
            "K7QF-M2XD-9PW",       // 11 symbols
            "K7QF-M2XD-9PWAA",     // 13
            "K7QF-M2XD-9PWU",      // U is not a symbol
            "K7QF_M2XD_9PWA",      // only - and space separate
            "td1.eyJ2IjoxfQ.c2ln", // a token
            "K7QF-M2XD-9PWÄ",
            &"-".repeat(41),
        ] {
            assert_eq!(ShortCode::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_hash_is_of_the_normalized_code_and_the_debug_form_hides_it() {
        let a = ShortCode::parse("k7qf m2xd 9pwa").unwrap();
        let b = ShortCode::parse("K7QF-M2XD-9PWA").unwrap();
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), ShortCode::from_bits(0).hash());
        assert!(!format!("{a:?}").contains("K7QF"));
    }

    #[test]
    fn sixty_bits_at_least_fifty() {
        assert_eq!(ShortCode::BITS, 5 * SYMBOLS as u32);
        const { assert!(ShortCode::BITS >= 50) };
    }
}

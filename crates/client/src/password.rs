//! The new machine password: 120 characters, each printable ASCII 32..=122 (space to `z`),
//! the alphabet `Reset-ComputerMachinePassword` uses, drawn from the OS CSPRNG.
//!
//! Unlike PowerShell (`byte % 91 + 32`, slightly biased) we reject bytes >= 182 (= 2 * 91),
//! so every character is uniform. The value lives in a zeroize-on-drop wrapper whose `Debug`
//! is redacted; it is never printed, logged, put in argv or in the environment.

use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Length of the generated password, as `Reset-ComputerMachinePassword`.
pub const PASSWORD_LEN: usize = 120;
/// Lowest character (space).
pub const CHAR_MIN: u8 = 32;
/// Highest character (`z`).
pub const CHAR_MAX: u8 = 122;
/// Alphabet size: 91.
const ALPHABET: u8 = CHAR_MAX - CHAR_MIN + 1;
/// Bytes below this are accepted (the largest multiple of 91 not above 256).
const ACCEPT_BELOW: u16 = (256 / ALPHABET as u16) * ALPHABET as u16;

/// A machine password. Zeroed on drop; `Debug` shows nothing of it.
pub struct MachinePassword(Zeroizing<String>);

/// The OS random generator failed.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random generator failed: {0}")]
pub struct RandomError(String);

impl MachinePassword {
    /// A fresh random password from the OS CSPRNG.
    pub fn generate() -> Result<Self, RandomError> {
        Self::generate_with(|buf| getrandom::fill(buf).map_err(|e| RandomError(e.to_string())))
    }

    /// Generation with an injectable byte source (tests feed it adversarial bytes).
    pub fn generate_with(
        mut fill: impl FnMut(&mut [u8]) -> Result<(), RandomError>,
    ) -> Result<Self, RandomError> {
        let mut out = Zeroizing::new(String::with_capacity(PASSWORD_LEN));
        let mut buf = Zeroizing::new([0u8; 64]);
        // Each byte is accepted with probability 182/256; a source that keeps returning
        // rejected bytes is broken, so give up after a generous number of rounds.
        for _ in 0..1000 {
            fill(buf.as_mut_slice())?;
            for &b in buf.iter() {
                if u16::from(b) < ACCEPT_BELOW {
                    out.push(char::from(CHAR_MIN + b % ALPHABET));
                    if out.len() == PASSWORD_LEN {
                        return Ok(Self(out));
                    }
                }
            }
        }
        Err(RandomError(
            "the random source returned too many out-of-range bytes".into(),
        ))
    }

    /// Wraps an existing value (tests, and the library API).
    #[must_use]
    pub fn from_string(mut value: String) -> Self {
        let out = Self(Zeroizing::new(value.clone()));
        value.zeroize();
        out
    }

    /// The password. Handle with care: never print or log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MachinePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MachinePassword(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_and_alphabet() {
        for _ in 0..2000 {
            let pw = MachinePassword::generate().unwrap();
            assert_eq!(pw.expose().len(), PASSWORD_LEN);
            assert_eq!(pw.expose().chars().count(), PASSWORD_LEN);
            assert!(
                pw.expose().bytes().all(|b| (32..=122).contains(&b)),
                "byte outside 32..=122"
            );
        }
    }

    #[test]
    fn every_character_occurs_and_distribution_is_flat() {
        // 2000 * 120 = 240,000 draws over 91 symbols: about 2637 each.
        let mut counts = [0u32; 91];
        for _ in 0..2000 {
            let pw = MachinePassword::generate().unwrap();
            for b in pw.expose().bytes() {
                counts[usize::from(b - 32)] += 1;
            }
        }
        let expected = 240_000.0 / 91.0;
        for (i, &c) in counts.iter().enumerate() {
            let dev = (f64::from(c) - expected).abs() / expected;
            assert!(dev < 0.15, "char {} count {c} deviates {dev}", i + 32);
        }
    }

    #[test]
    fn passwords_differ() {
        let a = MachinePassword::generate().unwrap();
        let b = MachinePassword::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn rejection_sampling_skips_high_bytes() {
        // A source that gives 182..=255 (all rejected) then 0..=181 in order.
        let mut round = 0u32;
        let mut next = 0usize;
        let pw = MachinePassword::generate_with(|buf| {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = if round < 3 {
                    182 + (i % 74) as u8
                } else {
                    next += 1;
                    ((next - 1) % 182) as u8
                };
            }
            round += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(pw.expose().len(), PASSWORD_LEN);
        // First accepted byte is 0 -> ' ', then 1 -> '!', ...
        assert!(pw.expose().starts_with(" !\"#$%"));
        assert!(pw.expose().bytes().all(|b| (32..=122).contains(&b)));
    }

    #[test]
    fn broken_source_errors() {
        let r = MachinePassword::generate_with(|buf| {
            buf.fill(255);
            Ok(())
        });
        assert!(r.is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let pw = MachinePassword::from_string("secret-value".into());
        assert!(!format!("{pw:?}").contains("secret"));
    }
}

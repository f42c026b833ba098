//! Machine passwords for the DC-side reset: 120 characters of ASCII 32–122 from the OS CSPRNG,
//! the alphabet `Reset-ComputerMachinePassword` uses — never the guessable default
//! (lower-case name) password.

use secrecy::SecretString;

pub const LENGTH: usize = 120;
const LOW: u8 = 32;
const SPAN: u8 = 91; // 32..=122

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
        }
    }
}

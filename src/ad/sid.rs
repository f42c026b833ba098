//! Binary identifiers as LDAP returns them: `objectSid` ([`Sid`], MS-DTYP 2.4.2) and
//! `objectGUID` (a GUID in Windows byte order). Hostile bytes give a [`DecodeError`], never a
//! panic.

use std::fmt;

use uuid::Uuid;

use super::DecodeError;

/// A security identifier (MS-DTYP 2.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sid {
    /// Identifier authority (48 bits).
    pub authority: u64,
    /// Sub-authorities, at most 15.
    pub sub_authorities: Vec<u32>,
}

impl Sid {
    /// Decodes the binary form LDAP returns for `objectSid`: revision 1, count, 6-byte big-endian
    /// authority, `count` little-endian u32 sub-authorities. The length must match exactly.
    pub fn from_bytes(b: &[u8]) -> Result<Sid, DecodeError> {
        let (&revision, rest) = b.split_first().ok_or(DecodeError::BadLength(0))?;
        if revision != 1 {
            return Err(DecodeError::BadSidRevision(revision));
        }
        let (&count, rest) = rest.split_first().ok_or(DecodeError::BadLength(b.len()))?;
        let count = usize::from(count);
        if count > 15 || b.len() != 8 + 4 * count {
            return Err(DecodeError::BadLength(b.len()));
        }
        let (auth, subs) = rest
            .split_at_checked(6)
            .ok_or(DecodeError::BadLength(b.len()))?;
        let authority = auth.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
        let sub_authorities = subs
            .chunks_exact(4)
            .map(|c| {
                c.iter()
                    .rev()
                    .fold(0u32, |acc, x| (acc << 8) | u32::from(*x))
            })
            .collect();
        Ok(Sid {
            authority,
            sub_authorities,
        })
    }

    /// The binary form (inverse of [`Sid::from_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![
            1u8,
            u8::try_from(self.sub_authorities.len()).unwrap_or(u8::MAX),
        ];
        out.extend_from_slice(self.authority.to_be_bytes().get(2..).unwrap_or_default());
        for s in &self.sub_authorities {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    /// The relative identifier (last sub-authority).
    pub fn rid(&self) -> Option<u32> {
        self.sub_authorities.last().copied()
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.authority < 1 << 32 {
            write!(f, "S-1-{}", self.authority)?;
        } else {
            write!(f, "S-1-0x{:012X}", self.authority)?;
        }
        for s in &self.sub_authorities {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

/// Binary `objectSid` to its `S-1-5-21-...` string.
pub fn decode_sid(bytes: &[u8]) -> Result<String, DecodeError> {
    Sid::from_bytes(bytes).map(|s| s.to_string())
}

/// Binary `objectGUID` (16 bytes, Windows little-endian GUID layout) to a UUID.
pub fn decode_guid(bytes: &[u8]) -> Result<Uuid, DecodeError> {
    let arr: [u8; 16] = bytes
        .try_into()
        .map_err(|_| DecodeError::BadLength(bytes.len()))?;
    Ok(Uuid::from_bytes_le(arr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_decodes_domain_and_well_known_sids() {
        let mut b = vec![1u8, 5, 0, 0, 0, 0, 0, 5];
        for sub in [21u32, 1_004_336_348, 1_177_238_915, 682_003_330, 1104] {
            b.extend_from_slice(&sub.to_le_bytes());
        }
        assert_eq!(
            decode_sid(&b).unwrap(),
            "S-1-5-21-1004336348-1177238915-682003330-1104"
        );
        let sid = Sid::from_bytes(&b).unwrap();
        assert_eq!(sid.rid(), Some(1104));
        assert_eq!(sid.to_bytes(), b);
        // Everyone: S-1-1-0
        assert_eq!(
            decode_sid(&[1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap(),
            "S-1-1-0"
        );
        // No sub-authorities is legal.
        assert_eq!(decode_sid(&[1, 0, 0, 0, 0, 0, 0, 5]).unwrap(), "S-1-5");
        // A 48-bit authority prints in hex, as Windows does.
        let big = Sid::from_bytes(&[1, 0, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC]).unwrap();
        assert_eq!(big.to_string(), "S-1-0x123456789ABC");
        assert_eq!(
            big.to_bytes(),
            vec![1, 0, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC]
        );
    }

    #[test]
    fn sid_rejects_hostile_input() {
        assert_eq!(Sid::from_bytes(&[]), Err(DecodeError::BadLength(0)));
        assert_eq!(Sid::from_bytes(&[1]), Err(DecodeError::BadLength(1)));
        assert_eq!(
            Sid::from_bytes(&[2, 0, 0, 0, 0, 0, 0, 5]),
            Err(DecodeError::BadSidRevision(2))
        );
        assert_eq!(
            Sid::from_bytes(&[1, 1, 0, 0, 0, 0, 0, 5]),
            Err(DecodeError::BadLength(8))
        );
        assert_eq!(
            Sid::from_bytes(&[1, 0, 0, 0, 0, 0, 0, 5, 0]),
            Err(DecodeError::BadLength(9))
        );
        let mut sixteen = vec![1u8, 16, 0, 0, 0, 0, 0, 5];
        sixteen.extend(std::iter::repeat_n(0u8, 64));
        assert_eq!(Sid::from_bytes(&sixteen), Err(DecodeError::BadLength(72)));
        let mut b = vec![1u8, 255, 0, 0, 0, 0, 0, 5];
        b.extend(std::iter::repeat_n(0xFFu8, 4 * 255));
        assert!(Sid::from_bytes(&b).is_err());
        // Fuzz: random bytes never panic.
        let mut x: u64 = 0xDEAD_BEEF;
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 80) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|i| (x >> (i % 56)) as u8).collect();
            if let Some(first) = bytes.first_mut() {
                *first = 1;
            }
            let _ = decode_sid(&bytes);
        }
    }

    #[test]
    fn guid_uses_the_windows_byte_order() {
        let raw = [
            0x64, 0x0A, 0x2B, 0xAB, 0x42, 0x5E, 0xE4, 0x4A, 0xB7, 0x21, 0x2F, 0x43, 0xA5, 0xB2,
            0xEA, 0x97,
        ];
        assert_eq!(
            decode_guid(&raw).unwrap().to_string(),
            "ab2b0a64-5e42-4ae4-b721-2f43a5b2ea97"
        );
        assert_eq!(decode_guid(&raw[..15]), Err(DecodeError::BadLength(15)));
        assert_eq!(decode_guid(&[0; 17]), Err(DecodeError::BadLength(17)));
    }
}

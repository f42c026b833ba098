//! Flag words AD stores as integers: `userAccountControl` ([`Uac`]) and
//! `msDS-SupportedEncryptionTypes` ([`EncTypes`]), with their bits named for pages and logs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Defines a `u32` flag word with named bits: the constants, `has`, `names`, `unknown_bits`
/// and a `Display` like `4098 (0x1002: ACCOUNTDISABLE | WORKSTATION_TRUST_ACCOUNT)`.
macro_rules! flag_word {
    ($(#[$meta:meta])* $name:ident { $($flag:ident = $bit:expr),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl $name {
            $(pub const $flag: u32 = $bit;)+
            const NAMES: &'static [(u32, &'static str)] = &[$(($bit, stringify!($flag))),+];

            /// Whether every bit of `flag` is set (never for 0).
            pub fn has(&self, flag: u32) -> bool {
                flag != 0 && self.0 & flag == flag
            }

            /// The names of the known set flags, lowest bit first.
            pub fn names(&self) -> Vec<&'static str> {
                Self::NAMES.iter().filter(|(bit, _)| self.0 & bit != 0).map(|(_, n)| *n).collect()
            }

            /// Set bits that have no name here.
            pub fn unknown_bits(&self) -> u32 {
                Self::NAMES.iter().fold(self.0, |acc, (bit, _)| acc & !bit)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} (0x{:X}: {})", self.0, self.0, self.names().join(" | "))
            }
        }
    };
}

flag_word! {
    /// `userAccountControl`, with the flags of MS-ADTS 2.2.16 named.
    Uac {
        SCRIPT = 0x1, ACCOUNTDISABLE = 0x2, HOMEDIR_REQUIRED = 0x8, LOCKOUT = 0x10,
        PASSWD_NOTREQD = 0x20, PASSWD_CANT_CHANGE = 0x40, ENCRYPTED_TEXT_PWD_ALLOWED = 0x80,
        TEMP_DUPLICATE_ACCOUNT = 0x100, NORMAL_ACCOUNT = 0x200, INTERDOMAIN_TRUST_ACCOUNT = 0x800,
        WORKSTATION_TRUST_ACCOUNT = 0x1000, SERVER_TRUST_ACCOUNT = 0x2000,
        DONT_EXPIRE_PASSWORD = 0x10000, MNS_LOGON_ACCOUNT = 0x20000, SMARTCARD_REQUIRED = 0x40000,
        TRUSTED_FOR_DELEGATION = 0x80000, NOT_DELEGATED = 0x100000, USE_DES_KEY_ONLY = 0x200000,
        DONT_REQ_PREAUTH = 0x400000, PASSWORD_EXPIRED = 0x800000,
        TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000, PARTIAL_SECRETS_ACCOUNT = 0x4000000,
        USE_AES_KEYS = 0x8000000,
    }
}

impl Uac {
    /// The account is disabled.
    pub fn is_disabled(&self) -> bool {
        self.has(Self::ACCOUNTDISABLE)
    }

    /// A writable DC (`SERVER_TRUST_ACCOUNT`) or an RODC (`PARTIAL_SECRETS_ACCOUNT`).
    pub fn is_domain_controller(&self) -> bool {
        self.has(Self::SERVER_TRUST_ACCOUNT) || self.has(Self::PARTIAL_SECRETS_ACCOUNT)
    }
}

flag_word! {
    /// `msDS-SupportedEncryptionTypes` (MS-KILE 2.2.7).
    EncTypes {
        DES_CBC_CRC = 0x1, DES_CBC_MD5 = 0x2, RC4 = 0x4, AES128 = 0x8, AES256 = 0x10,
        AES256_SK = 0x20, FAST_SUPPORTED = 0x10000, COMPOUND_IDENTITY_SUPPORTED = 0x20000,
        CLAIMS_SUPPORTED = 0x40000, RESOURCE_SID_COMPRESSION_DISABLED = 0x80000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uac_names() {
        assert_eq!(Uac(4096).names(), vec!["WORKSTATION_TRUST_ACCOUNT"]);
        assert_eq!(
            Uac(4098).names(),
            vec!["ACCOUNTDISABLE", "WORKSTATION_TRUST_ACCOUNT"]
        );
        assert!(Uac(4098).is_disabled());
        assert!(!Uac(4096).is_disabled());
        assert!(Uac(0x82000).is_domain_controller());
        assert!(Uac(0x0400_1000).is_domain_controller());
        assert!(!Uac(0x1000).is_domain_controller());
        assert!(!Uac(0).has(0));
        assert_eq!(
            Uac(0x0101_0000 | 0x80000 | 0x100000 | 0x200000 | 0x10 | 0x20).names(),
            vec![
                "LOCKOUT",
                "PASSWD_NOTREQD",
                "DONT_EXPIRE_PASSWORD",
                "TRUSTED_FOR_DELEGATION",
                "NOT_DELEGATED",
                "USE_DES_KEY_ONLY",
                "TRUSTED_TO_AUTH_FOR_DELEGATION"
            ]
        );
        assert_eq!(Uac(0x8000_1000).unknown_bits(), 0x8000_0000);
        assert_eq!(
            Uac(4098).to_string(),
            "4098 (0x1002: ACCOUNTDISABLE | WORKSTATION_TRUST_ACCOUNT)"
        );
    }

    #[test]
    fn enc_type_names() {
        assert_eq!(EncTypes(0x1C).names(), vec!["RC4", "AES128", "AES256"]);
        assert_eq!(EncTypes(0x3).names(), vec!["DES_CBC_CRC", "DES_CBC_MD5"]);
        assert!(EncTypes(0x18).has(EncTypes::AES256));
        assert!(!EncTypes(0x18).has(EncTypes::RC4));
        assert_eq!(EncTypes(0x0001_0000 | 0x4000).unknown_bits(), 0x4000);
        assert_eq!(EncTypes(0x10).to_string(), "16 (0x10: AES256)");
    }
}

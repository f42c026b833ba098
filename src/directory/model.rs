//! Pure data types read from Active Directory, and the pure decoders that turn raw LDAP values into
//! them.
//!
//! Nothing here does I/O or reads the clock. Every decoder takes hostile input (a broken DC, a
//! malicious one, a fuzzer) and answers with a [`DecodeError`] instead of panicking.
//!
//! Times are `time::OffsetDateTime` in UTC and serialize as RFC 3339 strings.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, Time, UtcOffset};
use uuid::Uuid;

/// Why a raw directory value could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The value was empty.
    #[error("empty value")]
    Empty,
    /// The value is not a decimal integer where one was expected.
    #[error("not a decimal integer")]
    NotANumber,
    /// The value is a number or date outside the range we can represent (before 1601, after 9999).
    #[error("value out of range")]
    OutOfRange,
    /// The value is not a GeneralizedTime of the form `YYYYMMDDHHMMSS[.f]Z`.
    #[error("not a GeneralizedTime")]
    BadGeneralizedTime,
    /// A binary value has the wrong length.
    #[error("wrong length: {0} bytes")]
    BadLength(usize),
    /// A SID has an unsupported revision.
    #[error("unsupported SID revision {0}")]
    BadSidRevision(u8),
    /// A SID string is not of the form `S-1-<authority>-<sub>...`.
    #[error("not a SID string")]
    BadSidString,
}

/// 100-ns intervals between 1601-01-01 and 1970-01-01 (the FILETIME of the Unix epoch).
pub const FILETIME_UNIX_EPOCH: i64 = 116_444_736_000_000_000;
/// Seconds between 1601-01-01 and 1970-01-01.
pub const NTTIME_UNIX_EPOCH_SECS: i64 = 11_644_473_600;

/// An AD FILETIME: 100-ns intervals since 1601-01-01 UTC, as LDAP returns it for `pwdLastSet`,
/// `lastLogon`, `lastLogonTimestamp`, `badPasswordTime`, `accountExpires`.
///
/// `0` and `i64::MAX` (0x7FFFFFFFFFFFFFFF) both mean "never".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FileTime(pub i64);

impl FileTime {
    /// The "never" value AD uses for `accountExpires`.
    pub const NEVER: FileTime = FileTime(i64::MAX);

    /// Parses the decimal string LDAP returns (surrounding whitespace tolerated).
    pub fn parse(s: &str) -> Result<FileTime, DecodeError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(DecodeError::Empty);
        }
        s.parse::<i64>()
            .map(FileTime)
            .map_err(|_| DecodeError::NotANumber)
    }

    /// `Ok(None)` for "never" (0 or `i64::MAX`); an error for negative values (intervals, not
    /// times) and for times after year 9999.
    pub fn to_datetime(self) -> Result<Option<OffsetDateTime>, DecodeError> {
        match self.0 {
            0 | i64::MAX => Ok(None),
            v if v < 0 => Err(DecodeError::OutOfRange),
            v => {
                let nanos = (i128::from(v) - i128::from(FILETIME_UNIX_EPOCH)) * 100;
                OffsetDateTime::from_unix_timestamp_nanos(nanos)
                    .map(Some)
                    .map_err(|_| DecodeError::OutOfRange)
            }
        }
    }

    /// The FILETIME of a time (for LDAP filters such as `(pwdLastSet<=...)`). Times before 1601
    /// are out of range.
    pub fn from_datetime(dt: OffsetDateTime) -> Result<FileTime, DecodeError> {
        let ticks = dt.unix_timestamp_nanos() / 100 + i128::from(FILETIME_UNIX_EPOCH);
        match i64::try_from(ticks) {
            Ok(v) if v >= 0 => Ok(FileTime(v)),
            _ => Err(DecodeError::OutOfRange),
        }
    }
}

/// Decodes an LDAP FILETIME string to a time; `Ok(None)` means "never".
pub fn parse_filetime(s: &str) -> Result<Option<OffsetDateTime>, DecodeError> {
    FileTime::parse(s)?.to_datetime()
}

/// Converts NTTIME_1sec (seconds since 1601-01-01 UTC, as in `replPropertyMetaData`) to a time.
pub fn nttime_seconds_to_datetime(secs: u64) -> Result<OffsetDateTime, DecodeError> {
    let secs = i64::try_from(secs).map_err(|_| DecodeError::OutOfRange)?;
    let unix = secs
        .checked_sub(NTTIME_UNIX_EPOCH_SECS)
        .ok_or(DecodeError::OutOfRange)?;
    OffsetDateTime::from_unix_timestamp(unix).map_err(|_| DecodeError::OutOfRange)
}

/// Parses an AD GeneralizedTime (`whenCreated`, `whenChanged`), e.g. `20261124051809.0Z`.
///
/// Accepts `YYYYMMDDHHMMSS`, an optional fraction (`.` or `,` and 1+ digits; digits past
/// nanoseconds are ignored), then `Z` or `+HHMM`/`-HHMM`. The result is in UTC.
pub fn parse_generalized_time(s: &str) -> Result<OffsetDateTime, DecodeError> {
    const BAD: DecodeError = DecodeError::BadGeneralizedTime;
    let b = s.trim().as_bytes();
    let num = |from: usize, len: usize| -> Result<u32, DecodeError> {
        let digits = b.get(from..from + len).ok_or(BAD)?;
        digits.iter().try_fold(0u32, |acc, d| {
            if d.is_ascii_digit() {
                Ok(acc * 10 + u32::from(d - b'0'))
            } else {
                Err(BAD)
            }
        })
    };
    let year = i32::try_from(num(0, 4)?).map_err(|_| BAD)?;
    let month = Month::try_from(u8::try_from(num(4, 2)?).map_err(|_| BAD)?).map_err(|_| BAD)?;
    let day = u8::try_from(num(6, 2)?).map_err(|_| BAD)?;
    let hour = u8::try_from(num(8, 2)?).map_err(|_| BAD)?;
    let minute = u8::try_from(num(10, 2)?).map_err(|_| BAD)?;
    let second = u8::try_from(num(12, 2)?).map_err(|_| BAD)?;
    let mut pos = 14;
    let mut nanos: u32 = 0;
    if matches!(b.get(pos), Some(b'.' | b',')) {
        pos += 1;
        let start = pos;
        let mut scale = 100_000_000u32;
        while let Some(d) = b.get(pos).filter(|d| d.is_ascii_digit()) {
            nanos += u32::from(d - b'0') * scale;
            scale /= 10;
            pos += 1;
        }
        if pos == start {
            return Err(BAD);
        }
    }
    let offset = match b.get(pos) {
        Some(b'Z') if pos + 1 == b.len() => UtcOffset::UTC,
        Some(sign @ (b'+' | b'-')) if pos + 5 == b.len() => {
            let h = i8::try_from(num(pos + 1, 2)?).map_err(|_| BAD)?;
            let m = i8::try_from(num(pos + 3, 2)?).map_err(|_| BAD)?;
            let (h, m) = if *sign == b'-' { (-h, -m) } else { (h, m) };
            UtcOffset::from_hms(h, m, 0).map_err(|_| BAD)?
        }
        _ => return Err(BAD),
    };
    let date = Date::from_calendar_date(year, month, day).map_err(|_| BAD)?;
    let time = Time::from_hms_nano(hour, minute, second, nanos).map_err(|_| BAD)?;
    Ok(date
        .with_time(time)
        .assume_offset(offset)
        .to_offset(UtcOffset::UTC))
}

/// Formats a time as AD GeneralizedTime (`YYYYMMDDHHMMSS.0Z`, UTC), for LDAP filters.
pub fn format_generalized_time(dt: OffsetDateTime) -> String {
    let dt = dt.to_offset(UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}.0Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// Names of the set bits of a flag word, from a `(bit, name)` table, in table order.
fn flag_names(value: u32, table: &[(u32, &'static str)]) -> Vec<&'static str> {
    table
        .iter()
        .filter(|(bit, _)| value & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// `userAccountControl`, with the flags of MS-ADTS 2.2.16 named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Uac(pub u32);

impl Uac {
    pub const SCRIPT: u32 = 0x1;
    pub const ACCOUNTDISABLE: u32 = 0x2;
    pub const HOMEDIR_REQUIRED: u32 = 0x8;
    pub const LOCKOUT: u32 = 0x10;
    pub const PASSWD_NOTREQD: u32 = 0x20;
    pub const PASSWD_CANT_CHANGE: u32 = 0x40;
    pub const ENCRYPTED_TEXT_PWD_ALLOWED: u32 = 0x80;
    pub const TEMP_DUPLICATE_ACCOUNT: u32 = 0x100;
    pub const NORMAL_ACCOUNT: u32 = 0x200;
    pub const INTERDOMAIN_TRUST_ACCOUNT: u32 = 0x800;
    pub const WORKSTATION_TRUST_ACCOUNT: u32 = 0x1000;
    pub const SERVER_TRUST_ACCOUNT: u32 = 0x2000;
    pub const DONT_EXPIRE_PASSWORD: u32 = 0x10000;
    pub const MNS_LOGON_ACCOUNT: u32 = 0x20000;
    pub const SMARTCARD_REQUIRED: u32 = 0x40000;
    pub const TRUSTED_FOR_DELEGATION: u32 = 0x80000;
    pub const NOT_DELEGATED: u32 = 0x100000;
    pub const USE_DES_KEY_ONLY: u32 = 0x200000;
    pub const DONT_REQ_PREAUTH: u32 = 0x400000;
    pub const PASSWORD_EXPIRED: u32 = 0x800000;
    pub const TRUSTED_TO_AUTH_FOR_DELEGATION: u32 = 0x1000000;
    pub const PARTIAL_SECRETS_ACCOUNT: u32 = 0x4000000;
    pub const USE_AES_KEYS: u32 = 0x8000000;

    const NAMES: [(u32, &'static str); 23] = [
        (Self::SCRIPT, "SCRIPT"),
        (Self::ACCOUNTDISABLE, "ACCOUNTDISABLE"),
        (Self::HOMEDIR_REQUIRED, "HOMEDIR_REQUIRED"),
        (Self::LOCKOUT, "LOCKOUT"),
        (Self::PASSWD_NOTREQD, "PASSWD_NOTREQD"),
        (Self::PASSWD_CANT_CHANGE, "PASSWD_CANT_CHANGE"),
        (Self::ENCRYPTED_TEXT_PWD_ALLOWED, "ENCRYPTED_TEXT_PWD_ALLOWED"),
        (Self::TEMP_DUPLICATE_ACCOUNT, "TEMP_DUPLICATE_ACCOUNT"),
        (Self::NORMAL_ACCOUNT, "NORMAL_ACCOUNT"),
        (Self::INTERDOMAIN_TRUST_ACCOUNT, "INTERDOMAIN_TRUST_ACCOUNT"),
        (Self::WORKSTATION_TRUST_ACCOUNT, "WORKSTATION_TRUST_ACCOUNT"),
        (Self::SERVER_TRUST_ACCOUNT, "SERVER_TRUST_ACCOUNT"),
        (Self::DONT_EXPIRE_PASSWORD, "DONT_EXPIRE_PASSWORD"),
        (Self::MNS_LOGON_ACCOUNT, "MNS_LOGON_ACCOUNT"),
        (Self::SMARTCARD_REQUIRED, "SMARTCARD_REQUIRED"),
        (Self::TRUSTED_FOR_DELEGATION, "TRUSTED_FOR_DELEGATION"),
        (Self::NOT_DELEGATED, "NOT_DELEGATED"),
        (Self::USE_DES_KEY_ONLY, "USE_DES_KEY_ONLY"),
        (Self::DONT_REQ_PREAUTH, "DONT_REQ_PREAUTH"),
        (Self::PASSWORD_EXPIRED, "PASSWORD_EXPIRED"),
        (Self::TRUSTED_TO_AUTH_FOR_DELEGATION, "TRUSTED_TO_AUTH_FOR_DELEGATION"),
        (Self::PARTIAL_SECRETS_ACCOUNT, "PARTIAL_SECRETS_ACCOUNT"),
        (Self::USE_AES_KEYS, "USE_AES_KEYS"),
    ];

    /// Whether every bit of `flag` is set.
    pub fn has(&self, flag: u32) -> bool {
        flag != 0 && self.0 & flag == flag
    }

    /// The account is disabled.
    pub fn is_disabled(&self) -> bool {
        self.has(Self::ACCOUNTDISABLE)
    }

    /// A writable DC (`SERVER_TRUST_ACCOUNT`) or an RODC (`PARTIAL_SECRETS_ACCOUNT`).
    pub fn is_domain_controller(&self) -> bool {
        self.has(Self::SERVER_TRUST_ACCOUNT) || self.has(Self::PARTIAL_SECRETS_ACCOUNT)
    }

    /// The names of the known set flags, lowest bit first.
    pub fn names(&self) -> Vec<&'static str> {
        flag_names(self.0, &Self::NAMES)
    }

    /// Set bits that have no name here.
    pub fn unknown_bits(&self) -> u32 {
        Self::NAMES.iter().fold(self.0, |acc, (bit, _)| acc & !bit)
    }
}

impl fmt::Display for Uac {
    /// `4098 (0x1002: ACCOUNTDISABLE | WORKSTATION_TRUST_ACCOUNT)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:X}: {})", self.0, self.0, self.names().join(" | "))
    }
}

/// `msDS-SupportedEncryptionTypes` (MS-KILE 2.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EncTypes(pub u32);

impl EncTypes {
    pub const DES_CBC_CRC: u32 = 0x1;
    pub const DES_CBC_MD5: u32 = 0x2;
    pub const RC4: u32 = 0x4;
    pub const AES128: u32 = 0x8;
    pub const AES256: u32 = 0x10;
    pub const AES256_SK: u32 = 0x20;
    pub const FAST_SUPPORTED: u32 = 0x10000;
    pub const COMPOUND_IDENTITY_SUPPORTED: u32 = 0x20000;
    pub const CLAIMS_SUPPORTED: u32 = 0x40000;
    pub const RESOURCE_SID_COMPRESSION_DISABLED: u32 = 0x80000;

    const NAMES: [(u32, &'static str); 10] = [
        (Self::DES_CBC_CRC, "DES_CBC_CRC"),
        (Self::DES_CBC_MD5, "DES_CBC_MD5"),
        (Self::RC4, "RC4"),
        (Self::AES128, "AES128"),
        (Self::AES256, "AES256"),
        (Self::AES256_SK, "AES256_SK"),
        (Self::FAST_SUPPORTED, "FAST_SUPPORTED"),
        (Self::COMPOUND_IDENTITY_SUPPORTED, "COMPOUND_IDENTITY_SUPPORTED"),
        (Self::CLAIMS_SUPPORTED, "CLAIMS_SUPPORTED"),
        (
            Self::RESOURCE_SID_COMPRESSION_DISABLED,
            "RESOURCE_SID_COMPRESSION_DISABLED",
        ),
    ];

    /// Whether every bit of `flag` is set.
    pub fn has(&self, flag: u32) -> bool {
        flag != 0 && self.0 & flag == flag
    }

    /// The names of the known set flags, lowest bit first.
    pub fn names(&self) -> Vec<&'static str> {
        flag_names(self.0, &Self::NAMES)
    }

    /// Set bits that have no name here.
    pub fn unknown_bits(&self) -> u32 {
        Self::NAMES.iter().fold(self.0, |acc, (bit, _)| acc & !bit)
    }
}

impl fmt::Display for EncTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:X}: {})", self.0, self.0, self.names().join(" | "))
    }
}

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
        let (&count, rest) = rest
            .split_first()
            .ok_or(DecodeError::BadLength(b.len()))?;
        let count = usize::from(count);
        if count > 15 || b.len() != 8 + 4 * count {
            return Err(DecodeError::BadLength(b.len()));
        }
        let (auth, subs) = rest.split_at_checked(6).ok_or(DecodeError::BadLength(b.len()))?;
        let authority = auth.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
        let sub_authorities = subs
            .chunks_exact(4)
            .map(|c| c.iter().rev().fold(0u32, |acc, x| (acc << 8) | u32::from(*x)))
            .collect();
        Ok(Sid {
            authority,
            sub_authorities,
        })
    }

    /// The binary form (inverse of [`Sid::from_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![1u8, u8::try_from(self.sub_authorities.len()).unwrap_or(u8::MAX)];
        out.extend_from_slice(self.authority.to_be_bytes().get(2..).unwrap_or_default());
        for s in &self.sub_authorities {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    /// Parses `S-1-5-21-...` (authority in decimal, or `0x...` hex as Windows prints large ones).
    pub fn parse(s: &str) -> Result<Sid, DecodeError> {
        const BAD: DecodeError = DecodeError::BadSidString;
        let mut parts = s.trim().split('-');
        if !parts.next().is_some_and(|p| p.eq_ignore_ascii_case("S")) || parts.next() != Some("1")
        {
            return Err(BAD);
        }
        let auth = parts.next().ok_or(BAD)?;
        let authority = match auth.strip_prefix("0x").or_else(|| auth.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16).map_err(|_| BAD)?,
            None => auth.parse::<u64>().map_err(|_| BAD)?,
        };
        if authority >= 1 << 48 {
            return Err(BAD);
        }
        let sub_authorities = parts
            .map(|p| p.parse::<u32>().map_err(|_| BAD))
            .collect::<Result<Vec<_>, _>>()?;
        if sub_authorities.len() > 15 {
            return Err(BAD);
        }
        Ok(Sid {
            authority,
            sub_authorities,
        })
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

/// One relative distinguished name: attribute type as written, value unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rdn {
    pub attr: String,
    pub value: String,
}

/// Splits a DN (RFC 4514 as AD writes it) into RDNs, innermost first, unescaping values.
///
/// Handles `\,`-style and `\2C`-style escapes (hex escapes may spell multi-byte UTF-8) and
/// RFC 2253 quoted values. A multi-valued RDN (`+`) stays one RDN whose value contains the `+`.
/// Never fails: malformed input gives best-effort RDNs (an RDN without `=` has an empty attr).
pub fn parse_dn(dn: &str) -> Vec<Rdn> {
    let mut out = Vec::new();
    let mut chars = dn.chars().peekable();
    loop {
        let mut attr = String::new();
        let mut value: Vec<u8> = Vec::new();
        let mut keep_len = 0usize;
        let mut in_value = false;
        let mut quoted = false;
        let mut ended_by_comma = false;
        while let Some(c) = chars.next() {
            if !in_value {
                match c {
                    '=' => in_value = true,
                    ',' => {
                        ended_by_comma = true;
                        break;
                    }
                    _ => attr.push(c),
                }
                continue;
            }
            match c {
                '\\' => {
                    let hex: String = chars.clone().take(2).collect();
                    match u8::from_str_radix(&hex, 16) {
                        Ok(byte) if hex.len() == 2 && hex.chars().all(|h| h.is_ascii_hexdigit()) => {
                            chars.next();
                            chars.next();
                            value.push(byte);
                        }
                        _ => {
                            let next = chars.next().unwrap_or('\\');
                            let mut buf = [0u8; 4];
                            value.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                    keep_len = value.len();
                }
                '"' => {
                    quoted = !quoted;
                    keep_len = value.len();
                }
                ',' if !quoted => {
                    ended_by_comma = true;
                    break;
                }
                ' ' if !quoted && value.is_empty() => {}
                _ => {
                    let mut buf = [0u8; 4];
                    value.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    if c != ' ' || quoted {
                        keep_len = value.len();
                    }
                }
            }
        }
        value.truncate(keep_len);
        let attr = attr.trim().to_string();
        if !attr.is_empty() || !value.is_empty() {
            out.push(Rdn {
                attr,
                value: String::from_utf8_lossy(&value).into_owned(),
            });
        }
        if !ended_by_comma {
            break;
        }
    }
    out
}

/// The DNS domain a DN lives in, from its `DC=` components (`DC=corp,DC=example` → `corp.example`).
pub fn dn_domain(dn: &str) -> Option<String> {
    let parts: Vec<String> = parse_dn(dn)
        .into_iter()
        .filter(|r| r.attr.eq_ignore_ascii_case("DC"))
        .map(|r| r.value)
        .collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

/// The computer object as read from one DC (the replicated attributes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputerAccount {
    pub dn: String,
    pub object_guid: Uuid,
    pub object_sid: Option<String>,
    pub sam_account_name: String,
    pub dns_host_name: Option<String>,
    pub operating_system: Option<String>,
    pub operating_system_version: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub when_created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub when_changed: OffsetDateTime,
    pub uac: Uac,
    pub supported_enc_types: Option<EncTypes>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub pwd_last_set: Option<OffsetDateTime>,
    /// Replicated, but only accurate to 9–14 days.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_logon_timestamp: Option<OffsetDateTime>,
    pub admin_count: bool,
    /// `msDS-KeyVersionNumber`.
    pub key_version: Option<u32>,
}

impl ComputerAccount {
    /// The OU/CN containers above the object, outermost first, unescaped
    /// (`CN=PC1,OU=Laptops,OU=Sales\, EMEA,DC=corp,DC=example` → `["Sales, EMEA", "Laptops"]`).
    pub fn ou_path(&self) -> Vec<String> {
        let mut path: Vec<String> = parse_dn(&self.dn)
            .into_iter()
            .skip(1)
            .filter(|r| r.attr.eq_ignore_ascii_case("OU") || r.attr.eq_ignore_ascii_case("CN"))
            .map(|r| r.value)
            .collect();
        path.reverse();
        path
    }

    /// The NetBIOS name: `sAMAccountName` without its trailing `$`.
    pub fn netbios_name(&self) -> &str {
        self.sam_account_name
            .strip_suffix('$')
            .unwrap_or(&self.sam_account_name)
    }
}

/// Replication metadata of one attribute (MS-DRSR `PROPERTY_META_DATA_EXT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrMeta {
    pub attid: u32,
    /// +1 per originating write.
    pub version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub originating_change_time: OffsetDateTime,
    pub originating_invocation_id: Uuid,
    pub originating_usn: u64,
    pub local_usn: u64,
}

/// What one DC says about the computer, including its non-replicated attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DcView {
    /// Host name or URL label of the DC.
    pub dc: String,
    pub outcome: DcOutcome,
}

/// Whether a DC answered, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DcOutcome {
    Found(DcAccountView),
    NotFound,
    Unreachable { error: String },
}

/// The per-DC attributes of the computer object on one DC.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DcAccountView {
    /// `lastLogon` (not replicated: each DC has its own).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_logon: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub pwd_last_set: Option<OffsetDateTime>,
    /// `badPasswordTime` (not replicated).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub bad_password_time: Option<OffsetDateTime>,
    /// `badPwdCount` (not replicated; reset by a successful logon on that DC).
    pub bad_pwd_count: Option<u32>,
    /// Replication metadata of `unicodePwd` on this DC.
    pub unicode_pwd: Option<AttrMeta>,
    /// Replication metadata of `pwdLastSet` on this DC.
    pub pwd_last_set_meta: Option<AttrMeta>,
    pub uac: Option<Uac>,
}

/// A deleted object (tombstone or Recycle Bin object) found under Deleted Objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub dn: String,
    pub object_guid: Option<Uuid>,
    pub sam_account_name: String,
    /// About the deletion time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub when_changed: Option<OffsetDateTime>,
    pub last_known_parent: Option<String>,
}

/// What the portal remembered from an earlier lookup or fleet scan of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
    pub object_guid: Uuid,
    pub unicode_pwd_version: Option<u32>,
    /// Originating invocation id of the `unicodePwd` write seen then.
    pub originating_dc: Option<Uuid>,
    /// Latest `lastLogon` over the DCs then.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_logon: Option<OffsetDateTime>,
}

/// Everything the diagnosis looks at for one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub name_queried: String,
    pub account: Option<ComputerAccount>,
    pub per_dc: Vec<DcView>,
    pub tombstones: Vec<Tombstone>,
    pub history: Vec<Observation>,
    /// The policy says the DN sits under a configured protected OU.
    pub protected_ou: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    // TESTS
}

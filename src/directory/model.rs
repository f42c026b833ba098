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
            if h > 23 || m > 59 {
                return Err(BAD);
            }
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

/// Defines a `u32` flag word with named bits: the constants, `has`, `names`, `unknown_bits`
/// and a `Display` like `4098 (0x1002: ACCOUNTDISABLE | WORKSTATION_TRUST_ACCOUNT)`.
macro_rules! flag_word {
    ($(#[$meta:meta])* $name:ident { $($flag:ident = $bit:expr),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
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
                        Ok(byte)
                            if hex.len() == 2 && hex.chars().all(|h| h.is_ascii_hexdigit()) =>
                        {
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
    /// Delegation rights and privileged groups (see `tier0.rs`).
    #[serde(default)]
    pub privilege: super::tier0::Privilege,
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

/// How the set of DCs the per-DC reads went to was made.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DcDiscovery {
    /// Every DC the directory lists was asked (apart from `excluded`).
    #[default]
    Complete,
    /// `ldap.discover_dcs = false`: only the configured DCs were asked.
    Off,
    /// The DC list could not be read; the DCs known before were asked.
    Failed { error: String },
}

/// Whether the per-DC view covers every DC of the domain.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DcCoverage {
    pub discovery: DcDiscovery,
    /// DCs the directory lists that `ldap.exclude_dcs` keeps the portal from asking.
    #[serde(default)]
    pub excluded: Vec<String>,
}

/// Whether the search for deleted objects of the same name could run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TombstoneCheck {
    /// Deleted Objects was searched; `tombstones` is what it holds for this name.
    #[default]
    Done,
    /// The service account may not list Deleted Objects (by default only administrators may).
    NotPermitted { detail: String },
    /// The search failed for another reason.
    Failed { error: String },
}

/// What trustdesk itself did to this object's password (from its audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortalWriteKind {
    /// A DC-side reset: a random password nobody holds.
    DcReset,
    /// A token was redeemed: the DC holds the password the client received.
    TokenRedeemed,
    /// The client stored it, verified the channel and rotated twice: the machine holds the
    /// current password.
    RepairCompleted,
    /// The client reported a failed repair.
    RepairFailed,
}

impl PortalWriteKind {
    /// How many `unicodePwd` versions this step wrote (a completed repair: two rotations after
    /// the redeem's write).
    pub fn versions_written(&self) -> u32 {
        match self {
            PortalWriteKind::DcReset | PortalWriteKind::TokenRedeemed => 1,
            PortalWriteKind::RepairCompleted => 2,
            PortalWriteKind::RepairFailed => 0,
        }
    }
}

/// One of trustdesk's own writes or repairs of this object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalWrite {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub kind: PortalWriteKind,
    /// Who did it (the person who reset, or who minted the token).
    pub by: String,
    pub ticket: Option<String>,
}

/// A redeem under the post-repair watch: the key version its write left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemWatch {
    #[serde(with = "time::serde::rfc3339")]
    pub redeemed_at: OffsetDateTime,
    /// `msDS-KeyVersionNumber` right after the redeem's write.
    pub key_version: i64,
}

/// Everything the diagnosis looks at for one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub name_queried: String,
    pub account: Option<ComputerAccount>,
    pub per_dc: Vec<DcView>,
    /// Whether `per_dc` covers every DC of the domain.
    #[serde(default)]
    pub coverage: DcCoverage,
    pub tombstones: Vec<Tombstone>,
    #[serde(default)]
    pub tombstone_check: TombstoneCheck,
    pub history: Vec<Observation>,
    /// trustdesk's own resets and repairs of this object, oldest first.
    #[serde(default)]
    pub portal_writes: Vec<PortalWrite>,
    /// trustdesk's redeems of this object with the key version each left, oldest first.
    #[serde(default)]
    pub redeems: Vec<RedeemWatch>,
    /// The policy says the DN sits under a configured protected OU.
    pub protected_ou: bool,
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A plain workstation account for unit tests.
    pub(crate) fn account(dn: &str, sam: &str) -> ComputerAccount {
        ComputerAccount {
            dn: dn.to_string(),
            object_guid: Uuid::nil(),
            object_sid: None,
            sam_account_name: sam.to_string(),
            dns_host_name: None,
            operating_system: None,
            operating_system_version: None,
            when_created: time::macros::datetime!(2026-01-01 0:00 UTC),
            when_changed: time::macros::datetime!(2026-01-01 0:00 UTC),
            uac: Uac(4096),
            supported_enc_types: None,
            pwd_last_set: None,
            last_logon_timestamp: None,
            admin_count: false,
            key_version: None,
            privilege: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn filetime_decodes_and_treats_zero_and_max_as_never() {
        assert_eq!(parse_filetime("0"), Ok(None));
        assert_eq!(parse_filetime("9223372036854775807"), Ok(None));
        assert_eq!(
            parse_filetime(" 116444736000000000 "),
            Ok(Some(datetime!(1970-01-01 0:00 UTC)))
        );
        // 2026-11-24 04:18:09.5 UTC
        assert_eq!(
            parse_filetime("134399674895000000"),
            Ok(Some(datetime!(2026-11-24 04:18:09.5 UTC)))
        );
        assert_eq!(parse_filetime(""), Err(DecodeError::Empty));
        assert_eq!(parse_filetime("12a"), Err(DecodeError::NotANumber));
        assert_eq!(
            parse_filetime("99999999999999999999"),
            Err(DecodeError::NotANumber)
        );
        assert_eq!(parse_filetime("-1"), Err(DecodeError::OutOfRange));
        // Year 30828 is beyond what we represent.
        assert_eq!(
            parse_filetime("9223372036854775806"),
            Err(DecodeError::OutOfRange)
        );
        assert_eq!(
            parse_filetime("1"),
            Ok(Some(datetime!(1601-01-01 0:00:00.0000001 UTC)))
        );
    }

    #[test]
    fn filetime_round_trips() {
        let t = datetime!(2026-11-24 04:18:09.1234567 UTC);
        let ft = FileTime::from_datetime(t).unwrap();
        assert_eq!(ft, FileTime(134_399_674_891_234_567));
        assert_eq!(ft.to_datetime(), Ok(Some(t)));
        assert_eq!(
            FileTime::from_datetime(datetime!(1600-12-31 23:59:59 UTC)),
            Err(DecodeError::OutOfRange)
        );
        assert_eq!(FileTime::NEVER.to_datetime(), Ok(None));
    }

    #[test]
    fn nttime_seconds() {
        assert_eq!(
            nttime_seconds_to_datetime(13_439_967_489),
            Ok(datetime!(2026-11-24 04:18:09 UTC))
        );
        assert_eq!(
            nttime_seconds_to_datetime(0),
            Ok(datetime!(1601-01-01 0:00 UTC))
        );
        assert_eq!(
            nttime_seconds_to_datetime(u64::MAX),
            Err(DecodeError::OutOfRange)
        );
        assert_eq!(
            nttime_seconds_to_datetime(i64::MAX as u64),
            Err(DecodeError::OutOfRange)
        );
    }

    #[test]
    fn generalized_time_parses_ad_forms() {
        let t = datetime!(2026-11-24 05:18:09 UTC);
        assert_eq!(parse_generalized_time("20261124051809.0Z"), Ok(t));
        assert_eq!(parse_generalized_time("20261124051809Z"), Ok(t));
        assert_eq!(
            parse_generalized_time("20261124051809,25Z"),
            Ok(datetime!(2026-11-24 05:18:09.25 UTC))
        );
        assert_eq!(parse_generalized_time("20261124061809.0+0100"), Ok(t));
        assert_eq!(parse_generalized_time("20261124001809-0500"), Ok(t));
        assert_eq!(
            parse_generalized_time("20261124051809.1234567891234Z"),
            Ok(datetime!(2026-11-24 05:18:09.123456789 UTC))
        );
        assert_eq!(format_generalized_time(t), "20261124051809.0Z");
        for bad in [
            "",
            "2026",
            "20261124051809",
            "20261124051809.Z",
            "20261124051809.0",
            "20261124051809.0ZZ",
            "20261324051809.0Z",
            "20260230051809.0Z",
            "20261124251809.0Z",
            "20261124051860.0Z",
            "2026112405180x.0Z",
            "20261124051809.0+01",
            "20261124051809.0+2500",
            "+0261124051809.0Z",
            "２０２６1124051809.0Z",
        ] {
            assert_eq!(
                parse_generalized_time(bad),
                Err(DecodeError::BadGeneralizedTime),
                "{bad:?}"
            );
        }
    }

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

    use super::tests_support::account;

    #[test]
    fn ou_path_is_outermost_first_and_unescaped() {
        let a = account(
            r"CN=PC\2C01,OU=Laptops,OU=Sales\, EMEA,OU=Caf\C3\A9 \+ Bar,DC=corp,DC=example",
            "PC01$",
        );
        assert_eq!(a.ou_path(), vec!["Café + Bar", "Sales, EMEA", "Laptops"]);
        assert_eq!(
            account("CN=PC01,CN=Computers,DC=lab,DC=example,DC=test", "PC01$").ou_path(),
            vec!["Computers"]
        );
        assert_eq!(
            account("cn=PC01, ou=Quoted\\\\Back,ou=\"A, B\",dc=x", "PC01").ou_path(),
            vec!["A, B", "Quoted\\Back"]
        );
        assert!(account("", "").ou_path().is_empty());
        assert_eq!(
            dn_domain("CN=PC01,CN=Computers,DC=lab,DC=example,DC=test").as_deref(),
            Some("lab.example.test")
        );
        assert_eq!(dn_domain("CN=PC01"), None);
    }

    #[test]
    fn parse_dn_keeps_escaped_spaces_and_survives_garbage() {
        let rdns = parse_dn(r"CN=\ lead\ ,OU= trail  ,DC=x");
        assert_eq!(rdns.first().unwrap().value, " lead ");
        assert_eq!(rdns.get(1).unwrap().value, "trail");
        assert_eq!(parse_dn("CN=a\\").first().unwrap().value, "a\\");
        assert_eq!(parse_dn("CN=a\\4").first().unwrap().value, "a4");
        assert_eq!(parse_dn("CN=\\ff").first().unwrap().value, "\u{fffd}");
        assert_eq!(parse_dn("noequals,,=x").len(), 2);
        let mut x: u64 = 7;
        let alphabet: Vec<char> = "=,\\\"+ abAF09é".chars().collect();
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let s: String = (0..(x % 40))
                .map(|i| alphabet[((x >> (i % 60)) % alphabet.len() as u64) as usize])
                .collect();
            let _ = parse_dn(&s);
        }
    }

    #[test]
    fn netbios_name_strips_one_dollar() {
        assert_eq!(account("CN=PC01", "PC01$").netbios_name(), "PC01");
        assert_eq!(account("CN=PC01", "PC01").netbios_name(), "PC01");
        assert_eq!(account("CN=PC01", "PC01$$").netbios_name(), "PC01$");
    }

    #[test]
    fn serde_shapes() {
        let v = DcView {
            dc: "dc1".into(),
            outcome: DcOutcome::Unreachable {
                error: "timeout".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"dc":"dc1","outcome":{"status":"unreachable","error":"timeout"}}"#
        );
        let found = DcView {
            dc: "dc2".into(),
            outcome: DcOutcome::Found(DcAccountView {
                last_logon: Some(datetime!(2026-11-24 04:18:09 UTC)),
                uac: Some(Uac(4096)),
                ..Default::default()
            }),
        };
        let json = serde_json::to_string(&found).unwrap();
        assert!(json.contains(r#""status":"found""#), "{json}");
        assert!(
            json.contains(r#""last_logon":"2026-11-24T04:18:09Z""#),
            "{json}"
        );
        assert!(json.contains(r#""uac":4096"#), "{json}");
        let back: DcView = serde_json::from_str(&json).unwrap();
        assert_eq!(back, found);
        let a = account("CN=PC01,DC=x", "PC01$");
        let back: ComputerAccount =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }
}

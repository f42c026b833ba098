//! Decoders for per-attribute replication metadata, the evidence of who last wrote the machine
//! password, where and how often.
//!
//! Two forms exist:
//! - `replPropertyMetaData`, the binary NDR `replPropertyMetaDataBlob` (Samba returns it when asked
//!   by name; layout in `samba-lab.md` §4): header `u32 version = 1, u32 reserved, u32 count,
//!   u32 reserved`, then `count` 48-byte little-endian entries `u32 attid, u32 version,
//!   u64 originating_change_time (NTTIME_1sec: seconds since 1601), GUID invocation id (16 bytes,
//!   Windows GUID layout), u64 originating_usn, u64 local_usn`.
//! - `msDS-ReplAttributeMetaData`, the constructed XML rendering Windows DCs return (one
//!   `<DS_REPL_ATTR_META_DATA>` element per value).
//!
//! Both decoders are pure, bounds-checked and never panic on hostile input.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::model::{AttrMeta, nttime_seconds_to_datetime};

/// `unicodePwd` (1.2.840.113556.1.4.90).
pub const ATTID_UNICODE_PWD: u32 = 0x9005A;
/// `pwdLastSet` (1.2.840.113556.1.4.96).
pub const ATTID_PWD_LAST_SET: u32 = 0x90060;
/// `ntPwdHistory` (1.2.840.113556.1.4.94).
pub const ATTID_NT_PWD_HISTORY: u32 = 0x9005E;
/// `supplementalCredentials` (1.2.840.113556.1.4.125).
pub const ATTID_SUPPLEMENTAL_CREDENTIALS: u32 = 0x9007D;
/// `userAccountControl` (1.2.840.113556.1.4.8).
pub const ATTID_USER_ACCOUNT_CONTROL: u32 = 0x90008;
/// `lmPwdHistory` (1.2.840.113556.1.4.160).
pub const ATTID_LM_PWD_HISTORY: u32 = 0x900A0;

const HEADER_LEN: usize = 16;
const ENTRY_LEN: usize = 48;

/// Why replication metadata could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplMetaError {
    #[error("replPropertyMetaData blob too short: {len} bytes")]
    TooShort { len: usize },
    #[error("unsupported replPropertyMetaData version {0}")]
    UnsupportedVersion(u32),
    #[error("replPropertyMetaData claims {count} entries but has room for {room}")]
    CountTooLarge { count: u32, room: usize },
    #[error("originating change time out of range for attid 0x{attid:X}")]
    TimeOutOfRange { attid: u32 },
    #[error("msDS-ReplAttributeMetaData value holds no DS_REPL_ATTR_META_DATA element")]
    NoRecord,
    #[error("msDS-ReplAttributeMetaData element lacks <{0}>")]
    MissingElement(&'static str),
    #[error("msDS-ReplAttributeMetaData <{element}> has a bad value {value:?}")]
    BadValue {
        element: &'static str,
        value: String,
    },
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// Decodes a binary `replPropertyMetaData` blob.
///
/// The header version must be 1 and `count` entries must fit in the blob; trailing bytes after
/// the last entry are ignored (NDR padding).
pub fn decode_repl_property_metadata(blob: &[u8]) -> Result<Vec<AttrMeta>, ReplMetaError> {
    let too_short = || ReplMetaError::TooShort { len: blob.len() };
    if blob.len() < HEADER_LEN {
        return Err(too_short());
    }
    let version = u32_at(blob, 0).ok_or_else(too_short)?;
    let count = u32_at(blob, 8).ok_or_else(too_short)?;
    if version != 1 {
        return Err(ReplMetaError::UnsupportedVersion(version));
    }
    let room = (blob.len() - HEADER_LEN) / ENTRY_LEN;
    let n = usize::try_from(count).unwrap_or(usize::MAX);
    if n > room {
        return Err(ReplMetaError::CountTooLarge { count, room });
    }
    let entries = blob.get(HEADER_LEN..).unwrap_or_default();
    entries
        .chunks_exact(ENTRY_LEN)
        .take(n)
        .map(decode_entry)
        .collect()
}

fn decode_entry(e: &[u8]) -> Result<AttrMeta, ReplMetaError> {
    let short = || ReplMetaError::TooShort { len: e.len() };
    let attid = u32_at(e, 0).ok_or_else(short)?;
    let version = u32_at(e, 4).ok_or_else(short)?;
    let secs = u64_at(e, 8).ok_or_else(short)?;
    let guid: [u8; 16] = e
        .get(16..32)
        .and_then(|g| g.try_into().ok())
        .ok_or_else(short)?;
    let originating_usn = u64_at(e, 32).ok_or_else(short)?;
    let local_usn = u64_at(e, 40).ok_or_else(short)?;
    let originating_change_time =
        nttime_seconds_to_datetime(secs).map_err(|_| ReplMetaError::TimeOutOfRange { attid })?;
    Ok(AttrMeta {
        attid,
        version,
        originating_change_time,
        originating_invocation_id: Uuid::from_bytes_le(guid),
        originating_usn,
        local_usn,
    })
}

/// Decodes a DC's `replUpToDateVector` (on the naming context head): for each originating DC
/// (by invocation id), the highest of its USNs this DC has received. Versions 1 (24-byte
/// cursors) and 2 (32 bytes, with the last sync time) are accepted.
pub fn decode_up_to_date_vector(blob: &[u8]) -> Result<Vec<(Uuid, u64)>, ReplMetaError> {
    let too_short = || ReplMetaError::TooShort { len: blob.len() };
    let version = u32_at(blob, 0).ok_or_else(too_short)?;
    let count = u32_at(blob, 8).ok_or_else(too_short)?;
    let cursor_len = match version {
        1 => 24,
        2 => 32,
        v => return Err(ReplMetaError::UnsupportedVersion(v)),
    };
    let body = blob.get(16..).ok_or_else(too_short)?;
    let room = body.len() / cursor_len;
    if usize::try_from(count).unwrap_or(usize::MAX) > room {
        return Err(ReplMetaError::CountTooLarge { count, room });
    }
    body.chunks_exact(cursor_len)
        .take(room.min(usize::try_from(count).unwrap_or(0)))
        .map(|c| {
            let guid: [u8; 16] = c
                .get(..16)
                .and_then(|g| g.try_into().ok())
                .ok_or_else(too_short)?;
            let usn = u64_at(c, 16).ok_or_else(too_short)?;
            Ok((Uuid::from_bytes_le(guid), usn))
        })
        .collect()
}

/// The attid of an attribute named in `msDS-ReplAttributeMetaData` (case-insensitive), for the
/// attributes the diagnosis cares about.
pub fn attid_for_name(name: &str) -> Option<u32> {
    const TABLE: [(&str, u32); 6] = [
        ("unicodePwd", ATTID_UNICODE_PWD),
        ("pwdLastSet", ATTID_PWD_LAST_SET),
        ("ntPwdHistory", ATTID_NT_PWD_HISTORY),
        ("lmPwdHistory", ATTID_LM_PWD_HISTORY),
        ("supplementalCredentials", ATTID_SUPPLEMENTAL_CREDENTIALS),
        ("userAccountControl", ATTID_USER_ACCOUNT_CONTROL),
    ];
    TABLE
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
        .map(|(_, id)| *id)
}

const RECORD: &str = "DS_REPL_ATTR_META_DATA";

/// Parses the values of `msDS-ReplAttributeMetaData` (Windows XML).
///
/// Each value holds one `<DS_REPL_ATTR_META_DATA>` element (several are accepted too). Elements
/// for attributes without a known attid ([`attid_for_name`]) are skipped without being checked;
/// elements for known attributes must carry a valid `dwVersion`, `ftimeLastOriginatingChange`
/// (RFC 3339), `uuidLastOriginatingDsaInvocationID`, `usnOriginatingChange` and `usnLocalChange`.
/// Blank values and the trailing NUL some DCs append are tolerated.
pub fn parse_msds_repl_attribute_metadata(
    values: &[String],
) -> Result<Vec<AttrMeta>, ReplMetaError> {
    let mut out = Vec::new();
    for value in values {
        let value = value.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        if value.is_empty() {
            continue;
        }
        let mut rest = value;
        let mut found = false;
        while let Some((inner, after)) = next_element(rest, RECORD) {
            found = true;
            rest = after;
            if let Some(meta) = parse_record(inner)? {
                out.push(meta);
            }
        }
        if !found {
            return Err(ReplMetaError::NoRecord);
        }
    }
    Ok(out)
}

fn parse_record(inner: &str) -> Result<Option<AttrMeta>, ReplMetaError> {
    let name = field(inner, "pszAttributeName")?;
    let Some(attid) = attid_for_name(&name) else {
        return Ok(None);
    };
    let bad = |element: &'static str, value: &str| ReplMetaError::BadValue {
        element,
        value: value.chars().take(80).collect(),
    };
    let version_s = field(inner, "dwVersion")?;
    let version = version_s
        .parse::<u32>()
        .map_err(|_| bad("dwVersion", &version_s))?;
    let time_s = field(inner, "ftimeLastOriginatingChange")?;
    let originating_change_time = OffsetDateTime::parse(&time_s, &Rfc3339)
        .map_err(|_| bad("ftimeLastOriginatingChange", &time_s))?
        .to_offset(time::UtcOffset::UTC);
    let guid_s = field(inner, "uuidLastOriginatingDsaInvocationID")?;
    let originating_invocation_id =
        Uuid::parse_str(&guid_s).map_err(|_| bad("uuidLastOriginatingDsaInvocationID", &guid_s))?;
    let ousn_s = field(inner, "usnOriginatingChange")?;
    let originating_usn = ousn_s
        .parse::<u64>()
        .map_err(|_| bad("usnOriginatingChange", &ousn_s))?;
    let lusn_s = field(inner, "usnLocalChange")?;
    let local_usn = lusn_s
        .parse::<u64>()
        .map_err(|_| bad("usnLocalChange", &lusn_s))?;
    Ok(Some(AttrMeta {
        attid,
        version,
        originating_change_time,
        originating_invocation_id,
        originating_usn,
        local_usn,
    }))
}

/// The unescaped, trimmed text of `<name>…</name>` (or `""` for `<name/>`) inside `inner`.
fn field(inner: &str, name: &'static str) -> Result<String, ReplMetaError> {
    if inner.contains(&format!("<{name}/>")) {
        return Ok(String::new());
    }
    next_element(inner, name)
        .map(|(text, _)| unescape(text.trim()))
        .ok_or(ReplMetaError::MissingElement(name))
}

/// Finds the first `<name>` (or `<name …>`) element in `s`; returns its inner text and the rest of
/// `s` after its closing tag. Not a general XML parser: enough for the flat records AD emits.
fn next_element<'a>(s: &'a str, name: &str) -> Option<(&'a str, &'a str)> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut from = 0;
    loop {
        let start = from + s.get(from..)?.find(&open)?;
        let after_name = start + open.len();
        let tail = s.get(after_name..)?;
        // The tag name must end here (`<name>` or `<name attr=…>`), not be a prefix of another.
        match tail.chars().next() {
            Some('>') | Some(' ') | Some('\t') | Some('\r') | Some('\n') => {
                let gt = after_name + tail.find('>')?;
                let body_start = gt + 1;
                let body_len = s.get(body_start..)?.find(&close)?;
                let body = s.get(body_start..body_start + body_len)?;
                let rest = s.get(body_start + body_len + close.len()..)?;
                return Some((body, rest));
            }
            _ => from = after_name,
        }
    }
}

/// Replaces the five predefined XML entities and numeric character references.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or_default());
        let tail = rest.get(amp..).unwrap_or_default();
        let Some(semi) = tail.find(';').filter(|&i| i <= 10) else {
            out.push('&');
            rest = tail.get(1..).unwrap_or_default();
            continue;
        };
        let entity = tail.get(1..semi).unwrap_or_default();
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = tail.get(semi + 1..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = tail.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// The metadata entry for `attid`, if present (the first one if the input repeats it).
pub fn find(metas: &[AttrMeta], attid: u32) -> Option<&AttrMeta> {
    metas.iter().find(|m| m.attid == attid)
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_a_samba_up_to_date_vector() {
        use base64::Engine as _;
        // DC1's replUpToDateVector as the lab DC returned it: one cursor, for DC2.
        let blob = base64::engine::general_purpose::STANDARD
            .decode("AgAAAAAAAAABAAAAAAAAAK293ZdHBPlKl1meR1oMoD0fDwAAAAAAAACAPtXesZ0B")
            .unwrap();
        let cursors = super::decode_up_to_date_vector(&blob).unwrap();
        assert_eq!(cursors.len(), 1);
        assert_eq!(cursors[0].1, 3871);
        assert_eq!(
            cursors[0].0.to_string(),
            "97ddbdad-0447-4af9-9759-9e475a0ca03d"
        );
        assert!(super::decode_up_to_date_vector(&blob[..20]).is_err());
        assert!(super::decode_up_to_date_vector(&[]).is_err());
        let mut v3 = blob.clone();
        v3[0] = 3;
        assert!(super::decode_up_to_date_vector(&v3).is_err());
    }

    use super::*;
    use time::macros::datetime;

    /// The samba-lab.md §4 example, written byte by byte.
    const SAMBA_EXAMPLE: [u8; 16 + 48] = [
        0x01, 0x00, 0x00, 0x00, // version 1
        0x00, 0x00, 0x00, 0x00, // reserved
        0x01, 0x00, 0x00, 0x00, // count 1
        0x00, 0x00, 0x00, 0x00, // reserved
        0x5A, 0x00, 0x09, 0x00, // attid 0x9005A (unicodePwd)
        0x02, 0x00, 0x00, 0x00, // version 2
        0x01, 0xA1, 0x15, 0x21, 0x03, 0x00, 0x00, 0x00, // 13439967489 s since 1601
        0x64, 0x0A, 0x2B, 0xAB, 0x42, 0x5E, 0xE4, 0x4A, // GUID, Windows layout
        0xB7, 0x21, 0x2F, 0x43, 0xA5, 0xB2, 0xEA, 0x97, //
        0xA2, 0x5E, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // originating usn 0x5ea2
        0x39, 0x5D, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // local usn 0x5d39
    ];

    fn entry(attid: u32, version: u32, secs: u64, guid: Uuid, ousn: u64, lusn: u64) -> Vec<u8> {
        let mut e = Vec::new();
        e.extend_from_slice(&attid.to_le_bytes());
        e.extend_from_slice(&version.to_le_bytes());
        e.extend_from_slice(&secs.to_le_bytes());
        e.extend_from_slice(&guid.to_bytes_le());
        e.extend_from_slice(&ousn.to_le_bytes());
        e.extend_from_slice(&lusn.to_le_bytes());
        e
    }

    fn blob(version: u32, count: u32, entries: &[Vec<u8>]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&version.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&count.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        for e in entries {
            b.extend_from_slice(e);
        }
        b
    }

    #[test]
    fn decodes_the_samba_lab_example() {
        let metas = decode_repl_property_metadata(&SAMBA_EXAMPLE).unwrap();
        assert_eq!(metas.len(), 1);
        let m = find(&metas, ATTID_UNICODE_PWD).unwrap();
        assert_eq!(m.version, 2);
        assert_eq!(
            m.originating_change_time,
            datetime!(2026-11-24 04:18:09 UTC)
        );
        assert_eq!(
            m.originating_invocation_id,
            Uuid::parse_str("ab2b0a64-5e42-4ae4-b721-2f43a5b2ea97").unwrap()
        );
        assert_eq!(m.originating_usn, 0x5ea2);
        assert_eq!(m.local_usn, 0x5d39);
        assert!(find(&metas, ATTID_PWD_LAST_SET).is_none());
    }

    #[test]
    fn decodes_several_entries_and_ignores_trailing_padding() {
        let g = Uuid::from_u128(0x1234_5678_9abc_def0_1122_3344_5566_7788);
        let mut b = blob(
            1,
            2,
            &[
                entry(ATTID_PWD_LAST_SET, 7, 13_439_967_489, g, 10, 11),
                entry(ATTID_UNICODE_PWD, 8, 13_439_967_490, g, 12, 13),
            ],
        );
        b.extend_from_slice(&[0, 0, 0, 0]);
        let metas = decode_repl_property_metadata(&b).unwrap();
        assert_eq!(metas.len(), 2);
        assert_eq!(find(&metas, ATTID_PWD_LAST_SET).unwrap().version, 7);
        let u = find(&metas, ATTID_UNICODE_PWD).unwrap();
        assert_eq!((u.version, u.originating_usn, u.local_usn), (8, 12, 13));
        assert_eq!(u.originating_invocation_id, g);
        assert_eq!(
            u.originating_change_time,
            datetime!(2026-11-24 04:18:10 UTC)
        );
    }

    #[test]
    fn rejects_bad_headers_and_counts() {
        assert_eq!(
            decode_repl_property_metadata(&[]),
            Err(ReplMetaError::TooShort { len: 0 })
        );
        assert_eq!(
            decode_repl_property_metadata(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(ReplMetaError::TooShort { len: 15 })
        );
        assert_eq!(
            decode_repl_property_metadata(&blob(2, 0, &[])),
            Err(ReplMetaError::UnsupportedVersion(2))
        );
        assert_eq!(decode_repl_property_metadata(&blob(1, 0, &[])), Ok(vec![]));
        let one = entry(ATTID_UNICODE_PWD, 1, 13_439_967_489, Uuid::nil(), 1, 1);
        assert_eq!(
            decode_repl_property_metadata(&blob(1, 2, std::slice::from_ref(&one))),
            Err(ReplMetaError::CountTooLarge { count: 2, room: 1 })
        );
        assert_eq!(
            decode_repl_property_metadata(&blob(1, u32::MAX, &[one])),
            Err(ReplMetaError::CountTooLarge {
                count: u32::MAX,
                room: 1
            })
        );
        let truncated = SAMBA_EXAMPLE.get(..63).unwrap();
        assert_eq!(
            decode_repl_property_metadata(truncated),
            Err(ReplMetaError::CountTooLarge { count: 1, room: 0 })
        );
    }

    #[test]
    fn rejects_times_beyond_year_9999() {
        let e = entry(ATTID_UNICODE_PWD, 1, u64::MAX, Uuid::nil(), 1, 1);
        assert_eq!(
            decode_repl_property_metadata(&blob(1, 1, &[e])),
            Err(ReplMetaError::TimeOutOfRange {
                attid: ATTID_UNICODE_PWD
            })
        );
        let zero = entry(ATTID_UNICODE_PWD, 1, 0, Uuid::nil(), 1, 1);
        let m = decode_repl_property_metadata(&blob(1, 1, &[zero])).unwrap();
        assert_eq!(
            m.first().unwrap().originating_change_time,
            datetime!(1601-01-01 0:00 UTC)
        );
    }

    /// A fixed-seed xorshift64* generator: deterministic pseudo-random input, no extra crates.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| (self.next() >> 24) as u8).collect()
        }
    }

    #[test]
    fn never_panics_on_random_blobs() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut decoded = 0;
        for i in 0..20_000 {
            let len = (rng.next() % 400) as usize;
            let mut b = rng.bytes(len);
            // Half of the inputs get a plausible header so the entry decoder is exercised too.
            if i % 2 == 0 && b.len() >= 16 {
                let room = ((b.len() - 16) / 48) as u32;
                let count = if i % 4 == 0 {
                    room
                } else {
                    (rng.next() % 12) as u32
                };
                b.splice(0..4, 1u32.to_le_bytes());
                b.splice(8..12, count.to_le_bytes());
                // Plausible times (below 2^34 s since 1601) so that some entries decode.
                for k in 0..room as usize {
                    let at = 16 + 48 * k + 8;
                    b.splice(at..at + 8, (rng.next() % (1 << 34)).to_le_bytes());
                }
            }
            if let Ok(m) = decode_repl_property_metadata(&b) {
                decoded += m.len();
            }
        }
        assert!(decoded > 0, "the fuzz loop never reached the entry decoder");
    }

    fn xml(name: &str, version: &str, time: &str, guid: &str, ousn: &str, lusn: &str) -> String {
        format!(
            "<DS_REPL_ATTR_META_DATA>\n\t<pszAttributeName>{name}</pszAttributeName>\n\t\
             <dwVersion>{version}</dwVersion>\n\t\
             <ftimeLastOriginatingChange>{time}</ftimeLastOriginatingChange>\n\t\
             <uuidLastOriginatingDsaInvocationID>{guid}</uuidLastOriginatingDsaInvocationID>\n\t\
             <usnOriginatingChange>{ousn}</usnOriginatingChange>\n\t\
             <usnLocalChange>{lusn}</usnLocalChange>\n\t\
             <pszLastOriginatingDsaDN>CN=NTDS Settings,CN=DC1,CN=Servers,CN=A&amp;B,\
             CN=Sites,CN=Configuration,DC=corp,DC=example</pszLastOriginatingDsaDN>\n\
             </DS_REPL_ATTR_META_DATA>\n\0"
        )
    }

    const GUID: &str = "ab2b0a64-5e42-4ae4-b721-2f43a5b2ea97";

    #[test]
    fn parses_windows_xml_and_maps_names_to_attids() {
        let values = vec![
            xml(
                "unicodePwd",
                "3",
                "2026-11-01T10:00:00Z",
                GUID,
                "24226",
                "23865",
            ),
            xml(
                "pwdLastSet",
                "4",
                "2026-11-01T10:00:01Z",
                GUID,
                "24227",
                "23866",
            ),
            xml("description", "not-a-number", "garbage", "x", "y", "z"),
            String::new(),
        ];
        let metas = parse_msds_repl_attribute_metadata(&values).unwrap();
        assert_eq!(metas.len(), 2);
        let u = find(&metas, ATTID_UNICODE_PWD).unwrap();
        assert_eq!(u.version, 3);
        assert_eq!(u.originating_change_time, datetime!(2026-11-01 10:00 UTC));
        assert_eq!(u.originating_invocation_id, Uuid::parse_str(GUID).unwrap());
        assert_eq!((u.originating_usn, u.local_usn), (24226, 23865));
        let p = find(&metas, ATTID_PWD_LAST_SET).unwrap();
        assert_eq!(p.version, 4);
        assert_eq!(
            p.originating_change_time,
            datetime!(2026-11-01 10:00:01 UTC)
        );
    }

    #[test]
    fn xml_accepts_case_insensitive_names_fractions_and_several_records_per_value() {
        let both = format!(
            "{}{}",
            xml(
                "UNICODEPWD",
                "5",
                "2026-11-01T10:00:00.123Z",
                GUID,
                "1",
                "2"
            ),
            xml(
                "userAccountControl",
                "2",
                "2026-11-01T11:00:00+01:00",
                GUID,
                "3",
                "4"
            )
        );
        let metas = parse_msds_repl_attribute_metadata(&[both]).unwrap();
        assert_eq!(metas.len(), 2);
        assert_eq!(find(&metas, ATTID_UNICODE_PWD).unwrap().version, 5);
        assert_eq!(
            find(&metas, ATTID_USER_ACCOUNT_CONTROL)
                .unwrap()
                .originating_change_time,
            datetime!(2026-11-01 10:00 UTC)
        );
    }

    #[test]
    fn xml_errors_name_the_element() {
        let bad = xml("unicodePwd", "-1", "2026-11-01T10:00:00Z", GUID, "1", "2");
        assert!(matches!(
            parse_msds_repl_attribute_metadata(&[bad]),
            Err(ReplMetaError::BadValue {
                element: "dwVersion",
                ..
            })
        ));
        let bad = xml("pwdLastSet", "1", "yesterday", GUID, "1", "2");
        assert!(matches!(
            parse_msds_repl_attribute_metadata(&[bad]),
            Err(ReplMetaError::BadValue {
                element: "ftimeLastOriginatingChange",
                ..
            })
        ));
        let bad = xml(
            "pwdLastSet",
            "1",
            "2026-11-01T10:00:00Z",
            "{nope}",
            "1",
            "2",
        );
        assert!(matches!(
            parse_msds_repl_attribute_metadata(&[bad]),
            Err(ReplMetaError::BadValue {
                element: "uuidLastOriginatingDsaInvocationID",
                ..
            })
        ));
        let missing = "<DS_REPL_ATTR_META_DATA><pszAttributeName>unicodePwd</pszAttributeName>\
                       <dwVersion>1</dwVersion></DS_REPL_ATTR_META_DATA>"
            .to_string();
        assert_eq!(
            parse_msds_repl_attribute_metadata(&[missing]),
            Err(ReplMetaError::MissingElement("ftimeLastOriginatingChange"))
        );
        assert_eq!(
            parse_msds_repl_attribute_metadata(&["hello".to_string()]),
            Err(ReplMetaError::NoRecord)
        );
        let no_name = "<DS_REPL_ATTR_META_DATA></DS_REPL_ATTR_META_DATA>".to_string();
        assert_eq!(
            parse_msds_repl_attribute_metadata(&[no_name]),
            Err(ReplMetaError::MissingElement("pszAttributeName"))
        );
    }

    #[test]
    fn xml_unescapes_entities() {
        assert_eq!(
            unescape("A&amp;B &lt;x&gt; &#65;&#x42; &bogus; &"),
            "A&B <x> AB &bogus; &"
        );
        assert_eq!(unescape("&#xD800;"), "&#xD800;");
    }

    #[test]
    fn xml_parser_never_panics_on_random_text() {
        let mut rng = XorShift(42);
        let alphabet: Vec<char> =
            "<>/&;#x0123456789abcdefDS_REPL_ATTR_META_DATA pszAttributeNameunicodePwd\u{e9}\0"
                .chars()
                .collect();
        let good = xml("unicodePwd", "3", "2026-11-01T10:00:00Z", GUID, "1", "2");
        for i in 0..5_000 {
            let len = (rng.next() % 200) as usize;
            let mut s: String = (0..len)
                .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
                .collect();
            if i % 3 == 0 {
                // Cut a real record at a random char boundary and splice noise into it.
                let cut = (rng.next() as usize) % good.len();
                let cut = (0..=cut).rev().find(|c| good.is_char_boundary(*c)).unwrap();
                s = format!("{}{}", &good[..cut], s);
            }
            let _ = parse_msds_repl_attribute_metadata(&[s]);
        }
    }
}

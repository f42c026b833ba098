//! Decoders for per-attribute replication metadata, the evidence of who last wrote the machine
//! password, where and how often.
//!
//! Two forms exist:
//! - `replPropertyMetaData`, the binary NDR `replPropertyMetaDataBlob` (Samba returns it when asked
//!   by name; layout in `docs/samba-lab.md` §2): header `u32 version = 1, u32 reserved, u32 count,
//!   u32 reserved`, then `count` 48-byte little-endian entries `u32 attid, u32 version,
//!   u64 originating_change_time (NTTIME_1sec: seconds since 1601), GUID invocation id (16 bytes,
//!   Windows GUID layout), u64 originating_usn, u64 local_usn`.
//! - `msDS-ReplAttributeMetaData`, the constructed XML rendering Windows DCs return (one
//!   `<DS_REPL_ATTR_META_DATA>` element per value), parsed with `roxmltree`.
//!
//! [`merge`] combines what both forms say about one object.
//!
//! Both decoders are pure, bounds-checked and never panic on hostile input.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::dc::AttrMeta;
use super::time::nttime_seconds_to_datetime;

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
    #[error("msDS-ReplAttributeMetaData value is not well-formed XML: {0}")]
    Xml(String),
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
/// The synthetic root each value is wrapped in: Windows returns one bare element per value (and a
/// value may hold several), which is a fragment, not an XML document.
const WRAP_OPEN: &str = "<values>";
const WRAP_CLOSE: &str = "</values>";
/// The most XML nodes one value may produce. A record is about 20 nodes (elements and the
/// whitespace between them); this bounds the memory a hostile value can make us allocate.
const NODES_LIMIT: u32 = 1 << 16;
/// The most characters of a value (or of the XML parser's message) an error repeats.
const ECHO_CHARS: usize = 80;

/// At most [`ECHO_CHARS`] characters of `s`, control characters dropped, so that an error
/// message stays on one line and does not echo a whole hostile value.
fn echo(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(ECHO_CHARS)
        .collect()
}

/// Parses the values of `msDS-ReplAttributeMetaData` (Windows XML).
///
/// Each value is a standalone fragment holding one `<DS_REPL_ATTR_META_DATA>` element (several are
/// accepted too); it is parsed with `roxmltree` inside a synthetic root element. Elements for
/// attributes without a known attid ([`attid_for_name`]) are skipped without being checked;
/// elements for known attributes must carry a valid `dwVersion`, `ftimeLastOriginatingChange`
/// (RFC 3339), `uuidLastOriginatingDsaInvocationID`, `usnOriginatingChange` and `usnLocalChange`.
/// Blank values and the trailing NUL some DCs append are tolerated (NUL-separated records in one
/// value too). `pszLastOriginatingDsaDN` is not read ([`AttrMeta`] has no field for it).
///
/// A value that is not well-formed XML, or that holds no record, is an error.
pub fn parse_msds_repl_attribute_metadata(
    values: &[String],
) -> Result<Vec<AttrMeta>, ReplMetaError> {
    let mut out = Vec::new();
    // DCs end a value with a NUL, which XML does not allow anywhere: each NUL-separated piece is
    // parsed as a fragment of its own (so a NUL inside an element breaks it and is an error).
    for piece in values.iter().flat_map(|v| v.split('\0')) {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        out.extend(parse_fragment(piece)?);
    }
    Ok(out)
}

/// Parses one XML fragment holding one or more `<DS_REPL_ATTR_META_DATA>` elements.
fn parse_fragment(fragment: &str) -> Result<Vec<AttrMeta>, ReplMetaError> {
    let wrapped = format!("{WRAP_OPEN}{fragment}{WRAP_CLOSE}");
    // The value comes from a DC that may be hostile (or a man in the middle on a plain LDAP
    // bind): no DTD is accepted, so no entity beyond the five predefined ones (and character
    // references) is ever expanded, and no entity resolver is given, so nothing external is ever
    // fetched or read. With the synthetic root in front, a `<!DOCTYPE` in the value is not even
    // in prolog position and fails as malformed XML.
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(&wrapped, options)
        .map_err(|e| ReplMetaError::Xml(echo(&e.to_string())))?;
    let mut out = Vec::new();
    let mut found = false;
    for record in doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name(RECORD))
    {
        found = true;
        out.extend(parse_record(record)?);
    }
    if !found {
        return Err(ReplMetaError::NoRecord);
    }
    Ok(out)
}

fn parse_record(record: roxmltree::Node<'_, '_>) -> Result<Option<AttrMeta>, ReplMetaError> {
    let name = field(record, "pszAttributeName")?;
    let Some(attid) = attid_for_name(name) else {
        return Ok(None);
    };
    let bad = |element: &'static str, value: &str| ReplMetaError::BadValue {
        element,
        value: echo(value),
    };
    let version_s = field(record, "dwVersion")?;
    let version = version_s
        .parse::<u32>()
        .map_err(|_| bad("dwVersion", version_s))?;
    let time_s = field(record, "ftimeLastOriginatingChange")?;
    let originating_change_time = OffsetDateTime::parse(time_s, &Rfc3339)
        .map_err(|_| bad("ftimeLastOriginatingChange", time_s))?
        .to_offset(time::UtcOffset::UTC);
    let guid_s = field(record, "uuidLastOriginatingDsaInvocationID")?;
    let originating_invocation_id =
        Uuid::parse_str(guid_s).map_err(|_| bad("uuidLastOriginatingDsaInvocationID", guid_s))?;
    let ousn_s = field(record, "usnOriginatingChange")?;
    let originating_usn = ousn_s
        .parse::<u64>()
        .map_err(|_| bad("usnOriginatingChange", ousn_s))?;
    let lusn_s = field(record, "usnLocalChange")?;
    let local_usn = lusn_s
        .parse::<u64>()
        .map_err(|_| bad("usnLocalChange", lusn_s))?;
    Ok(Some(AttrMeta {
        attid,
        version,
        originating_change_time,
        originating_invocation_id,
        originating_usn,
        local_usn,
    }))
}

/// The trimmed text of the first `<name>` child of `record` (`""` when it is empty); entities
/// and character references are already decoded by the parser.
fn field<'a>(
    record: roxmltree::Node<'a, '_>,
    name: &'static str,
) -> Result<&'a str, ReplMetaError> {
    record
        .children()
        .find(|n| n.has_tag_name(name))
        .map(|n| n.text().unwrap_or_default().trim())
        .ok_or(ReplMetaError::MissingElement(name))
}

/// Whether an LDAP attribute description names the XML `msDS-ReplAttributeMetaData`: the bare
/// name (any case) or a ranged form a DC returns when it splits a long value list
/// (`msDS-ReplAttributeMetaData;range=0-1499`, `…;range=1500-*`). Other options are refused, in
/// particular `;binary`, whose values are `DS_REPL_ATTR_META_DATA_BLOB` structures, not XML.
pub fn is_repl_attribute_metadata_name(attr: &str) -> bool {
    let mut parts = attr.split(';');
    let base_ok = parts
        .next()
        .is_some_and(|b| b.eq_ignore_ascii_case("msDS-ReplAttributeMetaData"));
    let is_range = |opt: &str| {
        let Some((key, bounds)) = opt.split_once('=') else {
            return false;
        };
        let Some((low, high)) = bounds.split_once('-') else {
            return false;
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        key.eq_ignore_ascii_case("range") && digits(low) && (high == "*" || digits(high))
    };
    base_ok
        && match (parts.next(), parts.next()) {
            (None, _) => true,
            (Some(opt), None) => is_range(opt),
            (Some(_), Some(_)) => false,
        }
}

/// Merges the stamps read from `msDS-ReplAttributeMetaData` (`xml`) with those decoded from the
/// binary `replPropertyMetaData` (`binary`): the union by attid, one entry per attid, sorted by
/// attid.
///
/// The sources can differ: a DC may construct the XML without the password attributes (e.g. for
/// a caller that is not an administrator), or return a range-limited
/// `msDS-ReplAttributeMetaData;range=0-…` that stops before them, while the binary blob, when it
/// is readable at all, is the stored stamp vector itself. So where both carry an attid:
/// - for `unicodePwd` ([`ATTID_UNICODE_PWD`]) and `pwdLastSet` ([`ATTID_PWD_LAST_SET`]) the binary
///   entry wins, whatever the XML claims: the stored stamp is the evidence the diagnosis rests on;
/// - for any other attid the entry with the higher `(version, originating_change_time)` wins,
///   the binary one on a tie.
///
/// An attid repeated within one source is resolved by `(version, originating_change_time)` too.
pub fn merge(xml: Vec<AttrMeta>, binary: Vec<AttrMeta>) -> Vec<AttrMeta> {
    let newer = |a: &AttrMeta, b: &AttrMeta| {
        (a.version, a.originating_change_time) > (b.version, b.originating_change_time)
    };
    let mut by_attid: BTreeMap<u32, (AttrMeta, bool)> = BTreeMap::new();
    let tagged = binary
        .into_iter()
        .map(|m| (m, true))
        .chain(xml.into_iter().map(|m| (m, false)));
    for (meta, from_binary) in tagged {
        match by_attid.entry(meta.attid) {
            Entry::Vacant(slot) => {
                slot.insert((meta, from_binary));
            }
            Entry::Occupied(mut slot) => {
                let (kept, kept_binary) = slot.get();
                let binary_wins = matches!(meta.attid, ATTID_UNICODE_PWD | ATTID_PWD_LAST_SET)
                    && *kept_binary
                    && !from_binary;
                if !binary_wins && newer(&meta, kept) {
                    slot.insert((meta, from_binary));
                }
            }
        }
    }
    by_attid.into_values().map(|(meta, _)| meta).collect()
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

    /// The `docs/samba-lab.md` §2 example, written byte by byte.
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

    // The XML form: one bare `<DS_REPL_ATTR_META_DATA>` element per value, a child element per
    // member of the DS_REPL_ATTR_META_DATA(_2) structure, times in RFC 3339. Members documented at
    // https://learn.microsoft.com/en-us/windows/win32/api/ntdsapi/ns-ntdsapi-ds_repl_attr_meta_data
    // (and `pszLastOriginatingDsaDN` at .../ns-ntdsapi-ds_repl_attr_meta_data_2); the attribute at
    // https://learn.microsoft.com/en-us/windows/win32/adschema/a-msds-replattributemetadata; that
    // the values have no root element (a root must be added to parse them) is shown in
    // https://learn.microsoft.com/en-us/archive/blogs/adpowershell/accessing-replication-metadata-using-adpowershell
    // The layout (tabs, newlines, trailing NUL) is the one Windows DCs return.
    fn xml(name: &str, version: &str, time: &str, guid: &str, ousn: &str, lusn: &str) -> String {
        format!(
            "<DS_REPL_ATTR_META_DATA>\n\t<pszAttributeName>{name}</pszAttributeName>\n\t\
             <dwVersion>{version}</dwVersion>\n\t\
             <ftimeLastOriginatingChange>{time}</ftimeLastOriginatingChange>\n\t\
             <uuidLastOriginatingDsaInvocationID>{guid}</uuidLastOriginatingDsaInvocationID>\n\t\
             <usnOriginatingChange>{ousn}</usnOriginatingChange>\n\t\
             <usnLocalChange>{lusn}</usnLocalChange>\n\t\
             <pszLastOriginatingDsaDN>CN=NTDS Settings,CN=DC1,CN=Servers,\
             CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=corp,DC=example\
             </pszLastOriginatingDsaDN>\n\
             </DS_REPL_ATTR_META_DATA>\n\0"
        )
    }

    const GUID: &str = "ab2b0a64-5e42-4ae4-b721-2f43a5b2ea97";
    const T0: &str = "2026-11-24T04:18:09Z";

    /// A valid record for `name` with version `version`.
    fn rec(name: &str, version: u32) -> String {
        xml(name, &version.to_string(), T0, GUID, "12345", "12345")
    }

    #[test]
    fn parses_the_documented_windows_sample() {
        // Exactly as a Windows DC returns it, trailing NUL included (see the links above `xml`).
        let sample = "<DS_REPL_ATTR_META_DATA>\n\t<pszAttributeName>unicodePwd</pszAttributeName>\n\t\
                      <dwVersion>5</dwVersion>\n\t\
                      <ftimeLastOriginatingChange>2026-11-24T04:18:09Z</ftimeLastOriginatingChange>\n\t\
                      <uuidLastOriginatingDsaInvocationID>6f1c3a52-8d0e-4b7a-9c1d-2e3f4a5b6c7d\
                      </uuidLastOriginatingDsaInvocationID>\n\t\
                      <usnOriginatingChange>12345</usnOriginatingChange>\n\t\
                      <usnLocalChange>12345</usnLocalChange>\n\t\
                      <pszLastOriginatingDsaDN>CN=NTDS Settings,CN=DC1,CN=Servers,\
                      CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=corp,DC=example\
                      </pszLastOriginatingDsaDN>\n</DS_REPL_ATTR_META_DATA>\n\0";
        let metas = parse_msds_repl_attribute_metadata(&[sample.to_string()]).unwrap();
        assert_eq!(
            metas,
            vec![AttrMeta {
                attid: ATTID_UNICODE_PWD,
                version: 5,
                originating_change_time: datetime!(2026-11-24 04:18:09 UTC),
                originating_invocation_id: Uuid::parse_str("6f1c3a52-8d0e-4b7a-9c1d-2e3f4a5b6c7d")
                    .unwrap(),
                originating_usn: 12345,
                local_usn: 12345,
            }]
        );
    }

    /// What a parse should give: the (attid, version) pairs in order, or an error.
    enum Want {
        Metas(&'static [(u32, u32)]),
        Err(ReplMetaError),
        /// Malformed XML: a `ReplMetaError::Xml`.
        XmlErr,
    }

    #[test]
    fn xml_parse_table() {
        let amp_dn =
            rec("pwdLastSet", 2).replace("CN=Default-First-Site-Name", "CN=R&amp;D&#x20;Site");
        let two_in_one = format!(
            "{}{}\0",
            rec("unicodePwd", 3).trim_end_matches('\0'),
            rec("pwdLastSet", 4).trim_end_matches('\0')
        );
        let two_nul_terminated = format!("{}{}", rec("unicodePwd", 3), rec("pwdLastSet", 4));
        let garbage_unknown = xml("description", "not-a-number", "garbage", "x", "y", "<z/>");
        let no_dn = rec("unicodePwd", 1).replace(
            "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Default-First-Site-Name,CN=Sites,\
             CN=Configuration,DC=corp,DC=example",
            "",
        );
        let missing_time =
            "<DS_REPL_ATTR_META_DATA><pszAttributeName>unicodePwd</pszAttributeName>\
                            <dwVersion>1</dwVersion></DS_REPL_ATTR_META_DATA>"
                .to_string();
        let cases: Vec<(&str, Vec<String>, Want)> = vec![
            (
                "one record",
                vec![rec("unicodePwd", 5)],
                Want::Metas(&[(ATTID_UNICODE_PWD, 5)]),
            ),
            (
                "no trailing NUL",
                vec![rec("pwdLastSet", 2).trim_end_matches('\0').into()],
                Want::Metas(&[(ATTID_PWD_LAST_SET, 2)]),
            ),
            (
                "several NULs and blanks",
                vec![format!("\0 {}\0\0\n", rec("pwdLastSet", 2))],
                Want::Metas(&[(ATTID_PWD_LAST_SET, 2)]),
            ),
            (
                "escaped entities in the DSA DN",
                vec![amp_dn],
                Want::Metas(&[(ATTID_PWD_LAST_SET, 2)]),
            ),
            (
                "empty DSA DN",
                vec![no_dn],
                Want::Metas(&[(ATTID_UNICODE_PWD, 1)]),
            ),
            (
                "character reference in the name",
                vec![rec("unicode&#x50;wd", 7)],
                Want::Metas(&[(ATTID_UNICODE_PWD, 7)]),
            ),
            (
                "names are case-insensitive",
                vec![rec("UNICODEPWD", 6)],
                Want::Metas(&[(ATTID_UNICODE_PWD, 6)]),
            ),
            (
                "several records in one value",
                vec![two_in_one],
                Want::Metas(&[(ATTID_UNICODE_PWD, 3), (ATTID_PWD_LAST_SET, 4)]),
            ),
            (
                "several NUL-terminated records in one value",
                vec![two_nul_terminated],
                Want::Metas(&[(ATTID_UNICODE_PWD, 3), (ATTID_PWD_LAST_SET, 4)]),
            ),
            (
                "several values",
                vec![rec("userAccountControl", 9), rec("unicodePwd", 3)],
                Want::Metas(&[(ATTID_USER_ACCOUNT_CONTROL, 9), (ATTID_UNICODE_PWD, 3)]),
            ),
            (
                "unknown attribute with garbage is skipped",
                vec![garbage_unknown, rec("unicodePwd", 1)],
                Want::Metas(&[(ATTID_UNICODE_PWD, 1)]),
            ),
            (
                "blank values",
                vec![String::new(), "\0".into(), " \n\t".into()],
                Want::Metas(&[]),
            ),
            ("no values", vec![], Want::Metas(&[])),
            (
                "negative version",
                vec![xml("unicodePwd", "-1", T0, GUID, "1", "2")],
                Want::Err(ReplMetaError::BadValue {
                    element: "dwVersion",
                    value: "-1".into(),
                }),
            ),
            (
                "version over u32",
                vec![xml("unicodePwd", "4294967296", T0, GUID, "1", "2")],
                Want::Err(ReplMetaError::BadValue {
                    element: "dwVersion",
                    value: "4294967296".into(),
                }),
            ),
            (
                "bad time",
                vec![xml("unicodePwd", "1", "yesterday", GUID, "1", "2")],
                Want::Err(ReplMetaError::BadValue {
                    element: "ftimeLastOriginatingChange",
                    value: "yesterday".into(),
                }),
            ),
            (
                "FILETIME instead of RFC 3339",
                vec![xml("unicodePwd", "1", "133456789012345678", GUID, "1", "2")],
                Want::Err(ReplMetaError::BadValue {
                    element: "ftimeLastOriginatingChange",
                    value: "133456789012345678".into(),
                }),
            ),
            (
                "bad invocation id",
                vec![xml("unicodePwd", "1", T0, "{nope}", "1", "2")],
                Want::Err(ReplMetaError::BadValue {
                    element: "uuidLastOriginatingDsaInvocationID",
                    value: "{nope}".into(),
                }),
            ),
            (
                "bad local usn",
                vec![xml("unicodePwd", "1", T0, GUID, "1", "x")],
                Want::Err(ReplMetaError::BadValue {
                    element: "usnLocalChange",
                    value: "x".into(),
                }),
            ),
            (
                "empty originating usn",
                vec![xml("unicodePwd", "1", T0, GUID, "", "2")],
                Want::Err(ReplMetaError::BadValue {
                    element: "usnOriginatingChange",
                    value: String::new(),
                }),
            ),
            (
                "missing element",
                vec![missing_time],
                Want::Err(ReplMetaError::MissingElement("ftimeLastOriginatingChange")),
            ),
            (
                "no attribute name",
                vec!["<DS_REPL_ATTR_META_DATA></DS_REPL_ATTR_META_DATA>".into()],
                Want::Err(ReplMetaError::MissingElement("pszAttributeName")),
            ),
            (
                "plain text",
                vec!["hello".into()],
                Want::Err(ReplMetaError::NoRecord),
            ),
            (
                "other element",
                vec!["<DS_REPL_VALUE_META_DATA/>".into()],
                Want::Err(ReplMetaError::NoRecord),
            ),
            (
                "non-XML garbage",
                vec!["<<>>&&\u{1}</".into()],
                Want::XmlErr,
            ),
            (
                "unclosed record",
                vec![rec("unicodePwd", 1).replace("</DS_REPL_ATTR_META_DATA>", "")],
                Want::XmlErr,
            ),
            (
                "NUL inside the value",
                vec![rec("unicodePwd", 1).replacen('\n', "\0", 1)],
                Want::XmlErr,
            ),
            (
                "unknown entity",
                vec![rec("unicodePwd", 1).replace("CN=DC1", "CN=&xxe;")],
                Want::XmlErr,
            ),
            (
                "escape from the synthetic root",
                vec![format!("</values>{}", rec("unicodePwd", 1))],
                Want::XmlErr,
            ),
            (
                "one bad value spoils the lot",
                vec![rec("unicodePwd", 1), "<".into()],
                Want::XmlErr,
            ),
        ];
        for (what, values, want) in cases {
            let got = parse_msds_repl_attribute_metadata(&values);
            match want {
                Want::Metas(pairs) => {
                    let got: Vec<(u32, u32)> = got
                        .unwrap_or_else(|e| panic!("{what}: {e}"))
                        .iter()
                        .map(|m| (m.attid, m.version))
                        .collect();
                    assert_eq!(got, pairs, "{what}");
                }
                Want::Err(e) => assert_eq!(got, Err(e), "{what}"),
                Want::XmlErr => {
                    assert!(matches!(got, Err(ReplMetaError::Xml(_))), "{what}: {got:?}")
                }
            }
        }
    }

    #[test]
    fn xml_fields_are_decoded_exactly() {
        let values = vec![xml(
            "pwdLastSet",
            " 4 ",
            "2026-11-01T11:00:00.123+01:00",
            GUID,
            "24227",
            "23866",
        )];
        let m = parse_msds_repl_attribute_metadata(&values).unwrap();
        let p = find(&m, ATTID_PWD_LAST_SET).unwrap();
        assert_eq!(p.version, 4);
        assert_eq!(
            p.originating_change_time,
            datetime!(2026-11-01 10:00:00.123 UTC)
        );
        assert_eq!(p.originating_change_time.offset(), time::UtcOffset::UTC);
        assert_eq!(p.originating_invocation_id, Uuid::parse_str(GUID).unwrap());
        assert_eq!((p.originating_usn, p.local_usn), (24227, 23866));
    }

    #[test]
    fn xml_refuses_dtds_and_never_expands_their_entities() {
        let record = rec("unicodePwd", 1).replace("CN=DC1", "CN=&boom;");
        let internal = format!("<!DOCTYPE v [<!ENTITY boom \"EXPANDED\">]>\n{record}");
        let external =
            format!("<!DOCTYPE v [<!ENTITY boom SYSTEM \"file:///etc/passwd\">]>\n{record}");
        let laughs = format!(
            "<!DOCTYPE v [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">\
             <!ENTITY boom \"&b;&b;&b;&b;&b;&b;&b;&b;\">]>{record}"
        );
        for value in [internal, external, laughs] {
            let got = parse_msds_repl_attribute_metadata(&[value]);
            let Err(ReplMetaError::Xml(msg)) = &got else {
                panic!("a DTD was accepted: {got:?}");
            };
            assert!(!msg.contains("EXPANDED"), "{msg}");
        }
    }

    #[test]
    fn xml_errors_are_one_short_line() {
        let long = "9".repeat(500);
        let got =
            parse_msds_repl_attribute_metadata(&[xml("unicodePwd", &long, T0, GUID, "1", "2")]);
        let Err(e @ ReplMetaError::BadValue { .. }) = &got else {
            panic!("{got:?}");
        };
        let msg = e.to_string();
        assert!(!msg.contains('\n') && msg.len() < 200, "{msg}");
        let multi = format!("12\n{}\n", "3".repeat(200));
        let got =
            parse_msds_repl_attribute_metadata(&[xml("unicodePwd", "1", T0, GUID, &multi, "2")]);
        let msg = got.unwrap_err().to_string();
        assert!(!msg.contains('\n') && msg.len() < 200, "{msg}");
        let entity = format!("&{};", "e".repeat(500));
        let got =
            parse_msds_repl_attribute_metadata(&[rec("unicodePwd", 1).replace("CN=DC1", &entity)]);
        let msg = got.unwrap_err().to_string();
        assert!(!msg.contains('\n') && msg.len() < 200, "{msg}");
    }

    fn meta(attid: u32, version: u32, time: OffsetDateTime, usn: u64) -> AttrMeta {
        AttrMeta {
            attid,
            version,
            originating_change_time: time,
            originating_invocation_id: Uuid::nil(),
            originating_usn: usn,
            local_usn: usn,
        }
    }

    #[test]
    fn merge_table() {
        let old = datetime!(2026-11-01 10:00 UTC);
        let new = datetime!(2026-11-24 04:18:09 UTC);
        // The usn tells which source an entry came from: 1 for XML, 2 for binary.
        let x = |attid, version, time| meta(attid, version, time, 1);
        let b = |attid, version, time| meta(attid, version, time, 2);
        const UPWD: u32 = ATTID_UNICODE_PWD;
        const PLS: u32 = ATTID_PWD_LAST_SET;
        const UAC: u32 = ATTID_USER_ACCOUNT_CONTROL;
        const SUP: u32 = ATTID_SUPPLEMENTAL_CREDENTIALS;
        // (what, xml, binary, merged)
        type Case = (&'static str, Vec<AttrMeta>, Vec<AttrMeta>, Vec<AttrMeta>);
        let cases: Vec<Case> = vec![
            ("nothing", vec![], vec![], vec![]),
            (
                "XML only",
                vec![x(UPWD, 3, old), x(UAC, 1, old)],
                vec![],
                vec![x(UAC, 1, old), x(UPWD, 3, old)],
            ),
            (
                "binary only",
                vec![],
                vec![b(PLS, 2, old), b(UPWD, 2, old)],
                vec![b(UPWD, 2, old), b(PLS, 2, old)],
            ),
            // A non-admin's XML without the password entries: the union fills them in.
            (
                "disjoint",
                vec![x(UAC, 4, new)],
                vec![b(UPWD, 2, old)],
                vec![x(UAC, 4, new), b(UPWD, 2, old)],
            ),
            (
                "binary preferred for unicodePwd and pwdLastSet even when the XML is newer",
                vec![x(UPWD, 9, new), x(PLS, 9, new)],
                vec![b(UPWD, 2, old), b(PLS, 1, old)],
                vec![b(UPWD, 2, old), b(PLS, 1, old)],
            ),
            (
                "other attid: newer XML version wins",
                vec![x(UAC, 5, old)],
                vec![b(UAC, 4, new)],
                vec![x(UAC, 5, old)],
            ),
            (
                "other attid: newer binary version wins",
                vec![x(SUP, 4, new)],
                vec![b(SUP, 5, old)],
                vec![b(SUP, 5, old)],
            ),
            (
                "other attid: same version, later time wins",
                vec![x(UAC, 4, new)],
                vec![b(UAC, 4, old)],
                vec![x(UAC, 4, new)],
            ),
            (
                "other attid: a tie keeps the binary",
                vec![x(UAC, 4, old)],
                vec![b(UAC, 4, old)],
                vec![b(UAC, 4, old)],
            ),
            (
                "repeat within one source: newer wins",
                vec![x(UAC, 1, old), x(UAC, 2, old)],
                vec![],
                vec![x(UAC, 2, old)],
            ),
            (
                "repeat within the binary",
                vec![],
                vec![b(UPWD, 2, new), b(UPWD, 1, old)],
                vec![b(UPWD, 2, new)],
            ),
        ];
        for (what, xml, binary, want) in cases {
            assert_eq!(merge(xml, binary), want, "{what}");
        }
    }

    #[test]
    fn merges_parsed_xml_with_the_samba_blob() {
        // The XML (newer, as a confused or hostile rendering might claim) and the binary blob
        // both carry unicodePwd; the XML alone carries pwdLastSet and userAccountControl.
        let xml_values = vec![
            xml("unicodePwd", "7", "2026-12-01T00:00:00Z", GUID, "1", "1"),
            xml("pwdLastSet", "3", T0, GUID, "2", "2"),
            xml("userAccountControl", "1", T0, GUID, "3", "3"),
        ];
        let merged = merge(
            parse_msds_repl_attribute_metadata(&xml_values).unwrap(),
            decode_repl_property_metadata(&SAMBA_EXAMPLE).unwrap(),
        );
        let attids: Vec<u32> = merged.iter().map(|m| m.attid).collect();
        assert_eq!(
            attids,
            [
                ATTID_USER_ACCOUNT_CONTROL,
                ATTID_UNICODE_PWD,
                ATTID_PWD_LAST_SET
            ]
        );
        let u = find(&merged, ATTID_UNICODE_PWD).unwrap();
        assert_eq!((u.version, u.originating_usn), (2, 0x5ea2));
        assert_eq!(find(&merged, ATTID_PWD_LAST_SET).unwrap().version, 3);
    }

    #[test]
    fn recognises_the_repl_attribute_metadata_name() {
        let cases = [
            ("msDS-ReplAttributeMetaData", true),
            ("msds-replattributemetadata", true),
            ("MSDS-REPLATTRIBUTEMETADATA", true),
            ("msDS-ReplAttributeMetaData;range=0-*", true),
            ("msDS-ReplAttributeMetaData;range=0-1499", true),
            ("msDS-ReplAttributeMetaData;Range=1500-*", true),
            ("msds-replattributemetadata;RANGE=1500-2999", true),
            ("msDS-ReplAttributeMetaData;binary", false),
            ("msDS-ReplAttributeMetaData;range=0-*;binary", false),
            ("msDS-ReplAttributeMetaData;range=", false),
            ("msDS-ReplAttributeMetaData;range=0", false),
            ("msDS-ReplAttributeMetaData;range=a-b", false),
            ("msDS-ReplAttributeMetaData;range=-5", false),
            ("msDS-ReplAttributeMetaData;range=0-*x", false),
            ("msDS-ReplAttributeMetaData;", false),
            ("msDS-ReplAttributeMetaData ", false),
            ("msDS-ReplValueMetaData", false),
            ("msDS-ReplValueMetaData;range=0-*", false),
            ("replPropertyMetaData", false),
            ("msDS-ReplAttributeMetaDataX", false),
            ("", false),
        ];
        for (attr, want) in cases {
            assert_eq!(is_repl_attribute_metadata_name(attr), want, "{attr:?}");
        }
    }

    #[test]
    fn xml_parser_never_panics_on_random_text() {
        let mut rng = XorShift(42);
        let alphabet: Vec<char> =
            "<>/&;#x0123456789abcdefDS_REPL_ATTR_META_DATA pszAttributeNameunicodePwd!DOCTYPE[]\"'\u{e9}\0"
                .chars()
                .collect();
        let good = rec("unicodePwd", 3);
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

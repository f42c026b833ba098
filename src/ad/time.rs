//! AD's three time encodings: FILETIME (100-ns ticks since 1601, `pwdLastSet` and friends),
//! NTTIME_1sec (seconds since 1601, in replication metadata) and GeneralizedTime
//! (`whenCreated`, `whenChanged`, and LDAP filters on them).
//!
//! Times are `time::OffsetDateTime` in UTC. Every decoder answers a value it cannot represent
//! with a [`DecodeError`] instead of panicking.

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, Time, UtcOffset};

use super::DecodeError;

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
}

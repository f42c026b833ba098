//! Is this file the companion client for this platform, at this portal's version?
//!
//! Read from the bytes, never by running the file: the exe cannot run here, and a portal
//! should not execute what it serves. Every build of the client carries its User-Agent,
//! `concat!("trustdesk-client/", env!("CARGO_PKG_VERSION"))` (`crates/client/src/http.rs`):
//! one compile-time literal, so its bytes sit together in the read-only data on every target,
//! and it is the string the portal sees on each redeem. clap's `--version` is no such literal:
//! it keeps the name and the version apart and joins them at run time.
//!
//! This catches the wrong file or a stale build; it proves nothing about who built it (the
//! hash the token page shows, and Authenticode where configured, do that part).

use std::collections::BTreeSet;
use std::path::Path;

/// What precedes the version in every client build.
pub const MARKER: &str = "trustdesk-client/";

/// The two platforms the portal ships the client for (x86-64 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    Windows,
    Linux,
}

impl Platform {
    fn describe(self) -> &'static str {
        match self {
            Self::Windows => "Windows x86-64 (PE32+)",
            Self::Linux => "Linux x86-64 (ELF64)",
        }
    }
}

/// A file that is not the client this portal serves, and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct BinaryError {
    path: String,
    problem: Problem,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("cannot read it: {0}")]
    Read(String),
    #[error("not a {expected} program ({found})")]
    Format {
        expected: &'static str,
        found: &'static str,
    },
    #[error(
        "it is trustdesk-client {found}, not {expected} (this portal's version): serve the client built with this portal"
    )]
    Version { found: String, expected: String },
    #[error("it carries no trustdesk-client version string: is it the companion client?")]
    NoVersion,
}

/// Read `path` and check it is the client for `platform` at this portal's version.
pub fn read(path: &Path, platform: Platform) -> Result<Vec<u8>, BinaryError> {
    let at = |problem| BinaryError {
        path: path.display().to_string(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| at(Problem::Read(e.to_string())))?;
    check(&bytes, platform, super::VERSION).map_err(at)?;
    Ok(bytes)
}

/// The pure check: executable format and machine, then the version.
pub fn check(bytes: &[u8], platform: Platform, version: &str) -> Result<(), Problem> {
    let found = format_of(bytes);
    let ok = matches!(
        (platform, found),
        (Platform::Windows, Format::PeAmd64) | (Platform::Linux, Format::ElfX86_64)
    );
    if !ok {
        return Err(Problem::Format {
            expected: platform.describe(),
            found: found.describe(),
        });
    }
    check_version(bytes, version)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    PeAmd64,
    PeOther,
    ElfX86_64,
    ElfOther,
    Unknown,
}

impl Format {
    fn describe(self) -> &'static str {
        match self {
            Self::PeAmd64 => "a Windows x86-64 program",
            Self::PeOther => "a Windows program for another machine",
            Self::ElfX86_64 => "a Linux x86-64 program",
            Self::ElfOther => "an ELF file for another machine or word size",
            Self::Unknown => "neither a Windows nor a Linux program",
        }
    }
}

fn u16_le(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*b.first()?, *b.get(1)?]))
}

fn u32_le(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

/// PE: `MZ`, the `PE\0\0` header at `e_lfanew`, machine AMD64, optional header PE32+.
/// ELF: the magic, 64-bit, little-endian, machine x86-64.
fn format_of(bytes: &[u8]) -> Format {
    if bytes.starts_with(b"MZ") {
        let pe = u32_le(bytes, 0x3c).and_then(|o| usize::try_from(o).ok());
        let Some(pe) = pe.filter(|&o| bytes.get(o..o.saturating_add(4)) == Some(b"PE\0\0")) else {
            return Format::Unknown;
        };
        let amd64 = u16_le(bytes, pe + 4) == Some(0x8664);
        let pe32_plus = u16_le(bytes, pe + 24) == Some(0x020b);
        return if amd64 && pe32_plus {
            Format::PeAmd64
        } else {
            Format::PeOther
        };
    }
    if bytes.starts_with(b"\x7fELF") {
        let x86_64 = bytes.get(4..6) == Some(&[2, 1]) && u16_le(bytes, 18) == Some(62);
        return if x86_64 {
            Format::ElfX86_64
        } else {
            Format::ElfOther
        };
    }
    Format::Unknown
}

/// Some `MARKER` followed by exactly `version`, not by more of a version (`0.1.1` is not
/// `0.1.10`, `0.2.0` is not `0.2.0-rc.1`). Refusals name the versions found.
fn check_version(bytes: &[u8], version: &str) -> Result<(), Problem> {
    let mut found = BTreeSet::new();
    let mut rest = bytes;
    while let Some(at) = find(rest, MARKER.as_bytes()) {
        let after = rest.get(at + MARKER.len()..).unwrap_or_default();
        if let Some(tail) = after.strip_prefix(version.as_bytes())
            && !tail
                .first()
                .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'))
        {
            return Ok(());
        }
        found.insert(version_at(after));
        rest = after;
    }
    if found.is_empty() {
        return Err(Problem::NoVersion);
    }
    Err(Problem::Version {
        found: found.into_iter().collect::<Vec<_>>().join(", "),
        expected: version.to_string(),
    })
}

/// The version written at the start of `b`: digits and dots, then a `-…`/`+…` suffix if any
/// (strings are packed without separators, so a suffix may run into the next one).
fn version_at(b: &[u8]) -> String {
    let core = b
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'.')
        .count();
    let suffix = match b.get(core) {
        Some(b'-' | b'+') => b
            .get(core..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'+'))
            .count(),
        _ => 0,
    };
    let text = String::from_utf8_lossy(b.get(..(core + suffix).min(40)).unwrap_or_default());
    if text.is_empty() {
        "(unreadable)".into()
    } else {
        text.into_owned()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    loop {
        let at = from + hay.get(from..)?.iter().position(|&b| b == first)?;
        if hay.get(at..at.checked_add(needle.len())?)? == needle {
            return Some(at);
        }
        from = at + 1;
    }
}

/// A file that passes [`check`] and is no program at all: the headers a PE or ELF loader
/// looks at first, then a label saying what it is, then the marker. For tests, and for a
/// lab where the Windows exe was not built; the page shows its hash like any other.
pub fn placeholder(platform: Platform, version: &str) -> Vec<u8> {
    let mut b = vec![0u8; 0x80];
    let mut put = |at: usize, bytes: &[u8]| {
        if let Some(slot) = b.get_mut(at..at + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
    };
    match platform {
        Platform::Windows => {
            put(0, b"MZ");
            put(0x3c, &0x40u32.to_le_bytes());
            put(0x40, b"PE\0\0");
            put(0x44, &0x8664u16.to_le_bytes());
            put(0x58, &0x020bu16.to_le_bytes());
        }
        Platform::Linux => {
            put(0, b"\x7fELF\x02\x01\x01");
            put(18, &62u16.to_le_bytes());
        }
    }
    b.extend_from_slice(
        format!(
            "\nPLACEHOLDER, NOT A PROGRAM: it stands in for the {} trustdesk-client where that \
             was not built. {MARKER}{version}\n",
            platform.describe()
        )
        .as_bytes(),
    );
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholders_pass_for_their_platform_only() {
        for p in [Platform::Windows, Platform::Linux] {
            assert_eq!(check(&placeholder(p, "1.2.3"), p, "1.2.3"), Ok(()));
        }
        let err = check(
            &placeholder(Platform::Linux, "1.2.3"),
            Platform::Windows,
            "1.2.3",
        );
        assert!(matches!(err, Err(Problem::Format { found, .. }) if found.contains("Linux")));
        let err = check(
            b"#!/bin/sh\necho trustdesk-client/1.2.3\n",
            Platform::Linux,
            "1.2.3",
        );
        assert!(matches!(err, Err(Problem::Format { .. })));
    }

    #[test]
    fn the_version_must_match_exactly() {
        let v = |bytes: &[u8], version| check_version(bytes, version);
        assert_eq!(v(b"..trustdesk-client/0.1.0expired..", "0.1.0"), Ok(()));
        assert_eq!(v(b"trustdesk-client/0.1.0", "0.1.0"), Ok(()));
        // A longer version is another version.
        for other in ["0.1.01", "0.1.0.1", "0.1.0-rc.1", "0.1.0+build5"] {
            let bytes = format!("x trustdesk-client/{other} y");
            let err = v(bytes.as_bytes(), "0.1.0").unwrap_err();
            assert!(
                matches!(&err, Problem::Version { found, .. } if found.starts_with(other)),
                "{other}: {err:?}"
            );
        }
        assert_eq!(
            v(
                b"trustdesk-client/0.0.9 and trustdesk-client/0.1.1",
                "0.1.0"
            ),
            Err(Problem::Version {
                found: "0.0.9, 0.1.1".into(),
                expected: "0.1.0".into()
            })
        );
        // Any occurrence that matches is enough.
        assert_eq!(
            v(b"trustdesk-client/ trustdesk-client/0.1.0\0", "0.1.0"),
            Ok(())
        );
        assert_eq!(
            v(b"trustdesk client 0.1.0", "0.1.0"),
            Err(Problem::NoVersion)
        );
        assert_eq!(v(b"", "0.1.0"), Err(Problem::NoVersion));
        assert_eq!(
            v(b"trustdesk-client/", "0.1.0")
                .map_err(|e| e.to_string())
                .unwrap_err(),
            "it is trustdesk-client (unreadable), not 0.1.0 (this portal's version): serve the client built with this portal"
        );
    }

    #[test]
    fn truncated_headers_do_not_panic() {
        for bytes in [&b"MZ"[..], b"MZ\0\0", b""] {
            assert_eq!(format_of(bytes), Format::Unknown);
        }
        for bytes in [&b"\x7fELF"[..], b"\x7fELF\x02\x01"] {
            assert_eq!(format_of(bytes), Format::ElfOther);
        }
        let mut pe = placeholder(Platform::Windows, "1");
        pe.truncate(0x46);
        assert_eq!(format_of(&pe), Format::PeOther);
        let mut far = placeholder(Platform::Windows, "1");
        far.splice(0x3c..0x40, u32::MAX.to_le_bytes());
        assert_eq!(format_of(&far), Format::Unknown);
    }
}

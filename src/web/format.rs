//! Display helpers for templates: relative times with the exact UTC time, stable codes.
//!
//! Pages print a time as `<time datetime="{{ w.datetime }}" title="{{ w.exact }}">`: the
//! relative text (or, with `data-local`, the exact UTC text that `static/localtime.js` turns
//! into the browser's local time), with UTC on hover either way.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// A time as "3 days ago", with the exact UTC time for the hover title and the RFC 3339 UTC
/// value for a `<time datetime>` (both empty when there is no time).
pub struct When {
    pub rel: String,
    pub exact: String,
    pub datetime: String,
}

pub fn when(now: OffsetDateTime, t: Option<OffsetDateTime>) -> When {
    let Some(t) = t else {
        return When {
            rel: "never".into(),
            exact: String::new(),
            datetime: String::new(),
        };
    };
    When {
        rel: relative(now, t),
        ..at(t)
    }
}

/// A time to print exactly: `rel` is the exact UTC text too.
pub fn at(t: OffsetDateTime) -> When {
    let t = t.to_offset(UtcOffset::UTC);
    let exact = t
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_default();
    When {
        rel: exact.clone(),
        datetime: t.format(&Rfc3339).unwrap_or_default(),
        exact,
    }
}

pub fn relative(now: OffsetDateTime, t: OffsetDateTime) -> String {
    let secs = (now - t).whole_seconds();
    let (n, future) = (secs.unsigned_abs(), secs < 0);
    let text = match n {
        0..=59 => {
            return if future {
                "in a few seconds".into()
            } else {
                "just now".into()
            };
        }
        60..=3599 => plural(n / 60, "minute"),
        3600..=86_399 => plural(n / 3600, "hour"),
        86_400..=5_183_999 => plural(n / 86_400, "day"),
        5_184_000..=63_071_999 => plural(n / 2_592_000, "month"),
        _ => plural(n / 31_536_000, "year"),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// Free text from a form: trimmed, control characters dropped, at most `max` characters;
/// `None` when nothing is left.
pub fn form_text(raw: &str, max: usize) -> Option<String> {
    let t: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect();
    (!t.is_empty()).then_some(t)
}

/// `/computers/<name>`, the name percent-encoded as one path segment: safe in a `Location`
/// header whatever the directory's name holds (a sAMAccountName may be non-ASCII).
pub fn computer_path(name: &str) -> String {
    computers_path(&[name])
}

/// `/computers/<domain>/<name>`: a computer's page in its domain, each part percent-encoded as
/// one path segment.
pub fn computer_path_in(domain: &str, name: &str) -> String {
    computers_path(&[domain, name])
}

/// A computer's page from what a row recorded: in the domain its DN names, else the old
/// `/computers/<name>` (which redirects, or asks which domain).
pub fn computer_href(dn: Option<&str>, name: &str) -> String {
    match dn.and_then(crate::ad::dn::dn_domain) {
        Some(domain) => computer_path_in(&domain.to_ascii_lowercase(), name),
        None => computer_path(name),
    }
}

fn computers_path(parts: &[&str]) -> String {
    match url::Url::parse("http://portal/computers") {
        Ok(mut url) => {
            if let Ok(mut segments) = url.path_segments_mut() {
                segments.extend(parts);
            }
            url.path().to_string()
        }
        Err(_) => "/computers".to_string(),
    }
}

/// The snake_case code serde gives a value (e.g. a cause or a severity).
pub fn code<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A fix step's text cut at its backticks: `(true, command)` for each command the step marks
/// (`diagnostics/fixes.rs` puts commands between backticks), `(false, prose)` around them.
/// An unpaired backtick leaves the rest as prose.
pub fn step_parts(step: &str) -> Vec<(bool, &str)> {
    let mut parts: Vec<(bool, &str)> = Vec::new();
    let mut rest = step;
    while let Some((before, after)) = rest.split_once('`') {
        let Some((command, tail)) = after.split_once('`') else {
            break;
        };
        parts.push((false, before));
        parts.push((true, command));
        rest = tail;
    }
    parts.push((false, rest));
    parts.retain(|(_, text)| !text.is_empty());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn computer_paths_are_safe_location_headers() {
        for (name, path) in [
            ("PC01", "/computers/PC01"),
            ("CORP\\PC01", "/computers/CORP%5CPC01"),
            ("PC-\u{c9}T\u{c9}", "/computers/PC-%C3%89T%C3%89"),
            // (WHATWG URL parsing drops CR and LF.)
            ("a/b?c#d\r\n", "/computers/a%2Fb%3Fc%23d"),
        ] {
            assert_eq!(computer_path(name), path);
            assert_eq!(
                computer_path_in("corp.example", name),
                path.replacen("/computers/", "/computers/corp.example/", 1)
            );
            assert!(axum::http::HeaderValue::from_str(&computer_path(name)).is_ok());
        }
    }

    #[test]
    fn a_rows_computer_link_goes_to_the_domain_its_dn_names() {
        let dn = "CN=PC01,OU=Paris,DC=Forest2,DC=example,DC=test";
        for (dn, want) in [
            (Some(dn), "/computers/forest2.example.test/PC01"),
            (Some("CN=PC01"), "/computers/PC01"),
            (None, "/computers/PC01"),
        ] {
            assert_eq!(computer_href(dn, "PC01"), want);
        }
    }

    #[test]
    fn relative_times_read_well() {
        let now = datetime!(2026-11-24 12:00 UTC);
        assert_eq!(
            relative(now, datetime!(2026-11-24 11:59:30 UTC)),
            "just now"
        );
        assert_eq!(relative(now, datetime!(2026-11-24 11:00 UTC)), "1 hour ago");
        assert_eq!(relative(now, datetime!(2026-11-21 12:00 UTC)), "3 days ago");
        assert_eq!(
            relative(now, datetime!(2026-07-24 12:00 UTC)),
            "4 months ago"
        );
        assert_eq!(relative(now, datetime!(2026-11-24 13:30 UTC)), "in 1 hour");
        assert_eq!(when(now, None).rel, "never");
        assert_eq!(when(now, None).datetime, "");
        assert_eq!(form_text("  INC-1\u{7}2 ", 200).as_deref(), Some("INC-12"));
        assert_eq!(form_text(" \n ", 200), None);
        assert_eq!(form_text("abcdef", 3).as_deref(), Some("abc"));
    }

    #[test]
    fn times_carry_utc_for_the_hover_and_the_datetime_attribute() {
        let now = datetime!(2026-11-24 12:00 UTC);
        // Another offset is printed in UTC all the same.
        let w = when(now, Some(datetime!(2026-11-24 13:00:05.25 +02:00)));
        assert_eq!(w.rel, "59 minutes ago");
        assert_eq!(w.exact, "2026-11-24 11:00:05 UTC");
        assert_eq!(w.datetime, "2026-11-24T11:00:05.25Z");
        let a = at(datetime!(2026-01-02 03:04:05 UTC));
        assert_eq!(a.rel, a.exact);
        assert_eq!(a.datetime, "2026-01-02T03:04:05Z");
    }

    #[test]
    fn steps_are_cut_at_their_backticks() {
        assert_eq!(
            step_parts("Verify: `nltest /sc_verify:corp` (or `Test-X`) reports success."),
            [
                (false, "Verify: "),
                (true, "nltest /sc_verify:corp"),
                (false, " (or "),
                (true, "Test-X"),
                (false, ") reports success."),
            ]
        );
        assert_eq!(step_parts("no command"), [(false, "no command")]);
        assert_eq!(step_parts("`all`"), [(true, "all")]);
        assert_eq!(
            step_parts("a `b` c `d"),
            [(false, "a "), (true, "b"), (false, " c `d")]
        );
    }
}

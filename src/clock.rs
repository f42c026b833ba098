//! The one place in the portal that reads the wall clock (clippy's `disallowed-methods` refuses
//! `OffsetDateTime::now_utc` everywhere else). Capabilities and the diagnosis take `now` as a
//! parameter, so tests can pin it; handlers and background tasks ask here, once per request
//! or tick.

use time::OffsetDateTime;

/// The current time, UTC.
#[allow(clippy::disallowed_methods)]
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

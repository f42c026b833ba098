//! The post-repair watch (security review H-1). A redeem sets a password that crossed the
//! network. The companion client then rotates it twice on the machine, because a DC still
//! accepts a machine account's previous password besides its current one, so one rotation is
//! not enough (the client's README, step 7 "Rotate twice"). Each set raises
//! `msDS-KeyVersionNumber` by one: it is the `dwVersion` of `unicodePwd`'s attribute stamp
//! (MS-ADTS 3.1.1.4.5.16). So a redeem that left key version K is safe once the account shows
//! K + 2 or more; one that still shows less after `repair_watch` was redeemed by something
//! that did not rotate (a `curl`, a technician redeeming their own token, a client that died),
//! and the password that crossed the network may still be valid.

use super::facts::{Facts, ts};
use super::{DiagnosisSettings, FindingCode, Out, Severity};

/// Password sets the client makes after the redeem's own.
pub const CLIENT_ROTATIONS: i64 = 2;

/// Whether a redeem that left `after_redeem` is covered by the key version `now_version`.
pub fn rotated(after_redeem: i64, now_version: i64) -> bool {
    now_version >= after_redeem.saturating_add(CLIENT_ROTATIONS)
}

/// `transited_password_may_be_valid` (critical): the newest redeem, older than the watch,
/// whose rotations the key version does not show.
pub(super) fn transited(f: &Facts<'_>, settings: &DiagnosisSettings, out: &mut Out) {
    let Some(current) = f.account.and_then(|a| a.key_version).map(i64::from) else {
        return;
    };
    let exposed = f.snapshot.redeems.iter().rev().find(|r| {
        !rotated(r.key_version, current) && f.age(r.redeemed_at) >= settings.repair_watch
    });
    let Some(r) = exposed else { return };
    out.finding(
        FindingCode::TransitedPasswordMayBeValid,
        Severity::Critical,
        "The password that crossed the network may still be valid: a token was redeemed, and \
         the machine never rotated it away. Run a new token repair with the companion client \
         on the machine itself; if nobody at the machine redeemed that token, treat the \
         account as exposed and tell the security team."
            .to_string(),
        vec![
            format!("token redeemed at {}", ts(r.redeemed_at)),
            format!(
                "msDS-KeyVersionNumber = {current}; the redeem left {}, the client's {} \
                 rotations make it {} or more",
                r.key_version,
                CLIENT_ROTATIONS,
                r.key_version.saturating_add(CLIENT_ROTATIONS)
            ),
        ],
    );
}

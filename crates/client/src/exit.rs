//! The process exit codes: one per outcome, in one place. README.md and `--help` list them;
//! scripts (and the portal's end-to-end tests) rely on the numbers, so never renumber.

/// How a run of `trustdesk-client` ended. The discriminant is the process exit status.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// The secure channel was repaired, verified and rotated, and the portal was told.
    Repaired = 0,
    /// Usage or configuration error (also clap's own status for a bad command line).
    Usage = 2,
    /// The token was rejected locally: bad signature, expired, another computer or portal.
    TokenRejected = 3,
    /// A preflight check failed; nothing was changed anywhere.
    PreflightFailed = 4,
    /// The portal refused the token (or the short repair code); nothing was changed anywhere.
    PortalRefused = 5,
    /// The portal could not be reached, or it could not write the domain controller;
    /// nothing was changed on this machine.
    PortalUnavailable = 6,
    /// The domain controller holds the new password but this machine could not store it:
    /// the machine cannot authenticate until a new token repair or a rejoin.
    LocalWriteFailed = 7,
    /// The new password was stored locally but the secure channel could not be verified.
    ChannelUnverified = 8,
    /// The channel works but rotating the password failed: the password that crossed the
    /// network may still be valid.
    RotationFailed = 9,
    /// The repair succeeded but the outcome could not be reported to the portal.
    ReportFailed = 10,
}

impl ExitCode {
    /// Every code, in numeric order (for the help text and the tests).
    pub const ALL: [ExitCode; 10] = [
        ExitCode::Repaired,
        ExitCode::Usage,
        ExitCode::TokenRejected,
        ExitCode::PreflightFailed,
        ExitCode::PortalRefused,
        ExitCode::PortalUnavailable,
        ExitCode::LocalWriteFailed,
        ExitCode::ChannelUnverified,
        ExitCode::RotationFailed,
        ExitCode::ReportFailed,
    ];

    /// The numeric process exit status.
    #[must_use]
    pub fn code(self) -> u8 {
        self as u8
    }

    /// One line describing the code, as printed in `--help` and README.md.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            ExitCode::Repaired => "repaired: channel verified, password rotated twice, portal told",
            ExitCode::Usage => "usage or configuration error",
            ExitCode::TokenRejected => {
                "token rejected locally (bad signature, expired, other computer, other portal)"
            }
            ExitCode::PreflightFailed => "preflight failed (nothing changed)",
            ExitCode::PortalRefused => "the portal refused the token or code (nothing changed)",
            ExitCode::PortalUnavailable => {
                "portal unreachable or the DC write failed (nothing changed on this machine)"
            }
            ExitCode::LocalWriteFailed => {
                "local secret write failed after the DC write (machine broken until a new token repair or rejoin)"
            }
            ExitCode::ChannelUnverified => {
                "secure channel verification failed after the local write"
            }
            ExitCode::RotationFailed => {
                "rotation failed (channel works, but the transferred password may still be valid)"
            }
            ExitCode::ReportFailed => "repair done, but the outcome could not be reported",
        }
    }

    /// The help-text table of all exit codes.
    #[must_use]
    pub fn table() -> String {
        let mut out = String::from("Exit codes:\n");
        for code in Self::ALL {
            out.push_str(&format!("  {:>2}  {}\n", code.code(), code.describe()));
        }
        out
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_distinct() {
        let numbers: Vec<u8> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(numbers, vec![0, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn table_lists_every_code() {
        let table = ExitCode::table();
        for code in ExitCode::ALL {
            assert!(table.contains(code.describe()));
        }
    }
}

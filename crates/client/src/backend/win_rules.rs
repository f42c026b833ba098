//! The Windows backend's decisions and texts, without any Windows call, so that they compile
//! and are tested on every OS (and, in the Windows build, under Wine): which status codes mean
//! what, how a rotation is judged from the machine secret's set time, and what a missing
//! machine secret means. `windows.rs` gathers the facts through FFI and asks here.

/// winerror.h: `ERROR_ACCESS_DENIED`.
pub const ERROR_ACCESS_DENIED: u32 = 5;
/// winerror.h: `ERROR_INVALID_PASSWORD`, the Win32 form of `STATUS_WRONG_PASSWORD`, which a DC
/// answers to `NetrServerPasswordSet2` when it refuses machine password changes.
pub const ERROR_INVALID_PASSWORD: u32 = 86;
/// winerror.h: `ERROR_WRONG_PASSWORD`.
pub const ERROR_WRONG_PASSWORD: u32 = 1323;
/// lmerr.h: the first `NERR_*` code. Their texts are in `netmsg.dll`, not in the system's
/// message table.
pub const NERR_BASE: u32 = 2100;
/// lmerr.h: the last `NERR_*` code.
pub const MAX_NERR: u32 = NERR_BASE + 899;

/// `Length` (= `MaximumLength`) of an `LSA_UNICODE_STRING` over `units` UTF-16 code units: in
/// bytes, without a terminator (MS-LSAD 2.2.2.1 / `RPC_UNICODE_STRING`), and `None` when it does
/// not fit the field's `u16`.
#[must_use]
pub fn lsa_string_bytes(units: usize) -> Option<u16> {
    units.checked_mul(2).and_then(|b| u16::try_from(b).ok())
}

/// A string (the machine password) as the LSA stores it: UTF-16 code units, no terminator.
/// Allocated once at its final size (a UTF-8 string never has more UTF-16 units than bytes), so
/// no reallocation leaves an unwiped copy of a password behind.
#[must_use]
pub fn utf16_units(s: &str) -> Vec<u16> {
    let mut units = Vec::with_capacity(s.len());
    units.extend(s.encode_utf16());
    units
}

/// Where Windows keeps the text of a Win32 or `NERR_*` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageSource {
    /// The system message table (`FORMAT_MESSAGE_FROM_SYSTEM`).
    System,
    /// `netmsg.dll` (`FORMAT_MESSAGE_FROM_HMODULE`): the LAN Manager codes 2100–2999.
    Netmsg,
}

/// Where the text of `code` is.
#[must_use]
pub fn message_source(code: u32) -> MessageSource {
    if (NERR_BASE..=MAX_NERR).contains(&code) {
        MessageSource::Netmsg
    } else {
        MessageSource::System
    }
}

/// A code with its text, as people and logs read it: `Win32 error 5: Access is denied.`
/// (`text` as Windows gave it, trailing line breaks and dots trimmed; empty when it has none).
#[must_use]
pub fn code_text(code: u32, text: &str) -> String {
    let text = text.trim_end_matches(['\r', '\n', ' ', '.']).trim();
    let kind = match message_source(code) {
        MessageSource::Netmsg => "NERR",
        MessageSource::System => "Win32 error",
    };
    if text.is_empty() {
        format!("{kind} {code}")
    } else {
        format!("{kind} {code}: {text}")
    }
}

/// How one `I_NetLogonControl2(NETLOGON_CONTROL_CHANGE_PASSWORD)` went, judged by its status
/// and by `$MACHINE.ACC`'s `CurrentValueSetTime` read before and after it. The status alone
/// proves nothing: level 1's `netlog1_pdc_connection_status` applies only to backup domain
/// controllers, so only a set time that moved shows that this machine now holds a new password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// Netlogon said yes and the machine secret was set again.
    Done,
    /// The DC refused the change (`STATUS_WRONG_PASSWORD`: the "Refuse machine account password
    /// changes" policy, `RefusePasswordChange`, common in non-persistent VDI). `local_changed`:
    /// this machine stored a password the DC does not have (Windows stores the new one first and
    /// keeps it), so it now authenticates with its previous one.
    Refused { local_changed: bool },
    /// Netlogon failed with this code.
    Failed { code: u32 },
    /// Netlogon said yes but the machine secret was not set again.
    Unproven,
}

/// Judges one rotation from the call's Win32 status (0 = success) and the secret's set times
/// (100 ns since 1601) before and after it.
#[must_use]
pub fn judge_rotation(status: u32, set_before: i64, set_after: i64) -> Rotation {
    let changed = set_after > set_before;
    match status {
        0 if changed => Rotation::Done,
        0 => Rotation::Unproven,
        ERROR_INVALID_PASSWORD | ERROR_WRONG_PASSWORD | ERROR_ACCESS_DENIED => Rotation::Refused {
            local_changed: changed,
        },
        code => Rotation::Failed { code },
    }
}

/// What it means that `$MACHINE.ACC` does not exist. `joined_to`: the AD domain the LSA says
/// this machine is joined to, if any.
#[must_use]
pub fn missing_machine_secret(joined_to: Option<&str>) -> String {
    match joined_to {
        Some(domain) => format!(
            "this machine is joined to {domain} but the LSA holds no machine account secret \
             ($MACHINE.ACC). Credential Guard's machine identity isolation (Windows 11 24H2 and \
             Windows Server 2025, enforcement mode) keeps that secret out of the LSA, where no \
             tool can set it; the supported fix is for a local administrator to unjoin this \
             machine and join it again. Nothing was changed"
        ),
        None => "this machine has no machine account secret ($MACHINE.ACC): it is not joined \
                 to a domain. Nothing was changed"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsa_strings_count_bytes_without_a_terminator() {
        // The 120-character machine password: 240 bytes, no NUL counted.
        let pw = "a".repeat(120);
        let units = utf16_units(&pw);
        assert_eq!(units.len(), 120);
        assert_ne!(units.last(), Some(&0));
        assert_eq!(lsa_string_bytes(units.len()), Some(240));
        // "$MACHINE.ACC": 12 units, 24 bytes.
        assert_eq!(
            lsa_string_bytes(utf16_units("$MACHINE.ACC").len()),
            Some(24)
        );
        assert_eq!(lsa_string_bytes(0), Some(0));
        assert_eq!(lsa_string_bytes(32_767), Some(65_534));
        assert_eq!(lsa_string_bytes(32_768), None);
        assert_eq!(lsa_string_bytes(usize::MAX), None);
        // Characters outside the BMP take two units (the generator's alphabet has none).
        assert_eq!(utf16_units("\u{1F600}").len(), 2);
    }

    #[test]
    fn lan_manager_codes_take_their_text_from_netmsg() {
        let table = [
            (0, MessageSource::System),
            (5, MessageSource::System),
            (1323, MessageSource::System),
            (2099, MessageSource::System),
            (2100, MessageSource::Netmsg),
            (2453, MessageSource::Netmsg), // NERR_DCNotFound
            (2999, MessageSource::Netmsg),
            (3000, MessageSource::System),
        ];
        for (code, source) in table {
            assert_eq!(message_source(code), source, "{code}");
        }
        assert_eq!(
            code_text(5, "Access is denied.\r\n"),
            "Win32 error 5: Access is denied"
        );
        assert_eq!(
            code_text(
                2453,
                "Could not find domain controller for this domain.\r\n"
            ),
            "NERR 2453: Could not find domain controller for this domain"
        );
        assert_eq!(code_text(1790, ""), "Win32 error 1790");
    }

    #[test]
    fn a_rotation_counts_only_when_the_secret_was_set_again() {
        let t = 133_000_000_000_000_000_i64;
        let table = [
            (0, t, t + 1, Rotation::Done),
            (0, t, t, Rotation::Unproven),
            (0, t, t - 1, Rotation::Unproven),
            (
                ERROR_INVALID_PASSWORD,
                t,
                t,
                Rotation::Refused {
                    local_changed: false,
                },
            ),
            (
                ERROR_INVALID_PASSWORD,
                t,
                t + 10,
                Rotation::Refused {
                    local_changed: true,
                },
            ),
            (
                ERROR_WRONG_PASSWORD,
                t,
                t,
                Rotation::Refused {
                    local_changed: false,
                },
            ),
            (
                ERROR_ACCESS_DENIED,
                t,
                t,
                Rotation::Refused {
                    local_changed: false,
                },
            ),
            (1311, t, t, Rotation::Failed { code: 1311 }), // ERROR_NO_LOGON_SERVERS
            (2453, t, t + 1, Rotation::Failed { code: 2453 }),
        ];
        for (status, before, after, want) in table {
            assert_eq!(judge_rotation(status, before, after), want, "{status}");
        }
    }

    #[test]
    fn a_missing_secret_on_a_joined_machine_is_not_called_unjoined() {
        let joined = missing_machine_secret(Some("corp.example.com"));
        assert!(joined.contains("joined to corp.example.com"), "{joined}");
        assert!(joined.contains("Credential Guard"), "{joined}");
        assert!(joined.contains("unjoin"), "{joined}");
        assert!(!joined.contains("not joined"), "{joined}");
        let unjoined = missing_machine_secret(None);
        assert!(unjoined.contains("not joined"), "{unjoined}");
        assert!(!unjoined.contains("Credential Guard"), "{unjoined}");
    }
}

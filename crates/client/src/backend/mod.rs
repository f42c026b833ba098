//! Local backends: where this machine keeps its machine-account secret and how it talks
//! Netlogon. One module per platform: `samba` (a Samba domain member, via `net`) and
//! `windows` (LSA secret `$MACHINE.ACC`, `I_NetLogonControl2`).
//!
//! Calls are blocking; the redeem flow runs them one at a time.

use std::fmt;

use crate::password::MachinePassword;

pub mod samba;
pub mod win_rules;
#[cfg(any(windows, feature = "windows-typecheck"))]
pub mod windows;

/// Who this machine is in the domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalIdentity {
    /// NetBIOS computer name (no `$`), e.g. `LABWS01`.
    pub netbios: String,
    /// DNS name of the AD domain, e.g. `lab.example.test`.
    pub dns_domain: String,
}

impl fmt::Display for LocalIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.netbios, self.dns_domain)
    }
}

/// A backend failure. Messages hold no secrets; command output in them is sanitised.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Not running as root / Administrator.
    #[error("not running with administrator rights: {0}")]
    NotAdministrator(String),
    /// A half-done password change is pending in the local secret store.
    #[error("a machine password change is pending: {0}")]
    PendingChange(String),
    /// The domain controller refuses machine password changes ("Refuse machine account
    /// password changes", `RefusePasswordChange`): another rotation would be refused too.
    #[error("the domain controller refuses machine password changes: {0}")]
    RotationRefused(String),
    /// This backend cannot run here.
    #[error("{0}")]
    Unsupported(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// How much a [`Backend::journal`] entry matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalLevel {
    /// A step done.
    Info,
    /// Done, but someone must look (the repair succeeded and the portal was not told).
    Warning,
    /// The repair failed.
    Error,
}

/// A local secret store and secure-channel controller.
pub trait Backend {
    /// Short name for messages (`samba`, `windows`).
    fn name(&self) -> &'static str;
    /// This machine's NetBIOS name and AD DNS domain.
    fn identity(&self) -> Result<LocalIdentity, BackendError>;
    /// Checks that a repair can run (rights, writable store, no pending change) without
    /// changing anything.
    fn preflight(&self) -> Result<(), BackendError>;
    /// Stores `password` as the machine's current secret (keeping the old one as previous
    /// where the platform does).
    fn store_secret(&self, password: &MachinePassword) -> Result<(), BackendError>;
    /// Points the secure channel at `dc` and proves it works.
    fn verify_channel(&self, dc: &str) -> Result<(), BackendError>;
    /// Changes the machine password once, through the secure channel with `dc`.
    fn rotate(&self, dc: &str) -> Result<(), BackendError>;

    /// Writes one line to the machine's own log, so that the machine itself records who
    /// repaired it and when (Windows: the Application event log, source `trustdesk-client`).
    /// Best effort; holds no secret. Backends without such a log ignore it.
    fn journal(&self, _level: JournalLevel, _text: &str) {}

    /// The command an admin would run to verify the channel by hand.
    fn verify_hint(&self, dc: &str) -> String {
        format!("verify the secure channel with {dc}")
    }

    /// The command an admin would run to rotate the machine password by hand.
    fn rotate_hint(&self, dc: &str) -> String {
        format!("change the machine password through {dc}")
    }
}

/// Whether the machine a token names is this one: the NetBIOS name equals the token's
/// `sAMAccountName` minus the trailing `$`, and the DNS domains are equal, both compared
/// ASCII case-insensitively (a trailing dot on the domain is ignored).
pub fn identity_matches(local: &LocalIdentity, sam: &str, domain: &str) -> Result<(), String> {
    let token_name = sam.strip_suffix('$').unwrap_or(sam);
    if token_name.is_empty() || !token_name.eq_ignore_ascii_case(local.netbios.trim()) {
        return Err(format!(
            "the token is for computer {sam:?} but this machine is {:?}",
            local.netbios
        ));
    }
    let norm = |d: &str| d.trim().trim_end_matches('.').to_ascii_lowercase();
    if norm(domain).is_empty() || norm(domain) != norm(&local.dns_domain) {
        return Err(format!(
            "the token is for domain {domain:?} but this machine is in {:?}",
            local.dns_domain
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> LocalIdentity {
        LocalIdentity {
            netbios: "LABWS01".into(),
            dns_domain: "lab.example.test".into(),
        }
    }

    #[test]
    fn same_machine_matches_case_insensitively() {
        assert!(identity_matches(&me(), "LABWS01$", "lab.example.test").is_ok());
        assert!(identity_matches(&me(), "labws01$", "LAB.Example.TEST").is_ok());
        assert!(identity_matches(&me(), "LabWs01$", "lab.example.test.").is_ok());
        assert!(identity_matches(&me(), "LABWS01", "lab.example.test").is_ok());
    }

    #[test]
    fn other_machine_or_domain_refused() {
        assert!(identity_matches(&me(), "LABWS02$", "lab.example.test").is_err());
        assert!(identity_matches(&me(), "LABWS0$", "lab.example.test").is_err());
        assert!(identity_matches(&me(), "LABWS01$$", "lab.example.test").is_err());
        assert!(identity_matches(&me(), "$", "lab.example.test").is_err());
        assert!(identity_matches(&me(), "LABWS01$", "example.test").is_err());
        assert!(identity_matches(&me(), "LABWS01$", "LAB").is_err());
        assert!(identity_matches(&me(), "LABWS01$", "").is_err());
        let msg = identity_matches(&me(), "PAR-WS001$", "lab.example.test").unwrap_err();
        assert!(
            msg.contains("PAR-WS001$") && msg.contains("LABWS01"),
            "{msg}"
        );
    }
}

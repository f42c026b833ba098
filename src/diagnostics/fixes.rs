//! Fix texts: the seed runbook's four solutions, corrected against Microsoft's documentation.
//!
//! (1) Rejoin: needs a local administrator on the workstation and a domain account allowed to
//! join it; the fix when the object was deleted or re-created, or the machine is a clone.
//! (2) `Reset-ComputerMachinePassword` / `Test-ComputerSecureChannel -Repair` (Windows PowerShell
//! 5.1 only, domain credentials typed on the workstation): trustdesk's token repair does the same
//! without them. `nltest /sc_reset` only re-selects a DC with the existing password.
//! (3) A cached credential (Credential Manager): a bridge to a desktop, never a fix.
//! (4) A DC-side "Reset Account": alone it leaves the machine unable to authenticate until it is
//! rejoined or token-repaired; never the default (name-based) password.

use crate::ad::dn::dn_domain;

use super::facts::{Facts, same_name};
use super::{Cause, Fix, RepairAction};

/// Names used to fill in the commands.
pub(super) struct FixContext {
    /// NetBIOS name (`PC01`).
    name: String,
    /// `sAMAccountName` (`PC01$`).
    sam: String,
    /// DNS domain (`corp.example`), or a placeholder.
    domain: String,
    /// Domain naming context (`DC=corp,DC=example`), or a placeholder.
    domain_dn: String,
    /// A tombstone with this name exists.
    tombstone: bool,
    /// The DC holding the newest password version.
    newest_dc: Option<String>,
    lagging: Vec<String>,
}

impl FixContext {
    pub(super) fn new(f: &Facts<'_>, lagging: &[String]) -> FixContext {
        let queried = f.snapshot.name_queried.trim();
        let short = queried.split('.').next().unwrap_or(queried);
        let (name, sam, dn) = match f.account {
            Some(a) => (
                a.netbios_name().to_string(),
                a.sam_account_name.clone(),
                Some(a.dn.as_str()),
            ),
            None => {
                let n = short.strip_suffix('$').unwrap_or(short).to_uppercase();
                let sam = format!("{n}$");
                let dn = f.snapshot.tombstones.first().map(|t| t.dn.as_str());
                (n, sam, dn)
            }
        };
        let domain = dn.and_then(dn_domain);
        let domain_dn = domain.as_ref().map(|d| {
            d.split('.')
                .map(|p| format!("DC={p}"))
                .collect::<Vec<_>>()
                .join(",")
        });
        FixContext {
            tombstone: f
                .snapshot
                .tombstones
                .iter()
                .any(|t| same_name(&t.sam_account_name, &sam)),
            name,
            sam,
            domain: domain.unwrap_or_else(|| "<domain>".to_string()),
            domain_dn: domain_dn.unwrap_or_else(|| "<domain DN>".to_string()),
            newest_dc: f.newest_meta.map(|(dc, _)| dc.to_string()),
            lagging: lagging.to_vec(),
        }
    }
}

fn lines(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const PITFALL_ROTATION: &str = "Never disable machine password changes to \"prevent\" this error \
    (GPO \"Domain member: Disable machine account password changes\", DisablePasswordChange): it \
    leaves a secret that never changes and prevents none of the real causes.";
const PITFALL_CACHED: &str = "A cached credential (Credential Manager, cached domain logons) only \
    bridges to a desktop; the password mismatch stays until the machine is repaired.";
const PITFALL_DC_RESET: &str = "A DC-side \"Reset Account\" alone does not fix it: the workstation \
    keeps its old secret and stays broken until it is rejoined or token-repaired. Never set the \
    default (lower-case name) password: it is guessable.";
const PITFALL_LLT: &str = "lastLogonTimestamp is only accurate to 9–14 days; the per-DC lastLogon \
    values are the precise ones.";
const PITFALL_NTLM: &str = "For up to 60 minutes after a password change a DC still accepts the \
    previous password over NTLM, so a test that falls back to NTLM can look fine: verify with \
    nltest /sc_verify or Test-ComputerSecureChannel.";
const PITFALL_PS51: &str = "Reset-ComputerMachinePassword and Test-ComputerSecureChannel exist \
    only in Windows PowerShell 5.1 (not PowerShell 7) and act on the local machine only: there is \
    no -ComputerName.";

fn token_repair_fix(c: &FixContext, rename_first: bool) -> Fix {
    let mut steps = Vec::new();
    if rename_first {
        steps.push(
            "If another computer joined the domain with the same name (NETLOGON 3210 on the \
             workstation, 5722 on the DC, a password change nobody here made), rename one of the \
             two machines first (`Rename-Computer`), or they keep overwriting each other's password."
                .to_string(),
        );
    }
    steps.extend([
        format!(
            "In trustdesk, mint a repair token for {} (one-time, valid 15 minutes, shown once).",
            c.name
        ),
        "On the workstation, sign in with a local administrator account (domain logons fail \
         while the trust is broken) and run the trustdesk companion client with the token: it \
         sets a new random password on the DC and in the local secret, verifies the channel and \
         rotates twice so the password that crossed the network dies."
            .to_string(),
        format!(
            "Verify: `nltest /sc_verify:{}` (or `Test-ComputerSecureChannel` in Windows PowerShell \
             5.1) reports success, then sign in with a domain account.",
            c.domain
        ),
        "Without trustdesk: as local administrator in Windows PowerShell 5.1, with a domain \
         account holding the Reset Password right on the object, run \
         `Reset-ComputerMachinePassword -Credential (Get-Credential)` or \
         `Test-ComputerSecureChannel -Repair -Credential (Get-Credential)`."
            .to_string(),
    ]);
    Fix {
        title: "Re-key the machine account with a trustdesk token repair".to_string(),
        when: "The object is the right one, enabled and consistent across DCs, but the password \
               AD holds is not the one the workstation holds."
            .to_string(),
        steps,
        pitfalls: lines(&[PITFALL_DC_RESET, PITFALL_CACHED, PITFALL_PS51, PITFALL_NTLM]),
        trustdesk_action: Some(RepairAction::TokenRepair),
    }
}

fn rejoin_steps(c: &FixContext) -> Vec<String> {
    vec![
        "Sign in on the workstation with a local administrator account (enable one from recovery \
         media first if none is usable)."
            .to_string(),
        "Leave the domain: in Windows PowerShell as administrator, `Remove-Computer \
         -WorkgroupName WORKGROUP -Force -Restart` (or System Properties > Computer Name > Change > Workgroup)."
            .to_string(),
        format!(
            "Join again after the restart: `Add-Computer -DomainName {} -Credential \
             (Get-Credential) -Restart`, with a domain account allowed to join computers (and to \
             reuse the existing {} account if it exists).",
            c.domain, c.sam
        ),
        "Linux/Samba member: `net ads leave`, then `net ads join -U <join account>` (or `realm \
         leave` / `realm join`)."
            .to_string(),
    ]
}

/// The fix for a cause.
pub(super) fn fix_for(cause: Cause, c: &FixContext) -> Fix {
    match cause {
        Cause::Healthy => {
            let mut fix = token_repair_fix(c, false);
            fix.title =
                "Nothing wrong in the directory; if the error persists, token repair".into();
            fix.when = "The account is enabled, consistent across DCs and last rotated by the \
                        machine itself. If the user still sees the error, the workstation most \
                        likely holds a secret older than both AD values: a snapshot, VM \
                        checkpoint or image restore."
                .into();
            fix.steps.insert(
                0,
                format!(
                    "Ask whether the workstation was reverted to a snapshot or checkpoint, or \
                     restored from an image; check the trust on the workstation with `nltest \
                     /sc_verify:{}` before changing anything.",
                    c.domain
                ),
            );
            fix.pitfalls.push(PITFALL_ROTATION.to_string());
            fix
        }
        Cause::StaleLocalSecret => {
            let mut fix = token_repair_fix(c, false);
            fix.title = "Re-key the machine that went back in time, with a token repair".into();
            fix.when = "The machine rotated its password and used it, then lost it: a VM \
                        reverted to a snapshot or checkpoint, or a disk restored from a backup, \
                        presents the older secret. AD is right; the workstation is behind."
                .into();
            fix.steps.push(
                "No local administrator on the workstation: rejoin it instead (below), with a \
                 domain account allowed to join it."
                    .to_string(),
            );
            fix.steps.extend(rejoin_steps(c));
            fix.pitfalls.insert(
                0,
                "Reverting the VM to the same snapshot again brings the old secret back: after \
                 the repair, take a new snapshot or delete the old ones."
                    .to_string(),
            );
            fix.pitfalls.push(PITFALL_ROTATION.to_string());
            fix
        }
        Cause::PasswordSetAfterLastLogon => {
            let mut fix = token_repair_fix(c, true);
            fix.pitfalls.push(PITFALL_LLT.to_string());
            fix.pitfalls.push(PITFALL_ROTATION.to_string());
            fix
        }
        Cause::AccountMissing if c.tombstone => {
            let mut steps = vec![
                format!(
                    "With the AD Recycle Bin enabled, restore the object: `Get-ADObject -Filter \
                     'sAMAccountName -eq \"{}\"' -IncludeDeletedObjects | Restore-ADObject`. It \
                     comes back with its objectGUID, SID, groups and password, so the \
                     workstation's secret matches again if nothing else changed.",
                    c.sam
                ),
                "Without the Recycle Bin (or on Samba AD), rejoin the machine instead:".to_string(),
            ];
            steps.extend(rejoin_steps(c));
            Fix {
                title: "Restore the deleted computer object, or rejoin".into(),
                when: "The computer object was deleted; its tombstone is still in Deleted Objects."
                    .into(),
                steps,
                pitfalls: lines(&[
                    "Find out who deleted it and why (a stale-computer cleanup?) before \
                     restoring, or it is deleted again.",
                    "Reanimating a tombstone without the Recycle Bin loses most attributes: \
                     rejoin then.",
                    PITFALL_CACHED,
                ]),
                trustdesk_action: None,
            }
        }
        Cause::AccountMissing => Fix {
            title: "Rejoin the computer: its object does not exist".into(),
            when: "No computer object (and no deleted one) has this name.".into(),
            steps: rejoin_steps(c),
            pitfalls: lines(&[
                "Check the name first: a typo, or a machine renamed locally but not in AD.",
                PITFALL_CACHED,
            ]),
            trustdesk_action: None,
        },
        Cause::AccountRecreated => {
            let mut steps = vec![
                "Find out who created the new object and for which machine: if another, live \
                 machine joined with this name, rename this one before rejoining it."
                    .to_string(),
            ];
            steps.extend(rejoin_steps(c));
            steps.push(
                "Re-add the new object to the groups the old one was in (group-filtered GPOs, \
                 certificates, NAC)."
                    .to_string(),
            );
            Fix {
                title: "Rejoin the computer: its old object was deleted and re-created".into(),
                when: "The workstation's secret belongs to a deleted object; the object with \
                       this name now is a different one."
                    .into(),
                steps,
                pitfalls: lines(&[
                    "A token repair or password reset on the new object would take it over \
                     from whichever machine owns it now.",
                    PITFALL_CACHED,
                ]),
                trustdesk_action: None,
            }
        }
        Cause::AccountDisabled => Fix {
            title: "Enable the computer account".into(),
            when: "userAccountControl has ACCOUNTDISABLE: a disabled account cannot \
                   authenticate, whatever its password."
                .into(),
            steps: vec![
                "Find out who disabled it and why (a stale-computer cleanup?); if on purpose, \
                 stop here."
                    .to_string(),
                format!(
                    "Enable it: `Enable-ADComputer -Identity '{}'` (RSAT), or Active Directory \
                     Users and Computers > Enable Account; on Samba AD: samba-tool user enable \
                     '{}'.",
                    c.sam, c.sam
                ),
                "Wait for replication, then have the user restart or sign in again; no password \
                 work is needed."
                    .to_string(),
            ],
            pitfalls: lines(&[
                "Do not reset the password: the workstation's secret still matches, and a reset \
                 would break it.",
                "Cleanup scripts that disable stale computers by lastLogonTimestamp run again: \
                 exclude this machine or fix the criteria (lastLogonTimestamp is 9–14 days \
                 imprecise).",
            ]),
            trustdesk_action: None,
        },
        Cause::ReplicationInProgress => {
            let mut fix = fix_for(Cause::ReplicationLag, c);
            fix.title = "Replication is in progress: wait a few minutes, then look again".into();
            fix.when = "A change to the password or the object was written moments ago and has \
                        not reached every DC yet."
                .into();
            fix
        }
        Cause::ReplicationLag => {
            let target = c
                .newest_dc
                .clone()
                .unwrap_or_else(|| "<dc with the newest version>".into());
            let dest = c
                .lagging
                .first()
                .cloned()
                .unwrap_or_else(|| "<lagging dc>".into());
            Fix {
                title: "Let replication converge; do not reset now".into(),
                when: "Domain controllers disagree on the machine password or the object.".into(),
                steps: vec![
                    "Wait a few minutes (replication inside a site normally converges within \
                     seconds to minutes), then look the computer up again."
                        .to_string(),
                    format!(
                        "Force it if needed: on a Windows DC `repadmin /syncall /AdeP`, and check \
                         `repadmin /showrepl` and `repadmin /replsummary`; on Samba, `samba-tool \
                         drs replicate {dest} {target} {}` and `samba-tool drs showrepl`.",
                        c.domain_dn
                    ),
                    format!(
                        "Meanwhile, point the workstation at the DC that has the current \
                         password: `nltest /sc_reset:{}\\{target}` (re-selects the DC; changes no \
                         password).",
                        c.domain
                    ),
                ],
                pitfalls: lines(&[
                    "Do not reset the password now: a reset writes yet another version on one \
                     DC, and a workstation talking to a lagging DC keeps failing.",
                    "If inbound replication is disabled on a DC (repadmin /options, samba-tool \
                     drs options shows DISABLE_INBOUND_REPL), it never converges: fix that first.",
                ]),
                trustdesk_action: None,
            }
        }
        Cause::CloneSuspected => Fix {
            title: "Separate the cloned machines first, then repair".into(),
            when: "Several machines share one computer account (a disk or VM cloned without \
                   sysprep): they take turns changing the password, each change breaking the \
                   other."
                .into(),
            steps: vec![
                format!(
                    "Find the clones: machines answering as {} (DNS records, DHCP leases), \
                     NETLOGON 3210 on workstations and 5722 on DCs alternating.",
                    c.name
                ),
                "On every extra clone: `sysprep /generalize /oobe /reboot` (a new machine SID), or \
                 at least give it a new name and rejoin it as a new computer."
                    .to_string(),
                format!(
                    "Then repair the original with a trustdesk token repair for {}.",
                    c.name
                ),
                "Watch the unicodePwd version: it should rise once per rotation window."
                    .to_string(),
            ],
            pitfalls: lines(&[
                "A password reset (DC-side or token) alone only moves the problem to the other \
                 clone.",
                "Duplicate machine SIDs are not visible in AD; only the password churn is.",
                "A trustdesk token repair writes the password three times within a minute (set \
                 plus two rotations): a recent repair alone explains three versions.",
            ]),
            trustdesk_action: Some(RepairAction::TokenRepair),
        },
        Cause::RotationDisabled => Fix {
            title: "Re-enable machine password rotation (security finding)".into(),
            when: "pwdLastSet is far older than the rotation window while the machine keeps \
                   logging on. This does not cause the trust error."
                .into(),
            steps: lines(&[
                "On the workstation, `gpresult /h gp.html`: \"Domain member: Disable machine \
                 account password changes\" must be Disabled and \"Maximum machine account \
                 password age\" 30 days.",
                "`reg query HKLM\\SYSTEM\\CurrentControlSet\\Services\\Netlogon\\Parameters /v \
                 DisablePasswordChange`: it must be 0 or absent; on the DCs, RefusePasswordChange \
                 under the same key must be 0 or absent.",
                "Linux/Samba members: smb.conf \"machine password timeout\" must not be 0; SSSD \
                 ad_maximum_machine_account_password_age must not be 0.",
                "After the change the machine rotates at its next check; pwdLastSet moves.",
            ]),
            pitfalls: lines(&[PITFALL_ROTATION, PITFALL_LLT]),
            trustdesk_action: None,
        },
        Cause::ProtectedAccount => Fix {
            title: "Escalate: trustdesk does not act on this object".into(),
            when: "A domain controller, a read-only DC, an adminCount=1 object, a computer \
                   trusted for delegation or in a privileged group (tier 0 in all but name), \
                   or an object under a protected OU."
                .into(),
            steps: vec![
                "Hand the ticket to the domain administrators with this diagnosis.".to_string(),
                format!(
                    "For a DC's own secure channel, Microsoft's procedure runs on that DC: stop \
                     the KDC service, `netdom resetpwd /server:<another DC> /userd:{}\\<admin> \
                     /passwordd:*`, restart.",
                    c.domain
                ),
                "For an adminCount=1, delegating or privileged-group computer, find out why \
                 it is privileged before anyone touches its password; its own admins repair it \
                 on the machine (`Test-ComputerSecureChannel -Repair`), never by handing its \
                 password to a helpdesk."
                    .to_string(),
            ],
            pitfalls: lines(&[
                "Never use \"Reset Account\" on a domain controller object.",
                PITFALL_ROTATION,
            ]),
            trustdesk_action: None,
        },
    }
}

impl super::Diagnosis {
    /// Why this diagnosis withholds `repair`, in words for the page and the refusal (`None`:
    /// it allows it). The same `actions` the page offers buttons by; the server refuses a
    /// withheld repair with this reason.
    pub fn withholds(&self, repair: RepairAction) -> Option<&'static str> {
        let allowed = match repair {
            RepairAction::TokenRepair => self.actions.token_repair,
            RepairAction::DcReset => self.actions.dc_reset,
        };
        if allowed {
            return None;
        }
        let has = |c: Cause| self.likely_causes.iter().any(|l| l.cause == c);
        Some(if self.protected || has(Cause::ProtectedAccount) {
            "the account is protected (tier 0): no one repairs it through trustdesk"
        } else if has(Cause::ReplicationInProgress) || has(Cause::ReplicationLag) {
            "the domain controllers do not agree yet (replication): wait until they do, then \
             look again"
        } else if has(Cause::AccountDisabled) {
            "the account is disabled: enable it first; a new password does not help a disabled \
             account"
        } else if has(Cause::AccountRecreated) {
            "the account was deleted and created again: the machine must rejoin the domain"
        } else {
            "the computer account was not found"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> FixContext {
        FixContext {
            name: "PC01".into(),
            sam: "PC01$".into(),
            domain: "corp.example".into(),
            domain_dn: "DC=corp,DC=example".into(),
            tombstone: true,
            newest_dc: Some("dc1.corp.example".into()),
            lagging: vec!["dc2.corp.example".into()],
        }
    }

    /// Commands in the steps stand between backticks (the page shows them as code with a copy
    /// button): every step's backticks pair up, no command is empty, and the prose around
    /// them (title, when, pitfalls) carries none.
    #[test]
    fn commands_in_steps_are_marked_and_nothing_else_is() {
        let c = context();
        let mut commands = 0;
        for cause in Cause::ALL {
            let fix = fix_for(cause, &c);
            for step in &fix.steps {
                let parts: Vec<&str> = step.split('`').collect();
                assert!(
                    parts.len() % 2 == 1,
                    "{cause:?}: unpaired backtick in {step:?}"
                );
                for command in parts.iter().skip(1).step_by(2) {
                    assert!(!command.trim().is_empty(), "{cause:?}: {step:?}");
                    assert!(!command.contains('\n'), "{cause:?}: {step:?}");
                    commands += 1;
                }
            }
            for prose in std::iter::once(&fix.title)
                .chain(std::iter::once(&fix.when))
                .chain(&fix.pitfalls)
            {
                assert!(!prose.contains('`'), "{cause:?}: {prose:?}");
            }
        }
        assert!(commands >= 15, "{commands} commands marked");
    }
}

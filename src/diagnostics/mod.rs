//! The diagnosis engine: why does this computer's secure channel fail, and what fixes it.
//!
//! [`diagnose`] is a pure function of a directory [`Snapshot`], the [`DiagnosisSettings`] and the
//! current time: no I/O, no clock. It returns [`Diagnosis`]: findings (what the data shows, with
//! exact evidence), likely causes ordered by confidence (each with its fix), the recommended fix,
//! per-DC rows for the side-by-side view, and which repairs make technical sense before policy.
//!
//! The codes serialized here (`Cause`, `FindingCode`, `Severity`, `Confidence`, `RepairAction`,
//! `DcStatus`) are a stable JSON API: see `docs/diagnosis.md` (summed up under "Diagnosis
//! vocabulary" in `ARCHITECTURE.md`).
//!
//! One rule runs through all of it: a long offline gap alone never breaks the trust (machine
//! passwords do not expire; the machine rotates when it returns). Silence is reported as an
//! info finding and never as a cause.
//!
//! Rules live in `account.rs` (protected, missing, re-created, disabled), `replication.rs`
//! (lag between DCs, replication in progress, unreachable DCs), `password.rs` (password set
//! after the last logon, clones, rotation disabled, silence) and `history.rs` (trustdesk's own
//! resets and repairs, a stale local secret, DCs the per-DC view lacks); the fix texts in
//! `fixes.rs`.

mod account;
mod facts;
mod fixes;
mod history;
mod password;
mod replication;
mod verdict;
pub mod watch;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ad::{DcOutcome, Snapshot};

use facts::Facts;
pub use verdict::{PrimaryRepair, Verdict, VerdictState};

/// Thresholds of the rules. `Default` gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagnosisSettings {
    /// The clients' maximum machine password age (Group Policy; default 30 days).
    pub rotation_window: Duration,
    /// Password sets inside one `rotation_window` that count as churn (default 3; 0 acts as 1).
    pub clone_threshold: u32,
    /// A password set within this time after the machine's last logon is taken as the machine's
    /// own rotation (default 10 minutes).
    pub self_rotation_grace: Duration,
    /// Tolerated clock skew / in-flight replication between DCs before we call it lag
    /// (default 5 minutes).
    pub max_replication_skew: Duration,
    /// Silence longer than this gets an info finding, never a cause (default 90 days).
    pub long_silence: Duration,
    /// How long after a redeem the client's two rotations must show (`tokens.repair_watch_secs`,
    /// default 15 minutes).
    pub repair_watch: Duration,
}

impl Default for DiagnosisSettings {
    fn default() -> Self {
        DiagnosisSettings {
            rotation_window: Duration::days(30),
            clone_threshold: 3,
            self_rotation_grace: Duration::minutes(10),
            max_replication_skew: Duration::minutes(5),
            long_silence: Duration::days(90),
            repair_watch: Duration::minutes(15),
        }
    }
}

/// How bad a finding is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// How sure the engine is of a cause.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

/// Why the secure channel fails (or not). Stable codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Healthy,
    AccountMissing,
    AccountRecreated,
    AccountDisabled,
    PasswordSetAfterLastLogon,
    CloneSuspected,
    ReplicationLag,
    ReplicationInProgress,
    StaleLocalSecret,
    RotationDisabled,
    ProtectedAccount,
}

impl Cause {
    /// Every cause, in declaration order (the vocabulary's tests and docs).
    pub const ALL: [Cause; 11] = [
        Cause::Healthy,
        Cause::AccountMissing,
        Cause::AccountRecreated,
        Cause::AccountDisabled,
        Cause::PasswordSetAfterLastLogon,
        Cause::CloneSuspected,
        Cause::ReplicationLag,
        Cause::ReplicationInProgress,
        Cause::StaleLocalSecret,
        Cause::RotationDisabled,
        Cause::ProtectedAccount,
    ];

    /// The stable snake_case code.
    pub fn as_str(&self) -> &'static str {
        match self {
            Cause::Healthy => "healthy",
            Cause::AccountMissing => "account_missing",
            Cause::AccountRecreated => "account_recreated",
            Cause::AccountDisabled => "account_disabled",
            Cause::PasswordSetAfterLastLogon => "password_set_after_last_logon",
            Cause::CloneSuspected => "clone_suspected",
            Cause::ReplicationLag => "replication_lag",
            Cause::ReplicationInProgress => "replication_in_progress",
            Cause::StaleLocalSecret => "stale_local_secret",
            Cause::RotationDisabled => "rotation_disabled",
            Cause::ProtectedAccount => "protected_account",
        }
    }

    /// Whether this cause can break the secure channel (`rotation_disabled` is a security
    /// finding and `protected_account` a policy fact; neither breaks it).
    pub fn breaks_channel(&self) -> bool {
        !matches!(
            self,
            Cause::Healthy | Cause::RotationDisabled | Cause::ProtectedAccount
        )
    }

    /// Tie-break order among causes of equal confidence: what must be dealt with first.
    fn priority(&self) -> u8 {
        match self {
            Cause::ProtectedAccount => 0,
            Cause::AccountMissing => 1,
            Cause::AccountRecreated => 2,
            Cause::AccountDisabled => 3,
            Cause::ReplicationLag => 4,
            Cause::ReplicationInProgress => 5,
            Cause::CloneSuspected => 6,
            Cause::StaleLocalSecret => 7,
            Cause::PasswordSetAfterLastLogon => 8,
            Cause::Healthy => 9,
            Cause::RotationDisabled => 10,
        }
    }
}

/// What a finding is about. Stable codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingCode {
    ProtectedAccount,
    AccountMissing,
    TombstoneFound,
    AccountRecreated,
    AccountDisabled,
    PasswordSetAfterLastLogon,
    FreshJoinUnused,
    NeverLoggedOn,
    NoPasswordSet,
    LastLogonImprecise,
    CloneSuspected,
    ReplicationLag,
    ReplicationInProgress,
    ObjectMissingOnDc,
    DcUnreachable,
    PerDcViewPartial,
    TombstoneCheckNotRun,
    PortalReset,
    PortalRepairCompleted,
    PortalRepairIncomplete,
    TransitedPasswordMayBeValid,
    StaleLocalSecret,
    NoReplicationMetadata,
    RotationDisabled,
    PasswordOverdue,
    LongSilence,
    Healthy,
}

/// One thing the data shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    pub code: FindingCode,
    pub severity: Severity,
    /// One human sentence; times in RFC 3339 UTC.
    pub summary: String,
    /// `attribute = value` lines, times in RFC 3339 UTC.
    pub evidence: Vec<String>,
}

/// What trustdesk itself can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RepairAction {
    /// Mint a one-time token; the companion client re-keys the machine.
    TokenRepair,
    /// DC-side random password reset (the machine must then be rejoined or token-repaired).
    DcReset,
}

/// A fix: when it applies, the exact steps, and what to avoid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Fix {
    pub title: String,
    /// When this fix applies.
    pub when: String,
    /// Exact next steps in order, commands included; a command stands between backticks
    /// (`nltest /sc_verify:corp.example`).
    pub steps: Vec<String>,
    pub pitfalls: Vec<String>,
    /// The trustdesk action that carries the fix out; `null` when none does.
    pub trustdesk_action: Option<RepairAction>,
}

/// A cause with the engine's confidence and the fix for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LikelyCause {
    pub cause: Cause,
    pub confidence: Confidence,
    pub fix: Fix,
}

/// Whether a DC answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DcStatus {
    Found,
    NotFound,
    Unreachable,
}

/// One row of the per-DC side-by-side view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DcRow {
    pub dc: String,
    pub status: DcStatus,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_logon: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub pwd_last_set: Option<OffsetDateTime>,
    pub unicode_pwd_version: Option<u32>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub unicode_pwd_changed: Option<OffsetDateTime>,
    /// Originating DSA invocation id of the last `unicodePwd` write.
    pub unicode_pwd_origin: Option<Uuid>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub bad_password_time: Option<OffsetDateTime>,
    pub bad_pwd_count: Option<u32>,
    /// This DC is behind the others (older password, or missing the object).
    pub lagging: bool,
    /// Why the DC did not answer.
    pub error: Option<String>,
}

/// Which repairs make technical sense here, before policy (roles, scopes) is applied.
///
/// Both are false for a protected or missing object, and while the DCs disagree (replication
/// lag or replication in progress: a write now only adds a version that has to replicate too). The token repair is also
/// withheld for a disabled account (enable it; the secret still matches) and a re-created one
/// (rejoin; re-keying would take the new object over from whichever machine owns it now). No
/// fix recommends a DC-side reset; it stays available where a human wants to cut a secret off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct AllowedRepairs {
    pub token_repair: bool,
    pub dc_reset: bool,
}

/// The full diagnosis of one computer name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Diagnosis {
    /// What happened in a helpdesk tech's words (no AD attribute names), and the one repair to
    /// press; the cause codes stay in `likely_causes`.
    pub verdict: Verdict,
    /// Most severe first.
    pub findings: Vec<Finding>,
    /// `protected_account` first, then by confidence, highest first. Never empty.
    pub likely_causes: Vec<LikelyCause>,
    /// The fix for the first likely cause.
    pub fix: Fix,
    pub per_dc: Vec<DcRow>,
    pub protected: bool,
    pub actions: AllowedRepairs,
}

/// Findings and causes as the rules produce them.
#[derive(Debug, Default)]
struct Out {
    findings: Vec<Finding>,
    causes: Vec<(Cause, Confidence)>,
}

impl Out {
    fn finding(
        &mut self,
        code: FindingCode,
        severity: Severity,
        summary: String,
        evidence: Vec<String>,
    ) {
        self.findings.push(Finding {
            code,
            severity,
            summary,
            evidence,
        });
    }

    /// Records a cause; the same cause raised twice keeps its highest confidence.
    fn cause(&mut self, cause: Cause, confidence: Confidence) {
        match self.causes.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, conf)) => *conf = (*conf).max(confidence),
            None => self.causes.push((cause, confidence)),
        }
    }

    fn has(&self, cause: Cause) -> bool {
        self.causes.iter().any(|(c, _)| *c == cause)
    }

    fn confidence_of(&self, cause: Cause) -> Option<Confidence> {
        self.causes
            .iter()
            .find(|(c, _)| *c == cause)
            .map(|(_, conf)| *conf)
    }
}

/// Diagnoses one computer name. Pure: the same input always gives the same output.
///
/// Order of evaluation does not matter for the result; every rule reads the same derived facts.
/// `healthy` is added when no rule found a cause that can break the channel
/// ([`Cause::breaks_channel`]): high confidence when every DC answered, medium otherwise.
pub fn diagnose(
    snapshot: &Snapshot,
    settings: &DiagnosisSettings,
    now: OffsetDateTime,
) -> Diagnosis {
    let facts = Facts::new(snapshot, now);
    let mut out = Out::default();

    let protected = account::protected(&facts, &mut out);
    account::missing(&facts, &mut out);
    account::recreated(&facts, &mut out);
    account::disabled(&facts, &mut out);
    let lagging = replication::check(&facts, settings, &mut out);
    history::coverage(&facts, &mut out);
    history::tombstone_check(&facts, &mut out);
    history::portal_writes(&facts, settings, &mut out);
    watch::transited(&facts, settings, &mut out);
    password::after_last_logon(&facts, settings, &mut out);
    history::stale_local_secret(&facts, settings, &mut out);
    password::clone_churn(&facts, settings, &mut out);
    password::rotation(&facts, settings, &mut out);
    password::silence(&facts, settings, &mut out);
    password::context(&facts, &mut out);

    if !out.causes.iter().any(|(c, _)| c.breaks_channel()) {
        let complete = !facts.found.is_empty() && facts.per_dc_complete;
        let confidence = if complete {
            Confidence::High
        } else {
            Confidence::Medium
        };
        out.cause(Cause::Healthy, confidence);
        out.finding(
            FindingCode::Healthy,
            Severity::Info,
            if complete {
                "Nothing in the directory explains a broken trust: the account exists and is \
                 enabled, every DC agrees, and no password write came from anyone but the \
                 machine, its join or a completed trustdesk repair."
                    .to_string()
            } else {
                "Nothing in the DCs that answered explains a broken trust, but the per-DC view \
                 is partial (see the findings): the account exists and is enabled, the DCs that \
                 answered agree, and no password write seen came from anyone but the machine, \
                 its join or a completed trustdesk repair."
                    .to_string()
            },
            Vec::new(),
        );
    }

    let converging = out.has(Cause::ReplicationLag) || out.has(Cause::ReplicationInProgress);
    let actions = AllowedRepairs {
        token_repair: facts.account.is_some()
            && !protected
            && !converging
            && !out.has(Cause::AccountDisabled)
            && !out.has(Cause::AccountRecreated),
        dc_reset: facts.account.is_some() && !protected && !converging,
    };

    let ctx = fixes::FixContext::new(&facts, &lagging);
    let mut causes = out.causes;
    causes.sort_by_key(|(cause, confidence)| {
        (
            *cause != Cause::ProtectedAccount,
            std::cmp::Reverse(*confidence),
            cause.priority(),
        )
    });
    let likely_causes: Vec<LikelyCause> = causes
        .into_iter()
        .map(|(cause, confidence)| LikelyCause {
            cause,
            confidence,
            fix: fixes::fix_for(cause, &ctx),
        })
        .collect();
    let fix = likely_causes
        .first()
        .map(|c| c.fix.clone())
        .unwrap_or_else(|| fixes::fix_for(Cause::Healthy, &ctx));
    let (top, confidence) = likely_causes
        .first()
        .map_or((Cause::Healthy, Confidence::Low), |c| {
            (c.cause, c.confidence)
        });
    let verdict = verdict::verdict(
        &facts,
        top,
        confidence,
        fix.trustdesk_action,
        actions,
        &lagging,
    );

    let mut findings = out.findings;
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));

    Diagnosis {
        verdict,
        findings,
        likely_causes,
        fix,
        per_dc: rows(snapshot, &lagging),
        protected,
        actions,
    }
}

/// The side-by-side rows, in the snapshot's DC order.
fn rows(snapshot: &Snapshot, lagging: &[String]) -> Vec<DcRow> {
    snapshot
        .per_dc
        .iter()
        .map(|v| {
            let mut row = DcRow {
                dc: v.dc.clone(),
                status: DcStatus::Found,
                last_logon: None,
                pwd_last_set: None,
                unicode_pwd_version: None,
                unicode_pwd_changed: None,
                unicode_pwd_origin: None,
                bad_password_time: None,
                bad_pwd_count: None,
                lagging: lagging.contains(&v.dc),
                error: None,
            };
            match &v.outcome {
                DcOutcome::Found(a) => {
                    let meta = a.unicode_pwd.as_ref();
                    row.last_logon = a.last_logon;
                    row.pwd_last_set = a.pwd_last_set;
                    row.unicode_pwd_version = meta.map(|m| m.version);
                    row.unicode_pwd_changed = meta.map(|m| m.originating_change_time);
                    row.unicode_pwd_origin = meta.map(|m| m.originating_invocation_id);
                    row.bad_password_time = a.bad_password_time;
                    row.bad_pwd_count = a.bad_pwd_count;
                }
                DcOutcome::NotFound => row.status = DcStatus::NotFound,
                DcOutcome::Unreachable { error } => {
                    row.status = DcStatus::Unreachable;
                    row.error = Some(error.clone());
                }
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests;

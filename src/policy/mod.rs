//! Authorization, in one place: OIDC groups → roles → actions and OU scopes, and the protected
//! objects nobody may act on.
//!
//! Deny by default. A check that passes returns a [`Grant<A>`]: a value only this module can
//! make, naming the action kind in its type and the target DN it was issued for. Every
//! capability that reads or changes a computer takes the matching `&Grant<…>` as an argument,
//! so forgetting the check is a compile error, not a review finding.

mod approval;

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

use serde::Serialize;

use crate::ad::ComputerAccount;
use crate::ad::dn::{Fold, Subtree, rdns, suffix_of};
use crate::ad::tier0::{GroupCheck, Tier0, tier0_reasons};
use crate::config::Config;

pub use approval::{ApprovalRoute, ApprovalRule, Approved, Pending, Person, Recorded};

/// The DN comparisons live in [`crate::ad::dn`]; re-exported for the callers that name them here.
use crate::ad::dn::{dn_within, normalize_dn};

/// Every action a role can be granted (config names in `snake_case`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Lookup,
    Diagnose,
    MintToken,
    RevokeToken,
    ResetAccount,
    ViewAudit,
    ExportAudit,
    ViewPolicy,
    RunFleetScan,
    /// Run a repair the diagnosis withholds (disabled, re-created, replication in progress),
    /// with a reason, audited. Never past the protected list: that is the policy's own refusal.
    OverrideDiagnosis,
}

impl Action {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "lookup" => Self::Lookup,
            "diagnose" => Self::Diagnose,
            "mint_token" => Self::MintToken,
            "revoke_token" => Self::RevokeToken,
            "reset_account" => Self::ResetAccount,
            "view_audit" => Self::ViewAudit,
            "export_audit" => Self::ExportAudit,
            "view_policy" => Self::ViewPolicy,
            "run_fleet_scan" => Self::RunFleetScan,
            "override_diagnosis" => Self::OverrideDiagnosis,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lookup => "lookup",
            Self::Diagnose => "diagnose",
            Self::MintToken => "mint_token",
            Self::RevokeToken => "revoke_token",
            Self::ResetAccount => "reset_account",
            Self::ViewAudit => "view_audit",
            Self::ExportAudit => "export_audit",
            Self::ViewPolicy => "view_policy",
            Self::RunFleetScan => "run_fleet_scan",
            Self::OverrideDiagnosis => "override_diagnosis",
        }
    }

    /// Actions that change the directory or a credential: refused on protected objects.
    /// Revoking a token is not one: it only takes a credential away, so a token for a computer
    /// that became tier 0 after its mint can always be revoked.
    pub fn changes_something(self) -> bool {
        matches!(
            self,
            Self::MintToken | Self::ResetAccount | Self::OverrideDiagnosis
        )
    }
}

/// The type-level action kinds a [`Grant`] can carry.
pub trait ActionKind {
    const ACTION: Action;
}
macro_rules! kinds {
    ($($name:ident => $action:ident),* $(,)?) => {$(
        #[derive(Debug)]
        pub struct $name;
        impl ActionKind for $name { const ACTION: Action = Action::$action; }
    )*};
}
kinds!(
    Lookup => Lookup,
    Diagnose => Diagnose,
    MintToken => MintToken,
    RevokeToken => RevokeToken,
    ResetAccount => ResetAccount,
    RunFleetScan => RunFleetScan,
    OverrideDiagnosis => OverrideDiagnosis,
);

/// Proof that the policy allowed action `A` on `dn` (or, for a name with no object, on
/// nothing in particular). Fields are private: only [`Policy`] makes one.
#[derive(Debug)]
pub struct Grant<A: ActionKind> {
    dn: Option<String>,
    /// The roles that grant `A` on this target (security review L-3: limits come from them,
    /// not from every role the person holds).
    roles: Vec<String>,
    _kind: PhantomData<A>,
}

impl Grant<RunFleetScan> {
    /// The scan the service runs for itself: on its schedule, or from the CLI by the operator
    /// who holds its configuration. A scan only reads; who may see which results is still
    /// decided per viewer (`lookup` scopes).
    pub fn for_service() -> Self {
        Grant {
            dn: None,
            roles: Vec::new(),
            _kind: PhantomData,
        }
    }
}

impl<A: ActionKind> Grant<A> {
    pub fn dn(&self) -> Option<&str> {
        self.dn.as_deref()
    }

    /// The roles that granted it: its hourly limit and token-lifetime cap come from these.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }
}

/// Why the policy said no: shown to the user and written to the audit log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("none of your roles grants '{0}'")]
    ActionNotGranted(&'static str),
    #[error("this computer is outside the OUs your roles cover for '{0}'")]
    OutOfScope(&'static str),
    #[error(
        "this is a protected object ({0}); trustdesk refuses every change to it — escalate to a domain admin"
    )]
    Protected(Protection),
    /// Granted, but only with a second person's approval here: a request, not a refusal.
    #[error("this change needs {0} here")]
    NeedsApproval(ApprovalRoute),
    #[error("nobody approves or denies their own request")]
    OwnRequest,
    #[error("only a holder of {0} may decide this request")]
    NotAnApprover(String),
    #[error("no approval rule holds this change back any more")]
    NoApprovalRule,
}

/// Why an object is refused every change, whatever the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    /// Tier 0 by what the directory says of it (`ad/tier0.rs`).
    Tier0(Tier0),
    /// Under one of `ldap.protected_ous`.
    ProtectedOu,
    /// A change asked on an account read without its groups: refused rather than guessed.
    GroupsNotRead,
}

impl std::fmt::Display for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tier0(t) => t.fmt(f),
            Self::ProtectedOu => f.write_str("under a protected OU"),
            Self::GroupsNotRead => f.write_str("its group membership was not read"),
        }
    }
}

/// Which audit events a viewer sees (security review L-6). A role that grants `view_audit`
/// or `export_audit` with no scopes (the security team's) sees every event; one with scopes (a
/// site lead's) sees the events about computers in them, and the viewer's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditView {
    All,
    Scoped { scopes: Vec<String> },
}

impl AuditView {
    /// Whether `viewer_sub` may see an event by `actor_sub` about `target_dn`.
    pub fn sees(&self, viewer_sub: &str, actor_sub: Option<&str>, target_dn: Option<&str>) -> bool {
        match self {
            Self::All => true,
            Self::Scoped { scopes } => {
                actor_sub == Some(viewer_sub)
                    || target_dn.is_some_and(|dn| scopes.iter().any(|s| dn_within(dn, s)))
            }
        }
    }
}

/// What the policy needs to know about a target object.
pub struct Target<'a> {
    pub dn: &'a str,
    pub account: Option<&'a ComputerAccount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RolePolicy {
    pub groups: Vec<String>,
    pub actions: BTreeSet<Action>,
    /// Normalised OU DNs (lower case, no spaces around separators), parsed.
    pub scopes: Vec<Subtree>,
    pub max_actions_per_hour: Option<u32>,
    pub max_token_minutes: Option<u32>,
    /// Out-of-scope computers answer as names that do not exist.
    pub hide_outside_scope: bool,
    /// The changes this role may only ask for (four eyes).
    pub approval: Option<ApprovalRule>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    pub roles: BTreeMap<String, RolePolicy>,
    pub protected_ous: Vec<String>,
}

impl Policy {
    /// Built from a validated config (unknown action names were refused there).
    pub fn from_config(cfg: &Config) -> Self {
        let roles = cfg
            .roles
            .iter()
            .map(|(name, r)| {
                (
                    name.clone(),
                    RolePolicy {
                        groups: r.groups.clone(),
                        actions: r.actions.iter().filter_map(|a| Action::parse(a)).collect(),
                        scopes: r.scopes.iter().map(|s| Subtree::new(s)).collect(),
                        max_actions_per_hour: r.max_actions_per_hour,
                        max_token_minutes: r.max_token_minutes,
                        hide_outside_scope: r.hide_outside_scope,
                        approval: r.approval.as_ref().map(ApprovalRule::from_config),
                    },
                )
            })
            .collect();
        Self {
            roles,
            // Every domain's protected OUs: each is a DN, so it names its own domain.
            protected_ous: cfg
                .domains
                .iter()
                .flat_map(|d| &d.protected_ous)
                .map(|s| normalize_dn(s))
                .collect(),
        }
    }

    fn granting<'a>(
        &'a self,
        roles: &'a [String],
        action: Action,
    ) -> impl Iterator<Item = (&'a String, &'a RolePolicy)> + 'a {
        roles
            .iter()
            .filter_map(|name| self.roles.get(name).map(|r| (name, r)))
            .filter(move |(_, r)| r.actions.contains(&action))
    }

    /// The scopes (DNs) under which any of `roles` grants `action`, as configured.
    pub fn scopes<'a>(
        &'a self,
        roles: &'a [String],
        action: Action,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.granting(roles, action)
            .flat_map(|(_, r)| r.scopes.iter().map(Subtree::as_str))
    }

    /// Whether one of `roles` hides the computers outside its scopes: then every out-of-scope
    /// or unknown name gets the same answer (a restriction, so any one role imposes it).
    pub fn hides_outside_scope(&self, roles: &[String]) -> bool {
        roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .any(|r| r.hide_outside_scope)
    }

    /// The audit events `roles` may see through `action` (`view_audit` or `export_audit`).
    pub fn audit_view(&self, roles: &[String], action: Action) -> AuditView {
        let mut scopes = Vec::new();
        for (_, r) in self.granting(roles, action) {
            if r.scopes.is_empty() {
                return AuditView::All;
            }
            scopes.extend(r.scopes.iter().map(|s| s.as_str().to_string()));
        }
        AuditView::Scoped { scopes }
    }

    /// Whether any of `roles` grants `action` at all (menus, target-less pages).
    pub fn allows(&self, roles: &[String], action: Action) -> bool {
        self.granting(roles, action).next().is_some()
    }

    /// Whether `dn` lies in a scope where `roles` grant `action` (list filtering). For a
    /// container's DN: whether the objects directly in it do (per-OU aggregates).
    pub fn in_scope(&self, roles: &[String], action: Action, dn: &str) -> bool {
        let object = rdns(dn, Fold::Strict);
        self.granting_on(roles, action, &object).next().is_some()
    }

    /// The names of the roles among `roles` that grant `action` with a scope covering the
    /// object whose RDNs are `object` (strictly folded).
    fn granting_on<'a>(
        &'a self,
        roles: &'a [String],
        action: Action,
        object: &'a [(String, String)],
    ) -> impl Iterator<Item = &'a String> + 'a {
        self.granting(roles, action)
            .filter(|(_, r)| r.scopes.iter().any(|s| s.holds(object)))
            .map(|(name, _)| name)
    }

    /// Actions per hour a user with `roles` may take: the most generous of the roles granting
    /// `action` (`None`: no limit).
    pub fn hourly_limit(&self, roles: &[String], action: Action) -> Option<u32> {
        let mut limit = Some(0);
        for (_, r) in self.granting(roles, action) {
            limit = match (limit, r.max_actions_per_hour) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
        }
        limit.filter(|n| *n > 0)
    }

    /// The longest token `roles` may mint, in minutes, within `global_max`.
    pub fn token_minutes_cap(&self, roles: &[String], global_max: u32) -> u32 {
        self.granting(roles, Action::MintToken)
            .map(|(_, r)| r)
            .map(|r| r.max_token_minutes.unwrap_or(global_max).min(global_max))
            .max()
            .unwrap_or(0)
    }

    /// Why a target is protected, if it is: tier 0 by what the directory says of it (DCs,
    /// RODCs, `adminCount=1`, delegation, privileged groups: `ad/tier0.rs`), under a
    /// protected OU, or read without its groups.
    pub fn protection(&self, target: &Target<'_>) -> Option<Protection> {
        if let Some(why) = target
            .account
            .and_then(|a| tier0_reasons(a).into_iter().next())
        {
            return Some(Protection::Tier0(why));
        }
        let dn = rdns(target.dn, Fold::Loose);
        if self
            .protected_ous
            .iter()
            .any(|ou| suffix_of(&dn, &rdns(ou, Fold::Loose)))
        {
            return Some(Protection::ProtectedOu);
        }
        target
            .account
            .is_some_and(|a| a.privilege.groups == GroupCheck::NotRead)
            .then_some(Protection::GroupsNotRead)
    }

    /// The one check: action granted, target in scope, and — for changes — not protected, and
    /// not held back for an approval ([`Denied::NeedsApproval`]: `approval.rs`).
    pub fn authorize<A: ActionKind>(
        &self,
        roles: &[String],
        target: &Target<'_>,
    ) -> Result<Grant<A>, Denied> {
        self.authorize_held(roles, target, false)
    }

    /// [`Self::authorize`]; `approved`: an approval stands for the one a rule asks (only
    /// [`Self::authorize_approved`], with its proof, and a redeem of an approved token).
    fn authorize_held<A: ActionKind>(
        &self,
        roles: &[String],
        target: &Target<'_>,
        approved: bool,
    ) -> Result<Grant<A>, Denied> {
        let action = A::ACTION;
        if !self.allows(roles, action) {
            return Err(Denied::ActionNotGranted(action.as_str()));
        }
        if action.changes_something()
            && let Some(why) = self.protection(target)
        {
            return Err(Denied::Protected(why));
        }
        let object = rdns(target.dn, Fold::Strict);
        let granting: Vec<String> = self.granting_on(roles, action, &object).cloned().collect();
        if granting.is_empty() {
            return Err(Denied::OutOfScope(action.as_str()));
        }
        let granting = if approved {
            granting
        } else {
            self.granting_outright(&granting, action, &object)
                .map_err(Denied::NeedsApproval)?
        };
        Ok(Grant {
            dn: Some(target.dn.to_string()),
            roles: granting,
            _kind: PhantomData,
        })
    }

    /// For a name with no object behind it (the diagnosis says `account_missing`): the action
    /// must be granted somewhere; there is no DN to scope.
    pub fn authorize_nameless<A: ActionKind>(&self, roles: &[String]) -> Result<Grant<A>, Denied> {
        if self.allows(roles, A::ACTION) {
            Ok(Grant {
                dn: None,
                roles: self
                    .granting(roles, A::ACTION)
                    .map(|(name, _)| name.clone())
                    .collect(),
                _kind: PhantomData,
            })
        } else {
            Err(Denied::ActionNotGranted(A::ACTION.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let mut roles = BTreeMap::new();
        roles.insert(
            "junior".into(),
            RolePolicy {
                groups: vec![],
                actions: [Action::Lookup, Action::Diagnose, Action::MintToken].into(),
                scopes: vec![Subtree::new(
                    "OU=Paris,OU=Workstations,DC=lab,DC=example,DC=test",
                )],
                max_actions_per_hour: Some(30),
                max_token_minutes: Some(10),
                hide_outside_scope: false,
                approval: None,
            },
        );
        Policy {
            roles,
            protected_ous: vec![normalize_dn("OU=Protected,DC=lab,DC=example,DC=test")],
        }
    }

    #[test]
    fn scope_is_a_subtree_not_a_suffix_string() {
        let p = policy();
        let r = vec!["junior".to_string()];
        let t = |dn| Target { dn, account: None };
        assert!(
            p.authorize::<Diagnose>(
                &r,
                &t("CN=PAR-WS001,OU=Paris,OU=Workstations,DC=lab,DC=example,DC=test")
            )
            .is_ok()
        );
        assert!(
            p.authorize::<Diagnose>(
                &r,
                &t("cn=x, ou=PARIS, ou=workstations,dc=lab,dc=example,dc=test")
            )
            .is_ok()
        );
        // "OU=NotParis" ends with the text "Paris,OU=…" but is not below OU=Paris.
        assert_eq!(
            p.authorize::<Diagnose>(
                &r,
                &t("CN=X,OU=NotParis,OU=Workstations,DC=lab,DC=example,DC=test")
            )
            .unwrap_err(),
            Denied::OutOfScope("diagnose")
        );
        assert_eq!(
            p.authorize::<ResetAccount>(
                &r,
                &t("CN=PAR-WS001,OU=Paris,OU=Workstations,DC=lab,DC=example,DC=test")
            )
            .unwrap_err(),
            Denied::ActionNotGranted("reset_account")
        );
        assert!(
            p.authorize::<Diagnose>(
                &[],
                &t("CN=PAR-WS001,OU=Paris,OU=Workstations,DC=lab,DC=example,DC=test")
            )
            .is_err()
        );
    }

    #[test]
    fn limits_come_from_the_granting_roles() {
        let p = policy();
        let r = vec!["junior".to_string()];
        assert_eq!(p.hourly_limit(&r, Action::Diagnose), Some(30));
        assert_eq!(
            p.hourly_limit(&r, Action::ResetAccount),
            None,
            "not granted: no limit to apply"
        );
        assert_eq!(p.token_minutes_cap(&r, 60), 10);
        assert_eq!(p.token_minutes_cap(&r, 5), 5, "the global cap wins");
        assert_eq!(p.token_minutes_cap(&[], 60), 0);
    }

    #[test]
    fn protected_ous_match_loosely_so_they_refuse_more_never_less() {
        let mut p = policy();
        p.protected_ous = vec![normalize_dn("OU=Kiosk,DC=lab,DC=example,DC=test")];
        let t = |dn| Target { dn, account: None };
        assert_eq!(
            p.protection(&t("CN=PC,OU=\u{212A}iosk,DC=lab,DC=example,DC=test")),
            Some(Protection::ProtectedOu)
        );
        assert_eq!(
            p.protection(&t(r"CN=PC,OU=x\,OU=Kiosk,DC=lab,DC=example,DC=test")),
            None,
            "a sibling OU whose name holds a comma is not under OU=Kiosk"
        );
    }

    #[test]
    fn a_grants_limits_come_from_the_roles_that_cover_its_target() {
        let mut p = policy();
        p.roles.insert(
            "kiosk".into(),
            RolePolicy {
                groups: vec![],
                actions: [Action::Lookup, Action::Diagnose, Action::MintToken].into(),
                scopes: vec![Subtree::new("OU=Kiosks,DC=lab,DC=example,DC=test")],
                max_actions_per_hour: None,
                max_token_minutes: Some(60),
                hide_outside_scope: false,
                approval: None,
            },
        );
        let both = vec!["junior".to_string(), "kiosk".to_string()];
        let t = |dn| Target { dn, account: None };
        let paris = p
            .authorize::<MintToken>(
                &both,
                &t("CN=PC,OU=Paris,OU=Workstations,DC=lab,DC=example,DC=test"),
            )
            .unwrap();
        assert_eq!(paris.roles(), ["junior".to_string()]);
        assert_eq!(p.hourly_limit(paris.roles(), Action::MintToken), Some(30));
        assert_eq!(p.token_minutes_cap(paris.roles(), 60), 10);
        let kiosk = p
            .authorize::<MintToken>(&both, &t("CN=K1,OU=Kiosks,DC=lab,DC=example,DC=test"))
            .unwrap();
        assert_eq!(kiosk.roles(), ["kiosk".to_string()]);
        assert_eq!(p.hourly_limit(kiosk.roles(), Action::MintToken), None);
        assert_eq!(p.token_minutes_cap(kiosk.roles(), 60), 60);
        // Every role together is the most generous: the old, wrong answer for Paris.
        assert_eq!(p.hourly_limit(&both, Action::MintToken), None);
    }

    #[test]
    fn the_audit_view_follows_the_granting_roles_scopes() {
        let mut p = policy();
        let role = |scopes: Vec<Subtree>| RolePolicy {
            groups: vec![],
            actions: [Action::ViewAudit].into(),
            scopes,
            max_actions_per_hour: None,
            max_token_minutes: None,
            hide_outside_scope: false,
            approval: None,
        };
        p.roles.insert("security".into(), role(vec![]));
        p.roles.insert(
            "sitelead".into(),
            role(vec![Subtree::new("OU=Paris,OU=Workstations,DC=lab")]),
        );
        let security = p.audit_view(&["security".to_string()], Action::ViewAudit);
        assert_eq!(security, AuditView::All);
        let lead = p.audit_view(&["sitelead".to_string()], Action::ViewAudit);
        let paris = Some("CN=PC,OU=Paris,OU=Workstations,DC=lab");
        let berlin = Some("CN=PC,OU=Berlin,OU=Workstations,DC=lab");
        assert!(lead.sees("lea", Some("bob"), paris));
        assert!(
            !lead.sees("lea", Some("bob"), berlin),
            "another site's event"
        );
        assert!(!lead.sees("lea", Some("bob"), None), "someone's sign-in");
        assert!(lead.sees("lea", Some("lea"), berlin), "her own action");
        assert!(security.sees("sam", Some("bob"), berlin));
        assert_eq!(
            p.audit_view(&[], Action::ViewAudit),
            AuditView::Scoped { scopes: vec![] }
        );
    }

    #[test]
    fn protected_ous_refuse_changes_to_everyone() {
        let mut p = policy();
        if let Some(j) = p.roles.get_mut("junior") {
            j.scopes.push(Subtree::new("DC=lab,DC=example,DC=test"));
        }
        let r = vec!["junior".to_string()];
        let t = Target {
            dn: "CN=PAW-ADM01,OU=Protected,DC=lab,DC=example,DC=test",
            account: None,
        };
        assert_eq!(
            p.authorize::<MintToken>(&r, &t).unwrap_err(),
            Denied::Protected(Protection::ProtectedOu)
        );
        assert!(
            p.authorize::<Diagnose>(&r, &t).is_ok(),
            "reading stays possible"
        );
    }
}

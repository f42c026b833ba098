//! Four eyes: the changes a role may only ask for, and who may approve them.
//!
//! A role's [`ApprovalRule`] holds some of its actions back, in some scopes: there,
//! [`Policy::authorize`] answers [`Denied::NeedsApproval`] with the roles that may approve.
//! A person holding one of them decides ([`Policy::decide`]): never the requester (the same
//! subject at the same issuer), never a role the rule does not name. The approval is an
//! [`Approved<A>`], a value only this module makes, and [`Policy::authorize_approved`] takes
//! it in place of the missing approval, re-checking everything else (the action, the scope,
//! protection) against the requester's roles at that moment.

use std::collections::BTreeSet;
use std::marker::PhantomData;

use serde::Serialize;

use super::{Action, ActionKind, Denied, Grant, Policy, Target};
use crate::ad::dn::{Fold, Subtree, rdns};
use crate::config::ApprovalConfig;

/// A role's approval rule, as configured.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalRule {
    pub actions: BTreeSet<Action>,
    /// Normalised OU DNs; empty: wherever the role grants the actions.
    pub scopes: Vec<Subtree>,
    /// The roles whose holders approve.
    pub approvers: Vec<String>,
    pub expires_minutes: u32,
}

impl ApprovalRule {
    pub(super) fn from_config(c: &ApprovalConfig) -> Self {
        Self {
            actions: c.actions.iter().filter_map(|a| Action::parse(a)).collect(),
            scopes: c.scopes.iter().map(|s| Subtree::new(s)).collect(),
            approvers: c.approvers.clone(),
            expires_minutes: c.expires_minutes,
        }
    }

    /// Whether `action` on the object at `dn` (its RDNs, strictly folded) needs an approval.
    fn holds_back(&self, action: Action, dn: &[(String, String)]) -> bool {
        self.actions.contains(&action)
            && (self.scopes.is_empty() || self.scopes.iter().any(|s| s.holds(dn)))
    }
}

/// Who may approve a held-back change, and how long the request waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRoute {
    /// Role names, sorted, each once.
    pub approvers: Vec<String>,
    /// The shortest wait of the rules that hold it back.
    pub expires_minutes: u32,
}

impl std::fmt::Display for ApprovalRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "approval by {}", self.approvers.join(" or "))
    }
}

/// A person as the four-eyes rule tells people apart: a subject at an issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person<'a> {
    pub issuer: &'a str,
    pub sub: &'a str,
}

/// A request waiting for a decision, as the policy needs to judge it.
pub struct Pending<'a> {
    pub id: &'a str,
    pub requester: Person<'a>,
    /// The requester's roles when they asked.
    pub requester_roles: &'a [String],
    pub dn: &'a str,
}

/// A decided request, as the store recorded it.
pub struct Recorded<'a> {
    pub id: &'a str,
    pub action: Action,
    pub requester: Person<'a>,
    pub decider: Person<'a>,
    /// Whether the decision was an approval.
    pub approved: bool,
}

/// Proof that a person allowed to approve request `id` for `A` did so. Only [`Policy::decide`]
/// makes one; [`Policy::authorize_approved`] takes it.
#[derive(Debug)]
pub struct Approved<A: ActionKind> {
    id: String,
    _kind: PhantomData<A>,
}

impl<A: ActionKind> Approved<A> {
    /// The request it approves.
    pub fn request_id(&self) -> &str {
        &self.id
    }
}

impl Policy {
    /// The approval `roles` need for `action` on `dn`, or `None` when one of the roles that
    /// grant it there grants it outright (or none grants it: that is a refusal, not a request).
    pub fn approval_needed(
        &self,
        roles: &[String],
        action: Action,
        dn: &str,
    ) -> Option<ApprovalRoute> {
        let object = rdns(dn, Fold::Strict);
        let granting: Vec<String> = self.granting_on(roles, action, &object).cloned().collect();
        if granting.is_empty() {
            return None;
        }
        self.granting_outright(&granting, action, &object).err()
    }

    /// The roles of `granting` that grant `action` on the object (its RDNs, strictly folded)
    /// without an approval; when there is none, the approval the rules that hold it back ask.
    pub(super) fn granting_outright(
        &self,
        granting: &[String],
        action: Action,
        object: &[(String, String)],
    ) -> Result<Vec<String>, ApprovalRoute> {
        let rule = |name: &String| {
            self.roles
                .get(name)
                .and_then(|r| r.approval.as_ref())
                .filter(|rule| rule.holds_back(action, object))
        };
        let outright: Vec<String> = granting
            .iter()
            .filter(|name| rule(name).is_none())
            .cloned()
            .collect();
        if !outright.is_empty() {
            return Ok(outright);
        }
        let rules: Vec<&ApprovalRule> = granting.iter().filter_map(rule).collect();
        let approvers: BTreeSet<String> = rules
            .iter()
            .flat_map(|rule| rule.approvers.iter().cloned())
            .collect();
        Err(ApprovalRoute {
            approvers: approvers.into_iter().collect(),
            expires_minutes: rules.iter().map(|r| r.expires_minutes).min().unwrap_or(0),
        })
    }

    /// Whether any of `roles` approves some role's requests (the approvals page).
    pub fn approves_any(&self, roles: &[String]) -> bool {
        self.roles
            .values()
            .filter_map(|r| r.approval.as_ref())
            .any(|rule| rule.approvers.iter().any(|a| roles.contains(a)))
    }

    /// An approver's decision on `request` for `A`: a different person, holding one of the
    /// roles that may approve it under the configuration in force. A denial takes the same
    /// check (a person who may not approve may not deny either); its proof is then dropped.
    pub fn decide<A: ActionKind>(
        &self,
        request: &Pending<'_>,
        approver: Person<'_>,
        approver_roles: &[String],
    ) -> Result<Approved<A>, Denied> {
        self.may_decide(A::ACTION, request, approver, approver_roles)?;
        Ok(Approved {
            id: request.id.to_string(),
            _kind: PhantomData,
        })
    }

    /// The check of [`Self::decide`], for a request of `action` (the queue lists what a
    /// person may decide).
    pub fn may_decide(
        &self,
        action: Action,
        request: &Pending<'_>,
        approver: Person<'_>,
        approver_roles: &[String],
    ) -> Result<(), Denied> {
        if approver == request.requester {
            return Err(Denied::OwnRequest);
        }
        let Some(route) = self.approval_needed(request.requester_roles, action, request.dn) else {
            return Err(Denied::NoApprovalRule);
        };
        if !route.approvers.iter().any(|a| approver_roles.contains(a)) {
            return Err(Denied::NotAnApprover(route.approvers.join(" or ")));
        }
        Ok(())
    }

    /// The approval of a request the store records as approved (`recorded`): a mint's, which
    /// runs when its requester collects the token, after the decision. The record must show a
    /// decision for `A` by another person than the requester; the rest is
    /// [`Self::authorize_approved`]'s re-check.
    pub fn approval_on_record<A: ActionKind>(
        &self,
        recorded: &Recorded<'_>,
    ) -> Result<Approved<A>, Denied> {
        if !recorded.approved || recorded.action != A::ACTION {
            return Err(Denied::NoApprovalRule);
        }
        if recorded.decider == recorded.requester {
            return Err(Denied::OwnRequest);
        }
        Ok(Approved {
            id: recorded.id.to_string(),
            _kind: PhantomData,
        })
    }

    /// [`Policy::authorize`] for an approved request: the requester's `roles` must still grant
    /// `A` on `target`, in scope and not protected; the approval stands in for the one thing
    /// they lacked.
    pub fn authorize_approved<A: ActionKind>(
        &self,
        roles: &[String],
        target: &Target<'_>,
        _approved: &Approved<A>,
    ) -> Result<Grant<A>, Denied> {
        self.authorize_held(roles, target, true)
    }

    /// The redeem of a token minted through approved request `request_id` (its row says so):
    /// the minter's roles re-checked as [`Self::authorize_approved`] does. The decision was
    /// made, audited and recorded with the token; the redeem carries it out.
    pub fn authorize_approved_token(
        &self,
        roles: &[String],
        target: &Target<'_>,
        request_id: &str,
    ) -> Result<Grant<super::MintToken>, Denied> {
        let approved = Approved {
            id: request_id.to_string(),
            _kind: PhantomData,
        };
        self.authorize_approved(roles, target, &approved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RolePolicy;
    use std::collections::BTreeMap;

    const SERVERS: &str = "OU=Servers,DC=lab,DC=example,DC=test";
    const DESKS: &str = "OU=Workstations,DC=lab,DC=example,DC=test";

    fn role(actions: &[Action], scopes: &[&str], approval: Option<ApprovalRule>) -> RolePolicy {
        RolePolicy {
            groups: vec![],
            actions: actions.iter().copied().collect(),
            scopes: scopes.iter().map(|s| Subtree::new(s)).collect(),
            max_actions_per_hour: None,
            max_token_minutes: None,
            hide_outside_scope: false,
            approval,
        }
    }

    fn policy() -> Policy {
        let mut roles = BTreeMap::new();
        let held = ApprovalRule {
            actions: [Action::MintToken].into(),
            scopes: vec![Subtree::new(SERVERS)],
            approvers: vec!["senior".into()],
            expires_minutes: 120,
        };
        let everything = [Action::Lookup, Action::Diagnose, Action::MintToken];
        roles.insert(
            "junior".into(),
            role(&everything, &[SERVERS, DESKS], Some(held)),
        );
        roles.insert("senior".into(), role(&everything, &[SERVERS, DESKS], None));
        roles.insert("site".into(), role(&everything, &[SERVERS], None));
        Policy {
            roles,
            protected_ous: vec![],
        }
    }

    fn dn(ou: &str) -> String {
        format!("CN=PC01,{ou}")
    }

    fn target(dn: &str) -> Target<'_> {
        Target { dn, account: None }
    }

    fn r(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_held_back_change_needs_an_approval_only_in_its_scopes() {
        let p = policy();
        let server = dn(SERVERS);
        let denied = p.authorize::<crate::policy::MintToken>(&r(&["junior"]), &target(&server));
        assert_eq!(
            denied.unwrap_err(),
            Denied::NeedsApproval(ApprovalRoute {
                approvers: r(&["senior"]),
                expires_minutes: 120
            })
        );
        let desk = dn(DESKS);
        assert!(
            p.authorize::<crate::policy::MintToken>(&r(&["junior"]), &target(&desk))
                .is_ok()
        );
        // What needs no change is never held back.
        assert!(
            p.authorize::<crate::policy::Diagnose>(&r(&["junior"]), &target(&server))
                .is_ok()
        );
        // A second role that grants it outright wins: the approval is the junior role's rule.
        let g = p
            .authorize::<crate::policy::MintToken>(&r(&["junior", "site"]), &target(&server))
            .unwrap();
        assert_eq!(g.roles(), &r(&["site"])[..]);
    }

    #[test]
    fn nobody_approves_their_own_request_and_only_the_named_roles_approve() {
        let p = policy();
        let server = dn(SERVERS);
        let junior = Person {
            issuer: "https://idp",
            sub: "alice",
        };
        let roles = r(&["junior"]);
        let request = Pending {
            id: "r1",
            requester: junior,
            requester_roles: &roles,
            dn: &server,
        };
        // Alice holds the senior role too: still her own request.
        let own = p.decide::<crate::policy::MintToken>(&request, junior, &r(&["senior"]));
        assert_eq!(own.unwrap_err(), Denied::OwnRequest);
        // The same subject at another issuer is another person.
        let elsewhere = Person {
            issuer: "https://other",
            sub: "alice",
        };
        assert!(
            p.decide::<crate::policy::MintToken>(&request, elsewhere, &r(&["senior"]))
                .is_ok()
        );
        let bob = Person {
            issuer: "https://idp",
            sub: "bob",
        };
        let refused = p.decide::<crate::policy::MintToken>(&request, bob, &r(&["site"]));
        assert_eq!(refused.unwrap_err(), Denied::NotAnApprover("senior".into()));
        let approved = p
            .decide::<crate::policy::MintToken>(&request, bob, &r(&["senior"]))
            .unwrap();
        assert_eq!(approved.request_id(), "r1");
        let g = p
            .authorize_approved(&roles, &target(&server), &approved)
            .unwrap();
        assert_eq!(g.roles(), &roles[..]);
        // The approval replaces the approval, nothing else: out of scope stays refused.
        let outside = dn("OU=Elsewhere,DC=lab,DC=example,DC=test");
        let out = p.authorize_approved(&roles, &target(&outside), &approved);
        assert_eq!(out.unwrap_err(), Denied::OutOfScope("mint_token"));
    }

    #[test]
    fn a_request_the_rule_no_longer_holds_back_is_not_decided() {
        let p = policy();
        let desk = dn(DESKS);
        let roles = r(&["junior"]);
        let request = Pending {
            id: "r1",
            requester: Person {
                issuer: "i",
                sub: "alice",
            },
            requester_roles: &roles,
            dn: &desk,
        };
        let bob = Person {
            issuer: "i",
            sub: "bob",
        };
        let refused = p.decide::<crate::policy::MintToken>(&request, bob, &r(&["senior"]));
        assert_eq!(refused.unwrap_err(), Denied::NoApprovalRule);
        assert!(p.approves_any(&r(&["senior"])));
        assert!(!p.approves_any(&r(&["junior", "site"])));
    }
}

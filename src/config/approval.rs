//! `[roles.X].approval`: the changes a role may only ask for, which a person holding one of
//! the approver roles then approves or denies (four eyes), per scope:
//!
//! ```toml
//! [roles.junior]
//! actions = ["lookup", "diagnose", "mint_token"]
//! approval = { actions = ["mint_token"], scopes = ["OU=Servers,DC=corp,DC=example"], approvers = ["senior"], expires_minutes = 120 }
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{APPROVABLE, ConfigError, RoleConfig};

/// The longest a request may wait for its approver (and then for its use): a week.
const MAX_EXPIRES_MINUTES: u32 = 7 * 24 * 60;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalConfig {
    /// The role's actions that need an approval (`mint_token`, `reset_account`).
    pub actions: Vec<String>,
    /// Where they need it: OU subtrees (DNs). Empty: wherever the role grants them.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The roles whose holders may approve or deny (never the requester themself).
    pub approvers: Vec<String>,
    /// How long a request waits for a decision, and an approved one for its use.
    #[serde(default = "default_expires_minutes")]
    pub expires_minutes: u32,
}

fn default_expires_minutes() -> u32 {
    120
}

impl ApprovalConfig {
    /// Checked with the rest of the config: each failure names `roles.<role>.approval.<key>`.
    pub(super) fn validate(
        &self,
        role: &str,
        granted: &RoleConfig,
        roles: &BTreeMap<String, RoleConfig>,
    ) -> Result<(), ConfigError> {
        let key = |k: &str| format!("roles.{role}.approval.{k}");
        if self.actions.is_empty() {
            return Err(ConfigError::invalid(
                key("actions"),
                format!("name at least one of {}", APPROVABLE.join(", ")),
            ));
        }
        for action in &self.actions {
            if !APPROVABLE.contains(&action.as_str()) {
                return Err(ConfigError::invalid(
                    key("actions"),
                    format!(
                        "{action:?} cannot wait for an approval (only {})",
                        APPROVABLE.join(", ")
                    ),
                ));
            }
            if !granted.actions.contains(action) {
                return Err(ConfigError::invalid(
                    key("actions"),
                    format!(
                        "{action:?} is not among roles.{role}.actions, so nobody could ask for it"
                    ),
                ));
            }
        }
        if self.approvers.is_empty() {
            return Err(ConfigError::invalid(
                key("approvers"),
                "name at least one role whose holders approve",
            ));
        }
        for approver in &self.approvers {
            if !roles.contains_key(approver) {
                return Err(ConfigError::invalid(
                    key("approvers"),
                    format!("{approver:?} is not a role defined under [roles]"),
                ));
            }
        }
        if !(1..=MAX_EXPIRES_MINUTES).contains(&self.expires_minutes) {
            return Err(ConfigError::invalid(
                key("expires_minutes"),
                format!("must be between 1 and {MAX_EXPIRES_MINUTES} (a week)"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(actions: &[&str], approval: Option<ApprovalConfig>) -> RoleConfig {
        RoleConfig {
            groups: vec!["g".into()],
            actions: actions.iter().map(|a| a.to_string()).collect(),
            approval,
            ..RoleConfig::default()
        }
    }

    fn rule(actions: &[&str], approvers: &[&str], expires_minutes: u32) -> ApprovalConfig {
        ApprovalConfig {
            actions: actions.iter().map(|a| a.to_string()).collect(),
            scopes: vec![],
            approvers: approvers.iter().map(|a| a.to_string()).collect(),
            expires_minutes,
        }
    }

    fn check(r: ApprovalConfig) -> Result<(), String> {
        let mut roles = BTreeMap::new();
        roles.insert("senior".to_string(), role(&["mint_token"], None));
        let junior = role(&["lookup", "mint_token"], Some(r.clone()));
        roles.insert("junior".to_string(), junior);
        r.validate("junior", &roles["junior"], &roles)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_rule_names_granted_changes_and_defined_approvers() {
        assert!(check(rule(&["mint_token"], &["senior"], 120)).is_ok());
        for (r, key, why) in [
            (
                rule(&[], &["senior"], 120),
                "approval.actions",
                "name at least one",
            ),
            (
                rule(&["lookup"], &["senior"], 120),
                "approval.actions",
                "cannot wait",
            ),
            (
                rule(&["reset_account"], &["senior"], 120),
                "approval.actions",
                "not among",
            ),
            (
                rule(&["mint_token"], &[], 120),
                "approval.approvers",
                "at least one role",
            ),
            (
                rule(&["mint_token"], &["boss"], 120),
                "approval.approvers",
                "not a role",
            ),
            (
                rule(&["mint_token"], &["senior"], 0),
                "approval.expires_minutes",
                "between 1",
            ),
            (
                rule(&["mint_token"], &["senior"], 20_000),
                "approval.expires_minutes",
                "a week",
            ),
        ] {
            let e = check(r).unwrap_err();
            assert!(
                e.contains(&format!("roles.junior.{key}")) && e.contains(why),
                "{e}"
            );
        }
    }

    #[test]
    fn the_table_reads_as_the_issue_writes_it() {
        let r: RoleConfig = toml::from_str(
            r#"
            groups = ["g"]
            actions = ["lookup", "diagnose", "mint_token"]
            approval = { actions = ["mint_token"], scopes = ["OU=Servers,DC=x"], approvers = ["senior"] }
            "#,
        )
        .unwrap();
        let a = r.approval.unwrap();
        assert_eq!(a.expires_minutes, 120, "the default");
        assert_eq!(a.scopes, ["OU=Servers,DC=x"]);
        assert!(toml::from_str::<ApprovalConfig>("actions = []\napprovers = []\nwho = 1").is_err());
    }
}

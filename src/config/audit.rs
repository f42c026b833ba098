//! `[audit]`: the audit key that signs the chain head, and how often it signs.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The Ed25519 key (base64url seed, mode 0600, owned by the portal's user) that signs the
    /// chain head; default `<data_dir>/audit.key`, created on the first start. Keep it out of
    /// the database's reach: a database administrator who can read it can sign a rewritten
    /// chain.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Sign the head once this many events were appended since the last signed head...
    #[serde(default = "sign_every_events")]
    pub sign_every_events: u32,
    /// ...or once this many minutes passed since it, if any event was appended.
    #[serde(default = "sign_every_minutes")]
    pub sign_every_minutes: u32,
}

fn sign_every_events() -> u32 {
    100
}
fn sign_every_minutes() -> u32 {
    5
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            key_file: None,
            sign_every_events: sign_every_events(),
            sign_every_minutes: sign_every_minutes(),
        }
    }
}

impl AuditConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=1_000_000).contains(&self.sign_every_events) {
            return Err(ConfigError::invalid(
                "audit.sign_every_events",
                "must be between 1 and 1000000",
            ));
        }
        if !(1..=1440).contains(&self.sign_every_minutes) {
            return Err(ConfigError::invalid(
                "audit.sign_every_minutes",
                "must be between 1 and 1440 (a day)",
            ));
        }
        Ok(())
    }
}

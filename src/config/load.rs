//! Layering: defaults (in the structs) → TOML file → `TRUSTDESK_*` env → `*_FILE` secret files.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

use super::Config;

/// Environment variables are `TRUSTDESK_<SECTION>__<KEY>`, e.g. `TRUSTDESK_LDAP__BASE_DN`.
pub const ENV_PREFIX: &str = "TRUSTDESK_";

/// The keys that hold secrets. Each may instead come from a file named by
/// `TRUSTDESK_<KEY>_FILE` (Docker and Kubernetes secrets); the file wins over everything.
/// (A webhook's secret too: `TRUSTDESK_WEBHOOKS__<index>__SECRET_FILE`, see
/// [`Config::load_with`].) Listed by hand because `ldap.ca_file` also ends in `_file` and is not a secret.
const SECRET_KEYS: &[&str] = &[
    "database_url",
    "ldap.bind_password",
    "oidc.client_secret",
    "health.metrics_token",
];

/// A configuration problem, phrased as one line that names the key or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{0}")]
    Parse(String),
    #[error("{env}: cannot read secret file {path}: {reason}")]
    SecretFile {
        env: String,
        path: PathBuf,
        reason: String,
    },
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

pub(super) fn env_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

impl Config {
    /// Load from an optional TOML file and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, |name| std::env::var(name).ok())
    }

    /// Like [`Config::load`], with the `*_FILE` variables looked up through `getenv`
    /// (the `TRUSTDESK_*` layer itself always reads the process environment).
    pub fn load_with(
        file: Option<&Path>,
        getenv: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            // Read it ourselves so a missing or unreadable file is its own clear error.
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
            figment = figment.merge(Toml::string(&text));
        }
        let secret_file_vars: Vec<String> = SECRET_KEYS
            .iter()
            .map(|k| format!("{}_FILE", env_name(k)))
            .collect();
        let skip: Vec<String> = secret_file_vars
            .iter()
            .map(|v| v.trim_start_matches(ENV_PREFIX).to_ascii_lowercase())
            .chain(["config".to_string()])
            .collect();
        figment = figment.merge(
            Env::prefixed(ENV_PREFIX)
                .filter(move |k| {
                    !skip.iter().any(|s| k.as_str().eq_ignore_ascii_case(s))
                        && !is_webhook_secret_file(k.as_str())
                })
                .split("__"),
        );
        for (key, var) in SECRET_KEYS.iter().zip(&secret_file_vars) {
            if let Some(path) = getenv(var) {
                let value = read_secret_file(var, path)?;
                figment = figment.merge(Serialized::default(key, value));
            }
        }
        let mut config = figment
            .extract::<Config>()
            .map_err(|e| ConfigError::Parse(one_line(&e)))?;
        // `[[webhooks]]` is a list, which figment's keys cannot index: the secret of entry
        // `i` is set here, from `TRUSTDESK_WEBHOOKS__<i>__SECRET_FILE`.
        for (i, hook) in config.webhooks.iter_mut().enumerate() {
            let var = format!("{}_FILE", env_name(&format!("webhooks.{i}.secret")));
            if let Some(path) = getenv(&var) {
                hook.secret = Some(read_secret_file(&var, path)?.into());
            }
        }
        Ok(config)
    }
}

/// The secret in the file `path` names (from the variable `var`), without its final newline.
fn read_secret_file(var: &str, path: String) -> Result<String, ConfigError> {
    let path = PathBuf::from(path);
    let value = std::fs::read_to_string(&path).map_err(|e| ConfigError::SecretFile {
        env: var.to_string(),
        path: path.clone(),
        reason: e.to_string(),
    })?;
    Ok(value.trim_end_matches(['\r', '\n']).to_string())
}

/// `webhooks__<i>__secret_file` (an env key without the prefix, in any case): read by
/// [`Config::load_with`] itself, never a key of the configuration.
fn is_webhook_secret_file(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.strip_prefix("webhooks__")
        .and_then(|rest| rest.strip_suffix("__secret_file"))
        .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

/// figment reports one error per line with the source; keep the first, on one line, and
/// make sure no configured value (which may be a secret) is echoed.
fn one_line(err: &figment::Error) -> String {
    let mut msg = err.kind.to_string();
    // `invalid type: found string "hunter2", expected …` would echo a value: drop it.
    if let figment::error::Kind::InvalidType(_, expected) = &err.kind {
        msg = format!("invalid type, expected {expected}");
    }
    if let figment::error::Kind::InvalidValue(_, expected) = &err.kind {
        msg = format!("invalid value, expected {expected}");
    }
    let key = err.path.join(".");
    let origin = err
        .metadata
        .as_ref()
        .map(|m| format!(" (from {})", m.name))
        .unwrap_or_default();
    if key.is_empty() {
        format!("{msg}{origin}")
    } else {
        format!("{key}: {msg}{origin}")
    }
}

//! Layering: defaults (in the structs) → TOML file → `TRUSTDESK_*` env → `*_FILE` secret files.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

use secrecy::SecretString;

use super::Config;

/// Environment variables are `TRUSTDESK_<SECTION>__<KEY>`, e.g. `TRUSTDESK_LDAP__BASE_DN`.
pub const ENV_PREFIX: &str = "TRUSTDESK_";

/// The keys that hold secrets. Each may instead come from a file named by
/// `TRUSTDESK_<KEY>_FILE` (Docker and Kubernetes secrets); the file wins over everything.
/// (A list entry's too: `TRUSTDESK_WEBHOOKS__<index>__SECRET_FILE` and
/// `TRUSTDESK_DOMAINS__<index>__BIND_PASSWORD_FILE`, see [`LIST_SECRETS`].) Listed by hand because `ldap.ca_file` also ends in `_file` and is not a secret.
const SECRET_KEYS: &[&str] = &[
    "database_url",
    "ldap.bind_password",
    "oidc.client_secret",
    "health.metrics_token",
];

/// The secrets of list entries (`[[webhooks]]`, `[[domains]]`), as (list, key): figment's
/// keys cannot index a list, so entry `i`'s comes from `TRUSTDESK_<LIST>__<i>__<KEY>_FILE`,
/// read by [`Config::load_with`] itself.
const LIST_SECRETS: &[(&str, &str)] = &[("webhooks", "secret"), ("domains", "bind_password")];

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
                        && !is_list_secret_file(k.as_str())
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
        let list_secret = |list: &str, i: usize, key: &str| {
            let var = format!("{}_FILE", env_name(&format!("{list}.{i}.{key}")));
            getenv(&var)
                .map(|path| read_secret_file(&var, path).map(SecretString::from))
                .transpose()
        };
        for (i, hook) in config.webhooks.iter_mut().enumerate() {
            if let Some(secret) = list_secret("webhooks", i, "secret")? {
                hook.secret = Some(secret);
            }
        }
        config.move_single_ldap()?;
        if !config.single_ldap {
            for (i, domain) in config.domains.iter_mut().enumerate() {
                if let Some(secret) = list_secret("domains", i, "bind_password")? {
                    domain.bind_password = Some(secret);
                }
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

/// `webhooks__<i>__secret_file` and the like ([`LIST_SECRETS`]; an env key without the
/// prefix, in any case): read by [`Config::load_with`] itself, never a key of the configuration.
fn is_list_secret_file(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    LIST_SECRETS.iter().any(|(list, secret)| {
        key.strip_prefix(&format!("{list}__"))
            .and_then(|rest| rest.strip_suffix(&format!("__{secret}_file")))
            .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
    })
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

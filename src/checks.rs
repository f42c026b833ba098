//! The whole offline check of a configuration, for `check-config`, the start and the other
//! commands that validate before they act.
//!
//! `config` is a low layer: it checks what it can with `ad` and the PEM reader below it
//! ([`Config::validate`]). The checks that need a module above it live here, in the
//! composition root, and run after that one, in the order the errors were always reported:
//! the files of `[downloads]` (`downloads::check_config`) and the warnings about what works
//! but is unsafe (`db::tls_warning`).

use secrecy::ExposeSecret;

use crate::config::{Config, ConfigError};

/// Every check that needs no network, each failure naming its key: [`Config::validate`], then
/// the client binaries and CA file of `[downloads]`.
pub fn validate(cfg: &Config) -> Result<(), ConfigError> {
    cfg.validate()?;
    if let Some(downloads) = &cfg.downloads {
        crate::downloads::check_config(downloads, &cfg.public_url)?;
    }
    Ok(())
}

/// What works but is unsafe (never a value of a secret): check-config prints these and the
/// start logs them. Today: a PostgreSQL URL without `sslmode=verify-full`.
pub fn warnings(cfg: &Config) -> Vec<String> {
    cfg.database_url
        .as_ref()
        .and_then(|url| crate::db::tls_warning(url.expose_secret()))
        .into_iter()
        .collect()
}

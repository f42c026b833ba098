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

/// What works but is unsafe or not what was asked (never a value of a secret): check-config
/// prints these and the start logs them. Today: a PostgreSQL URL without
/// `sslmode=verify-full`; `instances` above 1 (see [`instances_warning`]).
pub fn warnings(cfg: &Config) -> Vec<String> {
    let url = cfg.database_url.as_ref().map(|u| u.expose_secret());
    let mut out: Vec<String> = url.and_then(crate::db::tls_warning).into_iter().collect();
    out.extend(instances_warning(cfg.instances, url));
    out
}

/// `instances` above 1 on a database that serves one instance (SQLite: the file is the
/// process's; PostgreSQL shares the rate limits and the fleet scan's lease and progress).
fn instances_warning(instances: u32, url: Option<&str>) -> Option<String> {
    let postgres =
        url.is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
    (instances > 1 && !postgres).then(|| {
        format!(
            "instances = {instances}, but SQLite serves one portal instance: its rate limits \
             live in the process, and its file on one machine. Run several instances on \
             PostgreSQL (database_url = \"postgres://…\")"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::instances_warning;

    #[test]
    fn several_instances_are_warned_about_by_what_their_database_cannot_share() {
        let pg = Some("postgres://db.example/trustdesk?sslmode=verify-full");
        let cases: [(u32, Option<&str>, Option<&str>); 6] = [
            (1, None, None),
            (1, pg, None),
            (2, None, Some("SQLite serves one portal instance")),
            (
                2,
                Some("sqlite:///var/lib/trustdesk/trustdesk.db"),
                Some("SQLite"),
            ),
            (3, pg, None),
            (3, Some("postgresql://db/td"), None),
        ];
        for (n, url, expect) in cases {
            let got = instances_warning(n, url);
            match expect {
                None => assert_eq!(got, None, "{n} {url:?}"),
                Some(text) => assert!(
                    got.as_deref().is_some_and(|w| w.contains(text)),
                    "{n} {url:?}: {got:?}"
                ),
            }
        }
    }
}

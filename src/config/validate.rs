//! Offline checks of a loaded [`Config`]: each failure names its key.
//!
//! Only the checks `config` can make with what sits below it (`ad`, the PEM reader); the
//! composition root adds the rest after these, in `crate::checks` (the client binaries of
//! `[downloads]`, and the warnings).

use secrecy::ExposeSecret;
use url::Url;

use super::oidc::{KNOWN_ALGS, RESERVED_AUTH_PARAMS};
use super::{ACTIONS, Config, ConfigError, TokenEndpointAuth};

impl Config {
    /// Check everything that needs no network and no module above `config`: URLs, TLS-only
    /// directory access, the CA file, required secrets, role definitions. `crate::checks::validate`
    /// runs this and then the checks of `[downloads]`' files: call that one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let public = Url::parse(&self.public_url)
            .map_err(|e| ConfigError::invalid("public_url", e.to_string()))?;
        if !matches!(public.scheme(), "http" | "https") {
            return Err(ConfigError::invalid(
                "public_url",
                "must be http:// or https://",
            ));
        }
        self.validate_domains()?;
        self.validate_oidc()?;
        if self.instances == 0 {
            return Err(ConfigError::invalid(
                "instances",
                "at least 1: the number of portal instances on this database",
            ));
        }
        if let Some(url) = &self.database_url {
            let url = url.expose_secret();
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                return Err(ConfigError::invalid(
                    "database_url",
                    "must start with sqlite: or postgres://",
                ));
            }
        }
        for (name, role) in &self.roles {
            // A token keeps its issuer's roles comma-joined, re-read at redeem (review I-1).
            if name.is_empty() || name.contains(',') {
                return Err(ConfigError::invalid(
                    format!("roles.{name}"),
                    "a role name must be non-empty and hold no comma",
                ));
            }
            for action in &role.actions {
                if !ACTIONS.contains(&action.as_str()) {
                    return Err(ConfigError::invalid(
                        format!("roles.{name}.actions"),
                        format!("unknown action {action:?} (known: {})", ACTIONS.join(", ")),
                    ));
                }
            }
            if role.groups.is_empty() && role.users.is_empty() {
                return Err(ConfigError::invalid(
                    format!("roles.{name}.groups"),
                    "name at least one role-claim value (groups) or person (users)",
                ));
            }
            if let Some(approval) = &role.approval {
                approval.validate(name, role, &self.roles)?;
            }
        }
        let t = &self.tokens;
        if t.lifetime_minutes == 0 || t.max_lifetime_minutes == 0 {
            return Err(ConfigError::invalid(
                "tokens.lifetime_minutes",
                "must be at least 1",
            ));
        }
        if t.lifetime_minutes > t.max_lifetime_minutes {
            return Err(ConfigError::invalid(
                "tokens.lifetime_minutes",
                "must not exceed tokens.max_lifetime_minutes",
            ));
        }
        if self.limits.redeem_burst == 0 || self.limits.redeem_refill_secs == 0 {
            return Err(ConfigError::invalid(
                "limits.redeem_burst",
                "limits must be at least 1",
            ));
        }
        if self.limits.signin_burst == 0 || self.limits.signin_refill_secs == 0 {
            return Err(ConfigError::invalid(
                "limits.signin_burst",
                "limits must be at least 1",
            ));
        }
        if let Some(tls) = &self.tls {
            for (key, path) in [
                ("tls.cert_file", &tls.cert_file),
                ("tls.key_file", &tls.key_file),
            ] {
                std::fs::metadata(path)
                    .map_err(|e| ConfigError::invalid(key, format!("{}: {e}", path.display())))?;
            }
        }
        if !(1..=1000).contains(&self.fleet.page_size) {
            return Err(ConfigError::invalid(
                "fleet.page_size",
                "must be between 1 and 1000 (AD's MaxPageSize)",
            ));
        }
        for scope in &self.fleet.scopes {
            if !self
                .domains
                .iter()
                .any(|d| crate::ad::dn::dn_within(scope, &d.base_dn))
            {
                return Err(ConfigError::invalid(
                    "fleet.scopes",
                    format!("{scope:?} is not a DN under a managed domain's base_dn"),
                ));
            }
        }
        if self.diagnosis.rotation_window_days == 0 {
            return Err(ConfigError::invalid(
                "diagnosis.rotation_window_days",
                "must be at least 1",
            ));
        }
        self.audit.validate()?;
        super::webhooks::validate(&self.webhooks)?;
        if let Some(downloads) = &self.downloads {
            downloads.validate()?;
        }
        Ok(())
    }

    fn validate_oidc(&self) -> Result<(), ConfigError> {
        let oidc = &self.oidc;
        let issuer = Url::parse(&oidc.issuer)
            .map_err(|e| ConfigError::invalid("oidc.issuer", e.to_string()))?;
        if !matches!(issuer.scheme(), "http" | "https") {
            return Err(ConfigError::invalid(
                "oidc.issuer",
                "must be an http(s) URL",
            ));
        }
        if oidc.client_id.trim().is_empty() {
            return Err(ConfigError::invalid("oidc.client_id", "must not be empty"));
        }
        let uses_hs = oidc
            .id_token_signing_algs
            .iter()
            .any(|a| a.starts_with("HS"));
        if oidc.token_endpoint_auth == TokenEndpointAuth::PrivateKeyJwt {
            let Some(path) = &oidc.private_key_file else {
                return Err(ConfigError::invalid(
                    "oidc.private_key_file",
                    "private_key_jwt needs the PEM private key that signs the client assertion",
                ));
            };
            crate::pem::load_rsa_key(path)
                .map_err(|e| ConfigError::invalid("oidc.private_key_file", e))?;
            if uses_hs {
                require_secret("oidc.client_secret", oidc.client_secret.as_ref())?;
            }
        } else {
            require_secret("oidc.client_secret", oidc.client_secret.as_ref())?;
        }
        for scope in &oidc.scopes {
            if scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c == '"') {
                return Err(ConfigError::invalid(
                    "oidc.scopes",
                    format!("{scope:?} is not a scope token (one word each)"),
                ));
            }
        }
        if oidc.role_claim.trim().is_empty() {
            return Err(ConfigError::invalid("oidc.role_claim", "must not be empty"));
        }
        if oidc.id_token_signing_algs.is_empty() {
            return Err(ConfigError::invalid(
                "oidc.id_token_signing_algs",
                "list at least one algorithm",
            ));
        }
        for alg in &oidc.id_token_signing_algs {
            if !KNOWN_ALGS.contains(&alg.as_str()) {
                return Err(ConfigError::invalid(
                    "oidc.id_token_signing_algs",
                    format!(
                        "unknown algorithm {alg:?} (known: {})",
                        KNOWN_ALGS.join(", ")
                    ),
                ));
            }
        }
        for key in oidc.extra_auth_params.keys() {
            if RESERVED_AUTH_PARAMS.contains(&key.as_str()) {
                return Err(ConfigError::invalid(
                    "oidc.extra_auth_params",
                    format!("{key:?} is set by the sign-in protocol itself"),
                ));
            }
        }
        for origin in &oidc.overage_origins {
            let ok = Url::parse(origin).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
            });
            if !ok {
                return Err(ConfigError::invalid(
                    "oidc.overage_origins",
                    format!("{origin:?} is not an origin like https://graph.microsoft.com"),
                ));
            }
        }
        let s = &self.session;
        if !(1..=7 * 86_400).contains(&s.idle_timeout_secs)
            || !(1..=30 * 86_400).contains(&s.absolute_lifetime_secs)
        {
            return Err(ConfigError::invalid(
                "session.idle_timeout_secs",
                "idle timeout from 1 s to 7 days, absolute lifetime from 1 s to 30 days",
            ));
        }
        Ok(())
    }
}

pub(super) fn require_secret(
    key: &str,
    value: Option<&secrecy::SecretString>,
) -> Result<(), ConfigError> {
    match value {
        Some(v) if !v.expose_secret().is_empty() => Ok(()),
        _ => {
            // `domains[1].bind_password` is `TRUSTDESK_DOMAINS__1__BIND_PASSWORD`.
            let env = super::load::env_name(&key.replace('[', ".").replace(']', ""));
            Err(ConfigError::invalid(
                key,
                format!("missing secret (set it in the file, {env} or {env}_FILE)"),
            ))
        }
    }
}

//! `trustdesk check-config`'s look at the provider: its discovery document and keys against
//! the `[oidc]` settings, one line per finding. The review itself is pure.

use serde_json::Value;

use super::http::{OidcHttp, bounded_body};
use crate::config::{OidcConfig, TokenEndpointAuth};

/// How bad a finding is: errors stop sign-in, warnings may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub line: String,
}

fn finding(level: Level, line: impl Into<String>) -> Finding {
    Finding {
        level,
        line: line.into(),
    }
}

fn strings<'a>(doc: &'a Value, key: &str) -> Option<Vec<&'a str>> {
    doc.get(key)?
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
}

/// Fetch discovery and the JWKS, then review them.
pub async fn check_provider(cfg: &OidcConfig) -> Vec<Finding> {
    let Ok(http) = OidcHttp::new() else {
        return vec![finding(Level::Error, "oidc: cannot build an HTTP client")];
    };
    let url = format!(
        "{}/.well-known/openid-configuration",
        cfg.issuer.trim_end_matches('/')
    );
    let doc = match get_json(&http, &url).await {
        Ok(doc) => doc,
        Err(e) => return vec![finding(Level::Error, format!("oidc.issuer: {url}: {e}"))],
    };
    let jwks = match doc.get("jwks_uri").and_then(Value::as_str) {
        Some(uri) => get_json(&http, uri)
            .await
            .map_err(|e| format!("{uri}: {e}")),
        None => Err("the discovery document names no jwks_uri".to_string()),
    };
    review(cfg, &doc, jwks.as_ref().map_err(String::as_str))
}

async fn get_json(http: &OidcHttp, url: &str) -> Result<Value, String> {
    let resp = http.0.get(url).send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let body = bounded_body(resp).await?;
    serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))
}

/// The review: one finding per thing a provider admin or a trustdesk admin must fix or know.
pub fn review(cfg: &OidcConfig, doc: &Value, jwks: Result<&Value, &str>) -> Vec<Finding> {
    use Level::{Error, Ok, Warning};
    let mut out = Vec::new();
    match doc.get("issuer").and_then(Value::as_str) {
        Some(iss) if iss == cfg.issuer => out.push(finding(Ok, format!("oidc.issuer: {iss}"))),
        Some(iss) => out.push(finding(
            Error,
            format!(
                "oidc.issuer: the provider calls itself {iss:?}, not {:?}; set oidc.issuer to exactly that",
                cfg.issuer
            ),
        )),
        None => out.push(finding(Error, "oidc.issuer: the discovery document has no issuer")),
    }
    match jwks {
        Result::Ok(set) => {
            let n = set
                .get("keys")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            out.push(if n == 0 {
                finding(Error, "oidc: the provider's JWKS has no keys")
            } else {
                finding(Ok, format!("oidc: JWKS has {n} key(s)"))
            });
        }
        Err(e) => out.push(finding(Error, format!("oidc: cannot read the JWKS: {e}"))),
    }
    if let Some(algs) = strings(doc, "id_token_signing_alg_values_supported") {
        let allowed: Vec<&str> = cfg
            .id_token_signing_algs
            .iter()
            .map(String::as_str)
            .collect();
        if !algs.iter().any(|a| allowed.contains(a)) {
            out.push(finding(
                Error,
                format!(
                    "oidc.id_token_signing_algs: the provider signs ID tokens with {} and none is allowed ({})",
                    algs.join(", "),
                    allowed.join(", ")
                ),
            ));
        }
        let outside: Vec<&str> = algs.into_iter().filter(|a| !allowed.contains(a)).collect();
        if !outside.is_empty() {
            out.push(finding(
                Warning,
                format!(
                    "oidc.id_token_signing_algs: the provider also offers {}, which trustdesk refuses; register the client for an allowed one",
                    outside.join(", ")
                ),
            ));
        }
    }
    let top = cfg.role_claim.split('.').next().unwrap_or(&cfg.role_claim);
    if let Some(claims) = strings(doc, "claims_supported")
        && !claims.contains(&cfg.role_claim.as_str())
        && !claims.contains(&top)
    {
        out.push(finding(
            Warning,
            format!(
                "oidc.role_claim: {:?} is not in the provider's claims_supported; check that a mapper or optional claim releases it (Entra and Keycloak often do not advertise it)",
                cfg.role_claim
            ),
        ));
    }
    if let Some(scopes) = strings(doc, "scopes_supported") {
        for scope in cfg.scopes.iter().filter(|s| !scopes.contains(&s.as_str())) {
            out.push(finding(
                Warning,
                format!(
                    "oidc.scopes: {scope:?} is not in the provider's scopes_supported; Entra, Keycloak and Google refuse unknown scopes"
                ),
            ));
        }
    }
    if doc
        .get("end_session_endpoint")
        .and_then(Value::as_str)
        .is_none()
    {
        out.push(finding(
            Warning,
            "oidc: the provider has no end_session_endpoint: signing out of trustdesk will not sign out of the provider",
        ));
    }
    let method = match cfg.token_endpoint_auth {
        TokenEndpointAuth::ClientSecretBasic => "client_secret_basic",
        TokenEndpointAuth::ClientSecretPost => "client_secret_post",
        TokenEndpointAuth::PrivateKeyJwt => "private_key_jwt",
    };
    if let Some(methods) = strings(doc, "token_endpoint_auth_methods_supported")
        && !methods.contains(&method)
    {
        out.push(finding(
            Error,
            format!(
                "oidc.token_endpoint_auth: the provider does not offer {method} (it offers {})",
                methods.join(", ")
            ),
        ));
    }
    if doc
        .get("backchannel_logout_supported")
        .and_then(Value::as_bool)
        != Some(true)
    {
        out.push(finding(
            Warning,
            "oidc: no back-channel logout: a person removed at the provider keeps a trustdesk session until session.idle_timeout_secs or session.absolute_lifetime_secs",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(toml: &str) -> OidcConfig {
        let base = "issuer = \"https://login.example/t/v2.0\"\nclient_id = \"c\"\n";
        use figment::providers::Format;
        figment::Figment::from(figment::providers::Toml::string(&format!("{base}{toml}")))
            .extract()
            .unwrap()
    }

    fn lines(f: &[Finding], level: Level) -> Vec<String> {
        f.iter()
            .filter(|f| f.level == level)
            .map(|f| f.line.clone())
            .collect()
    }

    #[test]
    fn each_misconfiguration_is_one_line() {
        let doc = json!({
            "issuer": "https://login.example/other/v2.0",
            "id_token_signing_alg_values_supported": ["HS256", "RS256"],
            "claims_supported": ["sub", "name"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        });
        let jwks = json!({"keys": [{"kty": "RSA"}]});
        let f = review(&cfg("scopes = [\"openid\", \"groups\"]"), &doc, Ok(&jwks));
        let errors = lines(&f, Level::Error);
        let warnings = lines(&f, Level::Warning);
        assert!(
            errors
                .iter()
                .any(|l| l.starts_with("oidc.issuer: the provider calls itself")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|l| l.contains("does not offer client_secret_basic")),
            "{errors:?}"
        );
        assert!(
            warnings.iter().any(|l| l.contains("also offers HS256")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|l| l.starts_with("oidc.role_claim: \"groups\"")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|l| l.starts_with("oidc.scopes: \"groups\"")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|l| l.contains("no end_session_endpoint")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|l| l.contains("no back-channel logout")),
            "{warnings:?}"
        );
        let only_hs = json!({"issuer": "https://login.example/t/v2.0", "id_token_signing_alg_values_supported": ["HS256"]});
        let f = review(&cfg(""), &only_hs, Err("HTTP 404"));
        let errors = lines(&f, Level::Error);
        assert!(
            errors.iter().any(|l| l.contains("none is allowed")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|l| l.contains("cannot read the JWKS: HTTP 404")),
            "{errors:?}"
        );
    }
}

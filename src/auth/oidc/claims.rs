//! Reading the role claim out of a provider's claims (pure): a name or a dotted path, in the
//! shapes providers really send, and Entra's group overage.
//!
//! Shapes (README, "Identity providers"): an array of strings (most), one string (AD FS with a
//! single group), an object whose keys are the values (Zitadel's role map). A claim named
//! with dots is first looked up as one name (`https://example.com/roles`, Auth0's
//! namespaced claims), then as a path (`realm_access.roles`, Keycloak).

use serde_json::{Map, Value};

/// What the claims say about the role claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleClaim {
    /// The values (possibly none).
    Values(Vec<String>),
    /// Not there at all.
    Absent,
    /// Entra group overage: the provider left the claim out because the user is in too many
    /// groups (over 200 in a JWT), and named where to fetch them instead, when it did.
    Overage { endpoint: Option<String> },
}

/// The role claim in `claims`, found by `name` (a name or a dotted path).
pub fn read(claims: &Map<String, Value>, name: &str) -> RoleClaim {
    let found = claims.get(name).or_else(|| lookup_path(claims, name));
    match found {
        Some(value) => RoleClaim::Values(values_of(value)),
        None => overage(claims, name).unwrap_or(RoleClaim::Absent),
    }
}

fn lookup_path<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut at = claims.get(parts.next()?)?;
    for part in parts {
        at = at.as_object()?.get(part)?;
    }
    Some(at)
}

fn values_of(value: &Value) -> Vec<String> {
    match value {
        Value::String(one) => vec![one.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Value::Object(map) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Microsoft's overage indicator: `_claim_names` maps the claim to a source in
/// `_claim_sources`, whose `endpoint` serves the values (OIDC Core §5.6.2, distributed
/// claims); implicit-flow tokens say `hasgroups: true` instead.
fn overage(claims: &Map<String, Value>, name: &str) -> Option<RoleClaim> {
    let top = name.split('.').next().unwrap_or(name);
    if let Some(source) = claims
        .get("_claim_names")
        .and_then(Value::as_object)
        .and_then(|names| names.get(name).or_else(|| names.get(top)))
        .and_then(Value::as_str)
    {
        let endpoint = claims
            .get("_claim_sources")
            .and_then(|s| s.get(source))
            .and_then(|s| s.get("endpoint"))
            .and_then(Value::as_str)
            .map(str::to_string);
        return Some(RoleClaim::Overage { endpoint });
    }
    let has_groups = claims.get("hasgroups").and_then(Value::as_bool) == Some(true);
    (has_groups && top == "groups").then_some(RoleClaim::Overage { endpoint: None })
}

/// Whether `endpoint`'s origin is one of `origins` (each like `https://graph.microsoft.com`).
/// The access token goes only there.
pub fn endpoint_allowed(endpoint: &str, origins: &[String]) -> bool {
    let Ok(url) = url::Url::parse(endpoint) else {
        return false;
    };
    let origin = url.origin().ascii_serialization();
    origins
        .iter()
        .filter_map(|o| url::Url::parse(o).ok())
        .any(|o| o.origin().ascii_serialization() == origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn shapes_providers_send() {
        let c = obj(json!({
            "groups": ["a", 1, "b"],
            "group": "only",
            "realm_access": {"roles": ["senior"]},
            "urn:zitadel:iam:org:project:roles": {"admin": {"1": "x"}},
            "https://example.com/roles": ["ns"],
        }));
        assert_eq!(
            read(&c, "groups"),
            RoleClaim::Values(vec!["a".into(), "b".into()])
        );
        assert_eq!(read(&c, "group"), RoleClaim::Values(vec!["only".into()]));
        assert_eq!(
            read(&c, "realm_access.roles"),
            RoleClaim::Values(vec!["senior".into()])
        );
        assert_eq!(
            read(&c, "urn:zitadel:iam:org:project:roles"),
            RoleClaim::Values(vec!["admin".into()])
        );
        assert_eq!(
            read(&c, "https://example.com/roles"),
            RoleClaim::Values(vec!["ns".into()])
        );
        assert_eq!(read(&c, "roles"), RoleClaim::Absent);
        assert_eq!(read(&c, "realm_access.nothing"), RoleClaim::Absent);
    }

    #[test]
    fn entra_overage_is_recognised_with_its_source() {
        // learn.microsoft.com/en-us/security/zero-trust/develop/configure-tokens-group-claims-app-roles
        let c = obj(json!({
            "_claim_names": {"groups": "src1"},
            "_claim_sources": {"src1": {"endpoint": "https://graph.windows.net/t/users/o/getMemberObjects"}},
        }));
        assert_eq!(
            read(&c, "groups"),
            RoleClaim::Overage {
                endpoint: Some("https://graph.windows.net/t/users/o/getMemberObjects".into())
            }
        );
        assert_eq!(
            read(&c, "roles"),
            RoleClaim::Absent,
            "app roles never overflow"
        );
        let implicit = obj(json!({"hasgroups": true}));
        assert_eq!(
            read(&implicit, "groups"),
            RoleClaim::Overage { endpoint: None }
        );
    }

    #[test]
    fn the_access_token_goes_only_to_listed_origins() {
        let allowed = vec!["https://graph.microsoft.com".to_string()];
        assert!(endpoint_allowed(
            "https://graph.microsoft.com/v1.0/x",
            &allowed
        ));
        assert!(!endpoint_allowed(
            "https://graph.microsoft.com.evil.test/x",
            &allowed
        ));
        assert!(!endpoint_allowed("http://graph.microsoft.com/x", &allowed));
        assert!(!endpoint_allowed("not a url", &allowed));
        assert!(!endpoint_allowed("https://graph.microsoft.com/x", &[]));
    }
}

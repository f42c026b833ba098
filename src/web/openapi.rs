//! The OpenAPI document of `/api/v1`, generated (utoipa) from the handlers' `#[utoipa::path]`
//! attributes and the `ToSchema` of the types they take and return, so it follows the code:
//! serde's shape is the truth. Built once, served at `/api/v1/openapi.json` and printed by
//! `trustdesk openapi`; `openapi.snapshot.json` beside this file is the committed copy a test
//! compares it with, so a change to the API shows in review.

use std::sync::LazyLock;

use axum::response::IntoResponse;
use utoipa::openapi::RefOr;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::layers::SESSION_COOKIE;
use super::{AppError, approvals, audit_api, computers_api, fleet, redeem_api, repair, repair_api};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "trustdesk API",
        version = "1",
        description = "Secure-channel diagnosis of Active Directory computers, and the \
            repair-token API the companion client uses. Staff endpoints accept the browser \
            session or `Authorization: Bearer <api key>` (keys from `trustdesk api-key create`); \
            the same policy and the same audit events apply as on the pages. Every error is an \
            `Error`: a problem document (RFC 9457, `application/problem+json`) with \
            trustdesk's `error` code, `message` and `request_id` beside `type`, `title`, \
            `status` and `detail`. Diagnosis codes are stable: see the Cause \
            and FindingCode enums."
    ),
    paths(
        computers_api::api_search,
        computers_api::api_show,
        computers_api::api_show_in,
        repair::token_state,
        redeem_api::api_redeem,
        redeem_api::api_outcome,
        redeem_api::api_code,
        redeem_api::api_token_key,
        fleet::api_report,
        fleet::api_progress,
        audit_api::api_rows,
        repair_api::api_mint,
        repair_api::api_reset,
        repair_api::api_revoke,
        repair_api::api_tokens,
        approvals::api_list,
        approvals::api_one,
        approvals::api_approve,
        approvals::api_deny,
        approvals::api_collect,
    ),
    modifiers(&SecuritySchemes, &ProblemJson),
    security(("apiKey" = []), ("session" = [])),
    tags(
        (name = "computers", description = "Look computers up and diagnose them (`lookup`, `diagnose`)"),
        (name = "repair tokens", description = "Tokens a technician minted"),
        (name = "client", description = "The companion client's calls: the token or the code is the credential"),
        (name = "fleet", description = "Fleet health reports (`lookup`, cut to the caller's scope)"),
        (name = "audit", description = "The audit log (`view_audit`, cut to the caller's view)"),
        (name = "approvals", description = "Four eyes: requests for a change the policy holds back, and their decisions"),
    )
)]
struct ApiDoc;

/// The two ways a staff request authenticates.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("tdk_… API key bound to one role"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The browser session, after sign-in",
            ))),
        );
    }
}

/// Every error answer is a problem document (`error::api_error` sends them all as
/// `application/problem+json`): said here once for every operation's non-2xx responses, not on
/// each route's attribute.
struct ProblemJson;

impl Modify for ProblemJson {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for op in operations.into_iter().flatten() {
                for (status, response) in &mut op.responses.responses {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    if status.starts_with('2') {
                        continue;
                    }
                    if let Some(body) = response.content.shift_remove("application/json") {
                        response
                            .content
                            .insert("application/problem+json".into(), body);
                    }
                }
            }
        }
    }
}

/// The document as pretty JSON, generated on first use.
static DOCUMENT: LazyLock<Result<String, serde_json::Error>> =
    LazyLock::new(|| ApiDoc::openapi().to_pretty_json());

/// The OpenAPI document of `/api/v1` as pretty JSON.
pub fn json() -> Result<&'static str, &'static serde_json::Error> {
    DOCUMENT.as_ref().map(String::as_str)
}

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> Result<impl IntoResponse, AppError> {
    let doc = json().map_err(|e| AppError::internal(format!("the OpenAPI document: {e}")))?;
    Ok(([("content-type", "application/json")], doc))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
pub(crate) mod tests {
    use serde_json::Value;

    /// Where the committed copy of the document is, from the repository's root.
    const SNAPSHOT: &str = "src/web/openapi.snapshot.json";

    /// The generated document, parsed (for the tests that check a vocabulary against it).
    pub(crate) fn document() -> Value {
        serde_json::from_str(super::json().unwrap()).unwrap()
    }

    /// The document's component schema `name`.
    pub(crate) fn schema(name: &str) -> Value {
        let doc = document();
        let s = &doc["components"]["schemas"][name];
        assert!(s.is_object(), "no schema {name}");
        s.clone()
    }

    /// The first line where `old` and `new` differ: its number and both texts.
    fn first_difference(old: &str, new: &str) -> Option<(usize, String, String)> {
        let (mut a, mut b) = (old.lines(), new.lines());
        for n in 1.. {
            match (a.next(), b.next()) {
                (None, None) => return None,
                (x, y) if x == y => continue,
                (x, y) => {
                    let show = |l: Option<&str>| l.unwrap_or("(end of file)").trim().to_string();
                    return Some((n, show(x), show(y)));
                }
            }
        }
        None
    }

    /// Where in the document `new` first differs from `old`, as a JSON pointer.
    fn first_change(old: &Value, new: &Value, at: &str) -> Option<String> {
        match (old, new) {
            (Value::Object(a), Value::Object(b)) => a
                .iter()
                .find_map(|(k, v)| match b.get(k) {
                    None => Some(format!("{at}/{k} (removed)")),
                    Some(w) => first_change(v, w, &format!("{at}/{k}")),
                })
                .or_else(|| {
                    let added = b.keys().find(|k| !a.contains_key(*k))?;
                    Some(format!("{at}/{added} (added)"))
                }),
            (Value::Array(a), Value::Array(b)) => a
                .iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (v, w))| first_change(v, w, &format!("{at}/{i}")))
                .or_else(|| {
                    let (m, n) = (a.len(), b.len());
                    (m != n).then(|| format!("{at} ({m} items, now {n})"))
                }),
            _ => (old != new).then(|| at.to_string()),
        }
    }

    /// The committed snapshot is the generated document: an API change is committed with it.
    #[test]
    fn the_openapi_snapshot_is_the_generated_document() {
        let generated = super::json().unwrap();
        let committed = include_str!("openapi.snapshot.json");
        if let Some((line, old, new)) = first_difference(committed.trim_end(), generated) {
            let at = serde_json::from_str::<Value>(committed)
                .ok()
                .and_then(|old| first_change(&old, &document(), ""))
                .unwrap_or_else(|| "(the order only)".into());
            panic!(
                "{SNAPSHOT} is not the document the code generates.\nFirst change at {at}, line \
                 {line}:\n  committed: {old}\n  generated: {new}\nIf the API change is meant, \
                 regenerate the snapshot and commit it with the change:\n  \
                 cargo run -- openapi > {SNAPSHOT}"
            );
        }
    }

    #[test]
    fn first_change_names_the_path() {
        let old = serde_json::json!({"a": {"b": [1, 2], "c": "x"}});
        let change = |new| first_change(&old, &new, "");
        assert_eq!(change(old.clone()), None);
        let moved = serde_json::json!({"a": {"c": "x", "b": [1, 2]}});
        assert_eq!(change(moved), None, "the order is the line diff's business");
        let cases = [
            (serde_json::json!({"a": {"b": [1, 3], "c": "x"}}), "/a/b/1"),
            (
                serde_json::json!({"a": {"b": [1], "c": "x"}}),
                "/a/b (2 items, now 1)",
            ),
            (serde_json::json!({"a": {"b": [1, 2]}}), "/a/c (removed)"),
            (
                serde_json::json!({"a": {"b": [1, 2], "c": "x", "d": 0}}),
                "/a/d (added)",
            ),
        ];
        for (new, at) in cases {
            assert_eq!(change(new).as_deref(), Some(at));
        }
    }

    #[test]
    fn first_difference_names_the_line() {
        assert_eq!(first_difference("a\nb", "a\nb"), None);
        assert_eq!(
            first_difference("a\nb\nc", "a\nB\nc"),
            Some((2, "b".into(), "B".into()))
        );
        assert_eq!(
            first_difference("a", "a\nb"),
            Some((2, "(end of file)".into(), "b".into()))
        );
    }

    /// Whether `value` is what `schema` describes, strictly: an object has exactly the documented
    /// properties (serde writes every field of these types, `null` included), each as
    /// documented. The error names the JSON path of the first departure.
    fn check(value: &Value, schema: &Value, doc: &Value, at: &str) -> Result<(), String> {
        if let Some(r) = schema["$ref"].as_str() {
            let name = r.trim_start_matches("#/components/schemas/");
            return check(value, &doc["components"]["schemas"][name], doc, at);
        }
        if let Some(options) = schema["oneOf"].as_array() {
            let misses: Vec<String> = options
                .iter()
                .filter_map(|s| check(value, s, doc, at).err())
                .collect();
            return match misses.len() < options.len() {
                true => Ok(()),
                false => Err(misses.join("; ")),
            };
        }
        let kind = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_f64() => "number",
            Value::Number(_) => "integer",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{at}: no type in {schema}")),
        };
        let number = kind == "integer" && types.contains(&"number");
        if !types.contains(&kind) && !number {
            return Err(format!("{at}: {kind}, documented {types:?}"));
        }
        if let Some(listed) = schema["enum"].as_array().filter(|l| !l.contains(value)) {
            return Err(format!("{at}: {value} is not in {listed:?}"));
        }
        match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| check(v, &schema["items"], doc, &format!("{at}/{i}"))),
            Value::Object(fields) => {
                if let Some(props) = schema["properties"].as_object() {
                    let mut written: Vec<&String> = fields.keys().collect();
                    let mut documented: Vec<&String> = props.keys().collect();
                    written.sort();
                    documented.sort();
                    if written != documented {
                        return Err(format!(
                            "{at}: serde writes {written:?}, the document says {documented:?}"
                        ));
                    }
                }
                fields.iter().try_for_each(|(k, v)| {
                    let schema = match schema["properties"].get(k) {
                        Some(s) => s,
                        None => &schema["additionalProperties"],
                    };
                    check(v, schema, doc, &format!("{at}/{k}"))
                })
            }
            _ => Ok(()),
        }
    }

    /// What serde writes for a diagnosis report and a fleet report is what the document says:
    /// the same properties, types and codes.
    #[test]
    fn serde_writes_what_the_document_says() {
        use crate::ad::Tombstone;
        use crate::fleet::export::JsonReport;
        use crate::fleet::tally::OuStats;

        let doc = document();
        let mut report = super::super::computers::tests::report();
        report.tombstones.push(Tombstone {
            dn: "CN=PC01\0ADEL:1,CN=Deleted Objects,DC=corp,DC=example".into(),
            object_guid: Some(uuid::Uuid::from_u128(7)),
            sam_account_name: "PC01$".into(),
            when_changed: Some(report.generated_at),
            last_known_parent: None,
        });
        report
            .dc_names
            .insert(uuid::Uuid::from_u128(0xD1), "dc1.corp.example".into());
        assert!(
            report.diagnosis.verdict.primary.is_some() && !report.diagnosis.findings.is_empty()
        );
        let value = serde_json::to_value(&report).unwrap();
        let schema = &doc["components"]["schemas"]["Report"];
        check(&value, schema, &doc, "Report").unwrap();

        let row = crate::db::FleetFindingRow {
            name: "PC01".into(),
            dn: "CN=PC01,OU=Workstations,DC=corp,DC=example".into(),
            domain: Some("corp.example".into()),
            ou: "OU=Workstations,DC=corp,DC=example".into(),
            object_guid: uuid::Uuid::from_u128(1).to_string(),
            cause: crate::diagnostics::Cause::CloneSuspected.as_str().into(),
            confidence: "high".into(),
            causes: "clone_suspected".into(),
            pwd_last_set: Some(report.generated_at),
            last_logon: None,
            summary: "Two machines share the account.".into(),
        };
        let counts = OuStats {
            total: 3,
            at_risk: 1,
            causes: [("clone_suspected".to_string(), 1)].into(),
            ..OuStats::default()
        };
        let fleet = JsonReport {
            report: 4,
            started_at: report.generated_at,
            finished_at: None,
            state: crate::db::FleetState::Complete,
            dc: Some("dc1.corp.example"),
            scanned: 3,
            counts: &counts,
            at_risk: &[row],
        };
        let value = serde_json::to_value(&fleet).unwrap();
        let schema = &doc["components"]["schemas"]["FleetReport"];
        check(&value, schema, &doc, "FleetReport").unwrap();
    }

    /// Every `$ref` in the document names a schema it has.
    #[test]
    fn every_reference_resolves() {
        fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::Object(m) => {
                    out.extend(m.get("$ref").and_then(|r| r.as_str()));
                    m.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 20, "{found:?}");
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
            assert!(doc["components"]["schemas"][name].is_object(), "{r}");
        }
    }

    /// Every operation answers errors with the `Error` schema as problem JSON, and the staff ones are behind
    /// the session or an API key; the client's are open.
    #[test]
    fn errors_are_documented_and_security_is_as_routed() {
        let doc = document();
        let open = [
            "/api/v1/redeem",
            "/api/v1/redeem/outcome",
            "/api/v1/redeem/code",
            "/api/v1/token-key",
        ];
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for (status, r) in op["responses"].as_object().unwrap() {
                    // 2xx and the 300 of a name in several domains are answers, not errors.
                    if !(status.starts_with('2') || status.starts_with('3')) {
                        let schema = &r["content"]["application/problem+json"]["schema"]["$ref"];
                        assert_eq!(
                            schema, "#/components/schemas/Error",
                            "{method} {path} {status}"
                        );
                    }
                }
                let anonymous = op["security"] == serde_json::json!([{}]);
                assert_eq!(anonymous, open.contains(&path.as_str()), "{method} {path}");
            }
        }
        assert_eq!(
            doc["security"],
            serde_json::json!([{"apiKey": []}, {"session": []}])
        );
    }
}

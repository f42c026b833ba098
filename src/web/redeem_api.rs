//! The companion client's API: redeem a token, report its outcome, exchange a short repair
//! code for its token, and the public keys that verify tokens. No session: the token (or the
//! code and the computer's name) is the credential.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;
use trustdesk_token::RedeemCode;

use super::AppState;
use super::extract::RequestOrigin;
use crate::db::TokenState;
use crate::repair::code::{self, CodeError, CodeRequest};
use crate::repair::redeem::{self, RedeemError};

#[derive(Deserialize)]
pub struct RedeemBody {
    token: String,
    password: SecretString,
}

#[derive(Deserialize)]
pub struct OutcomeBody {
    token: String,
    outcome: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    detail: String,
}

/// `{"error": <code>, "message": …, "request_id": …}` under `status`, the shape the client
/// reads (written by `error::render_errors`, like every API error).
fn refusal(status: StatusCode, code: RedeemCode, message: String) -> Response {
    super::error::ApiRefusal::response(status, code.as_str(), message)
}

fn redeem_error(e: &RedeemError) -> Response {
    let status = match e {
        RedeemError::Malformed | RedeemError::BadPassword => StatusCode::BAD_REQUEST,
        RedeemError::BadSignature => StatusCode::UNAUTHORIZED,
        RedeemError::WrongComputer | RedeemError::NotAllowed { .. } => StatusCode::FORBIDDEN,
        RedeemError::AlreadyUsed => StatusCode::CONFLICT,
        RedeemError::Expired | RedeemError::Revoked => StatusCode::GONE,
        RedeemError::DcWriteFailed => StatusCode::BAD_GATEWAY,
        RedeemError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    refusal(status, e.code(), e.to_string())
}

/// `POST /api/v1/redeem` (the companion client): `{token, password}` → `{dc, computer}`.
pub async fn api_redeem(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    body: Result<Json<RedeemBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return redeem_error(&RedeemError::Malformed);
    };
    match redeem::redeem(
        &state.repairs,
        &origin,
        body.token.trim(),
        &body.password,
        crate::clock::now(),
    )
    .await
    {
        Ok(done) => Json(done).into_response(),
        Err(e) => redeem_error(&e),
    }
}

/// `POST /api/v1/redeem/outcome`: `{token, outcome: completed|failed, step, detail}`.
pub async fn api_outcome(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    body: Result<Json<OutcomeBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return redeem_error(&RedeemError::Malformed);
    };
    let completed = match TokenState::parse(&body.outcome) {
        Some(TokenState::Completed) => true,
        Some(TokenState::Failed) => false,
        _ => return redeem_error(&RedeemError::Malformed),
    };
    let now = crate::clock::now();
    match redeem::record_outcome(
        &state.repairs,
        &origin,
        body.token.trim(),
        completed,
        &body.step,
        &body.detail,
        now,
    )
    .await
    {
        Ok(to) => Json(serde_json::json!({ "state": to })).into_response(),
        Err(e) => redeem_error(&e),
    }
}

#[derive(Deserialize)]
pub struct CodeBody {
    code: String,
    computer: String,
    domain: String,
}

fn code_error(e: &CodeError) -> Response {
    let (status, code) = match e {
        CodeError::Malformed => (StatusCode::BAD_REQUEST, RedeemCode::Malformed),
        CodeError::Unknown => (StatusCode::NOT_FOUND, RedeemCode::UnknownCode),
        CodeError::Shut(_) => (StatusCode::TOO_MANY_REQUESTS, RedeemCode::RateLimited),
        CodeError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, RedeemCode::Unavailable),
    };
    if let CodeError::Unavailable(source) = e {
        tracing::error!(error = %source, "repair code lookup failed");
    }
    refusal(status, code, e.to_string())
}

/// `POST /api/v1/redeem/code` (the companion client): `{code, computer, domain}` →
/// `{token}`, the token minted with that code, once, for that computer only.
pub async fn api_code(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    body: Result<Json<CodeBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return code_error(&CodeError::Malformed);
    };
    let req = CodeRequest {
        code: &body.code,
        computer: &body.computer,
        domain: &body.domain,
    };
    match code::resolve(
        &state.repairs,
        &origin,
        &req,
        crate::clock::now(),
        Instant::now(),
    )
    .await
    {
        Ok(token) => Json(serde_json::json!({ "token": token })).into_response(),
        Err(e) => code_error(&e),
    }
}

/// `GET /api/v1/token-key`: the public keys that verify repair tokens (the client pins one).
pub async fn api_token_key(State(state): State<AppState>) -> Json<serde_json::Value> {
    let current = state.repairs.token_keys.signing().kid();
    let keys: Vec<_> = state
        .repairs
        .token_keys
        .verifying()
        .iter()
        .map(|k| k.to_info())
        .collect();
    Json(serde_json::json!({ "current": current, "keys": keys }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `code` is listed under `status` for `path` in the OpenAPI document.
    fn documented(spec: &serde_json::Value, path: &str, status: StatusCode, code: RedeemCode) {
        let listed = spec["paths"][path]["post"]["responses"][status.as_str()]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(
            listed.split(" | ").any(|c| c == code.as_str()),
            "{path}: {code} under {status}: {listed:?}"
        );
    }

    /// Every refusal the redeem and code APIs send is a code of the vocabulary shared with the
    /// client (`trustdesk_token::RedeemCode`), under the status the OpenAPI document lists it.
    #[test]
    fn refusals_are_the_shared_codes_under_their_documented_status() {
        let spec: serde_json::Value = serde_json::from_str(include_str!("openapi.json")).unwrap();
        let all = [
            RedeemError::Malformed,
            RedeemError::BadSignature,
            RedeemError::Expired,
            RedeemError::AlreadyUsed,
            RedeemError::Revoked,
            RedeemError::WrongComputer,
            RedeemError::NotAllowed { why: String::new() },
            RedeemError::DcWriteFailed,
            RedeemError::BadPassword,
            RedeemError::Unavailable,
        ];
        let mut sent: Vec<RedeemCode> = all.iter().map(RedeemError::code).collect();
        sent.push(RedeemCode::RateLimited); // the rate-limit layer's answer
        for e in all {
            documented(&spec, "/api/v1/redeem", redeem_error(&e).status(), e.code());
        }
        let store = || crate::db::StoreError::Unavailable("down".into());
        let code_errors = [
            (CodeError::Malformed, RedeemCode::Malformed),
            (CodeError::Unknown, RedeemCode::UnknownCode),
            (
                CodeError::Shut(crate::repair::code_guard::Shut::Address),
                RedeemCode::RateLimited,
            ),
            (
                CodeError::Shut(crate::repair::code_guard::Shut::Global),
                RedeemCode::RateLimited,
            ),
            (CodeError::Unavailable(store()), RedeemCode::Unavailable),
        ];
        for (e, code) in code_errors {
            documented(&spec, "/api/v1/redeem/code", code_error(&e).status(), code);
            sent.push(code);
        }
        for code in RedeemCode::ALL {
            assert!(sent.contains(&code), "{code} is never sent");
        }
    }
}

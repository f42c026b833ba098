//! The companion client's API: redeem a token, report its outcome, exchange a short repair
//! code for its token, and the public keys that verify tokens. No session: the token (or the
//! code and the computer's name) is the credential.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use trustdesk_token::{PublicKeyInfo, RedeemCode};
use utoipa::ToSchema;

use super::AppState;
use super::error::ErrorBody;
use super::extract::RequestOrigin;
use crate::db::TokenState;
use crate::repair::code::{self, CodeError, CodeRequest};
use crate::repair::redeem::{self, RedeemError, Redeemed};

/// A repair token and the new machine password the client made.
#[derive(Deserialize, ToSchema)]
pub struct RedeemBody {
    /// The repair token (`td1.…`).
    token: String,
    /// The new machine password the client made: exactly 120 characters of ASCII 32..=122, at
    /// least 16 of them different; anything else is `bad_password`.
    #[schema(value_type = String, min_length = 120, max_length = 120, pattern = "^[ -z]{120}$")]
    password: SecretString,
}

/// How the repair ended on the workstation, as the client verified it.
#[derive(Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientOutcome {
    Completed,
    Failed,
}

/// The client's verified outcome of a redeemed token.
#[derive(Deserialize, ToSchema)]
pub struct OutcomeBody {
    /// The redeemed token.
    token: String,
    outcome: ClientOutcome,
    /// The step that failed, for the audit log.
    #[serde(default)]
    step: String,
    /// What the client saw, for the audit log.
    #[serde(default)]
    detail: String,
}

/// The token's state after the outcome was recorded.
#[derive(Serialize, ToSchema)]
pub struct OutcomeAnswer {
    state: TokenState,
}

/// The token minted with the code.
#[derive(Serialize, ToSchema)]
pub struct CodeAnswer {
    /// The repair token (`td1.…`): verify it like a pasted one.
    token: String,
}

/// The public keys that verify repair tokens.
#[derive(Serialize, ToSchema)]
pub struct TokenKeys {
    /// The key id (`kid`) of the key that signs new tokens.
    current: String,
    /// Every key a live token may be signed with, the current one among them.
    keys: Vec<PublicKeyInfo>,
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
#[utoipa::path(
    post,
    path = "/api/v1/redeem",
    operation_id = "redeem",
    tag = "client",
    summary = "Redeem a repair token (the companion client): sets the password on a DC",
    description = "The token is the credential: no session, no API key. On 200 the DC holds the \
        new password; the client then re-keys the workstation and reports the outcome. Every \
        refusal is an `Error` whose `error` is one of the codes listed under its status.",
    security(()),
    request_body = RedeemBody,
    responses(
        (status = 200, description = "The DC now holds the new password", body = Redeemed),
        (status = 400, description = "malformed | bad_password", body = ErrorBody<'_>),
        (status = 401, description = "bad_signature", body = ErrorBody<'_>),
        (status = 403, description = "wrong_computer | not_allowed", body = ErrorBody<'_>),
        (status = 409, description = "already_used", body = ErrorBody<'_>),
        (status = 410, description = "expired | revoked", body = ErrorBody<'_>),
        (status = 429, description = "rate_limited", body = ErrorBody<'_>),
        (status = 502, description = "dc_write_failed", body = ErrorBody<'_>),
        (status = 503, description = "unavailable", body = ErrorBody<'_>),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/redeem/outcome",
    operation_id = "report_outcome",
    tag = "client",
    summary = "Record the client's verified outcome",
    description = "Once per redeemed token; an expired token may still report (the repair \
        started before it expired).",
    security(()),
    request_body = OutcomeBody,
    responses(
        (status = 200, description = "The token's new state", body = OutcomeAnswer),
        (status = 400, description = "malformed", body = ErrorBody<'_>),
        (status = 401, description = "bad_signature", body = ErrorBody<'_>),
        (status = 409, description = "already_used", body = ErrorBody<'_>),
        (status = 410, description = "revoked", body = ErrorBody<'_>),
        (status = 503, description = "unavailable", body = ErrorBody<'_>),
    )
)]
pub async fn api_outcome(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    body: Result<Json<OutcomeBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return redeem_error(&RedeemError::Malformed);
    };
    let completed = body.outcome == ClientOutcome::Completed;
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
        Ok(state) => Json(OutcomeAnswer { state }).into_response(),
        Err(e) => redeem_error(&e),
    }
}

/// A short repair code, and the computer the client runs on.
#[derive(Deserialize, ToSchema)]
pub struct CodeBody {
    /// The code as shown beside the minted token (`K7QF-M2XD-9PWA`; case, dashes and spaces
    /// do not matter).
    #[schema(max_length = 40)]
    code: String,
    /// The computer's NetBIOS name.
    #[schema(max_length = 16)]
    computer: String,
    /// The computer's AD DNS domain.
    #[schema(max_length = 255)]
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
#[utoipa::path(
    post,
    path = "/api/v1/redeem/code",
    operation_id = "exchange_code",
    tag = "client",
    summary = "Exchange a short repair code for its token (the companion client): once, for the computer the token was minted for",
    description = "The code (12 Crockford base32 symbols, K7QF-M2XD-9PWA) is shown beside a \
        minted token. The client sends it with its own NetBIOS name and AD DNS domain, and \
        verifies the returned token like a pasted one. Every failure is unknown_code (404). Per \
        address, 10 wrong codes in 15 minutes refuse the address (429) until the window ends; \
        200 wrong codes from all addresses pause code lookups for everyone. Three wrong \
        computer names lock a code.",
    security(()),
    request_body = CodeBody,
    responses(
        (status = 200, description = "The token minted with the code", body = CodeAnswer),
        (status = 400, description = "malformed", body = ErrorBody<'_>),
        (status = 404, description = "unknown_code", body = ErrorBody<'_>),
        (status = 429, description = "rate_limited", body = ErrorBody<'_>),
        (status = 503, description = "unavailable", body = ErrorBody<'_>),
    )
)]
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
        Ok(token) => Json(CodeAnswer { token }).into_response(),
        Err(e) => code_error(&e),
    }
}

/// `GET /api/v1/token-key`: the public keys that verify repair tokens (the client pins one).
#[utoipa::path(
    get,
    path = "/api/v1/token-key",
    operation_id = "token_keys",
    tag = "client",
    summary = "The public keys that verify repair tokens",
    description = "The companion client pins one of them (`<kid>:<public_key>`).",
    security(()),
    responses((status = 200, description = "The keys", body = TokenKeys))
)]
pub async fn api_token_key(State(state): State<AppState>) -> Json<TokenKeys> {
    let current = state.repairs.token_keys.signing().kid();
    let keys = state
        .repairs
        .token_keys
        .verifying()
        .iter()
        .map(|k| k.to_info())
        .collect();
    Json(TokenKeys { current, keys })
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

    /// Every refusal the redeem, outcome and code APIs send is a code of the vocabulary shared with the
    /// client (`trustdesk_token::RedeemCode`), under the status the OpenAPI document lists it.
    #[test]
    fn refusals_are_the_shared_codes_under_their_documented_status() {
        let spec = super::super::openapi::tests::document();
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
        // What `redeem::record_outcome` may refuse with (an expired token may still report).
        let outcome = [
            RedeemError::Malformed,
            RedeemError::BadSignature,
            RedeemError::AlreadyUsed,
            RedeemError::Revoked,
            RedeemError::Unavailable,
        ];
        for e in outcome {
            let status = redeem_error(&e).status();
            documented(&spec, "/api/v1/redeem/outcome", status, e.code());
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

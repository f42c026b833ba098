//! `RequestOrigin`: source IP, user agent and request id of a request, for audit events.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::AppError;
use crate::audit::{Actor, Origin};
use crate::auth::Staff;

pub struct RequestOrigin(pub Origin);

impl<S: Send + Sync> FromRequestParts<S> for RequestOrigin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(256).collect::<String>())
        };
        let source_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip().to_string());
        Ok(Self(Origin {
            source_ip,
            user_agent: header("user-agent"),
            request_id: header("x-request-id"),
        }))
    }
}

pub fn actor(staff: &Staff) -> Actor {
    Actor {
        sub: staff.sub.clone(),
        name: staff.name.clone(),
        email: staff.email.clone(),
        roles: staff.roles.clone(),
    }
}

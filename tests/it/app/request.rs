//! Requests through the test portal's router, as an actor: nobody, a browser holding a session
//! cookie, or an API client with a bearer key.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use tower::ServiceExt;

use super::{CLIENT, TestApp};

/// Who sends a request.
#[derive(Clone, Debug)]
pub enum Who {
    Anonymous,
    /// A browser with this `Cookie` header; `csrf` is its session's synchronizer token.
    Session {
        cookie: String,
        csrf: String,
    },
    /// An API client: `Authorization: Bearer <key>`.
    Key(String),
}

impl Who {
    /// The session's CSRF token (empty for the other actors).
    pub fn csrf(&self) -> &str {
        match self {
            Self::Session { csrf, .. } => csrf,
            _ => "",
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    pub fn request_id(&self) -> &str {
        self.header("x-request-id")
    }

    pub fn location(&self) -> &str {
        self.header("location")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl TestApp {
    /// Send `req` as `who`, from [`CLIENT`].
    pub async fn send(&self, who: &Who, mut req: Request<Body>) -> Resp {
        let headers = req.headers_mut();
        match who {
            Who::Anonymous => {}
            Who::Session { cookie, .. } => {
                headers.insert("cookie", cookie.parse().unwrap());
            }
            Who::Key(key) => {
                headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
            }
        }
        // `MockConnectInfo` serves the `ConnectInfo` extractor, but the portal reads the peer
        // from the request's extensions (`web/meta.rs::peer`), as the real server puts it
        // there: do the same.
        req.extensions_mut().insert(ConnectInfo(CLIENT));
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 16 << 20)
            .await
            .unwrap();
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// `GET path` as `who`.
    pub async fn get(&self, who: &Who, path: &str) -> Resp {
        let req = Request::get(path).body(Body::empty()).unwrap();
        self.send(who, req).await
    }

    /// A same-origin form POST, as the portal's own pages send it.
    pub async fn post_form(&self, who: &Who, path: &str, form: &[(&str, &str)]) -> Resp {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "http://portal.test")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(body))
            .unwrap();
        self.send(who, req).await
    }

    /// A JSON POST, as the companion client sends it (no browser headers).
    pub async fn post_json(&self, who: &Who, path: &str, body: &serde_json::Value) -> Resp {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(who, req).await
    }

    /// `method path` with an empty body.
    pub async fn call(&self, who: &Who, method: Method, path: &str) -> Resp {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        self.send(who, req).await
    }
}

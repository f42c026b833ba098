//! The HTTP client every provider call goes through: no redirects (the openidconnect docs
//! require it against SSRF), a 10 s bound, bodies read up to a limit.
//!
//! oauth2 5 ships an adapter for reqwest 0.12 only; this is the same for the reqwest 0.13 the
//! rest of the stack uses (one TLS stack, one crypto provider).

use openidconnect::{AsyncHttpClient, HttpClientError, HttpRequest, HttpResponse};

use super::AuthError;

/// The most a provider answer may weigh (discovery, JWKS, tokens, userinfo, group lists).
const MAX_BODY: usize = 4 << 20;

#[derive(Clone)]
pub(super) struct OidcHttp(pub(super) reqwest::Client);

impl OidcHttp {
    pub(super) fn new() -> Result<Self, AuthError> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map(Self)
            .map_err(|e| AuthError::Config(format!("HTTP client: {e}")))
    }
}

/// A response body, refused past [`MAX_BODY`].
pub(super) async fn bounded_body(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("the answer is larger than {MAX_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl<'c> AsyncHttpClient<'c> for OidcHttp {
    type Error = HttpClientError<reqwest::Error>;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, Self::Error>> + Send + Sync + 'c>,
    >;
    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let resp = self
                .0
                .execute(request.try_into().map_err(Box::new)?)
                .await
                .map_err(Box::new)?;
            let mut b = openidconnect::http::Response::builder()
                .status(resp.status())
                .version(resp.version());
            for (k, v) in resp.headers() {
                b = b.header(k, v);
            }
            let body = bounded_body(resp).await.map_err(HttpClientError::Other)?;
            b.body(body).map_err(HttpClientError::Http)
        })
    }
}

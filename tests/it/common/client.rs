//! A browser-like HTTP client for the lab portals (cookies kept, redirects followed by hand),
//! signing in at the provider, and reading pages: attributes, the CSRF token, JSON.

use std::path::Path;

/// A browser-like client: keeps cookies, follows no redirect by itself.
pub fn browser() -> reqwest::Client {
    browser_for(None)
}

/// The same, trusting a test CA too (for a portal behind the TLS front).
pub fn browser_for(ca: Option<&Path>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap();
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

/// Follow redirects from `url`, returning every URL visited and the last response.
pub async fn follow(
    c: &reqwest::Client,
    mut resp: reqwest::Response,
    visited: &mut Vec<String>,
) -> reqwest::Response {
    for _ in 0..20 {
        visited.push(resp.url().to_string());
        if !resp.status().is_redirection() {
            return resp;
        }
        let next = resp
            .url()
            .join(resp.headers()["location"].to_str().unwrap())
            .unwrap();
        resp = c.get(next).send().await.unwrap();
    }
    panic!("redirect loop: {visited:?}");
}

/// The value of `attr="…"` in the first tag containing `marker`.
pub fn html_attr(html: &str, marker: &str, attr: &str) -> Option<String> {
    let at = html.find(marker)?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..at + html[at..].find('>')?];
    let key = format!("{attr}=\"");
    let v = &tag[tag.find(&key)? + key.len()..];
    Some(
        v[..v.find('"')?]
            .replace("&amp;", "&")
            .replace("&#x2f;", "/"),
    )
}

/// Sign in at the OP as `user` and stop *before* the portal's callback; returns the callback
/// URL the OP sent the browser to (or the OP's final response when it refused).
pub async fn sign_in_until_callback(
    c: &reqwest::Client,
    portal: &str,
    user: &str,
    password: &str,
) -> Result<(String, String), reqwest::Response> {
    let mut visited = Vec::new();
    let r = c.get(format!("{portal}/login")).send().await.unwrap();
    let login_cookie = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let form_page = follow(c, r, &mut visited).await;
    let page_url = form_page.url().clone();
    let html = form_page.text().await.unwrap();
    let action = html_attr(&html, "<form", "action").expect("login form");
    let r = c
        .post(page_url.join(&action).unwrap())
        .form(&[("prompt", "login"), ("login", user), ("password", password)])
        .send()
        .await
        .unwrap();
    if !r.status().is_redirection() {
        return Err(r);
    }
    // Follow the OP's redirects, but stop at our callback.
    let mut resp = r;
    for _ in 0..10 {
        let next = resp
            .url()
            .join(resp.headers()["location"].to_str().unwrap())
            .unwrap();
        if next
            .as_str()
            .starts_with(&format!("{portal}/auth/callback"))
        {
            return Ok((next.to_string(), login_cookie));
        }
        resp = c.get(next).send().await.unwrap();
        if !resp.status().is_redirection() {
            return Err(resp);
        }
    }
    panic!("the OP never redirected back to the portal");
}

/// Full sign-in; returns the page the portal lands on and the callback's Set-Cookie header.
pub async fn sign_in(
    c: &reqwest::Client,
    portal: &str,
    user: &str,
    password: &str,
) -> (reqwest::Response, String) {
    let (callback, _) = sign_in_until_callback(c, portal, user, password)
        .await
        .unwrap_or_else(|r| panic!("sign-in refused at the OP: {}", r.status()));
    let r = c.get(&callback).send().await.unwrap();
    let set_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let mut visited = Vec::new();
    (follow(c, r, &mut visited).await, set_cookie)
}

/// Sign out of the portal with the CSRF token of `page` (a signed-in page); returns where the
/// portal sends the browser (the provider's end-session URL).
pub async fn portal_logout(c: &reqwest::Client, base: &str, page: &str) -> String {
    let csrf = html_attr(page, "name=\"csrf\"", "value").expect("a signed-in page");
    let r = c
        .post(format!("{base}/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    r.headers()["location"].to_str().unwrap().to_string()
}

/// Confirm the lab provider's logout page (`page`, at `at`), as its button does.
pub async fn confirm_provider_logout(
    c: &reqwest::Client,
    at: &url::Url,
    page: &str,
) -> reqwest::Response {
    let action = html_attr(page, "op.logoutForm", "action")
        .unwrap_or_else(|| panic!("not the provider's logout page: {page}"));
    let xsrf = html_attr(page, "name=\"xsrf\"", "value").expect("xsrf");
    c.post(at.join(&action).unwrap())
        .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
        .send()
        .await
        .unwrap()
}

/// GET a JSON document (discovery, JWKS) without a session.
pub async fn get_json(url: &str) -> serde_json::Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// A provider's discovery document.
pub async fn discovery(issuer: &str) -> serde_json::Value {
    get_json(&format!("{issuer}/.well-known/openid-configuration")).await
}

/// The CSRF token of the signed-in session (from the landing page).
pub async fn csrf(c: &reqwest::Client, base: &str) -> String {
    let html = get_text(c, base).await;
    html_attr(&html, "name=\"csrf\"", "value").expect("signed in")
}

/// GET a page with the browser's session; its body as text.
pub async fn get_text(c: &reqwest::Client, url: &str) -> String {
    // A computer's old URL redirects to its page in its domain (issue #19): followed.
    let first = c.get(url).send().await.unwrap();
    follow(c, first, &mut Vec::new())
        .await
        .text()
        .await
        .unwrap()
}

/// GET a JSON API path with the browser's session; returns status and body.
pub async fn api_get(c: &reqwest::Client, base: &str, path: &str) -> (u16, serde_json::Value) {
    let r = c.get(format!("{base}{path}")).send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

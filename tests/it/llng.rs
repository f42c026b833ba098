//! Sign-in through a second, independent, real provider: LemonLDAP::NG 2.16 from Debian, run by
//! the lab (`lab/lab.sh up --llng`, lab/llng/), authenticating the lab's AD users over LDAPS and
//! releasing their real AD groups (nested ones resolved) in userinfo, as LL::NG does by
//! default for the code flow (lemonldap-ng.org/documentation/latest/idpopenidconnect.html).
//! Its redirect URIs are registered for portals on 127.0.0.1:18481–18484: each test here
//! takes its own port. Debian's 2.16 has no back-channel logout (its code says TODO #1194);
//! that is proved against oidc-provider in `sessions_lab`.

use std::path::PathBuf;

use crate::common::{
    browser, config_toml, default_roles, follow, html_attr, install_crypto, lab, load_config,
};

/// One LL::NG test at a time: two of them roll its key over, and LL::NG 2.16 publishes only
/// the current key, so a token signed just before another test's rotation would not verify.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// LL::NG as lab.env describes it.
struct Llng {
    issuer: String,
    client_id: String,
    client_secret: String,
    password: String,
}

fn llng() -> Llng {
    let need = |k: &str| {
        std::env::var(k)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| {
                panic!("{k} is not set: LemonLDAP::NG is required (lab/lab.sh up --llng)")
            })
    };
    Llng {
        issuer: need("LLNG_ISSUER"),
        client_id: need("LLNG_CLIENT_ID"),
        client_secret: need("LLNG_CLIENT_SECRET"),
        password: need("LLNG_USER_PW"),
    }
}

struct LlngPortal {
    base: String,
    state: trustdesk::web::AppState,
    _dir: tempfile::TempDir,
}

/// A portal on 127.0.0.1:`port` signing in through LL::NG, with `oidc_extra` in its `[oidc]`.
async fn portal(lab: &crate::common::Lab, l: &Llng, port: u16, oidc_extra: &str) -> LlngPortal {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("127.0.0.1:{port} (registered at LL::NG): {e}"));
    let base = format!("http://127.0.0.1:{port}");
    let mut urls = vec![lab.ldaps_url.as_str()];
    urls.extend(lab.dc2_ldaps_url.as_deref());
    // LL::NG releases `groups` under a scope of that name, in userinfo.
    let toml = config_toml(dir.path(), &urls, &lab.ca, lab)
        .replace("http://127.0.0.1:8080", &base)
        .replace("http://127.0.0.1:9400", &l.issuer)
        .replace(
            "client_id = \"portal\"",
            &format!("client_id = {:?}", l.client_id),
        )
        .replace(
            "client_secret = \"portal-secret\"",
            &format!("client_secret = {:?}\n{oidc_extra}", l.client_secret),
        )
        + &default_roles(&lab.base_dn);
    let state = trustdesk::build(load_config(dir.path(), &toml))
        .await
        .unwrap();
    tokio::spawn(trustdesk::serve(listener, state.clone()));
    LlngPortal {
        base,
        state,
        _dir: dir,
    }
}

/// LL::NG's own rotateOidcKeys (the lab restarts its workers so they read the new config, and
/// waits until JWKS serves the new key; LL::NG 2.16 publishes only the current key).
fn rotate_keys() {
    let lab_sh = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lab/lab.sh");
    let out = std::process::Command::new(lab_sh)
        .arg("llng-rotate-keys")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sign in at LL::NG's own login form (hidden fields kept, `user` and `password` filled) and
/// follow the redirects back through the portal. Returns the last page.
async fn sign_in(c: &reqwest::Client, p: &LlngPortal, user: &str, pw: &str) -> reqwest::Response {
    let mut visited = Vec::new();
    let r = c.get(format!("{}/login", p.base)).send().await.unwrap();
    let form_page = follow(c, r, &mut visited).await;
    let at = form_page.url().clone();
    let html = form_page.text().await.unwrap();
    assert!(
        html.contains("name=\"password\""),
        "LL::NG's login form: {html}"
    );
    let mut fields: Vec<(String, String)> = Vec::new();
    for (i, _) in html.match_indices("<input") {
        let tag = &html[i..=i + html[i..].find('>').unwrap()];
        if let Some(name) = html_attr(tag, "name=", "name") {
            let value = html_attr(tag, "name=", "value").unwrap_or_default();
            fields.push((name, value));
        }
    }
    fields.retain(|(k, _)| k != "user" && k != "password");
    fields.push(("user".into(), user.into()));
    fields.push(("password".into(), pw.into()));
    let r = c.post(at).form(&fields).send().await.unwrap();
    follow(c, r, &mut visited).await
}

/// Signed in and back at the portal: the page's status.
async fn back_at_portal(page: reqwest::Response, p: &LlngPortal) -> (u16, String) {
    let at = page.url().to_string();
    let status = page.status().as_u16();
    assert!(at.starts_with(&p.base), "still at LL::NG: {at}");
    (status, page.text().await.unwrap())
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn llng_signs_in_with_real_ad_groups_and_logs_out_with_the_hint() {
    install_crypto();
    let (lab, l) = (lab(), llng());
    let _one = ONE_AT_A_TIME.lock().await;
    let p = portal(&lab, &l, 18481, "").await;
    // llng-senior is in Helpdesk-Senior through a nested group; AD spells it in mixed case.
    let c = browser();
    let page = sign_in(&c, &p, "llng-senior", &l.password).await;
    let (status, html) = back_at_portal(page, &p).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("(senior)") || html.contains("senior"),
        "{html}"
    );
    let found = c
        .get(format!("{}/computers?q=PAR", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        found.status(),
        200,
        "a senior may look computers up: {:?}",
        found.headers().get("location")
    );

    // Sign-out ends LL::NG's session too: the hint is sent and honoured, no prompt.
    let to = crate::common::portal_logout(&c, &p.base, &html).await;
    assert!(
        to.starts_with(&l.issuer) && to.contains("id_token_hint="),
        "{to}"
    );
    let mut visited = Vec::new();
    let last = follow(&c, c.get(&to).send().await.unwrap(), &mut visited).await;
    assert!(last.url().as_str().starts_with(&p.base), "{visited:?}");
    // LL::NG's session is gone: a new sign-in asks for the password again.
    let again = sign_in(&c, &p, "llng-senior", "wrong password").await;
    assert!(
        again.url().as_str().starts_with(&l.issuer),
        "a wrong AD password does not sign in"
    );

    // No role for someone whose AD groups grant none; the auditor gets the auditor role.
    let page = sign_in(&browser(), &p, "llng-nobody", &l.password).await;
    assert_eq!(back_at_portal(page, &p).await.0, 403);
    let page = sign_in(&browser(), &p, "llng-auditor", &l.password).await;
    assert_eq!(back_at_portal(page, &p).await.0, 200);
    let events = crate::idp::audit_rows(&p.state).await;
    assert!(
        events
            .iter()
            .any(|(a, o, r)| a == "sign_in" && o == "denied" && r.starts_with("no_role:")),
        "{events:?}"
    );
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn llng_rotates_its_keys_and_sign_in_goes_on_without_a_restart() {
    install_crypto();
    let (lab, l) = (lab(), llng());
    let _one = ONE_AT_A_TIME.lock().await;
    let p = portal(&lab, &l, 18482, "").await;
    let page = sign_in(&browser(), &p, "llng-senior", &l.password).await;
    assert_eq!(back_at_portal(page, &p).await.0, 200);
    rotate_keys();
    let page = sign_in(&browser(), &p, "llng-senior", &l.password).await;
    let (status, html) = back_at_portal(page, &p).await;
    assert_eq!(status, 200, "signed in after the rotation: {html}");
    let events = crate::idp::audit_rows(&p.state).await;
    assert!(
        !events
            .iter()
            .any(|(a, o, _)| a == "sign_in" && o == "denied"),
        "{events:?}"
    );
}

/// In Chromium: the portal's sign-in link, then LL::NG's own login form as llng-senior;
/// returns the authorization request's address and the portal's "signed in as" text.
async fn browser_sign_in(
    b: &fantoccini::Client,
    p: &LlngPortal,
    password: &str,
) -> (String, String) {
    use crate::common::chromium::wait_for_id;
    use fantoccini::Locator;
    b.goto(&p.base).await.unwrap();
    wait_for_id(b, "login").await.click().await.unwrap();
    let user = b
        .wait()
        .for_element(Locator::Css("input[name=user]"))
        .await
        .unwrap();
    let authorize = b.current_url().await.unwrap().to_string();
    user.send_keys("llng-senior").await.unwrap();
    // Enter in the password field submits LL::NG's login form.
    b.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(&format!("{password}\u{E007}"))
        .await
        .unwrap();
    let who = wait_for_id(b, "whoami").await.text().await.unwrap();
    (authorize, who)
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn chromium_lemonldap_ng_sign_in_logout_and_rotation() {
    use crate::common::chromium::{browser_session, chromedriver, wait_for_id};
    install_crypto();
    let (lab, l) = (lab(), llng());
    let _one = ONE_AT_A_TIME.lock().await;
    let p = portal(&lab, &l, 18483, "").await;
    let driver = chromedriver().await;
    let b = browser_session(&driver).await;
    let (_, who) = browser_sign_in(&b, &p, &l.password).await;
    assert!(who.contains("(senior)"), "nested AD group → senior: {who}");
    // Sign out through LL::NG (id_token_hint, no prompt) and back.
    wait_for_id(&b, "logout").await.click().await.unwrap();
    wait_for_id(&b, "login").await;
    assert!(b.current_url().await.unwrap().as_str().starts_with(&p.base));
    // LL::NG rolls its key over; sign-in goes on (its login form again: the session ended).
    rotate_keys();
    let (_, who) = browser_sign_in(&b, &p, &l.password).await;
    assert!(who.contains("(senior)"), "after the rotation: {who}");
    b.close().await.unwrap();
}

/// `response_mode = form_post`: LL::NG (on its own host name, so another site than the portal)
/// posts the code cross-site, where Chromium leaves out the portal's SameSite=Lax session
/// cookie; the portal's bounce page hands it on from its own origin.
#[tokio::test]
#[ignore = "needs the lab"]
async fn chromium_signs_in_through_lemonldap_ng_with_form_post() {
    use crate::common::chromium::{browser_session, chromedriver};
    install_crypto();
    let (lab, l) = (lab(), llng());
    let _one = ONE_AT_A_TIME.lock().await;
    let p = portal(&lab, &l, 18484, "response_mode = \"form_post\"").await;
    let driver = chromedriver().await;
    let b = browser_session(&driver).await;
    let (authorize, who) = browser_sign_in(&b, &p, &l.password).await;
    assert!(authorize.contains("response_mode=form_post"), "{authorize}");
    assert!(who.contains("(senior)"), "{who}");
    b.close().await.unwrap();
    // The answer came as a POST, and the bounce page answered it.
    let metrics = crate::common::metrics_text(&p.base).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("trustdesk_http_requests_total")
                && l.contains("method=\"POST\"")
                && l.contains("route=\"/auth/callback\"")
                && l.contains("status=\"200\"")),
        "{metrics}"
    );
    let events = crate::idp::audit_rows(&p.state).await;
    assert!(
        events
            .iter()
            .any(|(a, o, _)| a == "sign_in" && o == "success"),
        "{events:?}"
    );
}

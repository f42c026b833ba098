//! Sign-in against the lab provider's profiles, each imitating a real product as it behaves
//! by default (lab/oidc/profiles.mjs cites each product's documentation): Entra ID (GUID
//! groups, app roles, group overage, unknown scopes refused with AADSTS650053), Keycloak
//! (full-path groups, `realm_access.roles`, `invalid_scope`), Okta (logout needs
//! `id_token_hint`), and the userinfo default (claims only in userinfo, OIDC Core §5.4). Key
//! rotation without a restart, and the ID tokens a portal must refuse.

use crate::common::{
    GROUPS_SCOPES, OpSetup, browser, default_roles, discovery, follow, get_json, install_crypto,
    lab, sign_in, start_portal_idp,
};

/// The group object ids of the `entra` profile (lab/oidc/profiles.mjs).
const ENTRA_SENIOR: &str = "6c1a6f0e-1d6b-4a59-9a43-5b1a0c1d0001";
const ENTRA_JUNIOR: &str = "6c1a6f0e-1d6b-4a59-9a43-5b1a0c1d0002";

pub async fn audit_rows(state: &trustdesk::web::AppState) -> Vec<(String, String, String)> {
    state
        .store
        .audit_recent(200)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|r| {
            (
                r.event.action,
                r.event.outcome,
                r.event.reason.unwrap_or_default(),
            )
        })
        .collect()
}

/// The denied sign-in reasons audited so far.
async fn denials(state: &trustdesk::web::AppState) -> Vec<String> {
    audit_rows(state)
        .await
        .into_iter()
        .filter(|(a, o, _)| a == "sign_in" && o == "denied")
        .map(|(_, _, r)| r)
        .collect()
}

/// The provider imitating `name`.
fn profile(name: &'static str) -> OpSetup {
    OpSetup {
        profile: Some(name),
        ..OpSetup::default()
    }
}

/// Assert that a sign-in was denied with a reason starting `prefix`.
async fn assert_denied(state: &trustdesk::web::AppState, prefix: &str) {
    let reasons = denials(state).await;
    assert!(
        reasons.iter().any(|r| r.starts_with(prefix)),
        "want {prefix}: {reasons:?}"
    );
}

/// A portal against `setup` into which alice signs in (200); the portal and her page.
async fn alice_signs_in(
    lab: &crate::common::Lab,
    setup: &OpSetup,
    oidc: &str,
    roles: Option<&str>,
) -> (crate::common::Portal, String) {
    let p = start_portal_idp(lab, setup, oidc, roles).await;
    let (status, html) = signed_in_page(&browser(), &p.base, "alice").await;
    assert_eq!(status, 200, "{html}");
    (p, html)
}

/// Roles keyed on the given values (Entra object ids, app roles, Keycloak paths).
fn roles_on(senior: &str, junior: &str, base_dn: &str) -> String {
    default_roles(base_dn)
        .replacen(
            "groups = [\"helpdesk-senior\"]",
            &format!("groups = [{senior:?}]"),
            1,
        )
        .replacen(
            "groups = [\"helpdesk-junior-paris\"]",
            &format!("groups = [{junior:?}]"),
            1,
        )
}

/// Start a sign-in and follow every redirect: the provider may answer the authorization
/// request with an error straight away. Returns the final response.
async fn login_until_settled(c: &reqwest::Client, base: &str) -> reqwest::Response {
    let r = c.get(format!("{base}/login")).send().await.unwrap();
    let mut visited = Vec::new();
    follow(c, r, &mut visited).await
}

async fn signed_in_page(c: &reqwest::Client, base: &str, user: &str) -> (u16, String) {
    let (page, _) = sign_in(c, base, user, &format!("{user}-pw")).await;
    let status = page.status().as_u16();
    (status, page.text().await.unwrap())
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn entra_groups_are_object_ids_and_app_roles_work_as_a_claim() {
    install_crypto();
    let lab = lab();
    let entra = profile("entra");
    // Default scopes (no "groups" scope: Entra has none), groups as object ids.
    let roles = roles_on(ENTRA_SENIOR, ENTRA_JUNIOR, &lab.base_dn);
    let p = start_portal_idp(&lab, &entra, "", Some(&roles)).await;
    let tenant = p.op.ready["tenant"].as_str().unwrap();
    assert!(
        p.op.issuer.ends_with(&format!("/{tenant}/v2.0")),
        "a v2.0 issuer with a tenant path: {}",
        p.op.issuer
    );
    let (status, html) = signed_in_page(&browser(), &p.base, "alice").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Alice Senior") && html.contains("senior"),
        "{html}"
    );
    let (_, html) = signed_in_page(&browser(), &p.base, "bob").await;
    assert!(html.contains("junior"), "{html}");

    // App roles (Microsoft's recommendation), matched case-insensitively by default.
    let roles = roles_on("helpdesk.senior", "nobody", &lab.base_dn);
    let (_p, html) = alice_signs_in(&lab, &entra, "role_claim = \"roles\"", Some(&roles)).await;
    assert!(html.contains("senior"), "{html}");
    // ... and byte for byte when configured so.
    let p = start_portal_idp(
        &lab,
        &entra,
        "role_claim = \"roles\"\nrole_values = \"exact\"",
        Some(&roles),
    )
    .await;
    let (status, _) = signed_in_page(&browser(), &p.base, "alice").await;
    assert_eq!(
        status, 403,
        "Helpdesk.Senior is not helpdesk.senior byte for byte"
    );
    assert!(
        denials(&p.state)
            .await
            .iter()
            .any(|r| r.starts_with("no_role:"))
    );
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn entra_refuses_a_groups_scope_and_the_portal_says_what_it_said() {
    install_crypto();
    let lab = lab();
    let entra = profile("entra");
    let roles = roles_on(ENTRA_SENIOR, ENTRA_JUNIOR, &lab.base_dn);
    let p = start_portal_idp(&lab, &entra, GROUPS_SCOPES, Some(&roles)).await;
    let c = browser();
    let page = login_until_settled(&c, &p.base).await;
    assert_eq!(page.status(), 400);
    assert!(
        page.url().path().starts_with("/auth/callback"),
        "{}",
        page.url()
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign-in failed"), "{html}");
    assert!(html.contains("invalid_client"), "{html}");
    assert!(
        html.contains("AADSTS650053"),
        "the provider's description is shown: {html}"
    );
    assert_denied(&p.state, "provider_error: invalid_client: AADSTS650053").await;
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn entra_group_overage_is_explained_or_resolved_where_allowed() {
    install_crypto();
    let lab = lab();
    let entra = profile("entra");
    let roles = roles_on(ENTRA_SENIOR, ENTRA_JUNIOR, &lab.base_dn);
    // Not allowed to fetch: a page that says why, and its own audit reason.
    let p = start_portal_idp(&lab, &entra, "", Some(&roles)).await;
    let (status, html) = signed_in_page(&browser(), &p.base, "olga").await;
    assert_eq!(status, 403);
    assert!(html.contains("id=\"no-access-overage\""), "{html}");
    assert!(html.contains("app roles"), "{html}");
    // A way out on a shared PC: the provider's end-session endpoint, for this client.
    let switch = crate::common::html_attr(&html, "id=\"switch-account\"", "href")
        .expect("a switch-account link");
    assert!(
        switch.contains("client_id=") && switch.contains("id_token_hint="),
        "{switch}"
    );
    assert_denied(&p.state, "group_overage:").await;
    let reasons = denials(&p.state).await;
    assert!(
        !reasons.iter().any(|r| r.starts_with("no_role:")),
        "{reasons:?}"
    );

    // Allowed: the groups come from the endpoint the token names, with the access token.
    let p = start_portal_idp(
        &lab,
        &entra,
        "overage_origins = [\"{op_origin}\"]",
        Some(&roles),
    )
    .await;
    let (status, html) = signed_in_page(&browser(), &p.base, "olga").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("senior"), "{html}");
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn keycloak_paths_nested_roles_and_its_invalid_scope() {
    install_crypto();
    let lab = lab();
    let kc = profile("keycloak");
    // Full group paths (Keycloak's default).
    let roles = roles_on("/helpdesk/senior", "/helpdesk/junior-paris", &lab.base_dn);
    let (_p, html) = alice_signs_in(&lab, &kc, "", Some(&roles)).await;
    assert!(html.contains("senior"), "{html}");
    // Realm roles, through a dotted path.
    let roles = roles_on("helpdesk-senior", "helpdesk-junior-paris", &lab.base_dn);
    let (_p, html) = alice_signs_in(
        &lab,
        &kc,
        "role_claim = \"realm_access.roles\"",
        Some(&roles),
    )
    .await;
    assert!(html.contains("senior"), "{html}");
    // A scope Keycloak does not know is refused, and the portal shows its description.
    let p = start_portal_idp(&lab, &kc, "scopes = [\"openid\", \"groups\"]", Some(&roles)).await;
    let page = login_until_settled(&browser(), &p.base).await;
    assert_eq!(page.status(), 400);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("invalid_scope") && html.contains("Invalid scopes"),
        "{html}"
    );
    assert_denied(&p.state, "provider_error: invalid_scope").await;
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn okta_logout_gets_the_id_token_hint_it_requires() {
    install_crypto();
    let lab = lab();
    let okta = profile("okta");
    let p = start_portal_idp(&lab, &okta, GROUPS_SCOPES, None).await;
    let c = browser();
    let (status, html) = signed_in_page(&c, &p.base, "alice").await;
    assert_eq!(status, 200, "{html}");
    let to = crate::common::portal_logout(&c, &p.base, &html).await;
    let to = url::Url::parse(&to).unwrap();
    assert!(to.as_str().starts_with(&p.op.issuer), "{to}");
    assert!(
        to.query_pairs().any(|(k, _)| k == "id_token_hint"),
        "the hint is sent: {to}"
    );
    // The same request without the hint: Okta answers 400 (the peer is strict).
    let mut bare = to.clone();
    let kept: Vec<(String, String)> = to
        .query_pairs()
        .filter(|(k, _)| k != "id_token_hint")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    bare.query_pairs_mut().clear().extend_pairs(kept);
    assert_eq!(c.get(bare).send().await.unwrap().status(), 400);
    // With it: signed out at the provider and sent back to the portal, no prompt.
    let mut visited = Vec::new();
    let last = follow(&c, c.get(to).send().await.unwrap(), &mut visited).await;
    assert_eq!(last.status(), 200, "{visited:?}");
    assert!(last.url().as_str().starts_with(&p.base), "{visited:?}");
    // The provider passed our `state` on: the landing page says the person is signed out.
    assert!(
        last.url()
            .query()
            .unwrap_or_default()
            .contains("state=signed-out"),
        "{visited:?}"
    );
    assert!(last.text().await.unwrap().contains("id=\"signed-out\""));
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn every_profile_signs_in_across_a_key_rotation_without_a_restart() {
    install_crypto();
    let lab = lab();
    for (profile, oidc, roles) in [
        ("userinfo", GROUPS_SCOPES, None),
        (
            "entra",
            "",
            Some(roles_on(ENTRA_SENIOR, ENTRA_JUNIOR, &lab.base_dn)),
        ),
        (
            "keycloak",
            "",
            Some(roles_on("/helpdesk/senior", "/x", &lab.base_dn)),
        ),
        ("okta", GROUPS_SCOPES, None),
    ] {
        let setup = OpSetup {
            profile: Some(profile),
            ..OpSetup::default()
        };
        let p = start_portal_idp(&lab, &setup, oidc, roles.as_deref()).await;
        let jwks_before = jwks_kids(&p.op.issuer).await;
        let (status, _) = signed_in_page(&browser(), &p.base, "alice").await;
        assert_eq!(status, 200, "{profile}: before the rotation");
        p.op.rotate_keys();
        let mut jwks_after = jwks_kids(&p.op.issuer).await;
        for _ in 0..50 {
            if jwks_after != jwks_before {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            jwks_after = jwks_kids(&p.op.issuer).await;
        }
        assert!(
            jwks_before.iter().all(|k| !jwks_after.contains(k)),
            "{profile}: the old key is gone: {jwks_before:?} → {jwks_after:?}"
        );
        let (status, html) = signed_in_page(&browser(), &p.base, "alice").await;
        assert_eq!(status, 200, "{profile}: after the rotation: {html}");
        assert!(denials(&p.state).await.is_empty(), "{profile}");
    }
}

async fn jwks_kids(issuer: &str) -> Vec<String> {
    let disco = discovery(issuer).await;
    let jwks = get_json(disco["jwks_uri"].as_str().unwrap()).await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn id_tokens_a_portal_must_refuse_are_refused_each_with_its_reason() {
    install_crypto();
    let lab = lab();
    let scopes = GROUPS_SCOPES;
    for (tamper, code) in [
        ("alg_none", "id_token.unsigned"),
        ("unpublished_key", "id_token.unknown_key"),
        ("hs256", "id_token.alg_not_allowed"),
        ("expired", "id_token.expired"),
    ] {
        let setup = OpSetup {
            tamper: Some(tamper),
            ..OpSetup::default()
        };
        let p = start_portal_idp(&lab, &setup, scopes, None).await;
        let c = browser();
        let (page, _) = sign_in(&c, &p.base, "alice", "alice-pw").await;
        assert_eq!(page.status(), 400, "{tamper}");
        let html = page.text().await.unwrap();
        assert!(html.contains("Sign-in failed"), "{tamper}: {html}");
        let r = c
            .get(format!("{}/computers?q=PAR", p.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{tamper}: no session");
        let reasons = denials(&p.state).await;
        assert!(
            reasons.iter().any(|r| r.starts_with(code)),
            "{tamper}: want {code}: {reasons:?}"
        );
    }
    // HS256 is a choice: listed, the same provider signs people in.
    let setup = OpSetup {
        tamper: Some("hs256"),
        ..OpSetup::default()
    };
    alice_signs_in(
        &lab,
        &setup,
        &format!("{scopes}\nid_token_signing_algs = [\"RS256\", \"HS256\"]"),
        None,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn chromium_entra_sign_in_roles_logout_rotation_and_overage() {
    use crate::common::chromium::{browser_session, browser_sign_in, chromedriver, wait_for_id};
    install_crypto();
    let lab = lab();
    let roles = roles_on(ENTRA_SENIOR, ENTRA_JUNIOR, &lab.base_dn);
    let p = start_portal_idp(&lab, &profile("entra"), "", Some(&roles)).await;
    let driver = chromedriver().await;
    let b = browser_session(&driver).await;
    browser_sign_in(&b, &p.base, "alice", "alice-pw").await;
    let who = wait_for_id(&b, "whoami").await.text().await.unwrap();
    assert!(
        who.contains("Alice Senior") && who.contains("senior"),
        "{who}"
    );
    // Sign out: through Entra's end-session endpoint and back, no prompt.
    wait_for_id(&b, "logout").await.click().await.unwrap();
    wait_for_id(&b, "login").await;
    assert!(b.current_url().await.unwrap().as_str().starts_with(&p.base));
    // Entra rolls its key over; the same portal signs alice in again (Entra asks for the
    // password: its session ended at sign-out).
    let before = jwks_kids(&p.op.issuer).await;
    p.op.rotate_keys();
    for _ in 0..50 {
        if jwks_kids(&p.op.issuer).await != before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser_sign_in(&b, &p.base, "alice", "alice-pw").await;
    let who = wait_for_id(&b, "whoami").await.text().await.unwrap();
    assert!(who.contains("Alice Senior"), "after the rotation: {who}");
    b.close().await.unwrap();

    // Olga's groups overflow the token: the browser shows why, not a bare "no access".
    let b = browser_session(&driver).await;
    b.goto(&p.base).await.unwrap();
    wait_for_id(&b, "login").await.click().await.unwrap();
    let form = b.form(fantoccini::Locator::Css("form")).await.unwrap();
    form.set_by_name("login", "olga").await.unwrap();
    form.set_by_name("password", "olga-pw").await.unwrap();
    form.submit().await.unwrap();
    let why = wait_for_id(&b, "no-access-overage")
        .await
        .text()
        .await
        .unwrap();
    assert!(why.contains("more groups than fit"), "{why}");
    b.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn check_config_names_each_provider_misconfiguration_in_one_line() {
    install_crypto();
    let lab = lab();
    let roles = roles_on(ENTRA_SENIOR, ENTRA_JUNIOR, &lab.base_dn);
    let p = start_portal_idp(&lab, &profile("entra"), "", Some(&roles)).await;
    let config = std::fs::read_to_string(p._dir.path().join("trustdesk.toml")).unwrap();
    let run = |toml: String| {
        let path = p._dir.path().join("check.toml");
        std::fs::write(&path, toml).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_trustdesk"))
            .arg("--config")
            .arg(&path)
            .arg("check-config")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains("panicked"), "{text}");
        (out.status.success(), text)
    };
    // As configured: fine, with what Entra lacks said as warnings.
    let (ok, text) = run(config.clone());
    assert!(ok, "{text}");
    assert!(text.contains("ok: oidc.issuer"), "{text}");
    assert!(
        text.contains("warning: oidc: no back-channel logout"),
        "{text}"
    );
    // A claim name sent as a scope (the old behaviour's trap), an issuer without its tenant,
    // and an allow-list the provider cannot meet.
    let issuer_line = format!("issuer = {:?}", p.op.issuer);
    let scoped = config.replace(
        &issuer_line,
        &format!("{issuer_line}\nscopes = [\"openid\", \"groups\"]"),
    );
    let (_, text) = run(scoped);
    assert!(
        text.contains("warning: oidc.scopes: \"groups\" is not in the provider's scopes_supported"),
        "{text}"
    );
    let origin = url::Url::parse(&p.op.issuer)
        .unwrap()
        .origin()
        .ascii_serialization();
    let (ok, text) = run(config.replace(&issuer_line, &format!("issuer = {origin:?}")));
    assert!(!ok);
    assert!(text.contains("oidc.issuer: "), "{text}");
    let pinned = config.replace(
        &issuer_line,
        &format!("{issuer_line}\nid_token_signing_algs = [\"ES384\"]"),
    );
    let (ok, text) = run(pinned);
    assert!(!ok);
    assert!(text.contains("none is allowed (ES384)"), "{text}");
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn the_token_endpoint_sees_the_client_authentication_it_registered() {
    install_crypto();
    let lab = lab();
    let scopes = GROUPS_SCOPES;
    // client_secret_post (oidc-provider, like most, takes either secret method from a
    // secret client; what is proved here is that the form-body secret works).
    let post = OpSetup {
        client_auth: Some("client_secret_post"),
        ..OpSetup::default()
    };
    alice_signs_in(
        &lab,
        &post,
        &format!("{scopes}\ntoken_endpoint_auth = \"client_secret_post\""),
        None,
    )
    .await;

    // private_key_jwt: an RSA key of the portal's, the public half registered at the provider.
    let keys = tempfile::tempdir().unwrap();
    let private = keys.path().join("client.key");
    let public = keys.path().join("client.pub");
    let ok = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&private)
        .arg("2048")
        .status()
        .unwrap()
        .success()
        && std::process::Command::new("openssl")
            .args(["rsa", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public)
            .status()
            .unwrap()
            .success();
    assert!(ok, "openssl made the client key");
    let jwt = OpSetup {
        client_auth: Some("private_key_jwt"),
        client_public_key: Some(public),
        ..OpSetup::default()
    };
    // A secret is no longer enough for this client: the provider refuses it.
    let p = start_portal_idp(&lab, &jwt, scopes, None).await;
    let (page, _) = sign_in(&browser(), &p.base, "alice", "alice-pw").await;
    assert_eq!(page.status(), 400);
    assert_denied(&p.state, "token_exchange:").await;
    // The signed assertion is.
    alice_signs_in(
        &lab,
        &jwt,
        &format!(
            "{scopes}\ntoken_endpoint_auth = \"private_key_jwt\"\nprivate_key_file = {:?}",
            private.display().to_string()
        ),
        None,
    )
    .await;
}

/// Sign-out from the portal ends the provider's session too, for every profile: the portal
/// sends `id_token_hint` and `post_logout_redirect_uri`; where the product still shows a
/// confirmation (Keycloak's page, which auto-submits in a browser when hinted), it is
/// confirmed. Afterwards the provider asks for the password again.
#[tokio::test]
#[ignore = "needs the lab"]
async fn every_profile_ends_the_provider_session_at_sign_out() {
    install_crypto();
    let lab = lab();
    let groups = GROUPS_SCOPES;
    for (name, oidc, roles) in [
        ("userinfo", groups, None),
        (
            "entra",
            "",
            Some(roles_on(ENTRA_SENIOR, ENTRA_JUNIOR, &lab.base_dn)),
        ),
        (
            "keycloak",
            "",
            Some(roles_on("/helpdesk/senior", "/x", &lab.base_dn)),
        ),
        ("okta", groups, None),
    ] {
        let p = start_portal_idp(&lab, &profile(name), oidc, roles.as_deref()).await;
        let c = browser();
        let (status, html) = signed_in_page(&c, &p.base, "alice").await;
        assert_eq!(status, 200, "{name}: {html}");
        let to = crate::common::portal_logout(&c, &p.base, &html).await;
        assert!(to.contains("id_token_hint="), "{name}: {to}");
        let mut visited = Vec::new();
        let mut last = follow(&c, c.get(&to).send().await.unwrap(), &mut visited).await;
        if !last.url().as_str().starts_with(&p.base) {
            // A confirmation page: confirm it, as its script does in a browser.
            let at = last.url().clone();
            let page = last.text().await.unwrap();
            let r = crate::common::confirm_provider_logout(&c, &at, &page).await;
            last = follow(&c, r, &mut visited).await;
        }
        assert!(
            last.url().as_str().starts_with(&p.base),
            "{name}: back at the portal: {visited:?}"
        );
        // The provider's session is gone: signing in again shows its login form.
        let r = c.get(format!("{}/login", p.base)).send().await.unwrap();
        let page = follow(&c, r, &mut visited).await;
        let html = page.text().await.unwrap();
        assert!(html.contains("id=\"login-password\""), "{name}: {html}");
    }
}

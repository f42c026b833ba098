//! Repairs against the lab: token mint/redeem refusals (each with its own code, nothing
//! changed in AD), 64 concurrent redeems on SQLite and PostgreSQL, the DC-side reset's
//! refusals.

use std::sync::Arc;

use crate::common::{
    Lab, Portal, browser, csrf, install_crypto, lab, sign_in, start_portal, start_portal_with,
};
use crate::labctl::{admin, create_computer, random_pw, read_attr};

const OU: &str = "OU=Berlin,OU=Workstations";

/// Mint a token for `name` through the page, as staff would; returns the token. The page
/// offers the button only once the diagnosis allows a token repair: a computer just created or
/// reset on DC1 waits for the other DCs (replication forced, as a patient tech would wait).
pub async fn mint(c: &reqwest::Client, base: &str, name: &str) -> String {
    let html = mint_page(c, base, name).await;
    let start = html.find("readonly rows=\"5\" cols=\"80\">").unwrap()
        + "readonly rows=\"5\" cols=\"80\">".len();
    let token = html[start..start + html[start..].find('<').unwrap()]
        .trim()
        .to_string();
    assert!(token.starts_with("td1."), "{token}");
    token
}

/// Mint for `name` as [`mint`] does; the page that shows the token once.
pub async fn mint_page(c: &reqwest::Client, base: &str, name: &str) -> String {
    // Taken before forcing replication: a test that holds it may have turned a DC's inbound
    // replication off (`real_domain`), and turns it back on before letting go.
    let mut topology = None;
    for round in 0..60 {
        let page = crate::common::get_text(c, &format!("{base}/computers/{name}")).await;
        if page.contains("id=\"mint\"") {
            break;
        }
        assert!(
            page.contains("id=\"mint-withheld\"") && page.contains("do not agree yet"),
            "{name}: no mint button, and not for replication:\n{page}"
        );
        assert!(round < 59, "{name}: replication did not settle within 30 s");
        if topology.is_none() {
            topology = Some(crate::labctl::TOPOLOGY.lock().await);
        }
        if round % 10 == 0 {
            crate::labctl::replicate_from_dc1();
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let csrf = csrf(c, base).await;
    let (status, html) = post_mint(
        c,
        base,
        name,
        &[("csrf", csrf.as_str()), ("ticket", "INC-1234")],
    )
    .await;
    assert_eq!(status, 200, "mint for {name}: {html}");
    html
}

/// POST the mint form for `name`; a mint answers with a redirect to the page that shows the
/// token once, which this follows. The status and body of that page, or of the refusal.
pub async fn post_mint(
    c: &reqwest::Client,
    base: &str,
    name: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let r = c
        .post(format!("{base}/computers/{name}/tokens"))
        .form(form)
        .send()
        .await
        .unwrap();
    if r.status() != 303 {
        return (r.status().as_u16(), r.text().await.unwrap());
    }
    let page = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        page.starts_with(&format!("/computers/{name}/tokens/")),
        "{page}"
    );
    let r = c.get(format!("{base}{page}")).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

pub async fn redeem(base: &str, token: &str, password: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/redeem"))
        .json(&serde_json::json!({ "token": token, "password": password }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

/// A password of the client's shape: 120 printable characters, as the client sends.
pub fn machine_pw() -> String {
    let base = random_pw();
    base.repeat(120 / base.len() + 1)[..120].to_string()
}

/// A portal (`top` and `extra` as in `start_portal_with`) and alice signed in to it.
pub async fn signed_in(lab: &Lab, top: &str, extra: &str) -> (Portal, reqwest::Client) {
    let p = start_portal_with(lab, top, extra, false).await;
    let c = browser();
    sign_in(&c, &p.base, "alice", "alice-pw").await;
    (p, c)
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn every_bad_redeem_is_refused_with_its_own_code_and_changes_nothing() {
    install_crypto();
    let lab = lab();
    // OU=Extra is in alice's scope but the service account has no right there: DC write fails.
    let extra = format!(
        "\n[roles.extra]\ngroups = [\"helpdesk-senior\"]\nactions = [\"lookup\", \"diagnose\", \"mint_token\"]\nscopes = [\"OU=Extra,{}\"]\n[limits]\nredeem_burst = 1000\n",
        lab.base_dn
    );
    let (p, c) = signed_in(&lab, "", &extra).await;
    let mut dc = admin(&lab.ldaps_url).await;
    let pw = machine_pw();

    // garbage, tampered payload, foreign signature
    let target = create_computer(&mut dc, &lab, "T-REFUSE", OU, &random_pw()).await;
    let before = read_attr(&mut dc, &target, "pwdLastSet").await;
    let good = mint(&c, &p.base, "T-REFUSE").await;
    for garbage in ["", "nonsense", "td1.", "td1.a.b.c", &"x".repeat(10_000)] {
        let (status, body) = redeem(&p.base, garbage, &pw).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("malformed")),
            "{garbage:.20}: {body}"
        );
    }
    let parts: Vec<&str> = good.split('.').collect();
    let mut payload = parts[1].as_bytes().to_vec();
    payload[10] = if payload[10] == b'A' { b'B' } else { b'A' };
    let tampered = format!("td1.{}.{}", String::from_utf8(payload).unwrap(), parts[2]);
    let (status, body) = redeem(&p.base, &tampered, &pw).await;
    assert!(status == 401 || status == 400, "{body}");
    assert!(
        matches!(body["error"].as_str(), Some("bad_signature" | "malformed")),
        "{body}"
    );
    let foreign_key = trustdesk_token::SigningKey::generate().unwrap();
    let claims = trustdesk_token::peek(&good).unwrap();
    let forged = trustdesk_token::sign(&claims, &foreign_key).unwrap();
    let (status, body) = redeem(&p.base, &forged, &pw).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("bad_signature")),
        "{body}"
    );
    // signed by the portal's own key but expired
    let mut old = claims.clone();
    old.iat -= 7200;
    old.exp = old.iat + 900;
    let expired = trustdesk_token::sign(&old, p.state.repairs.token_keys.signing()).unwrap();
    let (status, body) = redeem(&p.base, &expired, &pw).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (410, Some("expired")),
        "{body}"
    );
    // a password that is not the client's shape: short, memorable (it passes AD's complexity
    // rule), or outside the client's alphabet; the token stays unused
    let memorable = format!("Aa1{}", "a".repeat(117));
    let braces = format!("{}{{", &pw[..119]);
    for bad in ["short", memorable.as_str(), braces.as_str()] {
        let (status, body) = redeem(&p.base, &good, bad).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("bad_password")),
            "{bad:.10}: {body}"
        );
    }

    // revoked
    let revoked = mint(&c, &p.base, "T-REFUSE").await;
    let jti = trustdesk_token::peek(&revoked).unwrap().jti;
    let csrf = csrf(&c, &p.base).await;
    let r = c
        .post(format!("{}/tokens/{jti}/revoke", p.base))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (status, body) = redeem(&p.base, &revoked, &pw).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (410, Some("revoked")),
        "{body}"
    );
    assert_eq!(
        read_attr(&mut dc, &target, "pwdLastSet").await,
        before,
        "nothing changed in AD"
    );

    // the object was deleted and re-created: another objectGUID
    create_computer(&mut dc, &lab, "T-GONE", OU, &random_pw()).await;
    let gone = mint(&c, &p.base, "T-GONE").await;
    let recreated = create_computer(&mut dc, &lab, "T-GONE", OU, &random_pw()).await;
    let before_gone = read_attr(&mut dc, &recreated, "pwdLastSet").await;
    let (status, body) = redeem(&p.base, &gone, &pw).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("wrong_computer")),
        "{body}"
    );
    assert_eq!(
        read_attr(&mut dc, &recreated, "pwdLastSet").await,
        before_gone
    );

    // moved out of the issuer's scope after minting: no longer allowed
    let moving = create_computer(&mut dc, &lab, "T-MOVE", OU, &random_pw()).await;
    let move_token = mint(&c, &p.base, "T-MOVE").await;
    let _ = dc
        .delete(&format!("CN=T-MOVE,CN=Computers,{}", lab.base_dn))
        .await;
    dc.modifydn(
        &moving,
        "CN=T-MOVE",
        true,
        Some(&format!("CN=Computers,{}", lab.base_dn)),
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    let (status, body) = redeem(&p.base, &move_token, &pw).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("not_allowed")),
        "{body}"
    );

    // the DC refuses the write (no Reset Password right for the service account there)
    let _ = dc
        .add(
            &format!("OU=Extra,{}", lab.base_dn),
            vec![(
                "objectClass",
                std::collections::HashSet::from(["organizationalUnit"]),
            )],
        )
        .await;
    create_computer(&mut dc, &lab, "T-NORIGHT", "OU=Extra", &random_pw()).await;
    let noright = mint(&c, &p.base, "T-NORIGHT").await;
    let (status, body) = redeem(&p.base, &noright, &pw).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("dc_write_failed")),
        "{body}"
    );

    // the real thing, then its replay
    let (status, body) = redeem(&p.base, &good, &pw).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["computer"], "T-REFUSE$");
    assert_ne!(
        read_attr(&mut dc, &target, "pwdLastSet").await,
        before,
        "the DC-side password was set"
    );
    assert!(
        crate::labctl::kinit("T-REFUSE", &pw),
        "the redeemed password works on the DC"
    );
    let after = read_attr(&mut dc, &target, "pwdLastSet").await;
    let (status, body) = redeem(&p.base, &good, &machine_pw()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("already_used")),
        "{body}"
    );
    assert_eq!(read_attr(&mut dc, &target, "pwdLastSet").await, after);

    // no secret in the audit log or the token table
    let rows = format!("{:?}", p.state.store.audit_recent(500).await.unwrap());
    let tokens = format!(
        "{:?}",
        p.state.store.tokens_where(None, None, 100).await.unwrap()
    );
    for secret in [&pw, &good, &revoked, &gone] {
        assert!(
            !rows.contains(secret.as_str()) && !tokens.contains(secret.as_str()),
            "a secret leaked"
        );
    }
}

async fn sixty_four_at_once(p: &Portal, c: &reqwest::Client, lab: &Lab, name: &str) {
    let mut dc = admin(&lab.ldaps_url).await;
    create_computer(&mut dc, lab, name, OU, &random_pw()).await;
    let token = Arc::new(mint(c, &p.base, name).await);
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (base, token) = (p.base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            redeem(&base, &token, &machine_pw()).await
        }));
    }
    let mut ok = 0;
    let mut used = 0;
    for t in tasks {
        match t.await.unwrap() {
            (200, _) => ok += 1,
            (409, body) if body["error"] == "already_used" => used += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(
        (ok, used),
        (1, 63),
        "exactly one of 64 concurrent redeems wins"
    );
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn of_64_concurrent_redeems_exactly_one_wins_on_sqlite() {
    install_crypto();
    let lab = lab();
    let (p, c) = signed_in(&lab, "", "\n[limits]\nredeem_burst = 1000\n").await;
    sixty_four_at_once(&p, &c, &lab, "T-RACE-SQL").await;
}

#[tokio::test]
#[ignore = "needs the lab and PostgreSQL"]
async fn of_64_concurrent_redeems_exactly_one_wins_on_postgres() {
    install_crypto();
    let lab = lab();
    use sqlx::Executor;
    let admin_pool = sqlx::PgPool::connect(&crate::common::pg_admin_url())
        .await
        .unwrap();
    let db = format!("td_race_{}", uuid::Uuid::new_v4().simple());
    admin_pool
        .execute(format!("CREATE DATABASE {db}").as_str())
        .await
        .unwrap();
    let mut url = url::Url::parse(&crate::common::pg_admin_url()).unwrap();
    url.set_path(&db);
    let (p, c) = signed_in(
        &lab,
        &format!("database_url = {:?}", url.as_str()),
        "\n[limits]\nredeem_burst = 1000\n",
    )
    .await;
    assert_eq!(p.state.store.backend(), "postgres");
    sixty_four_at_once(&p, &c, &lab, "T-RACE-PG").await;
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn the_redeem_api_is_rate_limited_per_source() {
    install_crypto();
    let lab = lab();
    let p = start_portal(
        &lab,
        "\n[limits]\nredeem_burst = 3\nredeem_refill_secs = 60\n",
    )
    .await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(redeem(&p.base, "nonsense", &machine_pw()).await);
    }
    assert_eq!(
        codes.iter().filter(|(s, _)| *s == 400).count(),
        3,
        "{codes:?}"
    );
    let (status, body) = &codes[4];
    assert_eq!(
        (*status, body["error"].as_str()),
        (429, Some("rate_limited"))
    );
}

/// The diagnosis gates the repairs on the page and on the server: a disabled account is offered
/// no token repair (the page says why), and a forged POST to mint is refused with that reason
/// and audited. A DC-side reset stays offered: it is the diagnosis's own choice for a disabled
/// account (it cuts the secret off).
#[tokio::test]
#[ignore = "needs the lab"]
async fn a_repair_the_diagnosis_withholds_is_neither_offered_nor_done() {
    install_crypto();
    let lab = lab();
    // Every DC replicating (no test turning one's inbound off meanwhile) until the end.
    let _topology = crate::labctl::TOPOLOGY.lock().await;
    // Erin (trustdesk-admins) may also override the diagnosis on the test's OU; alice may not.
    let overrider = format!(
        "\n[roles.overrider]\ngroups = [\"trustdesk-admins\"]\nactions = [\"lookup\", \"diagnose\", \"mint_token\", \"override_diagnosis\"]\nscopes = [\"{OU},{}\"]\n",
        lab.base_dn
    );
    let (p, c) = signed_in(&lab, "", &overrider).await;
    let mut dc = admin(&lab.ldaps_url).await;
    let dn = create_computer(&mut dc, &lab, "T-GATED", OU, &random_pw()).await;
    crate::labctl::set_attr(&mut dc, &dn, "userAccountControl", "4098").await;
    crate::labctl::replicate_from_dc1();
    let page = crate::common::get_text(&c, &format!("{}/computers/T-GATED", p.base)).await;
    assert!(!page.contains("id=\"mint\""), "no mint button:\n{page}");
    assert!(
        !page.contains("id=\"primary-repair\""),
        "no primary repair:\n{page}"
    );
    assert!(
        page.contains("disabled in AD. Enable it"),
        "the verdict:\n{page}"
    );
    assert!(
        page.contains("id=\"mint-withheld\"") && page.contains("the account is disabled"),
        "the page says why:\n{page}"
    );
    assert!(page.contains("id=\"reset\""), "a reset stays offered");

    let csrf = csrf(&c, &p.base).await;
    let r = c
        .post(format!("{}/computers/T-GATED/tokens", p.base))
        .form(&[("csrf", csrf.as_str()), ("ticket", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("the diagnosis withholds this repair")
            && body.contains("the account is disabled"),
        "{body}"
    );
    let recent = p.state.store.audit_recent(5).await.unwrap();
    assert!(
        recent.iter().any(|r| r.event.action == "mint_token"
            && r.event.outcome == "denied"
            && r.event.target_name.as_deref() == Some("T-GATED")
            && r.event
                .reason
                .as_deref()
                .is_some_and(|why| why.contains("the diagnosis withholds it"))),
        "audited"
    );
    assert!(
        !page.contains("id=\"override-mint\""),
        "alice may not override"
    );

    // An override needs the role: alice's forged one is refused, and audited as such.
    let r = c
        .post(format!("{}/computers/T-GATED/tokens", p.base))
        .form(&[
            ("csrf", csrf.as_str()),
            ("override_reason", "I know better"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let last = &p.state.store.audit_recent(1).await.unwrap()[0];
    assert_eq!(
        (last.event.action.as_str(), last.event.outcome.as_str()),
        ("mint_token", "denied")
    );
    assert!(
        last.event
            .reason
            .as_deref()
            .unwrap()
            .contains("no override"),
        "{last:?}"
    );

    // Erin may: the page offers it behind a reason, and the forced mint names that reason.
    let erin = crate::common::browser();
    sign_in(&erin, &p.base, "erin", "erin-pw").await;
    let page = crate::common::get_text(&erin, &format!("{}/computers/T-GATED", p.base)).await;
    assert!(page.contains("id=\"override-mint\""), "{page}");
    let erin_csrf = crate::common::csrf(&erin, &p.base).await;
    let r = erin
        .post(format!("{}/computers/T-GATED/tokens", p.base))
        .form(&[("csrf", erin_csrf.as_str()), ("override_reason", "   ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a blank reason is no override");
    let (status, html) = post_mint(
        &erin,
        &p.base,
        "T-GATED",
        &[
            ("csrf", erin_csrf.as_str()),
            ("override_reason", "enabled a minute ago, AD not yet read"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"short-code\""), "the token page");
    let recent = p.state.store.audit_recent(3).await.unwrap();
    let forced = recent
        .iter()
        .find(|r| r.event.action == "override_diagnosis")
        .expect("the override is audited");
    let why = forced.event.reason.as_deref().unwrap();
    assert!(
        forced.event.outcome == "success"
            && forced.event.actor_sub.as_deref() == Some("erin")
            && why.contains("mint_token although the diagnosis withholds it")
            && why.contains("the account is disabled")
            && why.contains("reason: enabled a minute ago, AD not yet read"),
        "{forced:?}"
    );
    assert!(
        forced.seq
            < recent
                .iter()
                .find(|r| r.event.action == "mint_token")
                .unwrap()
                .seq,
        "audited before the mint"
    );
    let _ = dc.delete(&dn).await;
}

/// A mint is a POST answered with a redirect, so reloading the token page never mints again;
/// that page shows the token once, to its minter only. Another person at the same URL, and
/// the minter coming back to it, get a page that says the token was shown once.
#[tokio::test]
#[ignore = "needs the lab"]
async fn a_mint_redirects_to_a_page_that_shows_the_token_once_to_its_minter() {
    install_crypto();
    let lab = lab();
    let (p, c) = signed_in(&lab, "", "").await;
    let csrf = csrf(&c, &p.base).await;
    let r = c
        .post(format!("{}/computers/PAR-WS003/tokens", p.base))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = r.headers()["location"].to_str().unwrap().to_string();
    assert!(page.starts_with("/computers/PAR-WS003/tokens/"), "{page}");

    let bob = crate::common::browser();
    sign_in(&bob, &p.base, "bob", "bob-pw").await;
    let html = crate::common::get_text(&bob, &format!("{}{page}", p.base)).await;
    assert!(
        html.contains("id=\"token-gone\"") && !html.contains("td1."),
        "{html}"
    );

    let html = crate::common::get_text(&c, &format!("{}{page}", p.base)).await;
    assert!(html.contains("td1."), "the minter sees it: {html}");
    let html = crate::common::get_text(&c, &format!("{}{page}", p.base)).await;
    assert!(
        html.contains("id=\"token-gone\"") && !html.contains("td1."),
        "{html}"
    );
}

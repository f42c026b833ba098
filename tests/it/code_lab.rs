//! The short repair code against the lab portal: it gives the minted token once, only with the
//! right computer name; three wrong names lock it; a thousand wrong guesses from one address
//! are refused and audited in aggregate, while another address is not shut out.

use std::net::IpAddr;

use crate::common::csrf;
use crate::common::{Lab, Portal, browser, install_crypto, lab, sign_in, start_portal};
use crate::labctl::{admin, create_computer, random_pw};

const OU: &str = "OU=Berlin,OU=Workstations";

/// Mint a token for `name` through the page; the token and the short code the page shows.
pub async fn mint_with_code(c: &reqwest::Client, base: &str, name: &str) -> (String, String) {
    let html = crate::repair_lab::mint_page(c, base, name).await;
    (
        between(&html, "readonly rows=\"5\" cols=\"80\">", "<"),
        between(&html, "id=\"short-code\" data-shown-once>", "<"),
    )
}

fn between(html: &str, start: &str, end: &str) -> String {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in:\n{html}"))
        + start.len();
    html[from..from + html[from..].find(end).unwrap()]
        .trim()
        .to_string()
}

/// `POST /api/v1/redeem/code` from `from` (a loopback address of this host).
async fn send_code(
    base: &str,
    from: IpAddr,
    code: &str,
    computer: &str,
    domain: &str,
) -> (u16, serde_json::Value) {
    let c = reqwest::Client::builder()
        .local_address(from)
        .build()
        .unwrap();
    let r = c
        .post(format!("{base}/api/v1/redeem/code"))
        .json(&serde_json::json!({ "code": code, "computer": computer, "domain": domain }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

async fn code_events(p: &Portal) -> Vec<trustdesk::db::AuditRow> {
    let mut rows = p.state.store.audit_recent(2000).await.unwrap();
    rows.retain(|r| r.event.action == "redeem_code");
    rows.reverse();
    rows
}

async fn portal(lab: &Lab) -> (Portal, reqwest::Client) {
    let p = start_portal(lab, "").await;
    let c = browser();
    sign_in(&c, &p.base, "alice", "alice-pw").await;
    (p, c)
}

fn local() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_code_gives_its_token_once_and_only_to_its_computer() {
    install_crypto();
    let lab = lab();
    let (p, c) = portal(&lab).await;
    let mut dc = admin(&lab.ldaps_url).await;
    create_computer(&mut dc, &lab, "T-CODE", OU, &random_pw()).await;
    let domain = trustdesk::ad::dn::dn_domain(&lab.base_dn).unwrap();
    let (token, code) = mint_with_code(&c, &p.base, "T-CODE").await;
    assert_eq!(code.len(), 14, "{code}");
    assert!(trustdesk_token::ShortCode::parse(&code).is_some(), "{code}");

    // The right code with the wrong computer (or domain) is refused like a wrong code.
    for (computer, dom) in [
        ("LABWS01", domain.as_str()),
        ("T-CODE", "other.example.test"),
    ] {
        let (status, body) = send_code(&p.base, local(), &code, computer, dom).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("unknown_code")),
            "{body}"
        );
    }
    let events = code_events(&p).await;
    let named: Vec<_> = events
        .iter()
        .filter(|e| e.event.target_name.as_deref() == Some("T-CODE"))
        .collect();
    assert_eq!(named.len(), 2, "{events:#?}");
    assert!(
        named[0]
            .event
            .reason
            .as_deref()
            .unwrap()
            .contains("\"LABWS01\"")
            && named[0].event.outcome == "denied"
            && named[0].event.actor_sub.is_some(),
        "{named:#?}"
    );

    // Any case, spaces for dashes: the same code; the token is the one the page showed.
    let typed = code.to_ascii_lowercase().replace('-', " ");
    let (status, body) = send_code(&p.base, local(), &typed, "t-code$", &domain).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token"].as_str(), Some(token.as_str()));
    // Once.
    let (status, body) = send_code(&p.base, local(), &code, "T-CODE", &domain).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_code"))
    );
    let success: Vec<_> = code_events(&p)
        .await
        .into_iter()
        .filter(|e| e.event.outcome == "success")
        .collect();
    assert_eq!(success.len(), 1);
    // Neither the code nor the token is in the audit log or the database's code table.
    let all = format!("{:?}", p.state.store.audit_recent(500).await.unwrap());
    assert!(!all.contains(&code) && !all.contains(&code.replace('-', "")));
    assert!(!all.contains(&token));

    // Three wrong names lock a code; the token itself still redeems (here: its state is
    // still pending, so it is not spent).
    let (_, code2) = mint_with_code(&c, &p.base, "T-CODE").await;
    for _ in 0..3 {
        let (status, _) = send_code(&p.base, local(), &code2, "NOT-IT", &domain).await;
        assert_eq!(status, 404);
    }
    let (status, body) = send_code(&p.base, local(), &code2, "T-CODE", &domain).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_code"))
    );
    assert!(
        code_events(&p).await.iter().any(|e| e
            .event
            .reason
            .as_deref()
            .unwrap()
            .contains("the code is locked")),
        "the lockout is audited"
    );

    // A code whose token was revoked is dead too.
    let (_, code3) = mint_with_code(&c, &p.base, "T-CODE").await;
    let rows = p.state.store.tokens_where(None, None, 1).await.unwrap();
    let csrf = csrf(&c, &p.base).await;
    let r = c
        .post(format!("{}/tokens/{}/revoke", p.base, rows[0].jti))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success() || r.status().is_redirection());
    let (status, _) = send_code(&p.base, local(), &code3, "T-CODE", &domain).await;
    assert_eq!(status, 404);

    // Bad input is a clear 400 and changes nothing.
    for (code, computer) in [("K7QF-M2XD", "T-CODE"), ("K7QF-M2XD-9PWA", "T CODE*")] {
        let (status, body) = send_code(&p.base, local(), code, computer, &domain).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("malformed")));
    }
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_thousand_wrong_guesses_are_refused_and_audited_in_aggregate() {
    install_crypto();
    let lab = lab();
    let (p, c) = portal(&lab).await;
    let mut dc = admin(&lab.ldaps_url).await;
    create_computer(&mut dc, &lab, "T-GUESS", OU, &random_pw()).await;
    let domain = trustdesk::ad::dn::dn_domain(&lab.base_dn).unwrap();
    let (_, code) = mint_with_code(&c, &p.base, "T-GUESS").await;
    let guesser: IpAddr = "127.0.0.3".parse().unwrap();
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..1000u64 {
        // Distinct codes, none of them the real one.
        let guess = trustdesk_token::ShortCode::from_bits(i * 7919 + 13).grouped();
        assert_ne!(guess, code);
        let (status, body) = send_code(&p.base, guesser, &guess, "T-GUESS", &domain).await;
        *statuses.entry(status).or_insert(0) += 1;
        let want = if status == 404 {
            "unknown_code"
        } else {
            "rate_limited"
        };
        assert_eq!(body["error"].as_str(), Some(want), "{status}: {body}");
    }
    // Ten reached a lookup; the rest were refused before it.
    assert_eq!(
        statuses,
        [(404, 10), (429, 990)].into_iter().collect(),
        "{statuses:?}"
    );
    // The right code from the shut address is refused too; from another address it works.
    let (status, _) = send_code(&p.base, guesser, &code, "T-GUESS", &domain).await;
    assert_eq!(status, 429);
    let (status, body) = send_code(&p.base, local(), &code, "T-GUESS", &domain).await;
    assert_eq!(status, 200, "{body}");

    // Four aggregate rows (1st, 10th, 100th, 1,000th refusal), each with its count and the
    // guessing address, and no row per guess.
    let aggregate: Vec<_> = code_events(&p)
        .await
        .into_iter()
        .filter(|e| e.event.source_ip.as_deref() == Some("127.0.0.3"))
        .collect();
    let counts: Vec<String> = aggregate
        .iter()
        .map(|e| {
            let reason = e.event.reason.clone().unwrap();
            reason.split(' ').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(counts, ["1", "10", "100", "1000"], "{aggregate:#?}");
    assert!(aggregate.iter().all(|e| e.event.outcome == "denied"));
    assert!(
        aggregate[3]
            .event
            .reason
            .as_deref()
            .unwrap()
            .contains("refused until its window ends")
    );
}

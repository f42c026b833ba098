//! Listing searches against the lab DC: one search per scope (a junior's few machines are not
//! lost among a thousand others), an honest count when the list is cut, contains matching.

use std::collections::HashSet;

use crate::common::{Lab, browser, get_text, install_crypto, lab, sign_in, start_portal};
use crate::labctl::{admin, create_computer, random_pw};

/// The test's own OU, directly under the base; a role below scopes lookups to it.
const OU: &str = "OU=TD-Search-Scope";
/// Three names sharing the bulk computers' prefix `PC` (1,000 `PC0xxxx` in OU=Berlin), and
/// sorting after all of them.
const MINE: [&str; 3] = ["PCZTDS1", "PCZTDS2", "PCZTDS3"];

/// JSON matches, `X-Total-Count` and `X-Total-Exact` of `/api/v1/computers`.
async fn api_list(c: &reqwest::Client, base: &str, query: &str) -> (Vec<String>, usize, bool) {
    let r = c
        .get(format!("{base}/api/v1/computers?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{query}");
    let header = |n: &str| r.headers()[n].to_str().unwrap().to_string();
    let (total, exact) = (
        header("x-total-count").parse().unwrap(),
        header("x-total-exact") == "true",
    );
    let body: serde_json::Value = r.json().await.unwrap();
    let names = body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    (names, total, exact)
}

async fn cleanup(ldap: &mut ldap3::Ldap, lab: &Lab) {
    for n in MINE {
        let _ = ldap.delete(&format!("CN={n},{OU},{}", lab.base_dn)).await;
    }
    let _ = ldap.delete(&format!("{OU},{}", lab.base_dn)).await;
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn scoped_searches_list_every_match_and_say_when_the_list_is_cut() {
    install_crypto();
    let lab = lab();
    let mut dc = admin(&lab.ldaps_url).await;
    cleanup(&mut dc, &lab).await;
    dc.add(
        &format!("{OU},{}", lab.base_dn),
        vec![("objectClass", HashSet::from(["organizationalUnit"]))],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    for n in MINE {
        create_computer(&mut dc, &lab, n, OU, &random_pw()).await;
    }
    // bob (helpdesk-junior-paris) also gets lookup in the test OU.
    let role = format!(
        "\n[roles.searchtest]\ngroups = [\"helpdesk-junior-paris\"]\nactions = [\"lookup\"]\nscopes = [\"{OU},{}\"]\n",
        lab.base_dn
    );
    let p = start_portal(&lab, &role).await;

    let bob = browser();
    sign_in(&bob, &p.base, "bob", "bob-pw").await;
    let junior = api_list(&bob, &p.base, "prefix=PC").await;
    let junior_page = get_text(&bob, &format!("{}/computers?q=PC", p.base)).await;
    let by_middle = api_list(&bob, &p.base, "prefix=TDS2&match=contains").await;
    let by_prefix = api_list(&bob, &p.base, "prefix=TDS2").await;

    let erin = browser();
    sign_in(&erin, &p.base, "erin", "erin-pw").await;
    let wide = api_list(&erin, &p.base, "prefix=PC").await;
    let wide_page = get_text(&erin, &format!("{}/computers?q=PC", p.base)).await;
    let middle = api_list(&erin, &p.base, "prefix=WS00&match=contains").await;
    let contains_page = get_text(
        &erin,
        &format!("{}/computers?q=WS00&match=contains", p.base),
    )
    .await;

    cleanup(&mut dc, &lab).await;

    // The junior's three, though the domain holds a thousand more `PC…` outside his scopes.
    assert_eq!(junior.0, MINE, "{junior:?}");
    assert_eq!((junior.1, junior.2), (3, true));
    for n in MINE {
        assert!(
            junior_page.contains(&format!("/computers/lab.example.test/{n}\"")),
            "{n}"
        );
    }
    assert!(
        !junior_page.contains("PC00001"),
        "nothing outside his scope"
    );
    assert!(junior_page.contains("id=\"match-count\""), "{junior_page}");
    assert!(
        !junior_page.contains("Showing the first"),
        "nothing was cut"
    );

    // Contains matching finds a name by its middle; a prefix search does not.
    assert_eq!(by_middle, (vec!["PCZTDS2".to_string()], 1, true));
    assert_eq!(by_prefix, (vec![], 0, true));

    // Domain-wide: the first 50 by name, and a count that says there are more.
    let (names, total, exact) = wide;
    assert_eq!(names.len(), 50);
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "sorted: {names:?}");
    assert!(total > 50, "{total}");
    assert!(
        !exact || total >= 1000,
        "1,000 bulk computers: an exact count would say so ({total})"
    );
    assert!(
        wide_page.contains("Showing the first 50 of more than")
            || wide_page.contains("Showing the first 50 of 1"),
        "{wide_page}"
    );

    let (names, _, _) = middle;
    for n in ["PAR-WS001", "BER-WS001"] {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }
    assert!(
        contains_page.contains("Computers containing") && contains_page.contains("checked"),
        "{contains_page}"
    );
}

/// The search box is in every page's navigation for whoever may look computers up, error
/// pages included, and error pages keep the navigation (who is signed in, sign out).
#[tokio::test]
#[ignore = "needs the lab"]
async fn every_page_has_the_search_box_and_error_pages_keep_the_navigation() {
    install_crypto();
    let lab = lab();
    let p = start_portal(&lab, "").await;
    let alice = browser();
    sign_in(&alice, &p.base, "alice", "alice-pw").await;
    for path in [
        "/",
        "/computers/PAR-WS001",
        "/computers?q=PAR",
        "/downloads/",
    ] {
        let html = get_text(&alice, &format!("{}{path}", p.base)).await;
        assert!(html.contains("id=\"nav-q\""), "{path}: {html}");
    }
    let r = alice
        .get(format!("{}/no-such-page", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let html = r.text().await.unwrap();
    for id in ["whoami", "logout", "nav-q"] {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "404 page keeps #{id}: {html}"
        );
    }
    // An auditor may not look computers up: no search box, and the refusal keeps the rest.
    let carol = browser();
    sign_in(&carol, &p.base, "carol", "carol-pw").await;
    let r = carol
        .get(format!("{}/computers/PAR-WS001", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"whoami\"") && html.contains("id=\"logout\""),
        "{html}"
    );
    assert!(!html.contains("id=\"nav-q\""), "{html}");
    let html = get_text(&carol, &format!("{}/audit", p.base)).await;
    assert!(!html.contains("id=\"nav-q\""), "{html}");
    // Signed out: the error page offers sign-in.
    let r = browser()
        .get(format!("{}/no-such-page", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("id=\"login\""));
}

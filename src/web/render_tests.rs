//! Every page template rendered from its struct, with fixture data: hostile directory and
//! provider text comes out escaped, forms carry the session's CSRF token, error pages show the
//! request id. Pages that need an AD lookup to reach (the computer page, the reset and token
//! pages) are only tested here without the lab; the rest are also reached in-process by
//! `tests/it/web/`. The redeem scripts (`redeem_windows.ps1`, `redeem_linux.sh`) are rendered
//! by `downloads/commands.rs`'s tests.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use askama::Template;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::ad::{ComputerAccount, DcAccountView, DcOutcome, DcView, Snapshot, Uac};
use crate::auth::Staff;
use crate::db::{AuditRow, NewAuditRow};
use crate::diagnostics::{DiagnosisSettings, diagnose};
use crate::directory::computers::{ComputerMatch, Matches};

const HOSTILE: &str = "<script>alert(1)</script>";
const ESCAPED: &str = "&#60;script&#62;alert(1)&#60;/script&#62;";
const CSRF: &str = "csrf-token-0123456789";

/// A signed-in person whose display name is hostile (the provider chose it).
fn staff() -> Option<Staff> {
    Some(Staff {
        sub: "sub-1".into(),
        name: Some(HOSTILE.into()),
        email: None,
        roles: vec!["senior".into()],
        csrf: CSRF.into(),
        signed_in_at: 0,
        touched_at: 0,
        id_token: None,
        role_inputs: None,
        can_lookup: true,
        can_approve: false,
    })
}

/// Rendered, with the checks every page passes: hostile text never raw.
fn render(page: &impl Template) -> String {
    let html = page.render().unwrap();
    assert!(!html.contains(HOSTILE), "raw hostile text: {html}");
    html
}

/// A signed-in page: the hostile name escaped, the sign-out form with the CSRF token.
fn assert_signed_in(html: &str) {
    assert!(html.contains(ESCAPED), "the name, escaped: {html}");
    assert!(
        html.contains(&format!("name=\"csrf\" value=\"{CSRF}\"")),
        "the CSRF hidden field: {html}"
    );
}

/// A computer with a hostile operating system string, as two DCs see it.
fn snapshot(now: OffsetDateTime) -> Snapshot {
    let pwd = now - Duration::days(12);
    let view = DcAccountView {
        last_logon: Some(now - Duration::hours(2)),
        pwd_last_set: Some(pwd),
        uac: Some(Uac(4096)),
        ..DcAccountView::default()
    };
    Snapshot {
        name_queried: "PAR-WS001".into(),
        account: Some(ComputerAccount {
            dn: "CN=PAR-WS001,OU=Paris,OU=Workstations,DC=lab,DC=example,DC=test".into(),
            object_guid: Uuid::from_u128(42),
            object_sid: Some("S-1-5-21-1-2-3-1105".into()),
            sam_account_name: "PAR-WS001$".into(),
            dns_host_name: Some("par-ws001.lab.example.test".into()),
            operating_system: Some(HOSTILE.into()),
            operating_system_version: None,
            when_created: now - Duration::days(400),
            when_changed: pwd,
            uac: Uac(4096),
            supported_enc_types: None,
            pwd_last_set: Some(pwd),
            last_logon_timestamp: Some(now - Duration::days(3)),
            admin_count: false,
            key_version: Some(9),
            privilege: Default::default(),
        }),
        per_dc: vec![DcView {
            dc: "dc1".into(),
            outcome: DcOutcome::Found(view),
        }],
        tombstones: Vec::new(),
        coverage: Default::default(),
        tombstone_check: Default::default(),
        portal_writes: Vec::new(),
        history: Vec::new(),
        redeems: Vec::new(),
        protected_ou: false,
    }
}

fn audit_row(now: OffsetDateTime) -> AuditRow {
    AuditRow {
        seq: 7,
        event: NewAuditRow {
            at: now,
            actor_sub: Some("sub-1".into()),
            actor_name: Some(HOSTILE.into()),
            action: "reset_account".into(),
            target_name: Some("PAR-WS001".into()),
            outcome: "success".into(),
            reason: Some(HOSTILE.into()),
            request_id: Some("rid-audit".into()),
            ..NewAuditRow::default()
        },
        prev_hash: "0".repeat(64),
        hash: "a".repeat(64),
    }
}

#[test]
fn the_error_page_shows_the_request_id_and_escapes_the_message() {
    let page = super::error::ErrorPage {
        staff: None,
        status: 403,
        title: "Forbidden",
        message: HOSTILE,
        request_id: "rid-1234",
    };
    let html = render(&page);
    assert!(html.contains("rid-1234"));
    assert!(html.contains("403"));
    assert!(html.contains(ESCAPED));
}

#[test]
fn the_error_page_keeps_the_navigation_of_whoever_is_signed_in() {
    let page = super::error::ErrorPage {
        staff: staff(),
        status: 404,
        title: "Not Found",
        message: "Nothing here.",
        request_id: "rid-5678",
    };
    let html = render(&page);
    assert!(html.contains("rid-5678"));
    assert_signed_in(&html);
}

#[test]
fn the_landing_page_signed_in_links_what_the_roles_allow() {
    let page = super::pages::IndexPage {
        staff: staff(),
        version: "9.9.9",
        can_lookup: true,
        can_audit: true,
        can_policy: false,
        can_webhooks: true,
        signed_out: false,
    };
    let html = render(&page);
    assert_signed_in(&html);
    assert!(html.contains("href=\"/audit\""));
    assert!(html.contains("href=\"/webhooks\""));
    assert!(!html.contains("href=\"/policy\""), "{html}");
}

#[test]
fn the_landing_page_signed_out_offers_sign_in() {
    let page = super::pages::IndexPage {
        staff: None,
        version: "9.9.9",
        can_lookup: false,
        can_audit: false,
        can_policy: false,
        can_webhooks: false,
        signed_out: true,
    };
    let html = render(&page);
    assert!(html.contains("href=\"/login\""));
    assert!(!html.contains("name=\"csrf\""));
}

#[test]
fn the_search_page_escapes_the_query_and_the_directory_text() {
    let page = super::computers::MatchesPage {
        staff: staff(),
        query: HOSTILE.into(),
        contains: false,
        error: None,
        matches: Matches {
            shown: vec![ComputerMatch {
                name: "PAR-WS001".into(),
                dn: "CN=PAR-WS001,OU=Paris,DC=lab".into(),
                domain: "lab".into(),
                dns_host_name: None,
                operating_system: Some(HOSTILE.into()),
            }],
            total: 3,
            more: false,
        },
    };
    let html = render(&page);
    assert_signed_in(&html);
    assert!(html.contains("href=\"/computers/lab/PAR-WS001\""), "{html}");
}

#[test]
fn the_search_page_shows_its_error() {
    let page = super::computers::MatchesPage {
        staff: staff(),
        query: "x".into(),
        contains: true,
        error: Some(format!("bad name {HOSTILE}")),
        matches: Matches::default(),
    };
    let html = render(&page);
    assert!(html.contains(&format!("bad name {ESCAPED}")), "{html}");
}

#[test]
fn the_computer_page_renders_a_diagnosis_with_directory_text_escaped() {
    let now = crate::clock::now();
    let snap = snapshot(now);
    let r = crate::lookup::Report {
        name: "PAR-WS001".into(),
        domain: "lab".into(),
        generated_at: now,
        account: snap.account.clone(),
        tombstones: Vec::new(),
        diagnosis: diagnose(&snap, &DiagnosisSettings::default(), now),
        dc_names: Default::default(),
    };
    let page = super::computers::ComputerPage {
        staff: staff(),
        r,
        now,
        can_mint: true,
        can_reset: true,
        can_revoke: true,
        can_override: true,
        mint_held: None,
        reset_held: None,
        tokens: Vec::new(),
        recent: vec![audit_row(now)],
        can_audit: true,
        ticket_url: None,
    };
    let html = render(&page);
    assert_signed_in(&html);
    assert!(html.contains("id=\"computer-name\">PAR-WS001<"), "{html}");
    assert!(html.contains("id=\"headline\""));
    assert!(html.contains("id=\"repair\""), "the repair card: {html}");
}

#[test]
fn the_reset_confirm_page_carries_the_csrf_token_and_the_error() {
    let page = super::repair::ResetConfirmPage {
        staff: staff(),
        name: "PAR-WS001".into(),
        domain: "lab".into(),
        dn: format!("CN={HOSTILE},OU=Paris,DC=lab"),
        verdict: None,
        held: Some(format!("approval by {HOSTILE}")),
        error: Some("Give a reason or ticket reference.".into()),
    };
    let html = render(&page);
    assert_signed_in(&html);
    assert!(
        html.contains("action=\"/computers/lab/PAR-WS001/reset\""),
        "{html}"
    );
    assert!(html.contains("Give a reason or ticket reference."));
}

#[test]
fn the_reset_done_page_names_the_dc() {
    let page = super::repair::ResetDonePage {
        staff: staff(),
        name: "PAR-WS001".into(),
        dc: "dc1.lab.example.test".into(),
    };
    let html = render(&page);
    assert_signed_in(&html);
    assert!(html.contains("dc1.lab.example.test"));
    assert!(html.contains("PAR-WS001"));
}

#[test]
fn the_token_page_shows_the_token_and_code_once() {
    let page = super::repair::TokenMintedPage {
        staff: staff(),
        name: "PAR-WS001".into(),
        token: "td1.eyJ0ZXN0IjoxfQ.c2ln".into(),
        code: "K7QF-M2XD-9PWA".into(),
        jti: "jti-0001".into(),
        expires: "2026-12-06 05:00 UTC".into(),
        minutes: 30,
        client: None,
    };
    let html = render(&page);
    assert_signed_in(&html);
    assert!(html.contains("td1.eyJ0ZXN0IjoxfQ.c2ln"));
    assert!(html.contains("K7QF-M2XD-9PWA"));
    assert!(html.contains("jti-0001"));
}

#[test]
fn the_token_page_with_downloads_escapes_the_commands() {
    let page = super::repair::TokenMintedPage {
        staff: staff(),
        name: "PAR-WS001".into(),
        token: "td1.x.y".into(),
        code: "K7QF-M2XD-9PWA".into(),
        jti: "jti-0002".into(),
        expires: "soon".into(),
        minutes: 10,
        client: Some(super::downloads::ClientHelp {
            windows: Some(format!("Invoke-WebRequest {HOSTILE}")),
            linux: Some("curl -fsS https://portal.test/downloads/x".into()),
            files: Vec::new(),
        }),
    };
    let html = render(&page);
    assert!(
        html.contains(&format!("Invoke-WebRequest {ESCAPED}")),
        "{html}"
    );
    assert!(html.contains("curl -fsS"));
}

#[test]
fn the_token_gone_page_says_it_was_shown_once() {
    let page = super::repair::TokenGonePage {
        staff: staff(),
        name: "PAR-WS001".into(),
    };
    let html = render(&page);
    assert_signed_in(&html);
    assert!(html.contains("PAR-WS001"));
}

#[test]
fn the_form_post_bounce_hands_the_fields_on_escaped() {
    let page = super::auth::FormPostBounce {
        fields: vec![
            ("code", "the-code".into()),
            ("state", format!("\"{HOSTILE}")),
        ],
    };
    let html = render(&page);
    assert!(html.contains("action=\"/auth/callback\""), "{html}");
    assert!(html.contains("the-code"));
    assert!(html.contains(ESCAPED), "{html}");
}

#[test]
fn the_no_access_page_escapes_the_name_and_links_the_switch() {
    let page = super::auth::NoAccessPage {
        name: HOSTILE.into(),
        overage: true,
        switch: "https://idp.example/logout?a=1&b=2".into(),
    };
    let html = render(&page);
    assert!(html.contains(ESCAPED), "{html}");
    assert!(
        html.contains("https://idp.example/logout?a=1&#38;b=2"),
        "{html}"
    );
}

#[test]
fn the_sign_in_refused_page_shows_what_the_provider_said_escaped() {
    let page = super::auth::SignInRefusedPage {
        summary: "Your sign-in provider refused to sign you in to trustdesk.".into(),
        provider_error: Some("access_denied".into()),
        provider_description: Some(HOSTILE.into()),
        when: "2026-12-06T04:00:00Z".into(),
    };
    let html = render(&page);
    assert!(html.contains("access_denied"));
    assert!(html.contains(ESCAPED), "{html}");
    assert!(html.contains("2026-12-06T04:00:00Z"));
}

#[test]
fn the_policy_page_lists_roles_rules_and_protections() {
    let role = crate::policy::RolePolicy {
        groups: vec![HOSTILE.into()],
        actions: [crate::policy::Action::Lookup].into(),
        scopes: vec!["ou=workstations,dc=lab".into()],
        max_actions_per_hour: Some(40),
        max_token_minutes: None,
        hide_outside_scope: false,
        approval: Some(crate::policy::ApprovalRule {
            actions: [crate::policy::Action::MintToken].into(),
            scopes: vec!["ou=servers,dc=lab".into()],
            approvers: vec![HOSTILE.into()],
            expires_minutes: 90,
        }),
    };
    let page = super::policy::PolicyPage {
        staff: staff(),
        full: true,
        roles: vec![("senior".into(), role)],
        protected_ous: vec!["OU=Protected,DC=lab".into()],
        tier0_rules: crate::ad::tier0::rules(),
        protected_groups: vec![format!("CN={HOSTILE},DC=lab")],
    };
    let html = render(&page);
    assert_signed_in(&html);
    assert!(html.contains("senior"));
    assert!(html.contains("ou=workstations,dc=lab"));
    assert!(html.contains("OU=Protected,DC=lab"));
    assert!(html.contains("mint_token"));
    assert!(html.contains("<code>ou=servers,dc=lab</code>"));
    assert!(html.contains("within 90 min"));
}

#[test]
fn the_downloads_page_without_files_and_with_a_client_toml() {
    for client_toml in [None, Some(format!("portal = \"{HOSTILE}\""))] {
        let page = super::downloads::DownloadsPage {
            staff: staff(),
            version: "9.9.9",
            files: Vec::new(),
            client_toml,
        };
        let html = render(&page);
        assert_signed_in(&html);
    }
}

#[test]
fn the_fleet_page_without_a_report_offers_a_scan_with_the_csrf_token() {
    let page = super::fleet::FleetPage {
        matching: 0,
        staff: staff(),
        report: None,
        rows: Vec::new(),
        causes: Vec::new(),
        plots: Vec::new(),
        progress: None,
        can_run: true,
        t: super::fleet::TableQuery::default(),
        query: String::new(),
        exposed: Vec::new(),
        domains: vec!["lab.example.test".into(), "forest2.example.test".into()],
    };
    let html = render(&page);
    assert_signed_in(&html);
    assert!(html.contains("action=\"/fleet/scans\""), "{html}");
}

#[test]
fn the_audit_page_escapes_the_rows_and_shows_the_head() {
    let now = crate::clock::now();
    let page = super::audit::AuditPage {
        staff: staff(),
        f: super::audit::FilterForm::default(),
        rows: vec![audit_row(now)],
        head: Some((7, "a".repeat(64))),
        signed: None,
        issuer: "https://idp.example".into(),
        older: Some(3),
        query: String::new(),
        can_export: true,
        ticket_url: None,
    };
    let html = render(&page);
    assert_signed_in(&html);
    assert!(html.contains("reset_account"));
    assert!(html.contains("PAR-WS001"));
    assert!(html.contains("export.csv"), "{html}");
}

/// #18 `ticket_url_template`: a reference in the audit log and in a computer's recent actions
/// links to the ticketing system; free text stays text, escaped; without a template, text.
#[test]
fn ticket_references_link_to_the_ticketing_system() {
    let now = crate::clock::now();
    let template = crate::config::TicketUrlTemplate::try_from(
        "https://jira.example.com/browse/{ticket}".to_string(),
    )
    .unwrap();
    let with_ticket = |ticket: &str| {
        let mut row = audit_row(now);
        row.event.ticket = Some(ticket.into());
        row
    };
    let audit = |rows, ticket_url| super::audit::AuditPage {
        staff: staff(),
        f: super::audit::FilterForm::default(),
        rows,
        head: None,
        signed: None,
        issuer: "https://idp.example".into(),
        older: None,
        query: String::new(),
        can_export: false,
        ticket_url,
    };
    let link = "<a href=\"https://jira.example.com/browse/HD-4711\" rel=\"noreferrer noopener\">HD-4711</a>";
    let html = render(&audit(
        vec![with_ticket("HD-4711"), with_ticket(HOSTILE)],
        Some(template.clone()),
    ));
    assert!(html.contains(link), "{html}");
    assert!(!html.contains(HOSTILE), "escaped, not linked: {html}");
    let html = render(&audit(vec![with_ticket("HD-4711")], None));
    assert!(
        html.contains("[HD-4711]") && !html.contains("jira.example.com"),
        "{html}"
    );

    let mut page = super::computers::tests::page(vec![with_ticket("HD-4711")]);
    page.ticket_url = Some(template);
    assert!(render(&page).contains(link));
}

#[test]
fn the_webhooks_page_lists_hooks_and_deliveries_escaped() {
    use crate::db::{DeliveryRow, DeliveryState};
    let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
    let delivery = |state, last_status: Option<i64>, last_error: Option<&str>, delivered| {
        crate::webhooks::DeliveryView {
            row: DeliveryRow {
                id: Uuid::from_u128(u128::from(last_status.unwrap_or(1).unsigned_abs()))
                    .to_string(),
                hook: "https://hooks.example/in".into(),
                event_type: "repair.failed".into(),
                audit_seq: 42,
                body: "{}".into(),
                state,
                attempts: 3,
                next_attempt_at: now + Duration::minutes(5),
                last_error: last_error.map(str::to_string),
                last_status,
                created_at: now - Duration::minutes(2),
                delivered_at: delivered,
            },
            computer: Some(HOSTILE.into()),
        }
    };
    let page = super::webhooks::WebhooksPage {
        staff: staff(),
        hooks: vec![super::webhooks::HookLine {
            url: "https://hooks.example/in".into(),
            events: vec!["repair.completed", "repair.failed"],
        }],
        deliveries: vec![
            delivery(DeliveryState::Pending, Some(503), Some(HOSTILE), None),
            delivery(DeliveryState::Delivered, Some(204), None, Some(now)),
        ],
        now,
    };
    let html = render(&page);
    assert_signed_in(&html);
    assert!(html.contains("https://hooks.example/in"));
    assert!(html.contains("<code>repair.completed</code>, <code>repair.failed</code>"));
    assert!(html.contains("class=\"delivery-pending\""), "{html}");
    assert!(html.contains("HTTP 503") && html.contains("HTTP 204"));
    assert!(
        html.contains("in 5 minutes"),
        "the next attempt of the pending one"
    );
    let empty = super::webhooks::WebhooksPage {
        staff: staff(),
        hooks: Vec::new(),
        deliveries: Vec::new(),
        now,
    };
    let html = render(&empty);
    assert!(html.contains("id=\"no-hooks\"") && html.contains("id=\"no-deliveries\""));
}

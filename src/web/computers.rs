//! Lookup and diagnosis pages, and their JSON twins under `/api/v1`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::OffsetDateTime;

use super::authorize::{About, Asking};
use super::extract::{CurrentStaff, RequestOrigin};
use super::format::{code, when};
use super::locate::{Choice, ChoosePage, ComputerPath, Located, locate};
use super::{AppError, AppState};
use crate::ad::ComputerAccount;
use crate::audit;
use crate::auth::Staff;
use crate::db::AuditRow;
use crate::directory::computers::{ComputerMatch, Matches};
use crate::directory::filter::{ComputerQuery, MatchMode};
use crate::lookup::{self, Report};
use crate::policy::{Action, Denied, Diagnose, Grant, Target};

#[derive(Deserialize)]
pub struct SearchQuery {
    pub(super) q: Option<String>,
    pub(super) prefix: Option<String>,
    /// `contains` to match anywhere in the name; prefix otherwise.
    #[serde(rename = "match")]
    pub(super) mode: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "computers.html")]
pub struct MatchesPage {
    pub(super) staff: Option<Staff>,
    pub(super) query: String,
    pub(super) contains: bool,
    pub(super) error: Option<String>,
    pub(super) matches: Matches,
}

#[derive(Template, WebTemplate)]
#[template(path = "computer.html")]
pub struct ComputerPage {
    pub(super) staff: Option<Staff>,
    pub(super) r: Report,
    pub(super) now: OffsetDateTime,
    pub(super) can_mint: bool,
    pub(super) can_reset: bool,
    pub(super) can_revoke: bool,
    /// The viewer may force a repair the diagnosis withholds (`override_diagnosis`).
    pub(super) can_override: bool,
    /// The approval a mint or a reset here waits for (`approval by senior`): the page offers
    /// to ask for it.
    pub(super) mint_held: Option<String>,
    pub(super) reset_held: Option<String>,
    pub(super) tokens: Vec<crate::db::TokenRow>,
    /// trustdesk's recent actions on this object, newest first (see [`recent_actions`]).
    pub(super) recent: Vec<AuditRow>,
    /// The viewer may open the audit log (the recent actions link to it).
    pub(super) can_audit: bool,
    /// Where ticket references link (`ticket_url_template`); none: they stay text.
    pub(super) ticket_url: Option<crate::config::TicketUrlTemplate>,
}

/// How many recent actions the computer page lists.
const RECENT: usize = 10;

/// The actions whose events a companion client causes (with a token or its code): the
/// event's actor is the token's minter, the request came from the client.
const CLIENT_ACTIONS: [audit::Action; 3] = [
    audit::Action::RedeemCode,
    audit::Action::RedeemToken,
    audit::Action::RepairOutcome,
];

/// Whether `r` is a `started` event (its outcome comes in an event of its own).
fn is_started(r: &AuditRow) -> bool {
    r.event.outcome == audit::Outcome::Started.as_str()
}

/// The newest `n` of `rows` (newest first), without the `started` events whose end is listed:
/// a reset or a redeem writes `started` before it acts and its outcome after, in one request.
/// A `started` with no outcome beside it stays: the action never said how it ended.
fn recent_actions(rows: Vec<AuditRow>, n: usize) -> Vec<AuditRow> {
    let ended = |r: &AuditRow| {
        rows.iter().any(|o| {
            !is_started(o)
                && o.event.action == r.event.action
                && o.event.request_id.is_some()
                && o.event.request_id == r.event.request_id
        })
    };
    let keep: Vec<bool> = rows.iter().map(|r| !is_started(r) || !ended(r)).collect();
    rows.into_iter()
        .zip(keep)
        .filter_map(|(r, keep)| keep.then_some(r))
        .take(n)
        .collect()
}

impl ComputerPage {
    fn when(&self, t: &Option<OffsetDateTime>) -> super::format::When {
        when(self.now, *t)
    }
    fn at(&self, t: &OffsetDateTime) -> super::format::When {
        when(self.now, Some(*t))
    }
    /// A time printed exactly (UTC; the browser's local time with `localtime.js`).
    fn stamp(&self, t: &OffsetDateTime) -> super::format::When {
        super::format::at(*t)
    }
    /// How many DCs lag behind the newest password.
    fn lagging(&self) -> usize {
        self.r.diagnosis.per_dc.iter().filter(|r| r.lagging).count()
    }
    /// The audit log filtered on this computer's name.
    fn audit_link(&self) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("target", &self.r.name)
            .finish();
        format!("/audit?{query}")
    }
    /// What an audited action did, in a tech's words.
    fn action_label(&self, action: &str) -> &'static str {
        use audit::Action as A;
        match A::parse(action) {
            Some(A::MintToken) => "Mint a repair token",
            Some(A::RevokeToken) => "Revoke a token",
            Some(A::RedeemCode) => "Exchange a repair code",
            Some(A::ResetAccount) => "DC-side reset",
            Some(A::RedeemToken) => "Redeem a token",
            Some(A::RepairOutcome) => "Repair outcome",
            _ => "Other",
        }
    }
    /// Who acted: the person, or for the client's requests the client and whose token it had.
    fn who(&self, r: &AuditRow) -> String {
        let e = &r.event;
        let person = e
            .actor_name
            .as_deref()
            .or(e.actor_sub.as_deref())
            .unwrap_or("unknown");
        if audit::Action::parse(&e.action).is_some_and(|a| CLIENT_ACTIONS.contains(&a)) {
            let from = e
                .source_ip
                .as_deref()
                .map(|ip| format!(" at {ip}"))
                .unwrap_or_default();
            format!("companion client{from} (token of {person})")
        } else {
            person.to_string()
        }
    }
    fn code<T: serde::Serialize>(&self, v: &T) -> String {
        code(v)
    }
    /// A fix step as prose and commands (each command shown as code with a copy button).
    fn step_parts<'s>(&self, step: &'s str) -> Vec<(bool, &'s str)> {
        super::format::step_parts(step)
    }
    fn token_state(&self, t: &crate::db::TokenRow) -> crate::db::TokenState {
        t.state_at_time(self.now)
    }
    /// A token whose state may still change by itself (the page polls it).
    fn token_live(&self, t: &crate::db::TokenRow) -> bool {
        use crate::db::TokenState as S;
        matches!(self.token_state(t), S::Pending | S::Redeemed)
    }
    /// A token that may still be revoked.
    fn token_pending(&self, t: &crate::db::TokenRow) -> bool {
        self.token_state(t) == crate::db::TokenState::Pending
    }
    fn dc_name(&self, id: &Option<uuid::Uuid>) -> String {
        id.map(|id| {
            self.r
                .dc_names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| id.to_string())
        })
        .unwrap_or_default()
    }
}

/// Validate the name; a bad one is the user's to fix, and never reaches LDAP.
pub(super) fn parse(input: &str) -> Result<ComputerQuery, AppError> {
    ComputerQuery::parse(input).map_err(|e| AppError::BadRequest(e.to_string()))
}

/// The one answer a role that hides the computers outside its scopes gets, for a name outside
/// them and for a name that does not exist alike.
fn hidden(q: &ComputerQuery) -> AppError {
    AppError::Forbidden(format!(
        "Refused: no computer named {} in the OUs your roles cover.",
        q.display()
    ))
}

/// An out-of-scope computer, for a role that does not hide them: where it is, and where the
/// role may look, so the tech knows whom to hand the call to.
fn outside(state: &AppState, staff: &Staff, a: &ComputerAccount) -> AppError {
    let ou =
        a.dn.split_once(',')
            .map_or(a.dn.as_str(), |(_, parent)| parent);
    let mut yours: Vec<&str> = state
        .policy
        .scopes(&staff.roles, Action::Diagnose)
        .collect();
    yours.sort_unstable();
    yours.dedup();
    AppError::Forbidden(format!(
        "Refused: {} is in {ou}, outside the OUs your roles cover ({}). Hand the call to a team \
         that covers that OU.",
        a.netbios_name(),
        if yours.is_empty() {
            "none".to_string()
        } else {
            yours.join("; ")
        }
    ))
}

/// What a diagnosis request answers: the report, or the choice of domains.
pub(super) enum Answer {
    Report(Box<Report>),
    Choose(Vec<Choice>),
}

/// The diagnosis of the computer `q` names: found in the domains it may be in
/// ([`locate`]), authorized, read and audited; or, for a name in several domains the caller
/// may look up in, the choice (audited as a lookup).
pub(super) async fn authorized_report(
    asking: &Asking<'_>,
    q: &ComputerQuery,
) -> Result<Answer, AppError> {
    let located = granted_location(asking, q).await?;
    report_of(asking, q, located).await
}

/// Where [`locate`] finds the name, once the caller may diagnose at all: what needs no
/// directory is checked first (security review L-4).
async fn granted_location(asking: &Asking<'_>, q: &ComputerQuery) -> Result<Located, AppError> {
    asking
        .granted(Action::Diagnose, About::Name(q.display()))
        .await?;
    locate(asking.state, asking.staff, q).await
}

/// [`authorized_report`] from where [`locate`] found the name (already checked: `granted`).
async fn report_of(
    asking: &Asking<'_>,
    q: &ComputerQuery,
    located: Located,
) -> Result<Answer, AppError> {
    let (state, staff) = (asking.state, asking.staff);
    let (dir, account) = match located {
        Located::In(dir, account) => (dir, account.map(|a| *a)),
        Located::Choose(found) => {
            let who = staff.actor();
            let asker = lookup::Asker {
                actor: &who,
                origin: asking.origin,
            };
            let domains: Vec<&str> = found.iter().map(|x| x.directory.dns_name()).collect();
            let now = crate::clock::now();
            lookup::choice_audited(&state.lookups, q, &domains, &asker, now).await?;
            return Ok(Answer::Choose(found.iter().map(Choice::of).collect()));
        }
    };
    let hide = state.policy.hides_outside_scope(&staff.roles);
    let about = About::Name(q.display());
    let grant: Grant<Diagnose> = match &account {
        None if hide => {
            let answer = hidden(q);
            return Err(asking
                .refuse(Action::Diagnose, &"no such computer", about, answer)
                .await);
        }
        None => asking.authorize_nameless(about).await?,
        Some(a) => {
            let target = Target {
                dn: &a.dn,
                account: Some(a),
            };
            asking
                .authorize_or(&target, about, |denied| match denied {
                    Denied::OutOfScope(_) if hide => hidden(q),
                    Denied::OutOfScope(_) => outside(state, staff, a),
                    other => other.clone().into(),
                })
                .await?
        }
    };
    let who = staff.actor();
    let asker = lookup::Asker {
        actor: &who,
        origin: asking.origin,
    };
    let now = crate::clock::now();
    let report = lookup::diagnose_audited(&grant, &state.lookups, &dir, q, account, &asker, now);
    Ok(Answer::Report(Box::new(report.await?)))
}

/// The matches the caller may see; the listing audits itself as a lookup.
pub(super) async fn listed(
    asking: &Asking<'_>,
    q: &ComputerQuery,
    mode: MatchMode,
) -> Result<Matches, AppError> {
    asking
        .granted(Action::Lookup, About::Name(q.display()))
        .await?;
    let who = asking.staff.actor();
    let asker = lookup::Asker {
        actor: &who,
        origin: asking.origin,
    };
    let (lookups, roles) = (&asking.state.lookups, &asking.staff.roles);
    let now = crate::clock::now();
    Ok(lookup::list_audited(lookups, roles, q, mode, &asker, now).await?)
}

/// `GET /computers?q=`: an exact match goes to its diagnosis; otherwise the prefix matches.
pub async fn search(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Query(sq): Query<SearchQuery>,
) -> Result<Response, AppError> {
    let input = sq.q.unwrap_or_default();
    let mode = MatchMode::parse(sq.mode.as_deref());
    let contains = mode == MatchMode::Contains;
    let q = match ComputerQuery::parse(&input) {
        Ok(q) => q,
        Err(e) => {
            let page = MatchesPage {
                staff: Some(staff),
                query: input.chars().take(64).collect(),
                contains,
                error: Some(e.to_string()),
                matches: Matches::default(),
            };
            return Ok((axum::http::StatusCode::BAD_REQUEST, page).into_response());
        }
    };
    let matches = listed(&Asking::new(&state, &staff, &origin), &q, mode).await?;
    let exact: Vec<&ComputerMatch> = matches
        .shown
        .iter()
        .filter(|m| {
            m.name.eq_ignore_ascii_case(q.display())
                || m.dns_host_name
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(q.display()))
        })
        .collect();
    match exact.as_slice() {
        [m] => {
            let page = super::format::computer_path_in(&m.domain, &m.name);
            return Ok(Redirect::to(&page).into_response());
        }
        // The same name in several domains: the computer's old URL asks which one.
        [_, _, ..] => {
            let page = super::format::computer_path(q.display());
            return Ok(Redirect::to(&page).into_response());
        }
        [] => {}
    }
    Ok(MatchesPage {
        staff: Some(staff),
        query: q.display().to_string(),
        contains,
        error: None,
        matches,
    }
    .into_response())
}

/// `GET /computers/{domain}/{name}` and `GET /computers/{name}`: the diagnosis page. A path
/// without the domain whose computer is in one domain redirects to its page there; a name in
/// several domains the caller may look up in answers with the choice (HTTP 300).
pub async fn show(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Path(path): Path<ComputerPath>,
) -> Result<Response, AppError> {
    let q = parse(&path.typed())?;
    let asking = Asking::new(&state, &staff, &origin);
    // A path without the domain: a computer in one domain the caller may diagnose goes to its
    // page there before anything is read or audited (the page does both, once).
    // Otherwise it is answered from that one search, not looked for again.
    let located = granted_location(&asking, &q).await?;
    if path.domain.is_none()
        && let Located::In(dir, Some(a)) = &located
        && state.policy.in_scope(&staff.roles, Action::Diagnose, &a.dn)
    {
        let page = super::format::computer_path_in(dir.dns_name(), a.netbios_name());
        return Ok(Redirect::to(&page).into_response());
    }
    let r = match report_of(&asking, &q, located).await? {
        Answer::Report(r) => *r,
        Answer::Choose(choices) => {
            let page = ChoosePage {
                staff: Some(staff),
                query: q.display().to_string(),
                choices,
            };
            return Ok((StatusCode::MULTIPLE_CHOICES, page).into_response());
        }
    };
    let (mut can_mint, mut can_reset, mut can_revoke, mut can_override) =
        (false, false, false, false);
    let (mut mint_held, mut reset_held) = (None, None);
    let (mut tokens, mut recent) = (Vec::new(), Vec::new());
    if let Some(a) = &r.account {
        let t = Target {
            dn: &a.dn,
            account: Some(a),
        };
        let mint = state
            .policy
            .authorize::<crate::policy::MintToken>(&staff.roles, &t);
        let reset = state
            .policy
            .authorize::<crate::policy::ResetAccount>(&staff.roles, &t);
        (can_mint, mint_held) = (mint.is_ok(), held(mint.err()));
        (can_reset, reset_held) = (reset.is_ok(), held(reset.err()));
        can_revoke = state
            .policy
            .authorize::<crate::policy::RevokeToken>(&staff.roles, &t)
            .is_ok();
        can_override = state
            .policy
            .authorize::<crate::policy::OverrideDiagnosis>(&staff.roles, &t)
            .is_ok();
        // Twice as many events as shown: each `started` left out has its end among them.
        let guid = a.object_guid.to_string();
        let (t, events) = tokio::try_join!(
            state.store.tokens_where(Some(&guid), None, 20),
            state.store.recent_actions(&guid, 2 * RECENT as i64),
        )?;
        tokens = t;
        recent = recent_actions(events, RECENT);
    }
    let can_audit = state.policy.allows(&staff.roles, Action::ViewAudit);
    Ok(ComputerPage {
        staff: Some(staff),
        now: r.generated_at,
        r,
        can_mint,
        can_reset,
        can_revoke,
        can_override,
        mint_held,
        reset_held,
        tokens,
        recent,
        can_audit,
        ticket_url: state.config.ticket_url_template.clone(),
    }
    .into_response())
}

/// The approval a refusal names, when the policy holds the change back for one.
fn held(denied: Option<crate::policy::Denied>) -> Option<String> {
    match denied {
        Some(crate::policy::Denied::NeedsApproval(route)) => Some(route.to_string()),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
pub(super) mod tests {
    use std::collections::HashMap;

    use askama::Template;
    use time::Duration;
    use time::macros::datetime;
    use uuid::Uuid;

    use super::*;
    use crate::ad::replmeta::ATTID_UNICODE_PWD;
    use crate::ad::{AttrMeta, ComputerAccount, DcAccountView, DcOutcome, DcView, Snapshot, Uac};
    use crate::db::NewAuditRow;
    use crate::diagnostics::{DiagnosisSettings, diagnose};

    const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

    /// PC01 seen by two DCs, its password set after its last logon by someone else: a
    /// token repair, with pitfalls, findings and a per-DC table.
    pub(in crate::web) fn report() -> Report {
        let pwd = NOW - Duration::hours(2);
        let view = |logon| DcAccountView {
            last_logon: Some(logon),
            pwd_last_set: Some(pwd),
            bad_password_time: Some(NOW - Duration::minutes(5)),
            bad_pwd_count: Some(3),
            unicode_pwd: Some(AttrMeta {
                attid: ATTID_UNICODE_PWD,
                version: 15,
                originating_change_time: pwd,
                originating_invocation_id: Uuid::from_u128(0xD1),
                originating_usn: 1015,
                local_usn: 915,
            }),
            pwd_last_set_meta: None,
            uac: Some(Uac(4096)),
        };
        let snapshot = Snapshot {
            name_queried: "PC01".into(),
            account: Some(ComputerAccount {
                dn: "CN=PC01,OU=Workstations,DC=corp,DC=example".into(),
                object_guid: Uuid::from_u128(0x1111),
                object_sid: Some("S-1-5-21-1-2-3-1104".into()),
                sam_account_name: "PC01$".into(),
                dns_host_name: Some("pc01.corp.example".into()),
                operating_system: Some("Windows 11 Enterprise".into()),
                operating_system_version: Some("10.0 (22631)".into()),
                when_created: NOW - Duration::days(400),
                when_changed: pwd,
                uac: Uac(4096),
                supported_enc_types: None,
                pwd_last_set: Some(pwd),
                last_logon_timestamp: Some(NOW - Duration::days(5)),
                admin_count: false,
                key_version: Some(16),
                privilege: Default::default(),
            }),
            per_dc: ["dc1", "dc2"]
                .map(|dc| DcView {
                    dc: dc.into(),
                    outcome: DcOutcome::Found(view(NOW - Duration::days(1))),
                })
                .to_vec(),
            coverage: Default::default(),
            tombstones: vec![],
            tombstone_check: Default::default(),
            history: vec![],
            portal_writes: vec![],
            redeems: Vec::new(),
            protected_ou: false,
        };
        Report {
            name: "PC01".into(),
            domain: "corp.example".into(),
            generated_at: NOW,
            account: snapshot.account.clone(),
            tombstones: vec![],
            diagnosis: diagnose(&snapshot, &DiagnosisSettings::default(), NOW),
            dc_names: HashMap::new(),
        }
    }

    fn row(seq: i64, action: &str, outcome: &str, request: Option<&str>) -> AuditRow {
        AuditRow {
            seq,
            event: NewAuditRow {
                at: NOW - Duration::minutes(60 - seq),
                action: action.into(),
                outcome: outcome.into(),
                request_id: request.map(str::to_string),
                actor_sub: Some("sub-alice".into()),
                actor_name: Some("Alice Tech".into()),
                source_ip: Some("10.0.0.9".into()),
                reason: Some(format!("reason {seq}")),
                ..NewAuditRow::default()
            },
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    pub(in crate::web) fn page(recent: Vec<AuditRow>) -> ComputerPage {
        ComputerPage {
            staff: None,
            r: report(),
            now: NOW,
            can_mint: false,
            can_reset: false,
            can_revoke: false,
            can_override: false,
            mint_held: None,
            reset_held: None,
            tokens: vec![],
            recent,
            can_audit: true,
            ticket_url: None,
        }
    }

    #[test]
    fn recent_actions_leave_out_started_events_that_ended() {
        // Newest first, as the store reads them.
        let rows = vec![
            row(6, "redeem_token", "started", Some("r3")),
            row(5, "reset_account", "success", Some("r2")),
            row(4, "reset_account", "started", Some("r2")),
            row(3, "reset_account", "started", Some("r1")),
            row(2, "mint_token", "denied", Some("r0")),
            row(1, "reset_account", "started", None),
        ];
        let seqs = |rows: &[AuditRow]| rows.iter().map(|r| r.seq).collect::<Vec<_>>();
        // The redeem still running, and the reset that never said how it ended, stay.
        assert_eq!(seqs(&recent_actions(rows.clone(), 10)), [6, 5, 3, 2, 1]);
        assert_eq!(seqs(&recent_actions(rows, 2)), [6, 5]);
    }

    /// The verdict, the steps and the repair come first; the long lists wait in closed
    /// `<details>`; every id the page had before is still there.
    #[test]
    fn computer_page_folds_details_and_keeps_its_ids() {
        let html = page(vec![]).render().unwrap();
        for id in [
            "computer-name",
            "headline",
            "top-cause",
            "fix-title",
            "findings",
            "account",
            "pwd-last-set",
            "per-dc",
            "pitfalls",
            "account-details",
            "per-dc-details",
        ] {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}: {html}");
        }
        assert!(html.matches("<details").count() >= 3, "{html}");
        assert!(!html.contains("<details open"), "closed by default");
        assert_eq!(
            html.matches("<summary>").count(),
            html.matches("<details").count()
        );
        // The fold comes after the steps.
        let (steps, fold) = (
            html.find("id=\"fix-title\"").unwrap(),
            html.find("<details").unwrap(),
        );
        assert!(steps < fold);
        // Times: relative, with UTC on hover; the read time exact, for localtime.js.
        assert!(html.contains(
            "<time datetime=\"2026-12-01T10:00:00Z\" title=\"2026-12-01 10:00:00 UTC\">2 hours ago</time>"
        ), "{html}");
        assert!(html.contains(
            "<time datetime=\"2026-12-01T12:00:00Z\" title=\"2026-12-01 12:00:00 UTC\" data-local>2026-12-01 12:00:00 UTC</time>"
        ));
        assert!(html.contains("<script src=\"/static/localtime.js\"></script>"));
        assert!(
            !html.contains("<td title="),
            "no bare title attributes left"
        );
        // No actions: no section.
        assert!(!html.contains("id=\"recent-actions\""));
    }

    #[test]
    fn computer_page_lists_recent_actions_with_who_did_them() {
        let html = page(vec![
            row(9, "repair_outcome", "success", Some("r9")),
            row(8, "reset_account", "denied", Some("r8")),
        ])
        .render()
        .unwrap();
        assert!(html.contains("id=\"recent-actions\""), "{html}");
        assert!(html.contains("<th scope=\"col\">Who</th>"));
        assert!(html.contains("companion client at 10.0.0.9 (token of Alice Tech)"));
        assert!(html.contains("<td>Alice Tech</td>"));
        assert!(html.contains("class=\"outcome-denied\""));
        assert!(html.contains("DC-side reset <code class=\"small\">reset_account</code>"));
        assert!(html.contains("<time datetime=\"2026-12-01T11:09:00Z\" title=\"2026-12-01 11:09:00 UTC\">51 minutes ago</time>"), "{html}");
        assert!(html.contains("href=\"/audit?target=PC01\""));
    }
}

//! Which audit events become webhooks ([`webhook_event`], pure), and the JSON body a delivery
//! carries ([`WebhookBody`]), built from the audit row alone: audit rows hold no secret by
//! construction (no token, password or key is ever written to one), so neither does a body.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Action, Outcome};
use crate::config::EventType;
use crate::db::AuditRow;

/// The webhook event an audit event of `action` that ended in `outcome` is, if any.
/// Refusals (`denied`) and beginnings (`started`) are none: a reset writes `started` before it
/// acts and `success` or `failure` after; a fleet scan `started` when it begins and `success`
/// (a report) or `failure` when it ends.
pub fn event_of(action: Action, outcome: Outcome) -> Option<EventType> {
    use EventType as E;
    match (action, outcome) {
        (Action::ResetAccount | Action::RepairOutcome, Outcome::Success) => {
            Some(E::RepairCompleted)
        }
        (Action::ResetAccount | Action::RepairOutcome, Outcome::Failure) => Some(E::RepairFailed),
        (Action::MintToken, Outcome::Success) => Some(E::TokenMinted),
        (Action::ApprovalRequest, Outcome::Success) => Some(E::ApprovalRequested),
        (Action::ApprovalApprove | Action::ApprovalDeny, Outcome::Success) => {
            Some(E::ApprovalDecided)
        }
        (Action::FleetScan, Outcome::Success) => Some(E::FleetReport),
        _ => None,
    }
}

/// The webhook event a stored audit row is, if any (a text the code does not know is none).
pub fn webhook_event(row: &AuditRow) -> Option<EventType> {
    event_of(
        Action::parse(&row.event.action)?,
        Outcome::parse(&row.event.outcome)?,
    )
}

/// What every delivery POSTs, as JSON. Fields without a value are `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookBody {
    /// The delivery's id (also `Trustdesk-Delivery`): the same on every retry, so a receiver
    /// can drop a repeat.
    pub id: Uuid,
    /// The event (also `Trustdesk-Event`).
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When the audit event was written.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The audit row's `seq`: `trustdesk audit verify` and the audit page know it.
    pub audit_seq: i64,
    /// The audit action and outcome (`reset_account`, `success`, …).
    pub action: String,
    pub outcome: String,
    /// Who acted (none for the service itself: a scheduled scan).
    pub actor: BodyActor,
    /// What it was about: the computer; for `fleet.report`, `name` names the report
    /// (`fleet report 12`) and `dn` and `guid` are null.
    pub computer: BodyComputer,
    /// The ticket reference or reason typed with the repair.
    pub ticket: Option<String>,
    /// The audit row's reason (the DC written on, the token's expiry, a failure's cause).
    pub reason: Option<String>,
    /// The request that caused it (`x-request-id`), for the logs.
    pub request_id: Option<String>,
}

/// The actor of [`WebhookBody`]: the sign-in provider's `sub` and display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyActor {
    pub sub: Option<String>,
    pub name: Option<String>,
}

/// The target of [`WebhookBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyComputer {
    pub name: Option<String>,
    pub dn: Option<String>,
    pub guid: Option<String>,
}

impl WebhookBody {
    /// The body of delivery `id`, event `event_type`, about `row`.
    pub fn new(id: Uuid, event_type: EventType, row: &AuditRow) -> Self {
        let e = &row.event;
        Self {
            id,
            event_type,
            occurred_at: e.at,
            audit_seq: row.seq,
            action: e.action.clone(),
            outcome: e.outcome.clone(),
            actor: BodyActor {
                sub: e.actor_sub.clone(),
                name: e.actor_name.clone(),
            },
            computer: BodyComputer {
                name: e.target_name.clone(),
                dn: e.target_dn.clone(),
                guid: e.target_guid.clone(),
            },
            ticket: e.ticket.clone(),
            reason: e.reason.clone(),
            request_id: e.request_id.clone(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::db::NewAuditRow;

    #[test]
    fn the_mapping_table() {
        use EventType as E;
        let table: &[(Action, Outcome, Option<EventType>)] = &[
            (
                Action::ResetAccount,
                Outcome::Success,
                Some(E::RepairCompleted),
            ),
            (
                Action::ResetAccount,
                Outcome::Failure,
                Some(E::RepairFailed),
            ),
            (Action::ResetAccount, Outcome::Started, None),
            (Action::ResetAccount, Outcome::Denied, None),
            (
                Action::RepairOutcome,
                Outcome::Success,
                Some(E::RepairCompleted),
            ),
            (
                Action::RepairOutcome,
                Outcome::Failure,
                Some(E::RepairFailed),
            ),
            (Action::MintToken, Outcome::Success, Some(E::TokenMinted)),
            (Action::MintToken, Outcome::Denied, None),
            (Action::MintToken, Outcome::Failure, None),
            (
                Action::ApprovalRequest,
                Outcome::Success,
                Some(E::ApprovalRequested),
            ),
            (Action::ApprovalRequest, Outcome::Denied, None),
            (
                Action::ApprovalApprove,
                Outcome::Success,
                Some(E::ApprovalDecided),
            ),
            (
                Action::ApprovalDeny,
                Outcome::Success,
                Some(E::ApprovalDecided),
            ),
            (Action::ApprovalApprove, Outcome::Denied, None),
            (Action::FleetScan, Outcome::Success, Some(E::FleetReport)),
            (Action::FleetScan, Outcome::Started, None),
            (Action::FleetScan, Outcome::Failure, None),
            (Action::FleetScan, Outcome::Denied, None),
            (Action::RedeemToken, Outcome::Success, None),
            (Action::RedeemToken, Outcome::Flagged, None),
            (Action::RevokeToken, Outcome::Success, None),
            (Action::Lookup, Outcome::Success, None),
            (Action::ViewAudit, Outcome::Denied, None),
        ];
        for (action, outcome, want) in table {
            assert_eq!(event_of(*action, *outcome), *want, "{action} {outcome}");
        }
        // Every event type is reachable, and only from the actions above.
        for e in EventType::ALL {
            assert!(table.iter().any(|(_, _, w)| *w == Some(*e)), "{e}");
        }
        for a in Action::ALL {
            for o in Outcome::ALL {
                if event_of(*a, *o).is_some() {
                    assert!(
                        table.iter().any(|(ta, to, _)| ta == a && to == o),
                        "{a} {o} maps to an event the table does not list"
                    );
                }
            }
        }
    }

    fn row(action: &str, outcome: &str) -> AuditRow {
        AuditRow {
            seq: 41,
            event: NewAuditRow {
                at: time::macros::datetime!(2026-12-06 10:00:00 UTC),
                actor_sub: Some("alice-sub".into()),
                actor_name: Some("Alice".into()),
                actor_email: Some("alice@example.com".into()),
                actor_roles: "senior".into(),
                source_ip: Some("192.0.2.10".into()),
                user_agent: Some("curl".into()),
                request_id: Some("req-1".into()),
                action: action.into(),
                target_dn: Some("CN=WS01,OU=Workstations,DC=example".into()),
                target_guid: Some("6b29fc40-ca47-1067-b31d-00dd010662da".into()),
                target_name: Some("WS01".into()),
                outcome: outcome.into(),
                reason: Some("written on dc1".into()),
                ticket: Some("INC0012345".into()),
            },
            prev_hash: "0".repeat(64),
            hash: "1".repeat(64),
        }
    }

    #[test]
    fn a_stored_row_maps_by_its_texts() {
        assert_eq!(
            webhook_event(&row("reset_account", "success")),
            Some(EventType::RepairCompleted)
        );
        assert_eq!(webhook_event(&row("reset_account", "started")), None);
        assert_eq!(webhook_event(&row("no_such_action", "success")), None);
        assert_eq!(webhook_event(&row("reset_account", "ok")), None);
    }

    #[test]
    fn the_body_is_the_row_in_the_documented_shape() {
        let id = Uuid::from_u128(7);
        let body = WebhookBody::new(
            id,
            EventType::RepairCompleted,
            &row("reset_account", "success"),
        );
        let json: serde_json::Value = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "00000000-0000-0000-0000-000000000007",
                "type": "repair.completed",
                "occurred_at": "2026-12-06T10:00:00Z",
                "audit_seq": 41,
                "action": "reset_account",
                "outcome": "success",
                "actor": {"sub": "alice-sub", "name": "Alice"},
                "computer": {
                    "name": "WS01",
                    "dn": "CN=WS01,OU=Workstations,DC=example",
                    "guid": "6b29fc40-ca47-1067-b31d-00dd010662da"
                },
                "ticket": "INC0012345",
                "reason": "written on dc1",
                "request_id": "req-1"
            })
        );
        let mut bare = row("fleet_scan", "success");
        bare.event.actor_sub = None;
        bare.event.actor_name = None;
        bare.event.target_dn = None;
        bare.event.target_guid = None;
        bare.event.ticket = None;
        let json =
            serde_json::to_value(WebhookBody::new(id, EventType::FleetReport, &bare)).unwrap();
        assert_eq!(
            json["actor"],
            serde_json::json!({"sub": null, "name": null})
        );
        assert_eq!(json["computer"]["dn"], serde_json::Value::Null);
        assert_eq!(json["ticket"], serde_json::Value::Null);
        // Round trip: what a receiver parses is what was sent.
        let back: WebhookBody = serde_json::from_value(json).unwrap();
        assert_eq!(back.event_type, EventType::FleetReport);
    }
}

//! Table-driven tests of the rules that read trustdesk's own writes, a stale local secret, the
//! per-DC view's coverage, and the ranking of churn against a write after the last logon.

use super::*;
use crate::ad::{DcCoverage, DcDiscovery, PortalWrite, PortalWriteKind};

impl Fx {
    fn portal(mut self, kind: PortalWriteKind, at: OffsetDateTime) -> Fx {
        self.0.portal_writes.push(PortalWrite {
            at,
            kind,
            by: "alice".into(),
            ticket: Some("INC-4711".into()),
        });
        self
    }

    fn coverage(mut self, discovery: DcDiscovery, excluded: &[&str]) -> Fx {
        self.0.coverage = DcCoverage {
            discovery,
            excluded: excluded.iter().map(|s| s.to_string()).collect(),
        };
        self
    }
}

use PortalWriteKind::{DcReset, RepairCompleted, RepairFailed, TokenRedeemed};

/// The causes a row expects, in order.
type Want = Vec<(Cause, Confidence)>;

/// The machine logged on a minute before `reset_at`, the reset is the newest write.
fn reset_after_logon(reset_at: OffsetDateTime) -> Fx {
    Fx::healthy()
        .logons(Some(reset_at - Duration::minutes(1)), Some(ago(days(3))))
        .pwd_set(reset_at)
        .version(15)
}

#[test]
fn a_reset_through_trustdesk_is_never_the_machines_own_rotation() {
    let reset = ago(Duration::minutes(2));
    // Without the portal's history: inside the self-rotation grace, so it looks healthy.
    assert_eq!(causes(&reset_after_logon(reset).run()), HEALTHY_HIGH);
    let d = reset_after_logon(reset).portal(DcReset, reset).run();
    assert_eq!(causes(&d), vec![(PasswordSetAfterLastLogon, High)]);
    let f = finding(&d, FindingCode::PortalReset);
    assert!(f.summary.contains("alice (INC-4711)"), "{}", f.summary);
    assert!(f.summary.contains("2 min ago"), "{}", f.summary);
    assert!(d.actions.token_repair);
    assert_eq!(d.fix.trustdesk_action, Some(RepairAction::TokenRepair));

    let table: Vec<(&str, Fx, Want)> = vec![
        (
            "the DC's clock a little ahead of the portal's",
            reset_after_logon(reset).portal(DcReset, reset - Duration::minutes(4)),
            vec![(PasswordSetAfterLastLogon, High)],
        ),
        (
            "written again after the reset (a rejoin): the usual rules",
            reset_after_logon(reset).portal(DcReset, reset - Duration::hours(2)),
            HEALTHY_HIGH.to_vec(),
        ),
        (
            "a failure report is not a write",
            reset_after_logon(reset)
                .portal(DcReset, reset)
                .portal(RepairFailed, reset + Duration::SECOND),
            vec![(PasswordSetAfterLastLogon, High)],
        ),
        (
            "a redeem the client never reported on, long ago",
            reset_after_logon(ago(Duration::hours(1)))
                .portal(TokenRedeemed, ago(Duration::hours(1))),
            vec![(PasswordSetAfterLastLogon, Medium)],
        ),
        (
            "a redeem just now whose client reported a failure",
            reset_after_logon(reset)
                .portal(TokenRedeemed, reset)
                .portal(RepairFailed, reset + Duration::seconds(20)),
            vec![(PasswordSetAfterLastLogon, Medium)],
        ),
        (
            "a redeem just now: under way",
            reset_after_logon(reset).portal(TokenRedeemed, reset),
            HEALTHY_HIGH.to_vec(),
        ),
    ];
    for (name, fx, want) in table {
        assert_eq!(causes(&fx.run()), want, "{name}");
    }
    let d = reset_after_logon(reset).portal(TokenRedeemed, reset).run();
    assert!(codes(&d).contains(&FindingCode::PortalRepairIncomplete));
}

#[test]
fn a_completed_token_repair_is_healthy_and_not_churn() {
    // Reset (v15), then a token repair: redeem (v16) and two rotations (v17, v18), the
    // client's verification logon a few seconds after its last rotation.
    let reset = ago(Duration::minutes(30));
    let done = ago(Duration::minutes(20));
    let repaired = || {
        Fx::healthy()
            .observed(ago(days(20)), GUID, Some(14), Some(INV1), None)
            .portal(DcReset, reset)
            .portal(TokenRedeemed, done - Duration::seconds(20))
            .portal(RepairCompleted, done)
            .pwd_set(done - Duration::seconds(5))
            .version(18)
            .logons(Some(done - Duration::seconds(2)), Some(ago(days(3))))
    };
    let d = repaired().run();
    assert_eq!(causes(&d), HEALTHY_HIGH);
    assert!(codes(&d).contains(&FindingCode::PortalRepairCompleted));
    // The same four versions without trustdesk's record of them: churn.
    let mut anon = repaired();
    anon.0.portal_writes.clear();
    assert!(causes(&anon.run()).contains(&(CloneSuspected, Low)));
    // The rotations come after the verification logon: still the machine's own.
    let d = repaired()
        .logons(Some(done - Duration::seconds(30)), Some(ago(days(3))))
        .run();
    assert_eq!(causes(&d), HEALTHY_HIGH);
    // Failing again after the repair: the secret went back (a revert after the repair).
    let d = repaired()
        .dc("dc2", |v| {
            v.bad_password_time = Some(done + Duration::minutes(5));
            v.bad_pwd_count = Some(3);
        })
        .run();
    assert_eq!(causes(&d), vec![(StaleLocalSecret, High)]);
}

/// The machine rotated itself 10 days ago, logged on with it an hour ago; `bad` after that.
fn reverted(bad: Option<OffsetDateTime>) -> Fx {
    Fx::healthy().dc("dc2", |v| {
        v.bad_password_time = bad;
        v.bad_pwd_count = bad.map(|_| 4);
    })
}

/// Rotated 30 minutes ago; `after` minutes later dc2 saw a bad password and, `gap` later, a
/// logon (the previous password over NTLM); dc1's last logon right after the rotation.
fn fallback(after: Duration, gap: Duration) -> Fx {
    let p = ago(Duration::minutes(90));
    Fx::healthy()
        .pwd_set(p)
        .logons(Some(p + Duration::minutes(1)), Some(p + after + gap))
        .dc("dc2", |v| {
            v.bad_password_time = Some(p + after);
            v.bad_pwd_count = Some(0);
        })
}

#[test]
fn stale_local_secret_boundaries() {
    let last_logon = ago(Duration::HOUR);
    let table: Vec<(&str, Fx, Want)> = vec![
        (
            "failures after the last successful logon",
            reverted(Some(last_logon + S)),
            vec![(StaleLocalSecret, High)],
        ),
        (
            "a failure at the very instant of the logon is not after it",
            reverted(Some(last_logon)),
            HEALTHY_HIGH.to_vec(),
        ),
        (
            "a failure a second before the same DC's logon: the NTLM fallback",
            fallback(Duration::minutes(20), S),
            vec![(StaleLocalSecret, High)],
        ),
        (
            "five seconds before still is",
            fallback(Duration::minutes(20), Duration::seconds(5)),
            vec![(StaleLocalSecret, High)],
        ),
        (
            "six seconds before: it recovered",
            fallback(Duration::minutes(20), Duration::seconds(6)),
            HEALTHY_HIGH.to_vec(),
        ),
        (
            "past the old-password period NTLM takes no previous password: a recovery",
            fallback(Duration::minutes(61), S),
            HEALTHY_HIGH.to_vec(),
        ),
        (
            "failures before the last logon elsewhere: it recovered",
            reverted(Some(last_logon - Duration::minutes(1))),
            HEALTHY_HIGH.to_vec(),
        ),
        (
            "a failure before the password write is not about this password",
            reverted(Some(ago(days(10)) - S)).dc("dc2", |v| v.last_logon = Some(ago(days(10)))),
            HEALTHY_HIGH.to_vec(),
        ),
        (
            "a DC not read: at most medium",
            reverted(Some(last_logon + S)).unreachable("dc3"),
            vec![(StaleLocalSecret, Medium)],
        ),
        (
            "someone else set it after the last logon: not stale but a foreign write",
            reverted(Some(NOW - S)).pwd_set(last_logon + Duration::minutes(30)),
            vec![(PasswordSetAfterLastLogon, High)],
        ),
    ];
    for (name, fx, want) in table {
        let d = fx.run();
        assert_eq!(causes(&d), want, "{name}");
        if want.first().is_some_and(|(c, _)| *c == StaleLocalSecret) {
            let f = finding(&d, FindingCode::StaleLocalSecret);
            assert!(f.summary.contains("snapshot"), "{name}: {}", f.summary);
            assert!(
                f.evidence
                    .iter()
                    .any(|e| e.contains("badPasswordTime on dc2"))
            );
            assert!(d.fix.title.contains("token repair"), "{}", d.fix.title);
            assert!(d.fix.steps.iter().any(|s| s.contains("Add-Computer")));
            assert!(d.actions.token_repair);
        }
    }
}

#[test]
fn a_partial_per_dc_view_is_named_and_lowers_confidence() {
    // The review's false positive: lastLogonTimestamp and dc1's lastLogon 10 days old, the
    // machine rotated 2 days ago on a DC nobody listed, and logs on there daily.
    let rotated_elsewhere = || {
        Fx::healthy()
            .logons(Some(ago(days(10))), Some(ago(days(10))))
            .llt(Some(ago(days(10))))
            .pwd_set(ago(days(2)))
            .version(15)
    };
    let table: Vec<(&str, Fx, Want, Option<&str>)> = vec![
        (
            "discovery off: not a foreign write, medium, and said",
            rotated_elsewhere().coverage(DcDiscovery::Off, &[]),
            vec![(Healthy, Medium)],
            Some("DC discovery is off"),
        ),
        (
            "discovery found dc3, where it logs on",
            rotated_elsewhere().outcome(
                "dc3.corp.example",
                DcOutcome::Found(DcAccountView {
                    last_logon: Some(ago(days(1))),
                    pwd_last_set: Some(ago(days(2))),
                    unicode_pwd: Some(meta(15, ago(days(2)), INV2)),
                    uac: Some(Uac(4096)),
                    ..DcAccountView::default()
                }),
            ),
            HEALTHY_HIGH.to_vec(),
            None,
        ),
        (
            "dc3 stopped: named, medium",
            rotated_elsewhere().unreachable("dc3.corp.example"),
            vec![(Healthy, Medium)],
            Some("from 2 of 3 DCs; dc3.corp.example did not answer"),
        ),
        (
            "dc3 excluded by configuration",
            rotated_elsewhere().coverage(DcDiscovery::Complete, &["dc3.corp.example"]),
            vec![(Healthy, Medium)],
            Some("from 2 of 3 DCs; dc3.corp.example excluded"),
        ),
        (
            "discovery failed",
            rotated_elsewhere().coverage(
                DcDiscovery::Failed {
                    error: "timed out".into(),
                },
                &[],
            ),
            vec![(Healthy, Medium)],
            Some("could not be read"),
        ),
        (
            "a healthy machine with discovery off is healthy, medium",
            Fx::healthy().coverage(DcDiscovery::Off, &[]),
            vec![(Healthy, Medium)],
            Some("DC discovery is off"),
        ),
    ];
    for (name, fx, want, text) in table {
        let d = fx.run();
        assert_eq!(causes(&d), want, "{name}");
        match text {
            Some(text) => {
                let f = finding(&d, FindingCode::PerDcViewPartial);
                assert!(f.summary.contains(text), "{name}: {}", f.summary);
                assert_eq!(f.severity, Severity::Warning);
            }
            None => assert!(
                !codes(&d).contains(&FindingCode::PerDcViewPartial),
                "{name}"
            ),
        }
    }
}

#[test]
fn clear_churn_ranks_above_a_write_after_the_last_logon() {
    // Set 1 day after the last logon, failing since: password_set_after_last_logon (high).
    let foreign = || {
        set_after_logon(days(1)).dc("dc2", |v| {
            v.bad_password_time = Some(NOW - S);
            v.bad_pwd_count = Some(5);
        })
    };
    let table: Vec<(&str, Fx, Cause, Confidence)> = vec![
        ("no churn", foreign(), PasswordSetAfterLastLogon, High),
        (
            "churn at the threshold only (low) stays below",
            foreign().observed(ago(days(20)), GUID, Some(11), Some(INV1), None),
            PasswordSetAfterLastLogon,
            High,
        ),
        (
            "twice the threshold ranks first",
            foreign().observed(ago(days(20)), GUID, Some(8), Some(INV1), None),
            CloneSuspected,
            High,
        ),
        (
            "sets from alternating DCs rank first",
            foreign()
                .observed(ago(days(20)), GUID, Some(11), Some(INV1), None)
                .observed(ago(days(15)), GUID, Some(12), Some(INV2), None),
            CloneSuspected,
            High,
        ),
    ];
    for (name, fx, top, conf) in table {
        let d = fx.run();
        let first = d.likely_causes.first().unwrap();
        assert_eq!(
            (first.cause, first.confidence),
            (top, conf),
            "{name}: {:?}",
            causes(&d)
        );
        if top == CloneSuspected {
            assert!(
                d.fix
                    .pitfalls
                    .iter()
                    .any(|p| p.contains("only moves the problem"))
            );
        }
    }
}

#[test]
fn the_vocabulary_is_the_same_everywhere() {
    let listed = crate::web::openapi_schema("Cause")["enum"].clone();
    let ours: Vec<&str> = Cause::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        listed,
        serde_json::json!(ours),
        "the OpenAPI document's Cause enum"
    );
    let doc = include_str!("../../../ARCHITECTURE.md");
    for c in Cause::ALL {
        assert!(
            doc.contains(&format!("`{}`", c.as_str())),
            "ARCHITECTURE.md lacks {}",
            c.as_str()
        );
    }
}

/// The finding codes the OpenAPI document lists are serde's (each reads back as a
/// `FindingCode` and writes out the same), and each is a cause's or one `docs/diagnosis.md`
/// explains.
#[test]
fn the_documented_finding_codes_are_the_codes_and_explained() {
    let listed = crate::web::openapi_schema("FindingCode")["enum"].clone();
    let codes: Vec<FindingCode> = serde_json::from_value(listed.clone()).unwrap();
    assert_eq!(serde_json::to_value(&codes).unwrap(), listed);
    assert!(codes.len() >= 27, "{listed}");
    let explained = include_str!("../../../docs/diagnosis.md");
    for code in listed.as_array().unwrap() {
        let code = code.as_str().unwrap();
        let cause = Cause::ALL.iter().any(|c| c.as_str() == code);
        assert!(
            cause || explained.contains(&format!("`{code}`")),
            "docs/diagnosis.md lacks the finding {code}"
        );
    }
}

#[test]
fn a_tombstone_search_that_could_not_run_says_so() {
    use crate::ad::TombstoneCheck;
    let table = [
        (TombstoneCheck::Done, None),
        (
            TombstoneCheck::NotPermitted {
                detail: "LDAP result 32".into(),
            },
            Some("was deleted (account_recreated) is unknown"),
        ),
        (
            TombstoneCheck::Failed {
                error: "timed out".into(),
            },
            Some("not ruled out"),
        ),
    ];
    for (check, text) in table {
        let mut fx = Fx::healthy();
        fx.0.tombstone_check = check.clone();
        let d = fx.run();
        assert_eq!(causes(&d), HEALTHY_HIGH, "{check:?}");
        match text {
            Some(t) => assert!(
                finding(&d, FindingCode::TombstoneCheckNotRun)
                    .summary
                    .contains(t),
                "{check:?}"
            ),
            None => assert!(!codes(&d).contains(&FindingCode::TombstoneCheckNotRun)),
        }
    }
}

#[test]
fn a_logon_by_the_ntlm_fallback_proves_the_old_password_not_the_new() {
    // Someone reset it 30 minutes ago; the machine failed Kerberos at dc1 10 minutes ago and
    // passed NTLM there 10 ms later with its (now previous) password.
    let bad = ago(Duration::minutes(10));
    let fx = Fx::healthy()
        .pwd_set(ago(Duration::minutes(30)))
        .dc("dc1", |v| {
            v.bad_password_time = Some(bad);
            v.bad_pwd_count = Some(0);
            v.last_logon = Some(bad + Duration::milliseconds(10));
        });
    let d = fx.run();
    assert_eq!(
        causes(&d),
        vec![(PasswordSetAfterLastLogon, High)],
        "{:#?}",
        d.findings
    );
    // The same logon without the failure just before it is a real one: healthy.
    let d = fx.dc("dc1", |v| v.bad_password_time = None).run();
    assert_eq!(causes(&d), HEALTHY_HIGH);
}

#[test]
fn the_post_repair_watch_flags_a_redeem_the_machine_never_rotated_away() {
    use crate::ad::RedeemWatch;
    let watch = DiagnosisSettings::default().repair_watch;
    let fx = |redeemed_ago: Duration, after_redeem: i64, now_version: Option<u32>| {
        let mut fx = Fx::healthy();
        fx.0.redeems.push(RedeemWatch {
            redeemed_at: ago(redeemed_ago),
            key_version: after_redeem,
        });
        if let Some(a) = fx.0.account.as_mut() {
            a.key_version = now_version;
        }
        fx
    };
    let table: Vec<(&str, Fx, bool)> = vec![
        ("rotated twice", fx(watch * 2, 20, Some(22)), false),
        (
            "rotated twice and once more since",
            fx(watch * 2, 20, Some(23)),
            false,
        ),
        (
            "rotated once only, past the watch",
            fx(watch * 2, 20, Some(21)),
            true,
        ),
        (
            "never rotated (a curl redeem)",
            fx(watch * 2, 20, Some(20)),
            true,
        ),
        ("exactly at the watch's end", fx(watch, 20, Some(20)), true),
        (
            "still inside the watch",
            fx(watch - Duration::seconds(1), 20, Some(20)),
            false,
        ),
        ("key version unknown", fx(watch * 2, 20, None), false),
        ("no redeem at all", Fx::healthy(), false),
    ];
    for (what, fx, critical) in table {
        let d = fx.run();
        let got = d
            .findings
            .iter()
            .find(|f| f.code == FindingCode::TransitedPasswordMayBeValid);
        assert_eq!(got.is_some(), critical, "{what}");
        if let Some(f) = got {
            assert_eq!(f.severity, Severity::Critical, "{what}");
            assert!(f.summary.contains("may still be valid"), "{what}");
        }
    }
    // The newer redeem's rotations cover an older exposed one.
    let mut both = fx(watch * 4, 20, Some(32));
    both.0.redeems.push(RedeemWatch {
        redeemed_at: ago(watch * 2),
        key_version: 30,
    });
    assert!(
        !both
            .run()
            .findings
            .iter()
            .any(|f| f.code == FindingCode::TransitedPasswordMayBeValid)
    );
}

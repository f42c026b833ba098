//! The rules about the object itself: protected, missing, re-created, disabled, and the
//! reason a withheld repair gives.

use super::*;

#[test]
fn protected_objects_come_first_and_get_no_actions() {
    let dc_uac = Uac(Uac::SERVER_TRUST_ACCOUNT | Uac::TRUSTED_FOR_DELEGATION);
    let rodc_uac = Uac(Uac::WORKSTATION_TRUST_ACCOUNT | Uac::PARTIAL_SECRETS_ACCOUNT);
    let table: Vec<(&str, Fx)> = vec![
        ("dc", Fx::healthy().account(|a| a.uac = dc_uac)),
        ("rodc", Fx::healthy().account(|a| a.uac = rodc_uac)),
        (
            "rodc per dc",
            Fx::healthy().dc("dc2", |v| v.uac = Some(rodc_uac)),
        ),
        (
            "adminCount",
            Fx::healthy().account(|a| a.admin_count = true),
        ),
        ("protected ou", {
            let mut fx = Fx::healthy();
            fx.0.protected_ou = true;
            fx
        }),
        ("protected and missing", {
            let mut fx = Fx::missing();
            fx.0.protected_ou = true;
            fx
        }),
        (
            "protected and disabled",
            Fx::healthy().account(|a| {
                a.admin_count = true;
                a.uac = Uac(4098);
            }),
        ),
    ];
    for (name, fx) in table {
        let d = fx.run();
        assert_eq!(
            d.likely_causes.first().map(|c| (c.cause, c.confidence)),
            Some((ProtectedAccount, High)),
            "{name}"
        );
        assert!(d.protected, "{name}");
        assert_eq!(d.actions, AllowedRepairs::default(), "{name}");
        assert_eq!(d.fix.trustdesk_action, None, "{name}");
        assert!(d.fix.title.starts_with("Escalate"), "{name}");
        assert!(codes(&d).contains(&FindingCode::ProtectedAccount), "{name}");
    }
    // The other findings are still reported.
    let d = Fx::healthy()
        .account(|a| {
            a.admin_count = true;
            a.uac = Uac(4098);
        })
        .run();
    assert_eq!(
        causes(&d),
        vec![(ProtectedAccount, High), (AccountDisabled, High)]
    );
    let d = Fx::healthy().account(|a| a.admin_count = true).run();
    assert_eq!(causes(&d), vec![(ProtectedAccount, High), (Healthy, High)]);
}

#[test]
fn missing_without_tombstone() {
    let d = Fx::missing().run();
    assert_eq!(causes(&d), vec![(AccountMissing, High)]);
    assert_eq!(codes(&d), vec![FindingCode::AccountMissing]);
    assert_eq!(d.actions, AllowedRepairs::default());
    assert!(d.fix.title.starts_with("Rejoin"), "{}", d.fix.title);
    assert!(d.fix.steps.iter().any(|s| s.contains("Add-Computer")));
    assert!(d.per_dc.iter().all(|r| r.status == DcStatus::NotFound));
    // A tombstone of another name is not this one.
    let d = Fx::missing().tombstone("PC02$", Some(OTHER_GUID)).run();
    assert!(!codes(&d).contains(&FindingCode::TombstoneFound));
}

#[test]
fn missing_with_tombstone() {
    for queried in ["PC01", "pc01$", "PC01.corp.example"] {
        let mut fx = Fx::missing().tombstone("PC01$", Some(OTHER_GUID));
        fx.0.name_queried = queried.into();
        let d = fx.run();
        assert_eq!(causes(&d), vec![(AccountMissing, High)], "{queried}");
        let t = finding(&d, FindingCode::TombstoneFound);
        assert!(t.summary.contains("Recycle Bin"), "{}", t.summary);
        assert!(
            t.evidence
                .iter()
                .any(|e| e == "whenChanged (about the deletion) = 2026-11-11T12:00:00Z")
        );
        assert!(d.fix.title.starts_with("Restore"), "{}", d.fix.title);
        assert!(
            d.fix
                .steps
                .iter()
                .any(|s| s.contains("Restore-ADObject") && s.contains("PC01$"))
        );
        assert_eq!(d.actions, AllowedRepairs::default());
    }
}

#[test]
fn missing_unconfirmed_when_no_dc_answered() {
    let d = Fx::missing().unreachable("dc1").unreachable("dc2").run();
    assert_eq!(causes(&d), vec![(AccountMissing, Medium)]);
    assert!(codes(&d).contains(&FindingCode::DcUnreachable));
}

#[test]
fn account_recreated() {
    let table: Vec<(&str, Fx, Option<Confidence>)> = vec![
        (
            "tombstone with the same name",
            Fx::healthy().tombstone("PC01$", Some(OTHER_GUID)),
            Some(High),
        ),
        (
            "tombstone name without $",
            Fx::healthy().tombstone("pc01", None),
            Some(High),
        ),
        (
            "history saw another objectGUID",
            Fx::healthy().observed(ago(days(40)), OTHER_GUID, Some(30), Some(INV1), None),
            Some(High),
        ),
        (
            "last known logon before whenCreated",
            Fx::healthy()
                .account(|a| a.when_created = ago(days(2)))
                .observed(ago(days(1)), GUID, None, None, Some(ago(days(3)))),
            Some(Medium),
        ),
        (
            "tombstone of the same object (stale data)",
            Fx::healthy().tombstone("PC01$", Some(GUID)),
            None,
        ),
        (
            "tombstone of another name",
            Fx::healthy().tombstone("PC02$", Some(OTHER_GUID)),
            None,
        ),
        (
            "history of the same object",
            Fx::healthy().observed(
                ago(days(40)),
                GUID,
                Some(13),
                Some(INV1),
                Some(ago(days(41))),
            ),
            None,
        ),
    ];
    for (name, fx, expected) in table {
        let d = fx.run();
        let got = causes(&d)
            .into_iter()
            .find(|(c, _)| *c == AccountRecreated)
            .map(|(_, conf)| conf);
        assert_eq!(got, expected, "{name}: {:#?}", causes(&d));
        if expected.is_some() {
            assert!(!d.actions.token_repair, "{name}");
            assert!(d.actions.dc_reset, "{name}");
            assert!(d.fix.title.starts_with("Rejoin"), "{name}");
            assert!(!causes(&d).iter().any(|(c, _)| *c == Healthy), "{name}");
        }
    }
}

#[test]
fn account_disabled() {
    let d = Fx::healthy()
        .account(|a| a.uac = Uac(4098))
        .each_dc(|v| v.uac = Some(Uac(4098)))
        .run();
    assert_eq!(causes(&d), vec![(AccountDisabled, High)]);
    let f = finding(&d, FindingCode::AccountDisabled);
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.evidence.iter().any(|e| e.contains("ACCOUNTDISABLE")),
        "{:?}",
        f.evidence
    );
    assert_eq!(d.fix.title, "Enable the computer account");
    assert!(
        d.fix
            .steps
            .iter()
            .any(|s| s.contains("Enable-ADComputer -Identity 'PC01$'"))
    );
    assert_eq!(d.fix.trustdesk_action, None);
    assert!(!d.actions.token_repair);
    let why = d.withholds(RepairAction::TokenRepair).unwrap();
    assert!(
        why.contains("disabled") && why.contains("enable it first"),
        "{why}"
    );
    assert_eq!(d.withholds(RepairAction::DcReset), None);
}

#[test]
fn a_withheld_repair_names_its_reason() {
    // (situation, token repair's reason, DC reset's reason); None: allowed.
    let healthy = Fx::healthy().run();
    assert_eq!(healthy.withholds(RepairAction::TokenRepair), None);
    assert_eq!(healthy.withholds(RepairAction::DcReset), None);
    let mut protected = Fx::healthy().run();
    protected.protected = true;
    protected.actions = AllowedRepairs::default();
    let mut converging = Fx::healthy().run();
    converging.likely_causes[0].cause = ReplicationInProgress;
    converging.actions = AllowedRepairs::default();
    let mut recreated = Fx::healthy().run();
    recreated.likely_causes[0].cause = AccountRecreated;
    recreated.actions.token_repair = false;
    let mut missing = Fx::healthy().run();
    missing.actions = AllowedRepairs::default();
    let table = [
        (&protected, Some("protected"), Some("protected")),
        (&converging, Some("do not agree"), Some("do not agree")),
        (&recreated, Some("rejoin"), None),
        (&missing, Some("not found"), Some("not found")),
    ];
    for (d, token, reset) in table {
        let got = (
            d.withholds(RepairAction::TokenRepair),
            d.withholds(RepairAction::DcReset),
        );
        assert_eq!(got.0.is_some(), token.is_some(), "{got:?}");
        assert_eq!(got.1.is_some(), reset.is_some(), "{got:?}");
        if let (Some(g), Some(w)) = (got.0, token) {
            assert!(g.contains(w), "{g}");
        }
        if let (Some(g), Some(w)) = (got.1, reset) {
            assert!(g.contains(w), "{g}");
        }
    }
}

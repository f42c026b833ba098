//! The rules comparing the DCs: lag by version and by time, replication in flight, other
//! disagreements, and unreachable DCs.

use super::*;

#[test]
fn replication_lag_by_version_and_in_flight_boundary() {
    let skew = Duration::minutes(5);
    let table: Vec<(Duration, Option<Confidence>)> = vec![
        (days(1), Some(High)),
        (skew + S, Some(High)),
        (skew, None),
        (skew - S, None),
    ];
    for (age, expected) in table {
        let written = ago(age);
        // dc1 has the new version 15; dc2 still has 14.
        let fx = Fx::healthy()
            .logons(Some(written - S * 30), Some(ago(days(3))))
            .dc("dc1", |v| {
                v.unicode_pwd = Some(meta(15, written, INV1));
                v.pwd_last_set = Some(written);
            })
            .account(|a| a.pwd_last_set = Some(written));
        let d = fx.run();
        let got = causes(&d)
            .into_iter()
            .find(|(c, _)| *c == ReplicationLag)
            .map(|(_, c)| c);
        assert_eq!(got, expected, "age {age}");
        if expected.is_some() {
            assert_eq!(d.likely_causes.first().unwrap().cause, ReplicationLag);
            assert_eq!(d.actions, AllowedRepairs::default());
            assert!(d.fix.title.contains("do not reset"), "{}", d.fix.title);
            assert!(
                d.fix
                    .steps
                    .iter()
                    .any(|s| s.contains("repadmin /syncall /AdeP"))
            );
            assert!(
                d.fix
                    .steps
                    .iter()
                    .any(|s| s.contains("nltest /sc_reset:corp.example\\dc1"))
            );
            let rows: Vec<bool> = d.per_dc.iter().map(|r| r.lagging).collect();
            assert_eq!(rows, vec![false, true]);
            assert_eq!(
                finding(&d, FindingCode::ReplicationLag).severity,
                Severity::Critical
            );
        } else {
            // Never healthy while a DC holds another version: replication in progress.
            assert_eq!(causes(&d), IN_PROGRESS, "age {age}");
            assert!(codes(&d).contains(&FindingCode::ReplicationInProgress));
            assert_eq!(d.actions, AllowedRepairs::default());
            let rows: Vec<bool> = d.per_dc.iter().map(|r| r.lagging).collect();
            assert_eq!(rows, vec![false, true], "the lagging DC is named");
        }
    }
}

#[test]
fn replication_lag_by_time_skew_boundaries() {
    let skew = Duration::minutes(5);
    let t = ago(days(10));
    let table: Vec<(Duration, Option<Confidence>)> = vec![
        (skew - S, None),
        (skew, None),
        (skew + S, Some(Medium)),
        (days(20), Some(Medium)),
    ];
    for (diff, expected) in table {
        let d = Fx::healthy()
            .dc("dc2", |v| v.pwd_last_set = Some(t - diff))
            .run();
        let got = causes(&d)
            .into_iter()
            .find(|(c, _)| *c == ReplicationLag)
            .map(|(_, c)| c);
        assert_eq!(got, expected, "diff {diff}");
        if expected.is_none() {
            assert_eq!(causes(&d), HEALTHY_HIGH, "diff {diff}");
        } else {
            assert_eq!(
                finding(&d, FindingCode::ReplicationLag).severity,
                Severity::Warning
            );
        }
    }
    // One DC without any pwdLastSet (the lab's DISABLE_INBOUND_REPL case).
    let d = Fx::healthy().dc("dc2", |v| v.pwd_last_set = None).run();
    assert!(causes(&d).contains(&(ReplicationLag, Medium)));
    // The same version with originating times further apart than the skew: a conflict.
    let d = Fx::healthy()
        .dc("dc2", |v| {
            v.unicode_pwd = Some(meta(14, t - skew - S, INV2))
        })
        .run();
    assert!(causes(&d).contains(&(ReplicationLag, Medium)));
    // pwdLastSet metadata versions, when there is no unicodePwd metadata.
    let d = Fx::healthy()
        .each_dc(|v| v.unicode_pwd = None)
        .dc("dc1", |v| v.pwd_last_set_meta = Some(meta(9, t, INV1)))
        .dc("dc2", |v| {
            v.pwd_last_set_meta = Some(meta(8, t - days(30), INV1))
        })
        .run();
    assert!(
        causes(&d).contains(&(ReplicationLag, High)),
        "{:?}",
        causes(&d)
    );
    assert!(codes(&d).contains(&FindingCode::NoReplicationMetadata));
    // pwdLastSet values apart, but the newest one was written within the skew: in flight.
    let d = Fx::healthy()
        .logons(Some(NOW - Duration::minutes(5)), Some(ago(days(3))))
        .account(|a| a.pwd_last_set = Some(NOW - Duration::minutes(4)))
        .each_dc(|v| v.unicode_pwd = None)
        .dc("dc1", |v| v.pwd_last_set = Some(NOW - Duration::minutes(4)))
        .run();
    assert_eq!(causes(&d), IN_PROGRESS);
    assert!(codes(&d).contains(&FindingCode::ReplicationInProgress));
    // A custom skew moves the boundary.
    let s = DiagnosisSettings {
        max_replication_skew: Duration::HOUR,
        ..DiagnosisSettings::default()
    };
    let d = Fx::healthy()
        .dc("dc2", |v| v.pwd_last_set = Some(t - Duration::minutes(30)))
        .run_with(&s);
    assert_eq!(causes(&d), HEALTHY_HIGH);
}

#[test]
fn replication_lag_other_disagreements() {
    let d = Fx::healthy().dc("dc2", |v| v.uac = Some(Uac(4098))).run();
    assert!(causes(&d).contains(&(ReplicationLag, Medium)));
    let d = Fx::healthy().outcome("dc2", DcOutcome::NotFound).run();
    assert_eq!(causes(&d), vec![(ReplicationLag, Medium)]);
    let f = finding(&d, FindingCode::ObjectMissingOnDc);
    assert_eq!(f.severity, Severity::Warning);
    assert!(d.per_dc.get(1).unwrap().lagging);
    assert_eq!(d.per_dc.get(1).unwrap().status, DcStatus::NotFound);
    // Just created: its creation is still replicating.
    let d = Fx::healthy()
        .account(|a| a.when_created = NOW - Duration::minutes(1))
        .outcome("dc2", DcOutcome::NotFound)
        .run();
    assert!(!causes(&d).iter().any(|(c, _)| *c == ReplicationLag));
    assert!(codes(&d).contains(&FindingCode::ReplicationInProgress));
}

#[test]
fn unreachable_dc_is_a_warning_not_lag() {
    let d = Fx::healthy().unreachable("dc2").run();
    assert_eq!(causes(&d), vec![(Healthy, Medium)]);
    let f = finding(&d, FindingCode::DcUnreachable);
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.evidence,
        vec!["dc2: unreachable (connection timed out)".to_string()]
    );
    let row = d.per_dc.get(1).unwrap();
    assert_eq!(row.status, DcStatus::Unreachable);
    assert_eq!(row.error.as_deref(), Some("connection timed out"));
    assert!(d.actions.token_repair);
}

//! The rules about the machine password over time: set after the last logon, never logged
//! on, clones, rotation disabled, and long silence (never a cause).

use super::*;

#[test]
fn password_set_after_last_logon_grace_boundaries() {
    let grace = Duration::minutes(10);
    let table: Vec<(Duration, bool, Option<Confidence>)> = vec![
        (grace - S, false, None),
        (grace, false, None),
        (grace + S, false, Some(Medium)),
        (days(1), false, Some(Medium)),
        (grace + S, true, Some(High)),
        // Within the grace, failures after the write make it high.
        (Duration::minutes(1), true, Some(High)),
        (S, true, Some(High)),
        // Not after the logon at all.
        (Duration::ZERO, true, None),
        (-Duration::HOUR, true, None),
    ];
    for (offset, failing, expected) in table {
        let fx = set_after_logon(offset).dc("dc2", |v| {
            if failing {
                v.bad_password_time = Some(ago(days(2)) + offset + S);
                v.bad_pwd_count = Some(2);
            }
        });
        let d = fx.run();
        let got = causes(&d)
            .into_iter()
            .find(|(c, _)| *c == PasswordSetAfterLastLogon)
            .map(|(_, conf)| conf);
        assert_eq!(got, expected, "offset {offset}, failing {failing}");
        if expected.is_some() {
            assert_eq!(
                d.likely_causes.first().unwrap().cause,
                PasswordSetAfterLastLogon
            );
            assert_eq!(d.fix.trustdesk_action, Some(RepairAction::TokenRepair));
            assert!(d.fix.steps.first().unwrap().contains("rename one"));
            assert!(d.actions.token_repair);
        } else if failing && offset == Duration::ZERO {
            // The machine logged on with this password and fails since: a stale secret.
            assert_eq!(
                causes(&d),
                vec![(StaleLocalSecret, High)],
                "offset {offset}"
            );
        } else {
            assert_eq!(causes(&d), HEALTHY_HIGH, "offset {offset}");
        }
    }
}

#[test]
fn password_set_after_last_logon_evidence_is_exact() {
    let d = set_after_logon(Duration::HOUR)
        .dc("dc1", |v| {
            v.bad_password_time = Some(datetime!(2026-11-29 13:30 UTC));
            v.bad_pwd_count = Some(4);
        })
        .run();
    let f = finding(&d, FindingCode::PasswordSetAfterLastLogon);
    assert_eq!(
        f.summary,
        "The machine password was set at 2026-11-29T13:00:00Z, 1 h after the machine's \
         last logon at 2026-11-29T12:00:00Z: not its own rotation but someone else's write (an \
         admin reset, or another computer joined with the same name)."
    );
    assert!(
        f.evidence
            .contains(&"latest logon = 2026-11-29T12:00:00Z (lastLogon on dc1)".to_string())
    );
    assert!(f.evidence.contains(
        &"badPasswordTime on dc1 = 2026-11-29T13:30:00Z (after the password write), badPwdCount = 4"
            .to_string()
    ));
    assert_eq!(causes(&d), vec![(PasswordSetAfterLastLogon, High)]);
}

#[test]
fn password_newer_in_metadata_than_in_pwd_last_set() {
    // The unicodePwd originating write is newer than every pwdLastSet: it counts as P.
    let d = set_after_logon(-Duration::HOUR)
        .dc("dc1", |v| {
            v.unicode_pwd = Some(meta(15, ago(days(1)), INV2));
        })
        .dc("dc2", |v| {
            v.unicode_pwd = Some(meta(15, ago(days(1)), INV2))
        })
        .run();
    assert!(
        causes(&d).contains(&(PasswordSetAfterLastLogon, Medium)),
        "{:?}",
        causes(&d)
    );
}

#[test]
fn imprecise_last_logon_uses_the_llt_slack() {
    let no_dc_logons = |llt: OffsetDateTime, p: OffsetDateTime| {
        Fx::healthy().logons(None, None).llt(Some(llt)).pwd_set(p)
    };
    // P 10 days after lastLogonTimestamp: the machine may have logged on since and rotated.
    let d = no_dc_logons(ago(days(20)), ago(days(10))).run();
    assert_eq!(causes(&d), HEALTHY_HIGH);
    assert!(codes(&d).contains(&FindingCode::LastLogonImprecise));
    // P more than 14 days (+ grace) after it: someone else set it, but at most medium even
    // with failing logons.
    let llt = ago(days(30));
    let upper = llt + days(14);
    let grace = Duration::minutes(10);
    let table = [
        (upper + grace, false, None),
        (upper + grace + S, false, Some(Medium)),
        (upper + grace + S, true, Some(Medium)),
        (upper, true, None),
        (upper + S, true, Some(Medium)),
    ];
    for (p, failing, expected) in table {
        let d = no_dc_logons(llt, p)
            .dc("dc1", |v| {
                if failing {
                    v.bad_password_time = Some(NOW - S);
                }
            })
            .run();
        let got = causes(&d)
            .into_iter()
            .find(|(c, _)| *c == PasswordSetAfterLastLogon)
            .map(|(_, c)| c);
        assert_eq!(got, expected, "{p} failing {failing}");
    }
    // A DC that did not answer may hold a later lastLogon: same slack.
    let d = set_after_logon(Duration::HOUR).unreachable("dc2").run();
    assert!(
        !causes(&d)
            .iter()
            .any(|(c, _)| *c == PasswordSetAfterLastLogon)
    );
    assert!(codes(&d).contains(&FindingCode::LastLogonImprecise));
    assert!(codes(&d).contains(&FindingCode::DcUnreachable));
    assert_eq!(causes(&d), vec![(Healthy, Medium)]);
}

#[test]
fn never_logged_on() {
    let created = ago(days(2));
    let unused = |version: u32, p: OffsetDateTime| {
        Fx::healthy()
            .account(|a| a.when_created = created)
            .logons(None, None)
            .llt(None)
            .pwd_set(p)
            .version(version)
    };
    let table: Vec<(&str, Fx, Option<Confidence>, FindingCode)> = vec![
        (
            "fresh join v1",
            unused(1, created + S * 30),
            None,
            FindingCode::FreshJoinUnused,
        ),
        (
            "fresh join v2",
            unused(2, created + S * 30),
            None,
            FindingCode::FreshJoinUnused,
        ),
        (
            "fresh join at the window edge",
            unused(2, created + Duration::minutes(15)),
            None,
            FindingCode::FreshJoinUnused,
        ),
        (
            "set after the join window",
            unused(2, created + Duration::minutes(15) + S),
            Some(Medium),
            FindingCode::NeverLoggedOn,
        ),
        (
            "version 3 is not a join",
            unused(3, created + S * 30),
            Some(Medium),
            FindingCode::NeverLoggedOn,
        ),
        (
            "failing logons make it high",
            unused(5, created + days(1)).dc("dc1", |v| v.bad_password_time = Some(NOW - S)),
            Some(High),
            FindingCode::NeverLoggedOn,
        ),
    ];
    for (name, fx, expected, info) in table {
        let d = fx.run();
        let got = causes(&d)
            .into_iter()
            .find(|(c, _)| *c == PasswordSetAfterLastLogon)
            .map(|(_, c)| c);
        assert_eq!(got, expected, "{name}");
        assert!(codes(&d).contains(&info), "{name}: {:?}", codes(&d));
        if expected.is_none() {
            assert_eq!(causes(&d), HEALTHY_HIGH, "{name}");
        }
    }
}

#[test]
fn clone_suspected_from_history() {
    let table: Vec<(&str, Fx, Option<Confidence>)> = vec![
        (
            "two sets in the window",
            Fx::healthy().observed(ago(days(20)), GUID, Some(12), Some(INV1), None),
            None,
        ),
        (
            "three sets in the window",
            Fx::healthy().observed(ago(days(20)), GUID, Some(11), Some(INV1), None),
            Some(Low),
        ),
        (
            "six sets in the window",
            Fx::healthy().observed(ago(days(20)), GUID, Some(8), Some(INV1), None),
            Some(Medium),
        ),
        (
            "alternating origins",
            Fx::healthy()
                .observed(ago(days(20)), GUID, Some(11), Some(INV1), None)
                .observed(ago(days(15)), GUID, Some(12), Some(INV2), None),
            Some(High),
        ),
        (
            "two origins without a return",
            Fx::healthy()
                .each_dc(|v| v.unicode_pwd = Some(meta(14, ago(days(10)), INV2)))
                .observed(ago(days(20)), GUID, Some(11), Some(INV1), None),
            Some(Low),
        ),
        (
            "observation exactly at the window start counts",
            Fx::healthy().observed(ago(days(30)), GUID, Some(11), None, None),
            Some(Low),
        ),
        (
            "one second inside the window",
            Fx::healthy().observed(ago(days(30) - S), GUID, Some(11), None, None),
            Some(Low),
        ),
        (
            "one second before the window does not count",
            Fx::healthy().observed(ago(days(30) + S), GUID, Some(11), None, None),
            None,
        ),
        (
            "oldest observation inside the window is the baseline",
            Fx::healthy()
                .observed(ago(days(40)), GUID, Some(2), None, None)
                .observed(ago(days(25)), GUID, Some(12), None, None)
                .observed(ago(days(5)), GUID, Some(11), None, None),
            None,
        ),
        (
            "newest write older than the observation proves nothing",
            Fx::healthy().observed(ago(days(5)), GUID, Some(11), Some(INV1), None),
            None,
        ),
        (
            "another object's history is not churn",
            Fx::healthy().observed(ago(days(20)), OTHER_GUID, Some(1), None, None),
            None,
        ),
    ];
    for (name, fx, expected) in table {
        let d = fx.run();
        let got = causes(&d)
            .into_iter()
            .find(|(c, _)| *c == CloneSuspected)
            .map(|(_, c)| c);
        assert_eq!(got, expected, "{name}");
        if let Some(conf) = expected {
            let f = finding(&d, FindingCode::CloneSuspected);
            let severity = if conf == Low {
                Severity::Warning
            } else {
                Severity::Critical
            };
            assert_eq!(f.severity, severity, "{name}");
            assert!(d.actions.token_repair, "{name}");
        }
    }
}

#[test]
fn clone_suspected_from_creation_inside_the_window() {
    let created =
        |at: OffsetDateTime, v: u32| Fx::healthy().account(|a| a.when_created = at).version(v);
    let table = [
        (created(ago(days(20)), 3), None),
        (created(ago(days(20)), 4), Some(Low)),
        (created(ago(days(30)), 4), Some(Low)),
        (created(ago(days(30) + S), 4), None),
        (created(ago(days(20)), 7), Some(Medium)),
    ];
    for (i, (fx, expected)) in table.into_iter().enumerate() {
        let got = causes(&fx.run())
            .into_iter()
            .find(|(c, _)| *c == CloneSuspected)
            .map(|(_, c)| c);
        assert_eq!(got, expected, "row {i}");
    }
    // A threshold of 0 acts as 1.
    let s = DiagnosisSettings {
        clone_threshold: 0,
        ..DiagnosisSettings::default()
    };
    let d = created(ago(days(20)), 1).run_with(&s);
    assert!(!causes(&d).iter().any(|(c, _)| *c == CloneSuspected));
    let d = created(ago(days(20)), 2).run_with(&s);
    assert!(causes(&d).iter().any(|(c, _)| *c == CloneSuspected));
}

/// Password set `p_age` ago; dc1 logged on `l_age` ago, dc2 40 days ago, LLT 35 days ago.
fn rotation_fx(p_age: Duration, l_age: Duration) -> Fx {
    Fx::healthy()
        .pwd_set(ago(p_age))
        .logons(Some(ago(l_age)), Some(ago(days(40))))
        .llt(Some(ago(days(35))))
}

#[test]
fn rotation_disabled_boundaries() {
    let w = days(30);
    let p = days(100);
    let table: Vec<(&str, Fx, Option<FindingCode>)> = vec![
        (
            "classic",
            rotation_fx(p, Duration::HOUR),
            Some(FindingCode::RotationDisabled),
        ),
        (
            "password age 2 windows",
            rotation_fx(w * 2, Duration::HOUR),
            None,
        ),
        (
            "password age 2 windows - 1 s",
            rotation_fx(w * 2 - S, Duration::HOUR),
            None,
        ),
        (
            "password age 2 windows + 1 s",
            rotation_fx(w * 2 + S, Duration::HOUR),
            // due = 30 days + 1 s ago; the dc2/LLT logons (40/35 days ago) are before it.
            Some(FindingCode::PasswordOverdue),
        ),
        (
            "logon exactly one window ago",
            rotation_fx(p, w),
            Some(FindingCode::RotationDisabled),
        ),
        (
            "logon one window - 1 s ago",
            rotation_fx(p, w - S),
            Some(FindingCode::RotationDisabled),
        ),
        ("logon one window + 1 s ago", rotation_fx(p, w + S), None),
        (
            "just came back",
            Fx::healthy()
                .pwd_set(ago(p))
                .logons(Some(ago(Duration::HOUR)), Some(ago(days(110))))
                .llt(Some(ago(Duration::HOUR))),
            Some(FindingCode::PasswordOverdue),
        ),
    ];
    for (name, fx, expected) in table {
        let d = fx.run();
        let found: Vec<FindingCode> = codes(&d)
            .into_iter()
            .filter(|c| {
                matches!(
                    c,
                    FindingCode::RotationDisabled | FindingCode::PasswordOverdue
                )
            })
            .collect();
        assert_eq!(found, expected.into_iter().collect::<Vec<_>>(), "{name}");
        if expected == Some(FindingCode::RotationDisabled) {
            assert_eq!(
                causes(&d),
                vec![(Healthy, High), (RotationDisabled, Medium)],
                "{name}"
            );
            let f = finding(&d, FindingCode::RotationDisabled);
            assert_eq!(f.severity, Severity::Warning);
            assert!(
                f.summary.contains("security finding, not the cause"),
                "{name}"
            );
            // The recommended fix stays the one for the trust error.
            assert_eq!(d.fix.trustdesk_action, Some(RepairAction::TokenRepair));
            let rot = d.likely_causes.get(1).unwrap();
            assert!(
                rot.fix
                    .steps
                    .iter()
                    .any(|s| s.contains("DisablePasswordChange"))
            );
        } else {
            assert_eq!(causes(&d), HEALTHY_HIGH, "{name}");
        }
    }
    // "password age 2 windows + 1 s" with a logon while overdue for more than a day.
    let d = rotation_fx(w * 2 + S, Duration::HOUR)
        .dc("dc2", |v| v.last_logon = Some(ago(days(10))))
        .run();
    assert!(causes(&d).contains(&(RotationDisabled, Medium)));
}

#[test]
fn long_silence_is_never_a_cause() {
    // Off for 120 days; rotated 140 days ago, before it went away. Everything else consistent.
    let silent = |l_age: Duration| {
        Fx::healthy()
            .pwd_set(ago(days(140)))
            .logons(Some(ago(l_age)), Some(ago(days(130))))
            .llt(Some(ago(days(125))))
            .observed(ago(days(100)), GUID, Some(14), Some(INV1), Some(ago(l_age)))
    };
    let d = silent(days(120)).run();
    assert_eq!(causes(&d), HEALTHY_HIGH);
    let f = finding(&d, FindingCode::LongSilence);
    assert_eq!(f.severity, Severity::Info);
    assert!(f.summary.contains("120 days"), "{}", f.summary);
    assert!(f.summary.contains("does not break the trust by itself"));
    assert_eq!(
        codes(&d),
        vec![FindingCode::LongSilence, FindingCode::Healthy],
        "no other finding"
    );
    assert!(d.actions.token_repair);
    // Boundary of long_silence (90 days): exactly at it is not silence.
    let with = |l_age| {
        Fx::healthy()
            .logons(Some(ago(l_age)), Some(ago(l_age)))
            .llt(Some(ago(l_age)))
            .pwd_set(ago(l_age + days(5)))
            .run()
    };
    for (age, silent) in [
        (days(90) - S, false),
        (days(90), false),
        (days(90) + S, true),
    ] {
        let d = with(age);
        assert_eq!(
            codes(&d).contains(&FindingCode::LongSilence),
            silent,
            "{age}"
        );
        assert_eq!(causes(&d), HEALTHY_HIGH, "{age}");
    }
    // Even with only an imprecise lastLogonTimestamp.
    let d = Fx::healthy()
        .logons(None, None)
        .llt(Some(ago(days(200))))
        .pwd_set(ago(days(210)))
        .run();
    assert_eq!(causes(&d), HEALTHY_HIGH);
    assert!(codes(&d).contains(&FindingCode::LongSilence));
}

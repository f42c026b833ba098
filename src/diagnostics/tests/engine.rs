//! The engine as a whole: the healthy baseline, the settings' defaults, how causes are
//! ranked, the stable JSON codes, and hostile or random input that must never panic.

use super::*;

#[test]
fn healthy_baseline() {
    let d = Fx::healthy().run();
    assert_eq!(causes(&d), HEALTHY_HIGH);
    assert_eq!(codes(&d), vec![FindingCode::Healthy]);
    assert!(!d.protected);
    assert_eq!(
        d.actions,
        AllowedRepairs {
            token_repair: true,
            dc_reset: true
        }
    );
    assert_eq!(d.fix.trustdesk_action, Some(RepairAction::TokenRepair));
    assert!(d.fix.when.contains("snapshot"), "{}", d.fix.when);
    assert_eq!(d.per_dc.len(), 2);
    let row = d.per_dc.first().unwrap();
    assert_eq!(row.dc, "dc1");
    assert_eq!(row.status, DcStatus::Found);
    assert_eq!(row.unicode_pwd_version, Some(14));
    assert_eq!(row.unicode_pwd_origin, Some(INV1));
    assert_eq!(row.unicode_pwd_changed, Some(ago(days(10))));
    assert_eq!(row.last_logon, Some(ago(Duration::HOUR)));
    assert!(!row.lagging);
}

#[test]
fn settings_defaults() {
    let s = DiagnosisSettings::default();
    assert_eq!(s.rotation_window, days(30));
    assert_eq!(s.clone_threshold, 3);
    assert_eq!(s.self_rotation_grace, Duration::minutes(10));
    assert_eq!(s.max_replication_skew, Duration::minutes(5));
    assert_eq!(s.long_silence, days(90));
}

#[test]
fn likely_causes_are_ordered_by_confidence_then_priority() {
    // disabled (high), replication lag by pwdLastSet (medium), clone from creation (low).
    let d = Fx::healthy()
        .account(|a| {
            a.uac = Uac(4098);
            a.when_created = ago(days(20));
        })
        .version(4)
        .dc("dc2", |v| v.pwd_last_set = Some(ago(days(15))))
        .run();
    assert_eq!(
        causes(&d),
        vec![
            (AccountDisabled, High),
            (ReplicationLag, Medium),
            (CloneSuspected, Low)
        ]
    );
    assert_eq!(d.fix, d.likely_causes.first().unwrap().fix);
    // Equal confidence: re-created before disabled before password.
    let d = set_after_logon(days(1))
        .account(|a| a.uac = Uac(4098))
        .dc("dc1", |v| v.bad_password_time = Some(NOW - S))
        .tombstone("PC01$", Some(OTHER_GUID))
        .run();
    assert_eq!(
        causes(&d),
        vec![
            (AccountRecreated, High),
            (AccountDisabled, High),
            (PasswordSetAfterLastLogon, High)
        ]
    );
    // Findings: most severe first.
    let sev: Vec<Severity> = d.findings.iter().map(|f| f.severity).collect();
    let mut sorted = sev.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(sev, sorted);
}

#[test]
fn json_uses_the_stable_snake_case_codes() {
    let d = set_after_logon(days(1)).run();
    let json = serde_json::to_value(&d).unwrap();
    let cause = &json["likely_causes"][0];
    assert_eq!(cause["cause"], "password_set_after_last_logon");
    assert_eq!(cause["confidence"], "medium");
    assert_eq!(cause["fix"]["trustdesk_action"], "token_repair");
    assert_eq!(json["findings"][0]["code"], "password_set_after_last_logon");
    assert_eq!(json["findings"][0]["severity"], "critical");
    assert_eq!(json["per_dc"][0]["status"], "found");
    assert_eq!(json["per_dc"][0]["last_logon"], "2026-11-29T12:00:00Z");
    assert_eq!(json["per_dc"][1]["bad_pwd_count"], 0);
    assert_eq!(json["actions"]["token_repair"], true);
    assert_eq!(json["protected"], false);
    let text = serde_json::to_string(&d).unwrap();
    let back: Diagnosis = serde_json::from_str(&text).unwrap();
    assert_eq!(back, d);

    let all = [
        (Healthy, "healthy"),
        (AccountMissing, "account_missing"),
        (AccountRecreated, "account_recreated"),
        (AccountDisabled, "account_disabled"),
        (PasswordSetAfterLastLogon, "password_set_after_last_logon"),
        (CloneSuspected, "clone_suspected"),
        (ReplicationLag, "replication_lag"),
        (ReplicationInProgress, "replication_in_progress"),
        (StaleLocalSecret, "stale_local_secret"),
        (RotationDisabled, "rotation_disabled"),
        (ProtectedAccount, "protected_account"),
    ];
    assert_eq!(all.map(|(c, _)| c), Cause::ALL);
    for (cause, code) in all {
        assert_eq!(serde_json::to_value(cause).unwrap(), code);
        assert_eq!(cause.as_str(), code);
    }
    for (v, code) in [
        (Severity::Info, "info"),
        (Severity::Warning, "warning"),
        (Severity::Critical, "critical"),
    ] {
        assert_eq!(serde_json::to_value(v).unwrap(), code);
    }
    for (v, code) in [(High, "high"), (Medium, "medium"), (Low, "low")] {
        assert_eq!(serde_json::to_value(v).unwrap(), code);
    }
    assert_eq!(
        serde_json::to_value(RepairAction::DcReset).unwrap(),
        "dc_reset"
    );
    assert_eq!(
        serde_json::to_value(DcStatus::NotFound).unwrap(),
        "not_found"
    );
    assert_eq!(
        serde_json::to_value(DcStatus::Unreachable).unwrap(),
        "unreachable"
    );
    assert_eq!(
        serde_json::to_value(FindingCode::ObjectMissingOnDc).unwrap(),
        "object_missing_on_dc"
    );
    let missing = serde_json::to_value(Fx::missing().run()).unwrap();
    assert_eq!(
        missing["likely_causes"][0]["fix"]["trustdesk_action"],
        serde_json::Value::Null
    );
}

#[test]
fn hostile_settings_and_inputs_do_not_panic() {
    let extremes = [
        DiagnosisSettings {
            rotation_window: Duration::MAX,
            clone_threshold: u32::MAX,
            self_rotation_grace: Duration::MAX,
            max_replication_skew: Duration::MAX,
            long_silence: Duration::MAX,
            repair_watch: Duration::MAX,
        },
        DiagnosisSettings {
            rotation_window: Duration::MIN,
            clone_threshold: 0,
            self_rotation_grace: Duration::MIN,
            max_replication_skew: Duration::MIN,
            long_silence: Duration::MIN,
            repair_watch: Duration::MIN,
        },
        DiagnosisSettings {
            rotation_window: Duration::ZERO,
            clone_threshold: 1,
            self_rotation_grace: Duration::ZERO,
            max_replication_skew: Duration::ZERO,
            long_silence: Duration::ZERO,
            repair_watch: Duration::ZERO,
        },
    ];
    let far_past = datetime!(1601-01-01 0:00 UTC);
    let far_future = datetime!(9999-12-31 23:59:59 UTC);
    let fixtures = [
        Fx::healthy(),
        Fx::missing(),
        Fx::healthy()
            .pwd_set(far_future)
            .logons(Some(far_past), None),
        Fx::healthy()
            .pwd_set(far_past)
            .llt(Some(far_future))
            .version(u32::MAX),
        Fx::healthy().observed(far_future, GUID, Some(u32::MAX), None, Some(far_past)),
        {
            // Nothing at all: no name, no account, no DC.
            let mut fx = Fx::missing();
            fx.0.name_queried = String::new();
            fx.0.per_dc.clear();
            fx
        },
    ];
    for s in &extremes {
        for fx in &fixtures {
            for now in [NOW, far_past, far_future] {
                let d = diagnose(&fx.0, s, now);
                assert!(!d.likely_causes.is_empty());
            }
        }
    }
}

/// A fixed-seed xorshift generator for the property test below.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn time(&mut self) -> Option<OffsetDateTime> {
        (self.pick(5) != 0).then(|| ago(Duration::minutes(self.pick(300 * 24 * 60) as i64)))
    }
}

#[test]
fn invariants_hold_on_random_snapshots() {
    let mut rng = Rng(0x5EED);
    for _ in 0..3_000 {
        let mut fx = if rng.pick(8) == 0 {
            Fx::missing()
        } else {
            Fx::healthy()
        };
        let t1 = rng.time();
        let t2 = rng.time();
        let v1 = rng.pick(20) as u32;
        let v2 = rng.pick(20) as u32;
        fx = fx
            .account(|a| {
                a.uac = Uac(if rng.pick(6) == 0 { 4098 } else { 4096 });
                a.pwd_last_set = t1;
                a.last_logon_timestamp = t2;
                a.when_created = ago(days(rng.pick(500) as i64));
            })
            .each_dc(|v| v.unicode_pwd = Some(meta(v1, ago(days(3)), INV1)));
        if fx.0.account.is_some() {
            let (l, p, b) = (rng.time(), rng.time(), rng.time());
            fx = fx.dc("dc2", |v| {
                v.last_logon = l;
                v.pwd_last_set = p;
                v.bad_password_time = b;
                v.unicode_pwd = Some(meta(v2, ago(days(2)), INV2));
            });
        }
        if rng.pick(4) == 0 {
            fx = fx.unreachable("dc3");
        }
        if rng.pick(5) == 0 {
            fx = fx.tombstone("PC01$", Some(OTHER_GUID));
        }
        if rng.pick(3) == 0 {
            let at = ago(days(rng.pick(60) as i64));
            let g = if rng.pick(6) == 0 { OTHER_GUID } else { GUID };
            fx = fx.observed(at, g, Some(rng.pick(20) as u32), Some(INV2), rng.time());
        }
        fx.0.protected_ou = rng.pick(10) == 0;
        let d = fx.run();
        let cs = causes(&d);
        assert!(!cs.is_empty());
        assert_eq!(d.fix, d.likely_causes.first().unwrap().fix);
        let breaking = cs.iter().any(|(c, _)| c.breaks_channel());
        assert_eq!(cs.iter().any(|(c, _)| *c == Healthy), !breaking);
        if d.protected {
            assert_eq!(cs.first().unwrap().0, ProtectedAccount);
            assert_eq!(d.actions, AllowedRepairs::default());
        }
        if fx.0.account.is_none() {
            assert_eq!(d.actions, AllowedRepairs::default());
        }
        let rest = if d.protected {
            cs.get(1..).unwrap()
        } else {
            &cs[..]
        };
        assert!(rest.windows(2).all(|w| w[0].1 >= w[1].1), "{cs:?}");
        for f in &d.findings {
            assert!(!f.summary.is_empty());
        }
        // The verdict never offers what the diagnosis withholds, and speaks no AD attribute.
        if let Some(p) = &d.verdict.primary {
            assert_eq!(d.withholds(p.action), None, "{:?}", d.verdict);
        }
        assert_plain(&d.verdict.headline);
    }
}

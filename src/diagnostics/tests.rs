//! Table-driven tests of the diagnosis rules, their boundaries and the JSON vocabulary.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::*;
use crate::ad::replmeta::ATTID_UNICODE_PWD;
use crate::ad::{
    AttrMeta, ComputerAccount, DcAccountView, DcOutcome, DcView, Observation, Snapshot, Tombstone,
    Uac,
};

const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);
const GUID: Uuid = Uuid::from_u128(0x1111_2222_3333_4444_5555_6666_7777_8888);
const OTHER_GUID: Uuid = Uuid::from_u128(0x9999);
const INV1: Uuid = Uuid::from_u128(0xD1);
const INV2: Uuid = Uuid::from_u128(0xD2);
const S: Duration = Duration::SECOND;

fn ago(d: Duration) -> OffsetDateTime {
    NOW - d
}
fn days(n: i64) -> Duration {
    Duration::days(n)
}

fn meta(version: u32, at: OffsetDateTime, inv: Uuid) -> AttrMeta {
    AttrMeta {
        attid: ATTID_UNICODE_PWD,
        version,
        originating_change_time: at,
        originating_invocation_id: inv,
        originating_usn: 1000 + u64::from(version),
        local_usn: 900 + u64::from(version),
    }
}

/// A fixture builder. `Fx::healthy()` is a normal, healthy workstation seen by two DCs:
/// created 400 days ago, password rotated 10 days ago (unicodePwd version 14), last logon one
/// hour ago on dc1, three days ago on dc2, lastLogonTimestamp five days ago.
#[derive(Clone)]
struct Fx(Snapshot);

impl Fx {
    fn healthy() -> Fx {
        let pwd = ago(days(10));
        let view = |logon| DcAccountView {
            last_logon: Some(logon),
            pwd_last_set: Some(pwd),
            bad_password_time: None,
            bad_pwd_count: Some(0),
            unicode_pwd: Some(meta(14, pwd, INV1)),
            pwd_last_set_meta: None,
            uac: Some(Uac(4096)),
        };
        Fx(Snapshot {
            name_queried: "PC01".into(),
            account: Some(ComputerAccount {
                dn: "CN=PC01,OU=Workstations,DC=corp,DC=example".into(),
                object_guid: GUID,
                object_sid: Some("S-1-5-21-1-2-3-1104".into()),
                sam_account_name: "PC01$".into(),
                dns_host_name: Some("pc01.corp.example".into()),
                operating_system: Some("Windows 11 Enterprise".into()),
                operating_system_version: Some("10.0 (22631)".into()),
                when_created: ago(days(400)),
                when_changed: ago(days(10)),
                uac: Uac(4096),
                supported_enc_types: None,
                pwd_last_set: Some(pwd),
                last_logon_timestamp: Some(ago(days(5))),
                admin_count: false,
                key_version: Some(15),
                privilege: Default::default(),
            }),
            per_dc: vec![
                DcView {
                    dc: "dc1".into(),
                    outcome: DcOutcome::Found(view(ago(Duration::HOUR))),
                },
                DcView {
                    dc: "dc2".into(),
                    outcome: DcOutcome::Found(view(ago(days(3)))),
                },
            ],
            tombstones: vec![],
            coverage: Default::default(),
            tombstone_check: Default::default(),
            portal_writes: Vec::new(),
            history: vec![],
            redeems: Vec::new(),
            protected_ou: false,
        })
    }

    fn missing() -> Fx {
        let mut fx = Fx::healthy();
        fx.0.account = None;
        for v in &mut fx.0.per_dc {
            v.outcome = DcOutcome::NotFound;
        }
        fx
    }

    fn account(mut self, f: impl FnOnce(&mut ComputerAccount)) -> Fx {
        if let Some(a) = self.0.account.as_mut() {
            f(a);
        }
        self
    }

    fn dc(mut self, name: &str, f: impl FnOnce(&mut DcAccountView)) -> Fx {
        let v = self.0.per_dc.iter_mut().find(|v| v.dc == name).unwrap();
        match &mut v.outcome {
            DcOutcome::Found(view) => f(view),
            other => panic!("{name} is {other:?}"),
        }
        self
    }

    fn each_dc(mut self, f: impl Fn(&mut DcAccountView)) -> Fx {
        for v in &mut self.0.per_dc {
            if let DcOutcome::Found(view) = &mut v.outcome {
                f(view);
            }
        }
        self
    }

    fn outcome(mut self, name: &str, outcome: DcOutcome) -> Fx {
        match self.0.per_dc.iter_mut().find(|v| v.dc == name) {
            Some(v) => v.outcome = outcome,
            None => self.0.per_dc.push(DcView {
                dc: name.into(),
                outcome,
            }),
        }
        self
    }

    fn unreachable(self, name: &str) -> Fx {
        self.outcome(
            name,
            DcOutcome::Unreachable {
                error: "connection timed out".into(),
            },
        )
    }

    /// Sets the password write time everywhere (account, every DC, metadata).
    fn pwd_set(self, t: OffsetDateTime) -> Fx {
        self.account(|a| a.pwd_last_set = Some(t)).each_dc(|v| {
            v.pwd_last_set = Some(t);
            if let Some(m) = v.unicode_pwd.as_mut() {
                m.originating_change_time = t;
            }
        })
    }

    fn version(self, version: u32) -> Fx {
        self.each_dc(|v| {
            if let Some(m) = v.unicode_pwd.as_mut() {
                m.version = version;
            }
        })
    }

    fn logons(self, dc1: Option<OffsetDateTime>, dc2: Option<OffsetDateTime>) -> Fx {
        self.dc("dc1", |v| v.last_logon = dc1)
            .dc("dc2", |v| v.last_logon = dc2)
    }

    fn llt(self, t: Option<OffsetDateTime>) -> Fx {
        self.account(|a| a.last_logon_timestamp = t)
    }

    fn tombstone(mut self, sam: &str, guid: Option<Uuid>) -> Fx {
        self.0.tombstones.push(Tombstone {
            dn: format!(
                "CN=PC01\\0ADEL:{},CN=Deleted Objects,DC=corp,DC=example",
                OTHER_GUID
            ),
            object_guid: guid,
            sam_account_name: sam.into(),
            when_changed: Some(ago(days(20))),
            last_known_parent: Some("OU=Workstations,DC=corp,DC=example".into()),
        });
        self
    }

    fn observed(
        mut self,
        at: OffsetDateTime,
        guid: Uuid,
        version: Option<u32>,
        origin: Option<Uuid>,
        last_logon: Option<OffsetDateTime>,
    ) -> Fx {
        self.0.history.push(Observation {
            observed_at: at,
            object_guid: guid,
            unicode_pwd_version: version,
            originating_dc: origin,
            last_logon,
        });
        self
    }

    fn run(&self) -> Diagnosis {
        self.run_with(&DiagnosisSettings::default())
    }

    fn run_with(&self, s: &DiagnosisSettings) -> Diagnosis {
        diagnose(&self.0, s, NOW)
    }
}

fn causes(d: &Diagnosis) -> Vec<(Cause, Confidence)> {
    d.likely_causes
        .iter()
        .map(|c| (c.cause, c.confidence))
        .collect()
}

fn codes(d: &Diagnosis) -> Vec<FindingCode> {
    d.findings.iter().map(|f| f.code).collect()
}

fn finding(d: &Diagnosis, code: FindingCode) -> &Finding {
    d.findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code:?} in {:#?}", d.findings))
}

use Cause::*;
use Confidence::{High, Low, Medium};

mod history;

const HEALTHY_HIGH: &[(Cause, Confidence)] = &[(Healthy, High)];
const IN_PROGRESS: &[(Cause, Confidence)] = &[(ReplicationInProgress, Medium)];

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

/// dc1 holds the latest logon, two days ago; the password is set `offset` after it.
fn set_after_logon(offset: Duration) -> Fx {
    let l = ago(days(2));
    Fx::healthy()
        .logons(Some(l), Some(ago(days(3))))
        .llt(Some(ago(days(6))))
        .pwd_set(l + offset)
}

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
        Fx(Snapshot {
            name_queried: String::new(),
            account: None,
            per_dc: vec![],
            tombstones: vec![],
            coverage: Default::default(),
            tombstone_check: Default::default(),
            portal_writes: Vec::new(),
            history: vec![],
            redeems: Vec::new(),
            protected_ou: false,
        }),
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

fn assert_plain(headline: &str) {
    for word in [
        "pwdLastSet",
        "unicodePwd",
        "lastLogon",
        "_",
        "userAccountControl",
        "UAC",
    ] {
        assert!(!headline.contains(word), "{headline}");
    }
}

#[test]
fn the_verdict_speaks_plainly_and_offers_one_repair() {
    use verdict::VerdictState::{Broken, NoCauseFound, Refused};
    let protected = {
        let mut fx = Fx::healthy();
        fx.0.protected_ou = true;
        fx
    };
    // (situation, state, words in the headline, the primary repair)
    let table = [
        (
            Fx::healthy(),
            NoCauseFound,
            "No cause found in AD: the account is enabled and every",
            Some(RepairAction::TokenRepair),
        ),
        (
            Fx::healthy().unreachable("dc2"),
            NoCauseFound,
            "not every domain controller answered",
            Some(RepairAction::TokenRepair),
        ),
        (
            set_after_logon(days(8)),
            Broken,
            "the password in AD was changed 8 days after this PC last signed in",
            Some(RepairAction::TokenRepair),
        ),
        (
            set_after_logon(Duration::hours(3)),
            Broken,
            "changed 3 h after this PC",
            Some(RepairAction::TokenRepair),
        ),
        (
            Fx::healthy()
                .account(|a| a.uac = Uac(4098))
                .each_dc(|v| v.uac = Some(Uac(4098))),
            Broken,
            "disabled in AD. Enable it",
            None,
        ),
        (Fx::missing(), Broken, "no computer account in AD", None),
        (protected, Refused, "Escalate to a domain admin", None),
    ];
    for (fx, state, words, primary) in table {
        let d = fx.run();
        let v = &d.verdict;
        assert_eq!(v.state, state, "{v:?}");
        assert!(v.headline.contains(words), "{v:?}");
        assert_eq!(v.primary.as_ref().map(|p| p.action), primary, "{v:?}");
        assert_plain(&v.headline);
    }
    let label = |fx: Fx| fx.run().verdict.primary.map(|p| p.label);
    assert_eq!(
        label(set_after_logon(days(8))).as_deref(),
        Some("Fix with a token repair (~2 min)")
    );
    assert_eq!(
        label(Fx::healthy()).as_deref(),
        Some("If the PC still shows the error: fix with a token repair (~2 min)")
    );
}

#[test]
fn durations_and_names_read_well() {
    use super::facts::{same_name, span};
    let table = [
        (Duration::seconds(30), "30 s"),
        (Duration::minutes(10), "10 min"),
        (Duration::seconds(250), "4 min 10 s"),
        (Duration::HOUR, "1 h"),
        (Duration::minutes(303), "5 h 3 min"),
        (days(1), "24 h"),
        (days(2), "2 days"),
        (-days(93), "93 days"),
    ];
    for (d, text) in table {
        assert_eq!(span(d), text);
    }
    assert!(same_name("PC01$", "pc01"));
    assert!(same_name("pc01.corp.example", "PC01$"));
    assert!(!same_name("PC01", "PC011"));
    assert!(!same_name("", "$"));
}

#[test]
fn the_verdict_states_are_the_documented_ones() {
    use verdict::VerdictState::*;
    let spec: serde_json::Value =
        serde_json::from_str(include_str!("../web/openapi.json")).unwrap();
    let verdict = &spec["components"]["schemas"]["Diagnosis"]["properties"]["verdict"];
    let listed = verdict["properties"]["state"]["enum"].clone();
    let ours = serde_json::to_value([Broken, Settling, Refused, NoCauseFound]).unwrap();
    assert_eq!(listed, ours);
    let json = serde_json::to_value(set_after_logon(days(8)).run().verdict).unwrap();
    for key in ["state", "headline", "primary"] {
        assert!(verdict["properties"].get(key).is_some(), "{key}");
        assert!(json.get(key).is_some(), "{key}");
    }
    assert_eq!(json["primary"]["action"], "token_repair");
}

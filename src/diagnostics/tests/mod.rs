//! Table-driven tests of the diagnosis rules, their boundaries and the JSON vocabulary, one file
//! per rule area (`account`, `password`, `replication`, `history`), the engine as a whole
//! (`engine`) and the verdict (`verdict`), all built with the one fixture builder [`Fx`] here.

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

/// dc1 holds the latest logon, two days ago; the password is set `offset` after it.
fn set_after_logon(offset: Duration) -> Fx {
    let l = ago(days(2));
    Fx::healthy()
        .logons(Some(l), Some(ago(days(3))))
        .llt(Some(ago(days(6))))
        .pwd_set(l + offset)
}

/// A verdict headline speaks a technician's words: no attribute names, no codes.
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

use Cause::*;
use Confidence::{High, Low, Medium};

mod account;
mod engine;
mod history;
mod password;
mod replication;
mod verdict;

const HEALTHY_HIGH: &[(Cause, Confidence)] = &[(Healthy, High)];
const IN_PROGRESS: &[(Cause, Confidence)] = &[(ReplicationInProgress, Medium)];

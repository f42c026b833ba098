//! In-process pieces with criterion: the diagnosis of one computer (two DCs), what the fleet
//! scan adds per computer (headline + tally), an audit chain link, a CSV line, and the SVG
//! histogram. No lab needed.
//!
//!   cargo bench --bench inprocess

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use trustdesk::ad::{AttrMeta, ComputerAccount, DcAccountView, DcOutcome, DcView, Snapshot, Uac};
use trustdesk::diagnostics::{DiagnosisSettings, diagnose};
use trustdesk::fleet::tally::{Tally, headline};

fn snapshot(now: OffsetDateTime) -> Snapshot {
    let meta = |at: OffsetDateTime, version: u32| AttrMeta {
        attid: 0x9005A,
        version,
        originating_change_time: at,
        originating_invocation_id: Uuid::from_u128(7),
        originating_usn: 4100,
        local_usn: 4100,
    };
    let pwd = now - Duration::days(12);
    let view = |logon: OffsetDateTime| DcAccountView {
        last_logon: Some(logon),
        pwd_last_set: Some(pwd),
        bad_password_time: None,
        bad_pwd_count: Some(0),
        unicode_pwd: Some(meta(pwd, 9)),
        pwd_last_set_meta: Some(meta(pwd, 9)),
        uac: Some(Uac(4096)),
    };
    Snapshot {
        name_queried: "PAR-WS001".into(),
        account: Some(ComputerAccount {
            dn: "CN=PAR-WS001,OU=Paris,OU=Workstations,DC=lab,DC=example,DC=test".into(),
            object_guid: Uuid::from_u128(42),
            object_sid: Some("S-1-5-21-1-2-3-1105".into()),
            sam_account_name: "PAR-WS001$".into(),
            dns_host_name: Some("par-ws001.lab.example.test".into()),
            operating_system: Some("Windows 11 Enterprise".into()),
            operating_system_version: Some("10.0 (22631)".into()),
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
        per_dc: vec![
            DcView {
                dc: "dc1".into(),
                outcome: DcOutcome::Found(view(now - Duration::hours(2))),
            },
            DcView {
                dc: "dc2".into(),
                outcome: DcOutcome::Found(view(now - Duration::days(1))),
            },
        ],
        tombstones: Vec::new(),
        coverage: Default::default(),
        tombstone_check: Default::default(),
        portal_writes: Vec::new(),
        history: Vec::new(),
        redeems: Vec::new(),
        protected_ou: false,
    }
}

fn benches(c: &mut Criterion) {
    let now = trustdesk::clock::now();
    let s = snapshot(now);
    let settings = DiagnosisSettings::default();
    c.bench_function("diagnose (2 DCs)", |b| {
        b.iter(|| diagnose(black_box(&s), &settings, now))
    });
    let d = diagnose(&s, &settings, now);
    let account = s.account.clone().unwrap();
    c.bench_function("fleet: headline + tally per computer", |b| {
        let mut t = Tally::default();
        b.iter(|| {
            let h = headline(black_box(&d));
            t.add(&account, Some(now), &h, now);
        })
    });
    let event = trustdesk::audit::event(
        trustdesk::audit::Action::Lookup,
        trustdesk::audit::Outcome::Success,
        trustdesk::clock::now(),
    )
    .target_name("PAR-WS001");
    c.bench_function("audit link_hash", |b| {
        b.iter(|| trustdesk::audit::link_hash(black_box("ab".repeat(32).as_str()), 1, &event))
    });
    let bars: Vec<trustdesk::fleet::plots::Bar> = (0..10)
        .map(|i| trustdesk::fleet::plots::Bar {
            label: format!("{i}-{}", i + 7),
            value: i * 100,
            href: None,
        })
        .collect();
    c.bench_function("fleet: histogram SVG", |b| {
        b.iter(|| trustdesk::fleet::plots::histogram_svg("Password age", "days", black_box(&bars)))
    });
}

criterion_group!(inprocess, benches);
criterion_main!(inprocess);

//! The raw side of the lookup benchmarks: the LDAP searches one diagnosis needs, done directly
//! with ldap3 on open connections (each bench is its own crate and includes this file).

#![allow(dead_code)]

use std::sync::Arc;

use ldap3::controls::RawControl;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope};

use super::common::env;

/// A bound connection to `url` as the lab's service account, on a socket opened as the
/// portal opens its own (Nagle's algorithm off).
pub async fn ldap(url: &str, tls: Arc<rustls::ClientConfig>) -> Ldap {
    let tcp = trustdesk::directory::locator::open_tcp(&url::Url::parse(url).unwrap())
        .await
        .unwrap();
    let settings = LdapConnSettings::new()
        .set_config(tls)
        .set_std_stream(ldap3::StdStream::Tcp(tcp));
    let (conn, mut l) = LdapConnAsync::with_settings(settings, url).await.unwrap();
    ldap3::drive!(conn);
    l.simple_bind(&env("LAB_SVC_UPN"), &env("LAB_SVC_PW"))
        .await
        .unwrap()
        .success()
        .unwrap();
    l
}

/// A TLS client configuration trusting the lab's CA.
pub fn lab_tls() -> Arc<rustls::ClientConfig> {
    let roots = trustdesk::directory::tls::load_ca(std::path::Path::new(&env("LAB_CA"))).unwrap();
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// The searches one diagnosis needs, in the fewest round trips: find the account; then, all
/// at once, per DC the per-DC attributes, and the tombstone search (the Deleted Objects
/// container itself and its children).
pub async fn raw_lookup(dcs: &[Ldap], base: &str, name: &str) {
    // The portal's own filters, so the two sides cannot drift apart.
    let q = trustdesk::directory::filter::ComputerQuery::parse(name).unwrap();
    let filter = q.exact_filters().swap_remove(0);
    let mut first = dcs[0].clone();
    let (entries, _) = first
        .search(
            base,
            Scope::Subtree,
            &filter,
            trustdesk::directory::computers::ACCOUNT_ATTRS.to_vec(),
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let dn = ldap3::SearchEntry::construct(entries.into_iter().next().unwrap()).dn;
    let per_dc = dcs.iter().map(|l| {
        let (mut l, dn) = (l.clone(), dn.clone());
        async move {
            l.search(
                &dn,
                Scope::Base,
                "(objectClass=*)",
                trustdesk::directory::computers::PER_DC_ATTRS.to_vec(),
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        }
    });
    // The Deleted Objects container itself (may we look?) and its children, at once.
    let container = format!("CN=Deleted Objects,{base}");
    let controls = || {
        vec![
            RawControl {
                ctype: "1.2.840.113556.1.4.417".into(),
                crit: true,
                val: None,
            },
            RawControl {
                ctype: "1.2.840.113556.1.4.2064".into(),
                crit: false,
                val: None,
            },
        ]
    };
    let (mut l1, mut l2) = (dcs[0].clone(), dcs[0].clone());
    let seen = l1.with_controls(controls()).search(
        &container,
        Scope::Base,
        "(objectClass=*)",
        vec!["objectClass"],
    );
    let filter = trustdesk::directory::filter::tombstone_filter(&format!("{name}$"));
    let children = l2.with_controls(controls()).search(
        &container,
        Scope::OneLevel,
        &filter,
        vec![
            "objectGUID",
            "sAMAccountName",
            "whenChanged",
            "lastKnownParent",
        ],
    );
    let tomb = async {
        let _ = tokio::join!(seen, children);
    };
    tokio::join!(futures_util::future::join_all(per_dc), tomb);
}

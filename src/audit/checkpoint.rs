//! Signed heads: when to sign the chain head ([`due`], pure), signing it (stored, and one JSON
//! line on the `audit` target for the SIEM), the portal's background signer, and
//! [`verify_signed`], which checks every stored head under public keys given from outside.

use std::sync::Arc;

use time::OffsetDateTime;

use super::VerifyError;
use super::key::{AuditKey, AuditPublicKey, SignedHead};
use crate::db::{Store, StoreError};

/// How often the head is signed: after this many events, or this long after the last signed
/// head when anything was appended since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignEvery {
    pub events: i64,
    pub interval: time::Duration,
}

impl SignEvery {
    pub fn from_config(cfg: &crate::config::AuditConfig) -> Self {
        Self {
            events: i64::from(cfg.sign_every_events.max(1)),
            interval: time::Duration::minutes(i64::from(cfg.sign_every_minutes.max(1))),
        }
    }
}

/// Whether the head at `head_seq` should be signed now, given the newest signed head.
pub fn due(
    head_seq: i64,
    last: Option<&SignedHead>,
    now: OffsetDateTime,
    every: SignEvery,
) -> bool {
    match last {
        None => head_seq > 0,
        Some(last) => {
            head_seq > last.seq
                && (head_seq - last.seq >= every.events || now - last.signed_at >= every.interval)
        }
    }
}

/// Sign the current head at `now`, store it and write it to the SIEM line. `None`: the chain
/// is empty, or its head is already signed.
pub async fn sign_head(
    store: &Store,
    key: &AuditKey,
    now: OffsetDateTime,
) -> Result<Option<SignedHead>, StoreError> {
    let Some((seq, hash)) = store.audit_head().await? else {
        return Ok(None);
    };
    let head = key.sign(seq, &hash, now);
    if !store.add_signed_head(&head).await? {
        return Ok(None);
    }
    if tracing::enabled!(target: "audit", tracing::Level::INFO) {
        match serde_json::to_string(&serde_json::json!({ "signed_head": &head })) {
            Ok(line) => tracing::info!(target: "audit", "{line}"),
            Err(e) => tracing::error!(target: "audit", error = %e, "signed head not serialisable"),
        }
    }
    Ok(Some(head))
}

/// Sign the head if [`due`].
pub async fn sign_if_due(
    store: &Store,
    key: &AuditKey,
    every: SignEvery,
    now: OffsetDateTime,
) -> Result<Option<SignedHead>, StoreError> {
    let Some((seq, _)) = store.audit_head().await? else {
        return Ok(None);
    };
    let last = store.latest_signed_head().await?;
    if !due(seq, last.as_ref(), now, every) {
        return Ok(None);
    }
    sign_head(store, key, now).await
}

/// The portal's signer: looks at the head every few seconds (one indexed read) and signs it
/// when [`due`]. Several instances share the stored heads, so they do not sign twice as often.
pub fn spawn(store: Store, key: Arc<AuditKey>, every: SignEvery) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sign_if_due(&store, &key, every, crate::clock::now()).await {
                tracing::error!(error = %e, "could not sign the audit chain head");
            }
        }
    });
}

/// What [`verify_signed`] found: every signed head held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReport {
    /// How many signed heads were checked.
    pub heads: u64,
    /// The newest of them.
    pub newest: Option<SignedHead>,
}

/// Check every stored signed head, in order: its signature is one of `keys`', and the chain
/// row at its `seq` still has its hash. The first head that fails is the error. No signed head
/// at all, on a chain with rows, is an error too: that is what deleting them looks like.
pub async fn verify_signed(
    store: &Store,
    keys: &[AuditPublicKey],
    chain_rows: u64,
) -> Result<SignedReport, VerifyError> {
    const PAGE: i64 = 10_000;
    let mut report = SignedReport {
        heads: 0,
        newest: None,
    };
    let mut after = 0;
    loop {
        let page = store.signed_heads_against_chain(after, PAGE).await?;
        let Some(last) = page.last().map(|(h, _)| h.seq) else {
            break;
        };
        for (head, chain_hash) in page {
            check_one(&head, chain_hash.as_deref(), keys)?;
            report.heads += 1;
            report.newest = Some(head);
        }
        after = last;
    }
    if report.heads == 0 && chain_rows > 0 {
        return Err(VerifyError::Unsigned(
            "no signed head in the database: nothing proves the chain under the key \
             (were they deleted? compare with the signed heads in the SIEM)"
                .into(),
        ));
    }
    Ok(report)
}

/// A warning when more rows follow the newest signed head than the signer lets pass (twice
/// `every.events`): heads may have been deleted from the database, or the portal has not run
/// since (compare with the heads in the SIEM).
pub fn unsigned_tail(head_seq: i64, newest_signed: i64, every: SignEvery) -> Option<String> {
    let tail = head_seq - newest_signed;
    (tail > every.events.saturating_mul(2)).then(|| {
        format!(
            "{tail} rows follow the newest signed head (seq {newest_signed}); the portal signs \
             every {} events: were signed heads deleted, or has the portal not run since? \
             Compare with the signed heads in the SIEM (audit verify --head SEQ:HASH)",
            every.events
        )
    })
}

fn check_one(
    head: &SignedHead,
    chain_hash: Option<&str>,
    keys: &[AuditPublicKey],
) -> Result<(), VerifyError> {
    let broken = |reason: String| VerifyError::SignedHead {
        seq: head.seq,
        reason,
    };
    if !keys.iter().any(|k| k.verifies(head)) {
        return Err(broken(format!(
            "its signature (key {}) is not valid under the given key(s): forged or altered",
            head.key_id
        )));
    }
    match chain_hash {
        None => Err(broken("the chain has no row there any more (cut)".into())),
        Some(h) if h != head.hash => Err(broken(
            "the chain's row there has another hash: the chain was rewritten at or before it"
                .into(),
        )),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: i64, at: i64) -> SignedHead {
        SignedHead {
            seq,
            hash: String::new(),
            signed_at: OffsetDateTime::from_unix_timestamp(at).unwrap(),
            key_id: String::new(),
            signature: String::new(),
        }
    }

    /// A captured log: what the `audit` target writes, as the SIEM receives it.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The signer stores a head and writes it, signed, to the SIEM line; the stored head
    /// verifies under the public key, and a head already signed is not signed again.
    #[tokio::test]
    async fn a_signed_head_is_stored_and_sent_to_the_siem() {
        let (store, dir) = crate::db::temp_sqlite().await;
        let key = AuditKey::load_or_create(&dir.path().join("audit.key")).unwrap();
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let now = crate::clock::now();
        assert_eq!(sign_head(&store, &key, now).await.unwrap(), None, "empty");
        for n in 0..3 {
            crate::audit::record(
                &store,
                &crate::audit::event(
                    crate::audit::Action::Lookup,
                    crate::audit::Outcome::Success,
                    crate::clock::now(),
                )
                .reason(format!("{n}")),
            )
            .await
            .unwrap();
        }
        let head = sign_head(&store, &key, now).await.unwrap().unwrap();
        assert_eq!(head.seq, 3);
        assert_eq!(
            sign_head(&store, &key, now).await.unwrap(),
            None,
            "signed once"
        );
        assert_eq!(
            store.latest_signed_head().await.unwrap(),
            Some(head.clone())
        );
        let report = verify_signed(&store, &[key.public()], 3).await.unwrap();
        assert_eq!((report.heads, report.newest), (1, Some(head.clone())));
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        let line = text.lines().find(|l| l.contains("signed_head")).unwrap();
        assert!(line.contains(" audit: "), "on the audit target: {line}");
        let json: serde_json::Value =
            serde_json::from_str(&line[line.find('{').unwrap()..]).unwrap();
        assert_eq!(json["signed_head"]["seq"], 3);
        assert_eq!(json["signed_head"]["hash"], head.hash.as_str());
        assert_eq!(json["signed_head"]["signature"], head.signature.as_str());
    }

    #[test]
    fn the_head_is_signed_every_n_events_or_m_minutes_when_it_moved() {
        let every = SignEvery {
            events: 100,
            interval: time::Duration::minutes(5),
        };
        let t0 = 1_800_000_000;
        let at = |s: i64| OffsetDateTime::from_unix_timestamp(t0 + s).unwrap();
        assert!(!due(0, None, at(0), every), "an empty chain");
        assert!(due(1, None, at(0), every), "never signed yet");
        let last = head(200, t0);
        assert!(!due(200, Some(&last), at(3600), every), "nothing new");
        assert!(!due(299, Some(&last), at(299), every));
        assert!(due(300, Some(&last), at(1), every), "100 events");
        assert!(due(201, Some(&last), at(300), every), "5 minutes");
        assert!(!due(201, Some(&last), at(299), every));
        assert_eq!(unsigned_tail(400, 200, every), None);
        let w = unsigned_tail(401, 200, every).unwrap();
        assert!(w.contains("201 rows") && w.contains("seq 200"), "{w}");
    }
}

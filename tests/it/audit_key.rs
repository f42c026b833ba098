//! The audit key (#16 M-3): a database administrator rewrites one event and re-hashes the
//! chain after it. The unkeyed `trustdesk audit verify` still passes; `verify --key PUB`, with
//! the public key kept away from the database, fails at the first signed head after the edit.
//! On SQLite and on PostgreSQL, through the real `trustdesk` binary.

use std::path::Path;
use std::process::Command;

use sqlx::Executor;
use time::OffsetDateTime;
use trustdesk::audit::{self, checkpoint, key::AuditKey};
use trustdesk::db::{NewAuditRow, Store};

use crate::common::pg_admin_url;
use crate::store::exec;

/// Run `trustdesk --config <config> ARGS`: (success, stdout, stderr).
fn trustdesk(config: &Path, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trustdesk"));
    cmd.arg("--config").arg(config).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("TRUSTDESK_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.success(), stdout, stderr)
}

/// A config on `data_dir`, with `database_url` when given.
fn write_config(dir: &Path, database_url: Option<&str>) -> std::path::PathBuf {
    let db = database_url.map_or(String::new(), |u| format!("database_url = \"{u}\"\n"));
    let toml = format!(
        "data_dir = \"{}\"\n{db}{}\n[audit]\nsign_every_events = 5\n",
        dir.display(),
        crate::config_cli::GOOD
    );
    let path = dir.join("trustdesk.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn event(n: i64) -> NewAuditRow {
    NewAuditRow {
        at: OffsetDateTime::from_unix_timestamp(1_790_000_000 + n).unwrap(),
        actor_sub: Some("alice".into()),
        actor_name: Some("Alice Senior".into()),
        actor_roles: "senior".into(),
        action: "reset_account".into(),
        target_name: Some(format!("PAR-WS{n:03}")),
        outcome: "success".into(),
        reason: Some(format!("ticket {n}")),
        ..Default::default()
    }
}

/// What a DB administrator can do without the key: set row `seq`'s reason, then recompute
/// every hash from there with the crate's own link function, so the chain is consistent again
/// (`exec` drops SQLite's append-only triggers first, as the administrator can).
async fn rewrite_and_rehash(store: &Store, seq: i64, reason: &str) {
    let mut rows = store.audit_page(seq - 1, 1_000).await.unwrap();
    let mut prev = rows[0].prev_hash.clone();
    rows[0].event.reason = Some(reason.to_string());
    exec(
        store,
        &format!("UPDATE audit_events SET reason = '{reason}' WHERE seq = {seq}"),
    )
    .await;
    for row in &rows {
        let hash = audit::link_hash(&prev, row.seq, &row.event);
        exec(
            store,
            &format!(
                "UPDATE audit_events SET prev_hash = '{prev}', hash = '{hash}' WHERE seq = {}",
                row.seq
            ),
        )
        .await;
        prev = hash;
    }
}

/// 30 events, the head signed every 10 (at 10, 20, 30); event 15 rewritten.
async fn rewrite_is_caught_by_the_signed_heads(store: Store, dir: &Path, config: &Path) {
    let key = AuditKey::load_or_create(&dir.join("audit.key")).unwrap();
    let every = checkpoint::SignEvery {
        events: 10,
        interval: time::Duration::hours(1),
    };
    let now = trustdesk::clock::now();
    let mut signed = Vec::new();
    for n in 1..=30 {
        audit::record(&store, &event(n)).await.unwrap();
        if let Some(h) = checkpoint::sign_if_due(&store, &key, every, now)
            .await
            .unwrap()
        {
            signed.push(h.seq);
        }
    }
    assert_eq!(signed, [1, 11, 21], "the first event, then every 10 events");
    // A head is signed only once however often the signer looks.
    assert!(
        checkpoint::sign_head(&store, &key, now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        checkpoint::sign_head(&store, &key, now)
            .await
            .unwrap()
            .is_none()
    );

    // The operator stores the public key away from the database.
    let (ok, public, err) = trustdesk(config, &["audit-key", "public"]);
    assert!(ok, "{err}");
    let public = public.trim().to_string();
    assert_eq!(public, key.public().to_b64());
    let pub_file = dir.join("audit.pub");
    std::fs::write(&pub_file, format!("{public}\n")).unwrap();

    let (ok, out, err) = trustdesk(config, &["audit", "verify", "--key", &public]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("signed heads OK: 4 checked"), "{out}");

    if matches!(store, Store::Sqlite(_)) {
        // Without dropping the triggers, SQLite refuses to change or remove a row.
        for sql in [
            "UPDATE audit_events SET reason = 'x' WHERE seq = 15",
            "DELETE FROM audit_events WHERE seq = 30",
        ] {
            let Store::Sqlite(db) = &store else {
                unreachable!()
            };
            let e = db.pool.execute(sql).await.unwrap_err().to_string();
            assert!(e.contains("append-only"), "{e}");
        }
    }

    rewrite_and_rehash(&store, 15, "nothing happened").await;
    // The unkeyed check cannot tell.
    let (ok, out, err) = trustdesk(config, &["audit", "verify"]);
    assert!(ok, "the re-hashed chain is consistent: {out}{err}");
    // The signed head after the edit (seq 21) no longer matches; the one before (11) still does.
    for key_arg in [public.as_str(), pub_file.to_str().unwrap()] {
        let (ok, out, err) = trustdesk(config, &["audit", "verify", "--key", key_arg]);
        assert!(!ok, "{out}");
        assert!(
            err.contains("signed head at seq 21") && err.contains("rewritten"),
            "{err}"
        );
    }

    // What the database alone cannot show: with the heads after the edit deleted, the heads
    // left still verify; `--key` passes but warns that the unsigned tail is longer than the
    // signer allows (2 × `sign_every_events` = 10), and the SIEM's copies are what tell.
    exec(&store, "DELETE FROM audit_heads WHERE seq > 11").await;
    let (ok, out, err) = trustdesk(config, &["audit", "verify", "--key", &public]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("the newest at seq 11; 19 rows after it"),
        "{out}"
    );
    assert!(
        err.contains("warning: 19 rows follow") && err.contains("SIEM"),
        "{err}"
    );

    // Re-signing the forged chain needs the key: a head signed with another key is refused...
    let forger = AuditKey::load_or_create(&dir.join("forger.key")).unwrap();
    checkpoint::sign_head(&store, &forger, now).await.unwrap();
    let (ok, _, err) = trustdesk(config, &["audit", "verify", "--key", &public]);
    assert!(!ok);
    assert!(
        err.contains("signed head at seq 30") && err.contains("not valid under the given key"),
        "{err}"
    );
    // ...and deleting every signed head leaves nothing to prove the chain.
    exec(&store, "DELETE FROM audit_heads").await;
    let (ok, _, err) = trustdesk(config, &["audit", "verify", "--key", &public]);
    assert!(!ok);
    assert!(err.contains("no signed head"), "{err}");
    // A key that is not one is named.
    let (ok, _, err) = trustdesk(config, &["audit", "verify", "--key", "not-a-key"]);
    assert!(!ok);
    assert!(err.contains("--key"), "{err}");
}

#[tokio::test]
async fn sqlite_a_rehashed_rewrite_fails_verify_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), None);
    let url = trustdesk::db::default_url(dir.path());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    rewrite_is_caught_by_the_signed_heads(store, dir.path(), &config).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn postgres_a_rehashed_rewrite_fails_verify_with_the_key() {
    crate::store::with_pg(|store| async move {
        let Store::Postgres(pool) = &store else {
            unreachable!("with_pg gives PostgreSQL")
        };
        let name = pool.connect_options().get_database().unwrap().to_string();
        let mut url = url::Url::parse(&pg_admin_url()).unwrap();
        url.set_path(&name);
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), Some(url.as_str()));
        rewrite_is_caught_by_the_signed_heads(store, dir.path(), &config).await;
    })
    .await;
}

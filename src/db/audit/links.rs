//! Reading the chain's links from SQLite for verification: a page of rows as one value.
//!
//! Verification of a long chain was bound by decoding rows, not by hashing them: sqlx's SQLite
//! driver copies every value of every row, builds a row object, and hands each row from its
//! worker thread to the caller on its own (BENCHMARKS.md, session 20). So SQLite packs a
//! whole page into one text value, each row self-delimiting (a header of the row's `seq` and
//! its three fields' lengths in bytes, then the fields), and Rust cuts it apart. A length
//! header, not separators: the fields are stored data, and a stored character must not be
//! able to pass for a boundary between rows.
//!
//! The packed form is only a faster way to read the same values. A page that does not unpack
//! exactly (a field that is NULL drops its row from the aggregate, so the row count then
//! differs; a length that does not fall on a character boundary) is read again row by row,
//! where such a row fails as it always did.

use sqlx::{Row, SqlitePool};

use super::{AuditLink, LinkBody};

/// The canonical body of a row (`crate::audit::link_hash`'s JSON, in its field order), built
/// by SQLite's `json_object`. An exotic character may be escaped differently from
/// serde_json; verification then re-reads the row and hashes it in Rust, which is
/// authoritative.
macro_rules! canonical_body {
    () => {
        "json_object('seq', seq, 'at', at, \
        'actor_sub', actor_sub, 'actor_name', actor_name, 'actor_email', actor_email, \
        'actor_roles', actor_roles, 'source_ip', source_ip, 'user_agent', user_agent, \
        'request_id', request_id, 'action', action, 'target_dn', target_dn, \
        'target_guid', target_guid, 'target_name', target_name, 'outcome', outcome, \
        'reason', reason, 'ticket', ticket)"
    };
}

/// The rows after `$1`, at most `$2`, one by one.
const ROWS: &str = concat!(
    "SELECT seq, prev_hash, hash, ",
    canonical_body!(),
    " AS body FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"
);

/// The same rows, counted and packed into one value in chain order: per row
/// `"{seq} {bytes of prev_hash} {bytes of hash} {bytes of body} "`, then the three fields.
const PACKED: &str = concat!(
    "SELECT count(*) AS n, coalesce(group_concat(\
        printf('%d %d %d %d ', seq, octet_length(prev_hash), octet_length(hash), \
        octet_length(body)) || prev_hash || hash || body, '' ORDER BY seq), '') AS packed \
     FROM (SELECT seq, prev_hash, hash, ",
    canonical_body!(),
    " AS body FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2)"
);

/// The links after `after_seq` in chain order, at most `limit`.
pub(in crate::db) async fn sqlite(
    pool: &SqlitePool,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditLink>, sqlx::Error> {
    let row = sqlx::query(PACKED)
        .bind(after_seq)
        .bind(limit)
        .fetch_one(pool)
        .await?;
    let (n, packed): (i64, String) = (row.try_get("n")?, row.try_get("packed")?);
    if let Some(links) = unpack(&packed).filter(|l| i64::try_from(l.len()) == Ok(n)) {
        return Ok(links);
    }
    tracing::warn!(
        after_seq,
        "an audit page did not unpack; reading it row by row"
    );
    let rows = sqlx::query(ROWS)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(AuditLink {
                seq: r.try_get("seq")?,
                prev_hash: r.try_get("prev_hash")?,
                hash: r.try_get("hash")?,
                body: LinkBody::Canonical(r.try_get("body")?),
            })
        })
        .collect()
}

/// The links of a packed page, or `None` if it is not exactly a sequence of packed rows.
fn unpack(mut rest: &str) -> Option<Vec<AuditLink>> {
    let mut links = Vec::new();
    while !rest.is_empty() {
        let mut header = [0i64; 4];
        for value in &mut header {
            let (number, after) = rest.split_once(' ')?;
            *value = number.parse().ok()?;
            rest = after;
        }
        let [seq, prev, hash, body] = header;
        let mut field = |len: i64| {
            let len = usize::try_from(len).ok()?;
            let (value, after) = (rest.get(..len)?, rest.get(len..)?);
            rest = after;
            Some(value.to_string())
        };
        let (prev_hash, hash, body) = (field(prev)?, field(hash)?, field(body)?);
        links.push(AuditLink {
            seq,
            prev_hash,
            hash,
            body: LinkBody::Canonical(body),
        });
    }
    Some(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(l: &AuditLink) -> (&str, &str, &str) {
        match &l.body {
            LinkBody::Canonical(b) => (&l.prev_hash, &l.hash, b),
            LinkBody::Row(_) => unreachable!("unpack builds canonical bodies"),
        }
    }

    #[test]
    fn a_packed_page_unpacks_by_its_lengths_not_by_what_the_fields_hold() {
        // A body holding the header's own characters (spaces, digits) and a multi-byte one.
        let body = r#"{"reason":"3 4 5 é"}"#;
        let packed = format!("7 2 1 {} ab{}{body}8 0 0 2 {{}}", body.len(), "c");
        let links = unpack(&packed).unwrap();
        assert_eq!(links.len(), 2);
        assert_eq!((links[0].seq, canonical(&links[0])), (7, ("ab", "c", body)));
        assert_eq!((links[1].seq, canonical(&links[1])), (8, ("", "", "{}")));
        assert!(unpack("").unwrap().is_empty());
    }

    /// Anything but an exact sequence of packed rows is refused (and read again row by row).
    #[test]
    fn a_page_that_is_not_exactly_packed_rows_is_refused() {
        for bad in [
            "7 2 1 3 abc{}",    // the body is a byte short
            "7 2 1",            // a header cut short
            "x 2 1 2 abc{}",    // a header that is not a number
            "7 -1 1 2 abc{}",   // a negative length
            "7 1 1 2 éc{}",     // a length inside a character
            "7 1 1 2 abc{} 8 ", // something after the last row
        ] {
            assert!(unpack(bad).is_none(), "{bad:?}");
        }
    }

    /// The packed read gives, row for row, what the row-by-row read gives, NULL-free rows with
    /// every kind of character included.
    #[tokio::test]
    async fn the_packed_read_gives_what_the_row_by_row_read_gives() {
        use crate::db::Store;
        let (store, _dir) = crate::db::temp_sqlite().await;
        let now = crate::clock::now();
        for (i, reason) in ["plain", "tab\there \"quoted\" é 日本 \u{1}", ""]
            .into_iter()
            .enumerate()
        {
            let e = crate::audit::event(
                crate::audit::Action::Lookup,
                crate::audit::Outcome::Success,
                now,
            )
            .target_name(&format!("WS{i}"))
            .reason(reason.to_string());
            crate::audit::record(&store, &e).await.unwrap();
        }
        let Store::Sqlite(db) = &store else {
            unreachable!("a sqlite: URL opens SQLite")
        };
        let packed = sqlite(&db.pool, 1, 10).await.unwrap();
        let one_by_one: Vec<(i64, String, String, String)> = sqlx::query(ROWS)
            .bind(1)
            .bind(10)
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.get("seq"),
                    r.get("prev_hash"),
                    r.get("hash"),
                    r.get("body"),
                )
            })
            .collect();
        let unpacked: Vec<(i64, String, String, String)> = packed
            .iter()
            .map(|l| {
                let (p, h, b) = canonical(l);
                (l.seq, p.to_string(), h.to_string(), b.to_string())
            })
            .collect();
        assert_eq!(unpacked.len(), 2, "the rows after seq 1");
        assert_eq!(unpacked, one_by_one);
    }
}

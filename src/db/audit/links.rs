//! Reading the chain for verification on SQLite, many links a result row.
//!
//! sqlx hands a query's rows over one by one from the connection's thread, each copied into
//! its own row value: for a million short rows that hand-over costs more than SQLite's
//! work. So SQLite joins 256 links into one text, a line each — `seq prev_hash hash body`,
//! where the body is `json_object`'s canonical JSON, which never holds a raw newline — and
//! the lines are split here. A line is taken only in its exact shape (the two hashes 64
//! lower-case hex digits each, so no field can shift another's boundary) and each text
//! must hold as many lines as it joined rows; otherwise the page is read row by row
//! (`SQLITE_LINKS`), as it always was.

use sqlx::{Row, SqlitePool};

use super::{AuditLink, LinkBody};

/// `SQLITE_LINKS`'s rows, 256 to a result row, in `seq` order.
const SQLITE_LINK_LINES: &str = "SELECT count(*) AS n, group_concat(seq || ' ' || prev_hash \
    || ' ' || hash || ' ' || json_object('seq', seq, 'at', at, \
    'actor_sub', actor_sub, 'actor_name', actor_name, 'actor_email', actor_email, \
    'actor_roles', actor_roles, 'source_ip', source_ip, 'user_agent', user_agent, \
    'request_id', request_id, 'action', action, 'target_dn', target_dn, \
    'target_guid', target_guid, 'target_name', target_name, 'outcome', outcome, \
    'reason', reason, 'ticket', ticket), char(10) ORDER BY seq) AS lines \
    FROM (SELECT * FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2) \
    GROUP BY (seq - $1 - 1) / 256 ORDER BY min(seq)";

/// The links after `after_seq`, at most `limit`, or `None` if a text was not in the exact
/// shape (the caller then reads the rows one by one).
pub(super) async fn sqlite_link_lines(
    pool: &SqlitePool,
    after_seq: i64,
    limit: i64,
) -> Result<Option<Vec<AuditLink>>, sqlx::Error> {
    let rows = sqlx::query(SQLITE_LINK_LINES)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    let mut links = Vec::with_capacity(usize::try_from(limit).unwrap_or(0).min(1 << 20));
    for row in &rows {
        let n: i64 = row.try_get(0)?;
        let lines: &str = row.try_get(1)?;
        let before = links.len();
        for line in lines.split('\n') {
            let Some(link) = parse(line) else {
                return Ok(None);
            };
            links.push(link);
        }
        if i64::try_from(links.len() - before).ok() != Some(n) {
            return Ok(None);
        }
    }
    Ok(Some(links))
}

/// `seq prev_hash hash body`, exactly.
fn parse(line: &str) -> Option<AuditLink> {
    let (seq, rest) = line.split_once(' ')?;
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq: i64 = seq.parse().ok()?;
    let (prev, rest) = hex64(rest)?;
    let (hash, body) = hex64(rest)?;
    Some(AuditLink {
        seq,
        prev_hash: prev.to_owned(),
        hash: hash.to_owned(),
        body: LinkBody::Canonical(body.to_owned()),
    })
}

/// 64 lower-case hex digits and a space at the start of `s`, and what follows.
fn hex64(s: &str) -> Option<(&str, &str)> {
    let hex = s.get(..64)?;
    let rest = s.get(64..)?.strip_prefix(' ')?;
    hex.bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        .then_some((hex, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_line_in_its_exact_shape_is_taken() {
        let (a, b) = ("a".repeat(64), "0".repeat(64));
        let l = parse(&format!("12 {a} {b} {{\"seq\":12}}")).unwrap();
        assert_eq!(
            (l.seq, l.prev_hash.as_str(), l.hash.as_str()),
            (12, &*a, &*b)
        );
        assert!(matches!(l.body, LinkBody::Canonical(body) if body == "{\"seq\":12}"));
        for bad in [
            format!("12 {a}  {b} {{}}"),
            format!("12 {} {b} {{}}", &a[1..]),
            format!("12 {}A {b} {{}}", &a[1..]),
            format!("-12 {a} {b} {{}}"),
            format!("12 {a} {b}"),
            format!(" {a} {b} {{}}"),
        ] {
            assert!(parse(&bad).is_none(), "{bad}");
        }
    }

    /// Text with newlines, spaces and quotes is read through the joined lines (JSON escapes
    /// the newlines), the same links as row by row.
    #[tokio::test]
    async fn awkward_text_is_read_in_lines_not_row_by_row() {
        use crate::db::{NewAuditRow, Store};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&crate::db::default_url(dir.path()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        for (i, text) in ["a\nb", "c d \"e\"", "\u{2028}\\"].iter().enumerate() {
            let e = NewAuditRow {
                reason: Some((*text).into()),
                target_name: Some(format!("{text} {i}")),
                ..NewAuditRow::default()
            };
            store
                .append_audit(&e, |_, seq, _| format!("{seq:064x}"))
                .await
                .unwrap();
        }
        let Store::Sqlite(db) = &store else {
            unreachable!("a sqlite: URL opens SQLite")
        };
        let lines = sqlite_link_lines(&db.pool, 1, 10).await.unwrap().unwrap();
        assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), [2, 3]);
        let rows = store.audit_page(1, 10).await.unwrap();
        for (l, r) in lines.iter().zip(&rows) {
            assert_eq!((&l.prev_hash, &l.hash), (&r.prev_hash, &r.hash));
            let LinkBody::Canonical(body) = &l.body else {
                unreachable!()
            };
            assert!(body.contains(&serde_json::to_string(&r.event.reason).unwrap()));
        }
    }
}

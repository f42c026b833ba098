//! Appending to the audit chain with group commit.
//!
//! A caller queues its event and waits for its own row. Whoever takes the append lock next
//! (the leader) writes everything queued by then, in chain order, as one multi-row `INSERT`
//! (SQLite: one statement, atomic by itself; PostgreSQL: one transaction under the advisory
//! lock), and hands each caller its row — or its error — through a oneshot channel. Nothing
//! waits for a batch to fill: a lone writer's batch is its own event, written at once, so
//! batching only gathers what queued while the previous write ran.
//!
//! Every caller returns only after its own row is committed. A batch the database refused
//! wrote nothing (one statement, or a rolled-back transaction); its rows are then written
//! one by one, so an error reaches only the callers whose rows it refused. An error that
//! leaves the outcome unknown (a lost connection, a failed `COMMIT`) reaches every caller
//! of the batch, as an error did before batching. A batch that carries other callers' rows
//! is written on its own task, so a leader whose request is cancelled cannot cancel them.

use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use sqlx::{Connection, PgPool, Row, SqliteConnection, SqlitePool};
use tokio::sync::oneshot;

use super::{AuditRow, GENESIS, NewAuditRow};
use crate::db::{PgDb, SqliteDb, StoreError};

/// `chain(prev_hash, seq, event)`: the hash of a row (`crate::audit::link_hash`).
pub type Chain = fn(&str, i64, &NewAuditRow) -> String;

/// The advisory lock key that serialises audit appends on PostgreSQL ("td-audit").
const AUDIT_LOCK_KEY: i64 = 0x7464_2d61_7564_6974;

/// Rows a statement carries at most (18 parameters each; both databases allow far more).
const MAX_BATCH: usize = 64;

const LAST: &str = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1";

const INSERT_INTO: &str = "INSERT INTO audit_events (seq, at, actor_sub, actor_name, \
    actor_email, actor_roles, source_ip, user_agent, request_id, action, target_dn, \
    target_guid, target_name, outcome, reason, ticket, prev_hash, hash) VALUES ";

/// The `INSERT` of `n` rows, `$1 … $18n` (the same text for the same `n`, so each
/// connection prepares it once).
fn insert_sql(n: usize) -> String {
    use std::fmt::Write;
    let mut sql = String::with_capacity(INSERT_INTO.len() + n * 100);
    sql.push_str(INSERT_INTO);
    for row in 0..n {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..18 {
            let sep = if col == 0 { "" } else { ", " };
            let _ = write!(sql, "{sep}${}", row * 18 + col + 1);
        }
        sql.push(')');
    }
    sql
}

static INSERTS: LazyLock<Vec<String>> = LazyLock::new(|| (0..=MAX_BATCH).map(insert_sql).collect());

/// Bind the rows of a batch, in the order of [`insert_sql`].
macro_rules! bind_batch {
    ($jobs:expr, $links:expr) => {{
        let (jobs, links): (&[Job], &[Link]) = ($jobs, $links);
        let sql = INSERTS.get(jobs.len()).map_or("", String::as_str);
        let mut q = sqlx::query(sql);
        for (job, l) in jobs.iter().zip(links) {
            let e = &job.event;
            q = q
                .bind(l.seq)
                .bind(e.at)
                .bind(&e.actor_sub)
                .bind(&e.actor_name)
                .bind(&e.actor_email)
                .bind(&e.actor_roles)
                .bind(&e.source_ip)
                .bind(&e.user_agent)
                .bind(&e.request_id)
                .bind(&e.action)
                .bind(&e.target_dn)
                .bind(&e.target_guid)
                .bind(&e.target_name)
                .bind(&e.outcome)
                .bind(&e.reason)
                .bind(&e.ticket)
                .bind(&l.prev)
                .bind(&l.hash);
        }
        q
    }};
}

type Reply = Result<AuditRow, StoreError>;

/// One caller's event, waiting for its place in the chain.
struct Job {
    id: u64,
    event: NewAuditRow,
    chain: Chain,
    done: oneshot::Sender<Reply>,
}

/// A row's place in the chain.
struct Link {
    seq: i64,
    prev: String,
    hash: String,
}

/// The events waiting for the next leader.
#[derive(Default)]
pub struct Queue {
    jobs: Mutex<(u64, Vec<Job>)>,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("audit::Queue")
    }
}

impl Queue {
    fn push(&self, event: NewAuditRow, chain: Chain) -> (u64, oneshot::Receiver<Reply>) {
        let (done, rx) = oneshot::channel();
        let mut q = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        q.0 += 1;
        let id = q.0;
        q.1.push(Job {
            id,
            event,
            chain,
            done,
        });
        (id, rx)
    }

    /// Everything queued, less the events of callers that have gone away (a cancelled
    /// request whose row was never written: as before batching, it is not written now).
    fn take(&self) -> Vec<Job> {
        let mut q = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        let mut jobs = std::mem::take(&mut q.1);
        drop(q);
        jobs.retain(|j| !j.done.is_closed());
        jobs
    }
}

/// What the SQLite append lock guards: the connection audit rows are written on (its own,
/// outside the pool: no acquire and release per append) and the chain head this process
/// wrote last (see [`sqlite`]).
#[derive(Debug, Default)]
pub struct Writer {
    conn: Option<SqliteConnection>,
    head: Option<(i64, String)>,
}

/// Queue `event`, then either find it written by an earlier leader or lead: write the queue
/// with `write` (on this task when it holds only this event, else on a task of its own).
async fn group_commit<G, W, F>(
    queue: &Queue,
    lock: impl Future<Output = G>,
    event: NewAuditRow,
    chain: Chain,
    write: W,
) -> Reply
where
    W: FnOnce(G, Vec<Job>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let (id, rx) = queue.push(event, chain);
    let guard = lock.await;
    let jobs = queue.take();
    match jobs.as_slice() {
        [] => drop(guard),
        [only] if only.id == id => write(guard, jobs).await,
        _ => drop(tokio::spawn(write(guard, jobs))),
    }
    rx.await.unwrap_or_else(|_| {
        Err(StoreError::Query(
            "the audit writer stopped before answering".into(),
        ))
    })
}

/// The next `seq` and `prev_hash` after the row `LAST` read.
fn next_link<R: Row>(last: Option<&R>) -> Result<(i64, String), sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    match last {
        Some(row) => Ok((row.try_get::<i64, _>("seq")? + 1, row.try_get("hash")?)),
        None => Ok((1, GENESIS.to_string())),
    }
}

/// Chain `jobs` after (`seq` - 1, `prev`).
fn link(jobs: &[Job], mut seq: i64, mut prev: String) -> Vec<Link> {
    jobs.iter()
        .map(|job| {
            let hash = (job.chain)(&prev, seq, &job.event);
            let l = Link {
                seq,
                prev: std::mem::replace(&mut prev, hash.clone()),
                hash,
            };
            seq += 1;
            l
        })
        .collect()
}

/// Answer each caller with its row.
fn finish(jobs: Vec<Job>, links: Vec<Link>) {
    for (job, l) in jobs.into_iter().zip(links) {
        let row = AuditRow {
            seq: l.seq,
            event: job.event,
            prev_hash: l.prev,
            hash: l.hash,
        };
        let _ = job.done.send(Ok(row));
    }
}

/// Answer each caller with the error (shared when there are several).
fn fail(mut jobs: Vec<Job>, e: sqlx::Error) {
    if jobs.len() == 1
        && let Some(job) = jobs.pop()
    {
        let _ = job.done.send(Err(e.into()));
        return;
    }
    let e = Arc::new(StoreError::from(e));
    for job in jobs {
        let _ = job.done.send(Err(Shared::error(&e)));
    }
}

/// One error, reported to every caller of a batch (kept as each one's source).
#[derive(Debug)]
struct Shared(Arc<StoreError>);

impl Shared {
    fn error(e: &Arc<StoreError>) -> StoreError {
        let shared = Box::new(Shared(Arc::clone(e)));
        match **e {
            StoreError::Unavailable(_) => StoreError::Unavailable(shared),
            _ => StoreError::Query(shared),
        }
    }
}

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            StoreError::Unavailable(s) | StoreError::Query(s) => s.fmt(f),
            other => other.fmt(f),
        }
    }
}

impl std::error::Error for Shared {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// The first `MAX_BATCH` jobs, leaving the rest in `jobs`.
fn next_batch(jobs: &mut Vec<Job>) -> Vec<Job> {
    let rest = jobs.split_off(jobs.len().min(MAX_BATCH));
    std::mem::replace(jobs, rest)
}

/// Whether a batch that failed with `e` wrote nothing because the database refused a
/// statement, so that its rows may be tried one by one.
fn refused(e: &sqlx::Error, batch: &[Job]) -> bool {
    batch.len() > 1 && matches!(e, sqlx::Error::Database(_))
}

/// How a write failed: before anything was written (one statement, or a transaction rolled
/// back), or at `COMMIT`, where the outcome is unknown.
enum Failure {
    Before(sqlx::Error),
    Commit(sqlx::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::Before(e)
    }
}

/// Where a leader writes its batches.
enum Target<'a> {
    Sqlite(&'a SqlitePool, &'a mut Writer),
    Postgres(&'a PgPool),
}

impl Target<'_> {
    async fn insert(&mut self, jobs: &[Job]) -> Result<Vec<Link>, Failure> {
        match self {
            Target::Sqlite(pool, w) => Ok(sqlite_insert(pool, w, jobs).await?),
            Target::Postgres(pool) => pg_insert(pool, jobs).await,
        }
    }
}

/// Write `jobs` to `target` in batches of at most `MAX_BATCH`, and answer every caller. A
/// batch the database refused wrote nothing: its rows are then written one by one, so the
/// error reaches only the callers whose rows it refused.
async fn write_batches(mut jobs: Vec<Job>, mut target: Target<'_>) {
    while !jobs.is_empty() {
        let batch = next_batch(&mut jobs);
        match target.insert(&batch).await {
            Ok(links) => finish(batch, links),
            Err(Failure::Before(e)) if refused(&e, &batch) => {
                for job in batch {
                    match target.insert(std::slice::from_ref(&job)).await {
                        Ok(links) => finish(vec![job], links),
                        Err(Failure::Before(e) | Failure::Commit(e)) => fail(vec![job], e),
                    }
                }
            }
            Err(Failure::Before(e) | Failure::Commit(e)) => fail(batch, e),
        }
    }
}

/// SQLite. One writer per process: the head this process wrote last is the chain head, so
/// it is not read back each time. If it is stale (a command such as `trustdesk sessions
/// revoke` appended meanwhile), the insert hits the `seq` primary key and fails (no fork);
/// the head is then read and the batch tried once more.
pub(super) async fn sqlite(db: &SqliteDb, event: NewAuditRow, chain: Chain) -> Reply {
    let pool = db.pool.clone();
    let lock = Arc::clone(&db.write).lock_owned();
    group_commit(
        &db.audit_queue,
        lock,
        event,
        chain,
        |mut w, jobs| async move {
            write_batches(jobs, Target::Sqlite(&pool, &mut w)).await;
        },
    )
    .await
}

/// Write `jobs` after the chain head, as one statement.
async fn sqlite_insert(
    pool: &SqlitePool,
    w: &mut Writer,
    jobs: &[Job],
) -> Result<Vec<Link>, sqlx::Error> {
    if w.conn.is_none() {
        w.conn = Some(SqliteConnection::connect_with(&pool.connect_options()).await?);
    }
    let mut cached = w.head.take();
    let Some(conn) = w.conn.as_mut() else {
        return Err(sqlx::Error::PoolClosed);
    };
    loop {
        let from_cache = cached.is_some();
        let (seq, prev) = match cached.take() {
            Some((seq, hash)) => (seq + 1, hash),
            None => next_link(sqlx::query(LAST).fetch_optional(&mut *conn).await?.as_ref())?,
        };
        let links = link(jobs, seq, prev);
        match bind_batch!(jobs, &links).execute(&mut *conn).await {
            Ok(_) => {
                w.head = links.last().map(|l| (l.seq, l.hash.clone()));
                return Ok(links);
            }
            Err(sqlx::Error::Database(e)) if from_cache && e.is_unique_violation() => continue,
            Err(e) => return Err(e),
        }
    }
}

/// PostgreSQL: the callers that append through one pool (one portal instance) share a queue
/// and an in-process lock; the advisory lock still serialises the instances.
#[derive(Debug, Default)]
pub struct PgQueue {
    queue: Queue,
    lock: Arc<tokio::sync::Mutex<()>>,
}

pub(super) async fn postgres(db: &PgDb, event: NewAuditRow, chain: Chain) -> Reply {
    let q = &db.audit_queue;
    let pool = db.pool.clone();
    let lock = Arc::clone(&q.lock).lock_owned();
    group_commit(&q.queue, lock, event, chain, |_guard, jobs| async move {
        write_batches(jobs, Target::Postgres(&pool)).await;
    })
    .await
}

/// In one transaction holding the advisory lock: read the head, link, insert, commit. An
/// error before `COMMIT` rolls everything back ([`Failure::Before`], by `?`).
async fn pg_insert(pool: &PgPool, jobs: &[Job]) -> Result<Vec<Link>, Failure> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(AUDIT_LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    let last = sqlx::query(LAST).fetch_optional(&mut *tx).await?;
    let (seq, prev) = next_link(last.as_ref())?;
    let links = link(jobs, seq, prev);
    bind_batch!(jobs, &links).execute(&mut *tx).await?;
    tx.commit().await.map_err(Failure::Commit)?;
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_insert_of_n_rows_numbers_every_parameter_once() {
        let sql = insert_sql(2);
        assert!(sql.ends_with("($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18), ($19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36)"), "{sql}");
        assert_eq!(INSERTS.len(), MAX_BATCH + 1);
    }
}

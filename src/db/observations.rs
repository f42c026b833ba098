//! Observations: what earlier lookups saw of a computer, for the diagnosis history
//! (re-created objects, password-set churn across time).

use sqlx::Row;
use time::OffsetDateTime;

use super::{Store, StoreError, on_pool, on_write};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservationRow {
    pub name: String,
    /// The DNS name of the domain it was made in (none in rows from before domains were
    /// recorded).
    pub domain: Option<String>,
    pub observed_at: OffsetDateTime,
    pub object_guid: String,
    pub unicode_pwd_version: Option<i64>,
    pub originating_dc: Option<String>,
    pub last_logon: Option<OffsetDateTime>,
}

impl Store {
    pub async fn add_observation(&self, o: &ObservationRow) -> Result<(), StoreError> {
        on_write!(self, |pool| sqlx::query(
            "INSERT INTO observations (name, observed_at, object_guid, unicode_pwd_version, \
             originating_dc, last_logon, domain) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(&o.name)
        .bind(o.observed_at)
        .bind(&o.object_guid)
        .bind(o.unicode_pwd_version)
        .bind(&o.originating_dc)
        .bind(o.last_logon)
        .bind(&o.domain)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Observations of `name` at or after `since`, oldest first, at most `limit`.
    /// What was seen of `name` in `domain` since `since`, oldest first; rows from before
    /// domains were recorded count for every domain.
    pub async fn observations(
        &self,
        name: &str,
        domain: &str,
        since: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StoreError> {
        let sql = "SELECT name, domain, observed_at, object_guid, unicode_pwd_version, \
                   originating_dc, last_logon FROM observations WHERE name = $1 \
                   AND (domain = $4 OR domain IS NULL) AND observed_at >= $2 \
                   ORDER BY observed_at LIMIT $3";
        let rows = on_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(name)
                .bind(since)
                .bind(limit)
                .bind(domain)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| {
                    Ok::<_, sqlx::Error>(ObservationRow {
                        name: r.try_get("name")?,
                        domain: r.try_get("domain")?,
                        observed_at: r.try_get("observed_at")?,
                        object_guid: r.try_get("object_guid")?,
                        unicode_pwd_version: r.try_get("unicode_pwd_version")?,
                        originating_dc: r.try_get("originating_dc")?,
                        last_logon: r.try_get("last_logon")?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(rows)
    }
}

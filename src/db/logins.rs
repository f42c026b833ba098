//! Signed-in staff sessions by person and by provider session (`sid`), so that back-channel
//! logout and `trustdesk sessions revoke` find them; and the logout tokens already used.

use sqlx::Row;
use time::OffsetDateTime;

use super::{Store, StoreError, on_pool, on_write};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRow {
    pub session_id: String,
    pub issuer: String,
    pub sub: String,
    pub sid: Option<String>,
    pub name: Option<String>,
    pub signed_in_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Which logins to find.
#[derive(Debug, Clone, Copy)]
pub enum LoginsOf<'a> {
    /// Everyone's.
    All,
    /// One person's, at any provider.
    Subject(&'a str),
    /// One person's at one provider (back-channel logout without `sid`).
    IssuerSubject(&'a str, &'a str),
    /// One provider session's (back-channel logout with `sid`).
    IssuerSid(&'a str, &'a str),
}

const COLUMNS: &str = "session_id, issuer, sub, sid, name, signed_in_at, expires_at";

impl Store {
    pub async fn add_login(&self, row: &LoginRow) -> Result<(), StoreError> {
        on_write!(self, |pool| {
            sqlx::query(
            "INSERT INTO staff_logins (session_id, issuer, sub, sid, name, signed_in_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(&row.session_id)
        .bind(&row.issuer)
        .bind(&row.sub)
        .bind(&row.sid)
        .bind(&row.name)
        .bind(row.signed_in_at)
        .bind(row.expires_at)
        .execute(pool)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }

    /// The logins that have not reached their absolute end at `now`.
    pub async fn logins(
        &self,
        of: LoginsOf<'_>,
        now: OffsetDateTime,
    ) -> Result<Vec<LoginRow>, StoreError> {
        // The values to bind after `now`, by variant (an empty value is still a value).
        let (clause, values): (&str, Vec<&str>) = match of {
            LoginsOf::All => ("", vec![]),
            LoginsOf::Subject(sub) => (" AND sub = $2", vec![sub]),
            LoginsOf::IssuerSubject(iss, sub) => (" AND issuer = $2 AND sub = $3", vec![iss, sub]),
            LoginsOf::IssuerSid(iss, sid) => (" AND issuer = $2 AND sid = $3", vec![iss, sid]),
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM staff_logins WHERE expires_at > $1{clause} ORDER BY signed_in_at"
        );
        let rows = on_pool!(self, |pool| {
            let mut q = sqlx::query(&sql).bind(now);
            for value in &values {
                q = q.bind(*value);
            }
            q.fetch_all(pool)
                .await?
                .iter()
                .map(|r| {
                    Ok::<_, sqlx::Error>(LoginRow {
                        session_id: r.try_get("session_id")?,
                        issuer: r.try_get("issuer")?,
                        sub: r.try_get("sub")?,
                        sid: r.try_get("sid")?,
                        name: r.try_get("name")?,
                        signed_in_at: r.try_get("signed_in_at")?,
                        expires_at: r.try_get("expires_at")?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(rows)
    }

    /// Forget a login (its session was ended).
    pub async fn remove_login(&self, session_id: &str) -> Result<(), StoreError> {
        on_write!(self, |pool| sqlx::query(
            "DELETE FROM staff_logins WHERE session_id = $1"
        )
        .bind(session_id)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Remember a logout token's `jti` until `until`; `false` when it was already used.
    pub async fn remember_logout_jti(
        &self,
        jti: &str,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let res = on_write!(self, |pool| sqlx::query(
            "INSERT INTO oidc_logout_jtis (jti, expires_at) VALUES ($1, $2)"
        )
        .bind(jti)
        .bind(until)
        .execute(pool)
        .await
        .map(|_| ()));
        match res {
            Ok(()) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Drop logins past their absolute end and logout tokens past their replay window.
    pub async fn sweep_logins(&self, now: OffsetDateTime) -> Result<(), StoreError> {
        on_write!(self, |pool| async {
            sqlx::query("DELETE FROM staff_logins WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query("DELETE FROM oidc_logout_jtis WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await
                .map(|_| ())
        }
        .await)?;
        Ok(())
    }
}

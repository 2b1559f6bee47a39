//! Sessions of the web client: a random token in the browser's cookie, only its SHA-256 in
//! `fin_web_session`, an idle timeout and a longest lifetime, and the CSRF token every form of
//! the session carries (derived from the session token, so nothing more is stored).
//!
//! The user's state and permission sets are read on every [`resume`]: disabling a user or
//! changing their permission sets takes effect on their next request.

use chrono::{DateTime, Duration, Utc};
use kontor_store::Db;
use kontor_store::sea_query::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::credentials::{self, Permissions, Secret};
use crate::error::{FinError, Result};
use crate::users::{ENABLED, Principal};

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::hours(8);
/// … and at the latest this long after sign-in.
pub const MAX_LIFETIME: Duration = Duration::hours(24);
/// `last_seen_at` is written at most this often (not on every request).
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// A live session: who, and the CSRF token its forms carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub principal: Principal,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
}

/// The CSRF token of a session: a SHA-256 of the session token under its own label (hex).
/// Knowing it gives no way back to the session token.
pub fn csrf_token(session_token: &Secret) -> String {
    let mut h = Sha256::new();
    h.update(b"kontor-web-csrf\0");
    h.update(session_token.expose().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` is the session's CSRF token (compared in constant time).
pub fn csrf_matches(session: &Session, given: &str) -> bool {
    let (a, b) = (session.csrf_token.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn id(u: Uuid) -> Value {
    Value::from(u.hyphenated().to_string())
}

/// Signs `user_id` in: a new session, its token returned once (for the cookie).
pub async fn start(db: &Db, user_id: Uuid, now: DateTime<Utc>) -> Result<Secret> {
    let token = credentials::generate_access_key();
    let at = now.timestamp_micros();
    let mut tx = db.begin().await?;
    tx.execute_sql(
        "INSERT INTO fin_web_session (token_hash, user_id, created_at, last_seen_at) VALUES ($1, $2, $3, $4)",
        vec![
            Value::from(credentials::access_key_hash(&token)),
            id(user_id),
            Value::BigInt(Some(at)),
            Value::BigInt(Some(at)),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Whether a session last seen at `last_seen` and started at `created` has ended at `now`.
pub fn expired(created: DateTime<Utc>, last_seen: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - last_seen >= IDLE_TIMEOUT || now - created >= MAX_LIFETIME
}

fn micros(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(v).unwrap_or_default()
}

/// The live session of `token`, or `None` when there is none, it has ended (its row is then
/// deleted) or its user is no longer enabled.
pub async fn resume(db: &Db, token: &Secret, now: DateTime<Utc>) -> Result<Option<Session>> {
    let hash = credentials::access_key_hash(token);
    let row = db
        .fetch_optional_sql(
            "SELECT s.user_id, s.created_at, s.last_seen_at, u.user_name, u.state, u.permission_sets \
             FROM fin_web_session s JOIN fin_user u ON u.id = s.user_id WHERE s.token_hash = $1",
            vec![Value::from(hash.clone())],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let created = micros(row.try_get_i64("created_at")?);
    let last_seen = micros(row.try_get_i64("last_seen_at")?);
    if expired(created, last_seen, now) {
        end_hash(db, &hash).await?;
        return Ok(None);
    }
    if row.try_get::<String>("state")? != ENABLED {
        return Ok(None);
    }
    let user_id = Uuid::parse_str(&row.try_get::<String>("user_id")?)
        .map_err(|e| FinError::internal(e.to_string()))?;
    let permissions =
        Permissions::parse(&row.try_get::<String>("permission_sets")?).unwrap_or_default();
    if now - last_seen >= TOUCH_EVERY {
        let mut tx = db.begin().await?;
        tx.execute_sql(
            "UPDATE fin_web_session SET last_seen_at = $1 WHERE token_hash = $2",
            vec![Value::BigInt(Some(now.timestamp_micros())), Value::from(hash)],
        )
        .await?;
        tx.commit().await?;
    }
    Ok(Some(Session {
        principal: Principal { user_id, user_name: row.try_get("user_name")?, permissions },
        csrf_token: csrf_token(token),
        created_at: created,
    }))
}

async fn end_hash(db: &Db, hash: &str) -> Result<bool> {
    let mut tx = db.begin().await?;
    let n = tx
        .execute_sql(
            "DELETE FROM fin_web_session WHERE token_hash = $1",
            vec![Value::from(hash.to_owned())],
        )
        .await?;
    tx.commit().await?;
    Ok(n > 0)
}

/// Sign out: the session's row is deleted. `false` when there was none.
pub async fn end(db: &Db, token: &Secret) -> Result<bool> {
    end_hash(db, &credentials::access_key_hash(token)).await
}

/// Deletes every session that has ended by `now`; returns how many.
pub async fn purge_expired(db: &Db, now: DateTime<Utc>) -> Result<u64> {
    let mut tx = db.begin().await?;
    let n = tx
        .execute_sql(
            "DELETE FROM fin_web_session WHERE last_seen_at <= $1 OR created_at <= $2",
            vec![
                Value::BigInt(Some((now - IDLE_TIMEOUT).timestamp_micros())),
                Value::BigInt(Some((now - MAX_LIFETIME).timestamp_micros())),
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(n)
}

/// How many sessions are stored (tests, diagnostics).
pub async fn count(db: &Db) -> Result<i64> {
    let row = db.fetch_one_sql("SELECT COUNT(*) AS n FROM fin_web_session", vec![]).await?;
    Ok(row.try_get_i64("n")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_when_idle_too_long_or_too_old() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(!expired(t0, t0, t0 + Duration::hours(7)));
        assert!(expired(t0, t0, t0 + IDLE_TIMEOUT));
        let seen = t0 + Duration::hours(23);
        assert!(!expired(t0, seen, t0 + Duration::hours(23) + Duration::minutes(30)));
        assert!(expired(t0, seen, t0 + MAX_LIFETIME));
    }

    #[test]
    fn the_csrf_token_is_derived_from_the_session_token_and_not_equal_to_it() {
        let a = Secret::new("token-a");
        assert_eq!(csrf_token(&a), csrf_token(&a));
        assert_ne!(csrf_token(&a), csrf_token(&Secret::new("token-b")));
        assert_ne!(csrf_token(&a), credentials::access_key_hash(&a));
        assert_eq!(csrf_token(&a).len(), 64);
    }
}

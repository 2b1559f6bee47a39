//! Users and their credentials: passwords (argon2) and web service access keys (SHA-256), kept in
//! `fin_user_secret` apart from the user rows the API serves, and the [`Authenticator`] that checks
//! HTTP Basic credentials cheaply.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kontor_store::sea_query::Value;
use kontor_store::{Db, Tx};
use serde_json::{Map, Value as Json, json};
use uuid::Uuid;

use crate::credentials::{self, Permissions, Secret};
use crate::error::{FinError, Result};
use crate::model::{model, sets};
use crate::rows;

/// User states (BC captions).
pub const ENABLED: &str = "Enabled";
pub const DISABLED: &str = "Disabled";

/// How long a verified password stays trusted without running argon2 again.
const PASSWORD_CACHE_TTL: Duration = Duration::from_secs(300);
/// The cache is cleared when it grows past this many entries.
const PASSWORD_CACHE_MAX: usize = 10_000;

/// Who is calling.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user_id: Uuid,
    pub user_name: String,
    pub permissions: Permissions,
}

/// User names are case-insensitive and stored in upper case, as in Business Central.
pub fn normalize_user_name(name: &str) -> String {
    name.trim().to_uppercase()
}

/// Stores a new password hash for the user (argon2 runs on a blocking thread).
pub async fn set_password(tx: &mut Tx, user_id: Uuid, password: &Secret) -> Result<()> {
    if password.expose().chars().count() < 8 {
        return Err(FinError::invalid(
            "password",
            "The password must be at least 8 characters long.",
        ));
    }
    let p = password.clone();
    let hash = off_runtime(move || credentials::hash_password(&p)).await?;
    upsert_secret(tx, user_id).await?;
    tx.execute_sql(
        "UPDATE fin_user_secret SET password_hash = $1 WHERE user_id = $2",
        vec![Value::from(hash), Value::from(user_id.hyphenated().to_string())],
    )
    .await?;
    Ok(())
}

async fn upsert_secret(tx: &mut Tx, user_id: Uuid) -> Result<()> {
    tx.execute_sql(
        "INSERT INTO fin_user_secret (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING",
        vec![Value::from(user_id.hyphenated().to_string())],
    )
    .await?;
    Ok(())
}

/// *Change Web Service Key*: a new access key for the user, returned once; the old one stops
/// working when the transaction commits.
pub async fn change_web_service_key(
    tx: &mut Tx,
    user_id: Uuid,
    expiry: Option<DateTime<Utc>>,
    actor: Option<Uuid>,
) -> Result<Secret> {
    let users =
        model().entity_set(sets::USERS).ok_or_else(|| FinError::internal("no users set"))?;
    if rows::get(tx, users, user_id).await?.is_none() {
        return Err(FinError::NotFound("The user does not exist.".to_owned()));
    }
    let key = credentials::generate_access_key();
    upsert_secret(tx, user_id).await?;
    tx.execute_sql(
        "UPDATE fin_user_secret SET web_service_key_hash = $1, web_service_key_expiry = $2 WHERE user_id = $3",
        vec![
            Value::from(credentials::access_key_hash(&key)),
            Value::BigInt(expiry.map(|e| e.timestamp_micros())),
            Value::from(user_id.hyphenated().to_string()),
        ],
    )
    .await?;
    let mut patch = Map::new();
    patch.insert("hasWebServiceKey".into(), Json::Bool(true));
    patch.insert(
        "webServiceKeyExpiry".into(),
        expiry.map_or(Json::Null, |e| {
            Json::String(e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }),
    );
    rows::update(tx, users, user_id, &patch, actor).await?;
    Ok(key)
}

/// Creates a user with a password (bootstrap and tests; the API goes through `service`).
pub async fn create_user(
    tx: &mut Tx,
    user_name: &str,
    full_name: &str,
    permissions: &Permissions,
    password: Option<&Secret>,
    actor: Option<Uuid>,
) -> Result<rows::Record> {
    let users =
        model().entity_set(sets::USERS).ok_or_else(|| FinError::internal("no users set"))?;
    let values = json!({
        "userName": normalize_user_name(user_name),
        "fullName": full_name,
        "state": ENABLED,
        "permissionSets": permissions.to_list(),
        "hasWebServiceKey": false,
    });
    let Json::Object(values) = values else { unreachable!("a JSON object literal") };
    let rec = rows::insert(tx, users, &values, actor).await?;
    let id = rec.id().ok_or_else(|| FinError::internal("user without id"))?;
    upsert_secret(tx, id).await?;
    if let Some(p) = password {
        set_password(tx, id, p).await?;
    }
    Ok(rec)
}

/// Spends what a password check costs, so an unknown user name answers as slowly as a wrong
/// password (no user enumeration by timing).
async fn equalize_timing(secret: &Secret) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let s = secret.clone();
    let _ = off_runtime(move || {
        let hash =
            DUMMY.get_or_init(|| credentials::hash_password(&Secret::new("kontor-dummy-password")));
        credentials::verify_password(&s, hash)
    })
    .await;
}

/// At most one argon2 computation per core at a time, on the blocking pool: a burst of password
/// sign-ins queues here instead of stalling every other request on the async runtime.
async fn off_runtime<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let permits = PERMITS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    // The semaphore is never closed, so acquiring only waits.
    let _permit = permits.acquire().await.ok();
    tokio::task::spawn_blocking(job).await.map_err(|e| FinError::internal(e.to_string()))
}

/// Checks HTTP Basic credentials: a web service access key (one SHA-256 and one indexed lookup)
/// or a password (argon2, cached for a few minutes under a fingerprint that includes the stored
/// hash, so a password change invalidates it everywhere at once). State and permissions are read
/// on every call, so disabling a user or rotating a key takes effect immediately.
pub struct Authenticator {
    db: Db,
    cache: Mutex<HashMap<[u8; 32], Instant>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(db: Db) -> Self {
        Authenticator { db, cache: Mutex::new(HashMap::new()) }
    }

    /// `Ok(None)` when the user is unknown, disabled, or the secret is wrong.
    pub async fn authenticate(
        &self,
        user_name: &str,
        secret: &Secret,
    ) -> Result<Option<Principal>> {
        self.check(user_name, secret, true).await
    }

    /// Like [`Authenticator::authenticate`] with the password only: a web service access key
    /// is for the API and does not sign in to the web client.
    pub async fn authenticate_password(
        &self,
        user_name: &str,
        password: &Secret,
    ) -> Result<Option<Principal>> {
        self.check(user_name, password, false).await
    }

    async fn check(
        &self,
        user_name: &str,
        secret: &Secret,
        web_service_key: bool,
    ) -> Result<Option<Principal>> {
        let name = normalize_user_name(user_name);
        let row = self
            .db
            .fetch_optional_sql(
                "SELECT u.id, u.state, u.permission_sets, s.password_hash, s.web_service_key_hash, \
                 s.web_service_key_expiry FROM fin_user u LEFT JOIN fin_user_secret s ON s.user_id = u.id \
                 WHERE u.user_name = $1",
                vec![Value::from(name.clone())],
            )
            .await?;
        let Some(row) = row else {
            equalize_timing(secret).await;
            return Ok(None);
        };
        let state: String = row.try_get("state")?;
        if state != ENABLED {
            // A disabled user answers as slowly as a wrong password too.
            equalize_timing(secret).await;
            return Ok(None);
        }
        let id: String = row.try_get("id")?;
        let user_id = Uuid::parse_str(&id).map_err(|e| FinError::internal(e.to_string()))?;
        let permissions =
            Permissions::parse(&row.try_get::<String>("permission_sets")?).unwrap_or_default();
        let principal = Principal { user_id, user_name: name.clone(), permissions };

        if let Some(key_hash) = row.try_get::<Option<String>>("web_service_key_hash")?
            && web_service_key
        {
            let expiry = row.try_get_opt_i64("web_service_key_expiry")?;
            let live = expiry.is_none_or(|e| e > Utc::now().timestamp_micros());
            if live && credentials::access_key_hash(secret) == key_hash {
                return Ok(Some(principal));
            }
        }
        let Some(password_hash) = row.try_get::<Option<String>>("password_hash")? else {
            equalize_timing(secret).await;
            return Ok(None);
        };
        let fingerprint = credentials::credential_fingerprint(&name, &password_hash, secret);
        if let Ok(cache) = self.cache.lock()
            && let Some(at) = cache.get(&fingerprint)
            && at.elapsed() < PASSWORD_CACHE_TTL
        {
            return Ok(Some(principal));
        }
        let s = secret.clone();
        let ok = off_runtime(move || credentials::verify_password(&s, &password_hash)).await?;
        if !ok {
            return Ok(None);
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= PASSWORD_CACHE_MAX {
                cache.clear();
            }
            cache.insert(fingerprint, Instant::now());
        }
        Ok(Some(principal))
    }
}

/// A user as the web client's Users page and User Card show it (no secrets).
#[derive(Debug, Clone, PartialEq)]
pub struct UserSummary {
    pub id: Uuid,
    pub user_name: String,
    pub full_name: String,
    pub state: String,
    pub permissions: Permissions,
    pub has_web_service_key: bool,
    pub web_service_key_expiry: Option<DateTime<Utc>>,
}

macro_rules! user_columns {
    () => {
        "SELECT id, user_name, full_name, state, permission_sets, has_web_service_key, \
         web_service_key_expiry FROM fin_user"
    };
}

fn summary(row: &kontor_store::Row) -> Result<UserSummary> {
    let id: String = row.try_get("id")?;
    Ok(UserSummary {
        id: Uuid::parse_str(&id).map_err(|e| FinError::internal(e.to_string()))?,
        user_name: row.try_get("user_name")?,
        full_name: row.try_get::<Option<String>>("full_name")?.unwrap_or_default(),
        state: row.try_get("state")?,
        permissions: Permissions::parse(&row.try_get::<String>("permission_sets")?)
            .unwrap_or_default(),
        has_web_service_key: row.try_get("has_web_service_key")?,
        web_service_key_expiry: row
            .try_get_opt_i64("web_service_key_expiry")?
            .and_then(DateTime::from_timestamp_micros),
    })
}

/// Every user, by user name.
pub async fn list(db: &Db) -> Result<Vec<UserSummary>> {
    let rows = db.fetch_all_sql(concat!(user_columns!(), " ORDER BY user_name"), vec![]).await?;
    rows.iter().map(summary).collect()
}

/// One user, `None` when there is no such user.
pub async fn find(db: &Db, id: Uuid) -> Result<Option<UserSummary>> {
    let row = db
        .fetch_optional_sql(
            concat!(user_columns!(), " WHERE id = $1"),
            vec![Value::from(id.hyphenated().to_string())],
        )
        .await?;
    row.as_ref().map(summary).transpose()
}

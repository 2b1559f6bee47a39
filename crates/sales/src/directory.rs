//! Users, roles, credentials and tokens in the database (IO).
//!
//! Entity rows (systemusers, roles, businessunits) go through the generic store like every other
//! table; this module owns Sales' own tables: `crm_systemuserroles`, `crm_roleprivileges`,
//! `crm_credential`, `crm_token`.

use std::time::Duration;

use kontor_store::sea_query::Value;
use kontor_store::{Db, StoreError, Tx};
use uuid::Uuid;

use crate::secrets::{self, Secret};
use crate::security::Grants;

/// Who is calling: the user behind a valid bearer token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub business_unit_id: Option<Uuid>,
    pub access_mode: i64,
    pub grants: Grants,
}

fn s(v: impl ToString) -> Value {
    Value::from(v.to_string())
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn parse_uuid(text: Option<String>) -> Option<Uuid> {
    text.and_then(|t| Uuid::parse_str(&t).ok())
}

/// The roles (by id) and privileges of `user`.
pub async fn grants(db: &Db, user: Uuid) -> Result<Grants, StoreError> {
    let rows = db
        .fetch_all_sql(
            "SELECT r.roleid AS roleid, p.privilegename AS privilegename \
             FROM crm_systemuserroles ur \
             JOIN crm_role r ON r.roleid = ur.roleid \
             LEFT JOIN crm_roleprivileges p ON p.roleid = ur.roleid \
             WHERE ur.systemuserid = $1",
            vec![s(user)],
        )
        .await?;
    let mut g = Grants::default();
    for r in rows {
        if let Some(id) = parse_uuid(r.try_get("roleid")?) {
            g.roles.insert(id);
        }
        if let Some(p) = r.try_get::<Option<String>>("privilegename")? {
            g.privileges.insert(p);
        }
    }
    Ok(g)
}

/// The principal behind a bearer token, if the token is known, unexpired and its user enabled.
pub async fn authenticate(db: &Db, token: &str) -> Result<Option<Principal>, StoreError> {
    let row = db
        .fetch_optional_sql(
            "SELECT t.systemuserid AS systemuserid, u.businessunitid AS businessunitid, \
                    u.isdisabled AS isdisabled, u.accessmode AS accessmode \
             FROM crm_token t JOIN crm_systemuser u ON u.systemuserid = t.systemuserid \
             WHERE t.token_hash = $1 AND t.expires_at > $2",
            vec![s(secrets::sha256_hex(token)), Value::from(now_micros())],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    if row.try_get::<Option<bool>>("isdisabled")?.unwrap_or(false) {
        return Ok(None);
    }
    let Some(user_id) = parse_uuid(row.try_get("systemuserid")?) else { return Ok(None) };
    let business_unit_id = parse_uuid(row.try_get("businessunitid")?);
    let access_mode = row.try_get_opt_i64("accessmode")?.unwrap_or(0);
    let grants = grants(db, user_id).await?;
    Ok(Some(Principal { user_id, business_unit_id, access_mode, grants }))
}

/// Issues a bearer token for `user`, valid for `ttl`. Returns the token (shown once).
pub async fn issue_token(db: &Db, user: Uuid, ttl: Duration) -> Result<Secret, StoreError> {
    let token = secrets::random_token(32);
    let expires = now_micros() + i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX / 2);
    db.execute_sql(
        "INSERT INTO crm_token (token_hash, systemuserid, expires_at) VALUES ($1, $2, $3)",
        vec![s(secrets::sha256_hex(&token)), s(user), Value::from(expires)],
    )
    .await?;
    // Housekeeping: forget expired tokens now and then (cheap, indexed).
    if rand::random::<u8>() < 8 {
        db.execute_sql(
            "DELETE FROM crm_token WHERE expires_at <= $1",
            vec![Value::from(now_micros())],
        )
        .await?;
    }
    Ok(Secret::new(token))
}

/// The user of an enabled interactive account (`domainname` or e-mail) with this password.
pub async fn password_login(
    db: &Db,
    username: &str,
    password: &str,
) -> Result<Option<Uuid>, StoreError> {
    let row = db
        .fetch_optional_sql(
            "SELECT u.systemuserid AS systemuserid, u.isdisabled AS isdisabled, c.password_hash AS password_hash \
             FROM crm_systemuser u JOIN crm_credential c ON c.systemuserid = u.systemuserid \
             WHERE (u.domainname = $1 OR u.internalemailaddress = $1) AND u.applicationid IS NULL",
            vec![s(username)],
        )
        .await?;
    // One argon2 check whatever the row says (unknown user, no password, disabled), so that
    // user names cannot be probed by timing.
    let (hash, disabled, user) = match &row {
        Some(row) => (
            row.try_get::<Option<String>>("password_hash")?.map(secrets::StoredHash::new),
            row.try_get::<Option<bool>>("isdisabled")?.unwrap_or(false),
            parse_uuid(row.try_get("systemuserid")?),
        ),
        None => (None, false, None),
    };
    let ok = secrets::verify_password_async(hash, password).await;
    Ok(user.filter(|_| ok && !disabled))
}

/// How a client-credentials login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientLogin {
    Ok(Uuid),
    UnknownClient,
    WrongSecret,
}

/// The application user with `client_id` (its `applicationid`) and this secret.
pub async fn client_login(
    db: &Db,
    client_id: &str,
    secret: &str,
) -> Result<ClientLogin, StoreError> {
    let Ok(app) = Uuid::parse_str(client_id) else { return Ok(ClientLogin::UnknownClient) };
    let row = db
        .fetch_optional_sql(
            "SELECT u.systemuserid AS systemuserid, u.isdisabled AS isdisabled, c.secret_hash AS secret_hash \
             FROM crm_systemuser u LEFT JOIN crm_credential c ON c.systemuserid = u.systemuserid \
             WHERE u.applicationid = $1",
            vec![s(app)],
        )
        .await?;
    let Some(row) = row else { return Ok(ClientLogin::UnknownClient) };
    if row.try_get::<Option<bool>>("isdisabled")?.unwrap_or(false) {
        return Ok(ClientLogin::UnknownClient);
    }
    let hash: Option<String> = row.try_get("secret_hash")?;
    match (hash, parse_uuid(row.try_get("systemuserid")?)) {
        (Some(h), Some(id)) if secrets::digest_eq(&h, &secrets::sha256_hex(secret)) => {
            Ok(ClientLogin::Ok(id))
        }
        _ => Ok(ClientLogin::WrongSecret),
    }
}

async fn upsert_credential(
    tx: &mut Tx,
    user: Uuid,
    column: &'static str,
    value: String,
) -> Result<(), StoreError> {
    let sql: &'static str = match column {
        "password_hash" => {
            "INSERT INTO crm_credential (systemuserid, password_hash) VALUES ($1, $2) \
             ON CONFLICT (systemuserid) DO UPDATE SET password_hash = excluded.password_hash"
        }
        _ => {
            "INSERT INTO crm_credential (systemuserid, secret_hash) VALUES ($1, $2) \
             ON CONFLICT (systemuserid) DO UPDATE SET secret_hash = excluded.secret_hash"
        }
    };
    tx.execute_sql(sql, vec![s(user), Value::from(value)]).await?;
    Ok(())
}

/// Sets an interactive user's password (argon2).
pub async fn set_password(tx: &mut Tx, user: Uuid, password: &str) -> Result<(), StoreError> {
    upsert_credential(tx, user, "password_hash", secrets::hash_password_async(password).await).await
}

/// Sets an application user's client secret (sha256; secrets are high-entropy).
pub async fn set_client_secret(tx: &mut Tx, user: Uuid, secret: &str) -> Result<(), StoreError> {
    upsert_credential(tx, user, "secret_hash", secrets::sha256_hex(secret)).await
}

/// Revokes every token of `user` (after a credential change).
pub async fn revoke_tokens(tx: &mut Tx, user: Uuid) -> Result<(), StoreError> {
    tx.execute_sql("DELETE FROM crm_token WHERE systemuserid = $1", vec![s(user)]).await?;
    Ok(())
}

/// Associates a role with a user (idempotent).
pub async fn assign_role(tx: &mut Tx, user: Uuid, role: Uuid) -> Result<(), StoreError> {
    tx.execute_sql(
        "INSERT INTO crm_systemuserroles (systemuserid, roleid) VALUES ($1, $2) \
         ON CONFLICT (systemuserid, roleid) DO NOTHING",
        vec![s(user), s(role)],
    )
    .await?;
    Ok(())
}

/// Removes a role from a user; false when it was not assigned.
pub async fn remove_role(tx: &mut Tx, user: Uuid, role: Uuid) -> Result<bool, StoreError> {
    let n = tx
        .execute_sql(
            "DELETE FROM crm_systemuserroles WHERE systemuserid = $1 AND roleid = $2",
            vec![s(user), s(role)],
        )
        .await?;
    Ok(n > 0)
}

/// The role ids of a user.
pub async fn user_role_ids(tx: &mut Tx, user: Uuid) -> Result<Vec<Uuid>, StoreError> {
    let rows = tx
        .fetch_all_sql(
            "SELECT roleid FROM crm_systemuserroles WHERE systemuserid = $1 ORDER BY roleid",
            vec![s(user)],
        )
        .await?;
    let mut out = vec![];
    for r in rows {
        if let Some(id) = parse_uuid(r.try_get("roleid")?) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Replaces the privileges of a role.
pub async fn set_role_privileges(
    tx: &mut Tx,
    role: Uuid,
    privileges: &[String],
) -> Result<(), StoreError> {
    tx.execute_sql("DELETE FROM crm_roleprivileges WHERE roleid = $1", vec![s(role)]).await?;
    for p in privileges {
        tx.execute_sql(
            "INSERT INTO crm_roleprivileges (roleid, privilegename) VALUES ($1, $2)",
            vec![s(role), s(p)],
        )
        .await?;
    }
    Ok(())
}

/// The privileges of a role.
pub async fn role_privileges(
    tx: &mut Tx,
    role: Uuid,
) -> Result<std::collections::BTreeSet<String>, StoreError> {
    let rows = tx
        .fetch_all_sql(
            "SELECT privilegename FROM crm_roleprivileges WHERE roleid = $1",
            vec![s(role)],
        )
        .await?;
    let mut out = std::collections::BTreeSet::new();
    for r in rows {
        out.insert(r.try_get::<String>("privilegename")?);
    }
    Ok(out)
}

/// Whether the role row `id` exists.
pub async fn role_exists(tx: &mut Tx, role: Uuid) -> Result<bool, StoreError> {
    Ok(tx
        .fetch_optional_sql("SELECT roleid FROM crm_role WHERE roleid = $1", vec![s(role)])
        .await?
        .is_some())
}

/// The id of the role named `name`, if any (names are labels: decide nothing by them).
pub async fn role_id(tx: &mut Tx, name: &str) -> Result<Option<Uuid>, StoreError> {
    let row =
        tx.fetch_optional_sql("SELECT roleid FROM crm_role WHERE name = $1", vec![s(name)]).await?;
    Ok(match row {
        Some(r) => parse_uuid(r.try_get("roleid")?),
        None => None,
    })
}

/// The installed version of a solution, read in `tx`.
pub async fn installed_solution_in(tx: &mut Tx, name: &str) -> Result<Option<String>, StoreError> {
    let row = tx
        .fetch_optional_sql("SELECT version FROM crm_solution WHERE uniquename = $1", vec![s(name)])
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("version")?),
        None => None,
    })
}

/// The installed version of a solution.
pub async fn installed_solution(db: &Db, name: &str) -> Result<Option<String>, StoreError> {
    let row = db
        .fetch_optional_sql("SELECT version FROM crm_solution WHERE uniquename = $1", vec![s(name)])
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("version")?),
        None => None,
    })
}

/// Next value of an auto-number sequence (ordernumber, invoicenumber).
pub async fn next_sequence(tx: &mut Tx, name: &str) -> Result<i64, StoreError> {
    let row = tx
        .fetch_one_sql(
            "INSERT INTO crm_sequence (name, value) VALUES ($1, 1001) \
             ON CONFLICT (name) DO UPDATE SET value = crm_sequence.value + 1 RETURNING value",
            vec![s(name)],
        )
        .await?;
    row.try_get_i64("value")
}

/// Records an installed solution version (insert or upgrade).
pub async fn record_solution(tx: &mut Tx, name: &str, version: &str) -> Result<(), StoreError> {
    tx.execute_sql(
        "INSERT INTO crm_solution (uniquename, version, installedon) VALUES ($1, $2, $3) \
         ON CONFLICT (uniquename) DO UPDATE SET version = excluded.version, installedon = excluded.installedon",
        vec![s(name), s(version), Value::from(now_micros())],
    )
    .await?;
    Ok(())
}

/// Installed solutions: `(uniquename, version, installedon µs)`.
pub async fn solutions(tx: &mut Tx) -> Result<Vec<(String, String, i64)>, StoreError> {
    let rows = tx
        .fetch_all_sql(
            "SELECT uniquename, version, installedon FROM crm_solution ORDER BY uniquename",
            vec![],
        )
        .await?;
    let mut out = vec![];
    for r in rows {
        out.push((r.try_get("uniquename")?, r.try_get("version")?, r.try_get_i64("installedon")?));
    }
    Ok(out)
}

/// The Financials connection the integration uses for item availability.
#[derive(Debug, Clone)]
pub struct FinancialsConnection {
    pub odata_url: String,
    pub user_name: String,
    /// Decrypted access key (redacted in `Debug`).
    pub access_key: Option<Secret>,
}

/// Saves the Financials connection; the access key is sealed with `key`.
pub async fn save_connection(
    tx: &mut Tx,
    key: &secrets::SealingKey,
    odata_url: &str,
    user_name: &str,
    access_key: Option<&str>,
) -> Result<(), StoreError> {
    let sealed = access_key.map(|k| key.seal(k));
    tx.execute_sql(
        "INSERT INTO crm_kontor_connection (name, odata_url, user_name, access_key_encrypted, modifiedon) \
         VALUES ('financials', $1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET odata_url = excluded.odata_url, user_name = excluded.user_name, \
         access_key_encrypted = excluded.access_key_encrypted, modifiedon = excluded.modifiedon",
        vec![s(odata_url), s(user_name), Value::from(sealed), Value::from(now_micros())],
    )
    .await?;
    Ok(())
}

/// Loads the Financials connection, opening the access key with `key` (a key that does not open
/// it gives `access_key: None`).
pub async fn load_connection(
    db: &Db,
    key: &secrets::SealingKey,
) -> Result<Option<FinancialsConnection>, StoreError> {
    let mut tx = db.begin_read().await?;
    let c = load_connection_in(&mut tx, key).await?;
    tx.commit().await?;
    Ok(c)
}

/// [`load_connection`] inside a transaction.
pub async fn load_connection_in(
    tx: &mut Tx,
    key: &secrets::SealingKey,
) -> Result<Option<FinancialsConnection>, StoreError> {
    let row = tx
        .fetch_optional_sql(
            "SELECT odata_url, user_name, access_key_encrypted FROM crm_kontor_connection WHERE name = 'financials'",
            vec![],
        )
        .await?;
    let Some(r) = row else { return Ok(None) };
    let sealed: Option<String> = r.try_get("access_key_encrypted")?;
    Ok(Some(FinancialsConnection {
        odata_url: r.try_get("odata_url")?,
        user_name: r.try_get("user_name")?,
        access_key: sealed.and_then(|s| key.open(&s).ok()),
    }))
}

//! First start on an empty database: the root business unit, the built-in roles and the `admin`
//! user (System Administrator and Solution Customizer). Idempotent; on later starts it only
//! refreshes the privileges of Kontor's roles.

use kontor_store::{Db, StoreError, Tx};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::SalesError;
use crate::directory;
use crate::model::sales_model;
use crate::rules;
use crate::secrets;
use crate::security::{self, BUILT_IN_ROLES, SOLUTION_CUSTOMIZER, SYSTEM_ADMINISTRATOR};
use crate::tables;

/// The admin's user name (`domainname`).
pub const ADMIN_USER: &str = "admin";

/// Deterministic ids of the bootstrap rows.
pub fn root_business_unit_id() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, b"kontor.businessunit.root")
}
pub fn admin_user_id() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, b"kontor.systemuser.admin")
}

async fn create(
    tx: &mut Tx,
    set: &str,
    id: Uuid,
    attrs: Value,
    caller: Uuid,
) -> Result<(), SalesError> {
    let (_, table) =
        sales_model().set(set).ok_or_else(|| SalesError::Internal(format!("no set {set}")))?;
    let storage = crate::storage_model()
        .entity_set(set)
        .ok_or_else(|| SalesError::Internal(format!("no set {set}")))?;
    let mut row: Map<String, Value> = attrs.as_object().cloned().unwrap_or_default();
    rules::prepare_create(table, id, &mut row, caller)?;
    row.insert(storage.key.clone(), Value::String(id.to_string()));
    tables::insert(tx, storage, &row).await?;
    Ok(())
}

/// Creates the first admin on an empty database and returns the generated password (to print
/// once) when neither `admin_password` nor `KONTOR_ADMIN_PASSWORD` gave one. `None` when the
/// database was already bootstrapped or the password was given.
pub async fn bootstrap(
    db: &Db,
    admin_password: Option<String>,
) -> Result<Option<String>, SalesError> {
    let existing =
        db.fetch_optional_sql("SELECT systemuserid FROM crm_systemuser LIMIT 1", vec![]).await?;
    if existing.is_some() {
        refresh_roles(db).await?;
        return Ok(None);
    }
    let given = admin_password
        .or_else(|| std::env::var("KONTOR_ADMIN_PASSWORD").ok())
        .filter(|p| !p.is_empty());
    let (password, generated) = match given {
        Some(p) => (p, false),
        None => (secrets::generate_password().expose().to_owned(), true),
    };
    let admin = admin_user_id();
    let bu = root_business_unit_id();
    let mut tx = db.begin().await?;
    let result = async {
        create(&mut tx, "businessunits", bu, json!({"name": "Kontor"}), admin).await?;
        for role in BUILT_IN_ROLES {
            let id = security::role_id_for(role);
            create(
                &mut tx,
                "roles",
                id,
                json!({"name": role, "_businessunitid_value": bu.to_string(), "isinherited": 1}),
                admin,
            )
            .await?;
            directory::set_role_privileges(&mut tx, id, &security::role_privileges(role)).await?;
        }
        create(
            &mut tx,
            "systemusers",
            admin,
            json!({
                "domainname": ADMIN_USER,
                "firstname": "Kontor",
                "lastname": "Administrator",
                "internalemailaddress": "admin@kontor.local",
                "_businessunitid_value": bu.to_string(),
                "isdisabled": false,
                "islicensed": true,
                "accessmode": 0
            }),
            admin,
        )
        .await?;
        for role in [SYSTEM_ADMINISTRATOR, SOLUTION_CUSTOMIZER] {
            directory::assign_role(&mut tx, admin, security::role_id_for(role)).await?;
        }
        directory::set_password(&mut tx, admin, &password).await?;
        Ok::<(), SalesError>(())
    }
    .await;
    match result {
        Ok(()) => tx.commit().await?,
        // Another process bootstrapped the same database at the same moment.
        Err(SalesError::Store(StoreError::Duplicate { .. })) => return Ok(None),
        Err(e) => return Err(e),
    }
    Ok(generated.then_some(password))
}

/// Keeps the privileges of Kontor's built-in roles in step with this build. Roles are found by
/// their fixed ids (every database has created them at those ids), never by name.
async fn refresh_roles(db: &Db) -> Result<(), SalesError> {
    let mut tx = db.begin().await?;
    for role in BUILT_IN_ROLES {
        let id = security::role_id_for(role);
        if directory::role_exists(&mut tx, id).await? {
            directory::set_role_privileges(&mut tx, id, &security::role_privileges(role)).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

//! Putting a company together: demo data in Financials, the integration users on both sides,
//! and the wake-up of the incremental synchronization when either store changes.

use std::time::Duration;

use anyhow::Context as _;
use kontor_financials::credentials::{PermissionSet, Permissions, Secret};
use kontor_financials::service::{self, Actor};
use kontor_financials::{FinError, users};
use kontor_jobs::Queue;
use kontor_store::Db;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::demo::{Dataset, demo_id};

/// The Financials user the integration calls the API (and item availability) as.
pub const INTEGRATION_USER: &str = "KONTOR-INTEGRATION";

const PER_TX: usize = 500;

fn object(v: &Value) -> anyhow::Result<Map<String, Value>> {
    v.as_object().cloned().context("a demo payload is not a JSON object")
}

/// Creates a record unless its id exists already (so a seeding cut short can run again).
async fn create_once(
    tx: &mut kontor_store::Tx,
    set: &str,
    body: Map<String, Value>,
    actor: Actor,
) -> anyhow::Result<()> {
    match service::create(tx, set, body, None, actor).await {
        Ok(_) | Err(FinError::Duplicate(_)) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("create a demo record in {set}")),
    }
}

async fn admin_actor(db: &Db) -> anyhow::Result<Actor> {
    let row = db
        .fetch_one_sql(
            "SELECT id FROM fin_user WHERE user_name = $1",
            vec![kontor_store::sea_query::Value::from(kontor_financials::bootstrap::ADMIN_USER)],
        )
        .await
        .context("find ADMIN")?;
    Ok(Actor(row.get_uuid("id")))
}

/// Seeds `data` into Financials through its domain layer (the code behind the API's POST), as
/// ADMIN, in dependency order: reference data, customers with their company contacts, persons,
/// items with inventory, prices, open sales orders.
pub async fn seed_demo(db: &Db, data: &Dataset) -> anyhow::Result<()> {
    let actor = admin_actor(db).await?;
    for (set, payloads) in data.sets() {
        if set == "contacts" {
            // A person's `companyNumber` names a contact of type Company.
            for chunk in data.customers.chunks(PER_TX) {
                let mut tx = db.begin().await?;
                for c in chunk {
                    let number = c["number"].as_str().unwrap_or_default();
                    let body = object(&json!({
                        "id": demo_id("company-contact", number), "number": number,
                        "type": "Company", "displayName": c["displayName"], "city": c["city"],
                        "country": c["country"], "postalCode": c["postalCode"],
                    }))?;
                    create_once(&mut tx, "contacts", body, actor).await?;
                }
                tx.commit().await?;
            }
        }
        let entity = service::entity(set)?;
        let derived: Vec<&str> = entity
            .properties
            .iter()
            .filter(|p| p.read_only && p.name != "id")
            .map(|p| p.name.as_str())
            .collect();
        for chunk in payloads.chunks(PER_TX) {
            let mut tx = db.begin().await?;
            for p in chunk {
                let mut body = object(p)?;
                body.retain(|k, _| !derived.contains(&k.as_str()));
                create_once(&mut tx, set, body, actor).await?;
            }
            tx.commit().await?;
        }
    }
    // Inventory: a PATCH of `inventory` posts an adjustment, as Business Central does.
    for chunk in data.inventory.chunks(PER_TX) {
        let mut tx = db.begin().await?;
        for (number, qty) in chunk {
            let id = demo_id("item", number);
            let patch = object(&json!({ "inventory": qty }))?;
            service::update(&mut tx, "items", id, patch, None, None, actor)
                .await
                .with_context(|| format!("put {qty} of item {number} on stock"))?;
        }
        tx.commit().await?;
    }
    let mut tx = db.begin().await?;
    for order in &data.sales_orders {
        create_once(&mut tx, "salesOrders", object(order)?, actor).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Creates the integration user in Financials (business data and item availability) with a new
/// web service access key. Returns its name and key.
pub async fn create_financials_integration_user(db: &Db) -> anyhow::Result<(String, String)> {
    let actor = admin_actor(db).await?;
    let mut tx = db.begin().await?;
    let existing = tx
        .fetch_optional_sql(
            "SELECT id FROM fin_user WHERE user_name = $1",
            vec![kontor_store::sea_query::Value::from(INTEGRATION_USER)],
        )
        .await?;
    let id = match existing {
        Some(row) => row.get_uuid("id"),
        None => users::create_user(
            &mut tx,
            INTEGRATION_USER,
            "Kontor integration",
            &Permissions(vec![PermissionSet::BusFullAccess, PermissionSet::ItemAvailability]),
            None::<&Secret>,
            Some(actor.0),
        )
        .await?
        .id()
        .context("the integration user has no id")?,
    };
    let key = users::change_web_service_key(&mut tx, id, None, Some(actor.0)).await?;
    tx.commit().await?;
    Ok((INTEGRATION_USER.to_owned(), key.expose().to_owned()))
}

/// Sales as its administrator, over the Web API.
pub struct SalesAdmin {
    client: reqwest::Client,
    api: String,
    token: String,
}

impl SalesAdmin {
    pub async fn login(root: &str, password: &str) -> anyhow::Result<SalesAdmin> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        let r = client
            .post(format!("{root}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", kontor_sales::bootstrap::ADMIN_USER),
                ("password", password),
            ])
            .send()
            .await
            .context("reach the Sales token endpoint")?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let token = body["access_token"]
            .as_str()
            .with_context(|| format!("Sales refused the administrator's login ({status})"))?
            .to_owned();
        Ok(SalesAdmin { client, api: format!("{root}/api/data/v9.2"), token })
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        Ok(self.post_unless_exists(path, body).await?.unwrap_or(Value::Null))
    }

    /// POSTs `body`; `None` when a row with its key exists already (412, `DuplicateRecord`).
    async fn post_unless_exists(&self, path: &str, body: &Value) -> anyhow::Result<Option<Value>> {
        let r = self
            .client
            .post(format!("{}/{path}", self.api))
            .bearer_auth(&self.token)
            .header("Prefer", "return=representation")
            .json(body)
            .send()
            .await?;
        let status = r.status();
        let text = r.text().await?;
        if status == reqwest::StatusCode::PRECONDITION_FAILED && text.contains("0x80040237") {
            return Ok(None);
        }
        anyhow::ensure!(status.is_success(), "Sales answered {status} to POST {path}: {text}");
        Ok(Some(serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// An application user (client credentials). Returns its client id and secret.
    pub async fn create_application_user(
        &self,
        first: &str,
        last: &str,
    ) -> anyhow::Result<(String, String)> {
        let client_id = Uuid::new_v4();
        let user_id = Uuid::new_v4();
        self.post(
            "systemusers",
            &json!({"systemuserid": user_id, "applicationid": client_id, "firstname": first, "lastname": last}),
        )
        .await
        .context("create the integration's application user in Sales")?;
        let secret = self
            .post(
                &format!("systemusers({user_id})/Microsoft.Dynamics.CRM.kontor_SetClientSecret"),
                &json!({}),
            )
            .await?;
        let secret = secret["ClientSecret"].as_str().context("Sales gave no client secret")?;
        Ok((client_id.to_string(), secret.to_owned()))
    }

    /// Sales users for the demo salespeople (SALESPEOPLE couples them by e-mail).
    pub async fn create_users_for_salespeople(&self, data: &Dataset) -> anyhow::Result<()> {
        for s in &data.salespeople {
            let name = s["displayName"].as_str().unwrap_or_default();
            let (first, last) = name.split_once(' ').unwrap_or((name, ""));
            let code = s["code"].as_str().unwrap_or_default();
            self.post_unless_exists(
                "systemusers",
                &json!({
                    "systemuserid": demo_id("sales-user", code), "firstname": first, "lastname": last,
                    "internalemailaddress": s["email"], "domainname": s["email"],
                }),
            )
            .await
            .with_context(|| format!("create the Sales user of salesperson {code}"))?;
        }
        Ok(())
    }
}

/// Wakes the incremental synchronization within a fraction of a second of a change in any of
/// `stores` (their row-version counters move on every write), until `stop` completes.
pub async fn wake_on_changes(
    stores: Vec<Db>,
    queue: Queue,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let mut seen: Vec<Option<i64>> = vec![None; stores.len()];
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let mut changed = false;
        for (db, last) in stores.iter().zip(seen.iter_mut()) {
            match db.current_version().await {
                Ok(v) => {
                    changed |= last.is_some_and(|l| l != v);
                    *last = Some(v);
                }
                Err(e) => tracing::warn!(error = %e, "reading a store's version"),
            }
        }
        if changed && let Err(e) = queue.wake(kontor_sync::jobs::INCREMENTAL, None).await {
            tracing::warn!(error = %e, "waking the incremental synchronization");
        }
    }
}

//! Seeding a fresh Financials with the benchmark data set, straight through its domain layer
//! (`kontor_financials::service::create`, the code behind the API's POST), 1,000 records per
//! transaction. Not timed: it only prepares the source side.
//!
//! [`seed_in_child`] does it in a child process (`kontor bench sync --seed-into <url>`), so the
//! generated payloads — hundreds of MB at 100,000 customers — never live in the measuring
//! process: freed heap is not always given back to the kernel, and it would count in every
//! run's peak RSS.

use anyhow::Context as _;
use kontor_financials::credentials::{PermissionSet, Permissions, Secret};
use kontor_financials::users;
use kontor_store::Db;
use uuid::Uuid;

use crate::demo::Dataset;

/// Password of `ADMIN` in the benchmark's Financials.
pub const ADMIN_PASSWORD: &str = "kontor-bench-admin-1";
/// The Financials user the integration (and item availability) uses.
pub const INTEGRATION_USER: &str = "KONTOR-INTEGRATION";

/// What a seeded Financials offers the runs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Seeded {
    pub company_id: Uuid,
    pub company_name: String,
    pub admin_id: Uuid,
    /// The integration user and its web service access key (HTTP Basic password).
    pub integration_user_id: Uuid,
    pub integration_key: String,
    pub integration_password: String,
}

/// Migrates and bootstraps `db`, creates the integration user, then creates every record of
/// `data` in dependency order.
pub async fn seed(db: &Db, data: &Dataset) -> anyhow::Result<Seeded> {
    kontor_financials::bootstrap(db, Some(ADMIN_PASSWORD.to_owned()))
        .await
        .context("bootstrap Financials")?;
    let company = kontor_financials::bootstrap::company(db).await?;
    let admin = db
        .fetch_one_sql(
            "SELECT id FROM fin_user WHERE user_name = $1",
            vec![kontor_store::sea_query::Value::from(kontor_financials::bootstrap::ADMIN_USER)],
        )
        .await
        .context("find ADMIN")?;
    let admin_id = admin.get_uuid("id");

    let password = format!("integration-{}", Uuid::new_v4().simple());
    let mut tx = db.begin().await?;
    let user = users::create_user(
        &mut tx,
        INTEGRATION_USER,
        "Kontor integration",
        &Permissions(vec![PermissionSet::BusFullAccess, PermissionSet::ItemAvailability]),
        Some(&Secret::new(password.clone())),
        Some(admin_id),
    )
    .await?;
    let integration_user_id = user.id().context("integration user without id")?;
    let key =
        users::change_web_service_key(&mut tx, integration_user_id, None, Some(admin_id)).await?;
    tx.commit().await?;

    // The same seeding as `kontor up`'s demo company (company contacts, inventory adjustments).
    crate::stack::seed_demo(db, data).await?;
    Ok(Seeded {
        company_id: company.id,
        company_name: company.name,
        admin_id,
        integration_user_id,
        integration_key: key.expose().to_owned(),
        integration_password: password,
    })
}

/// Seeds the database at `url` with `records` customers (and the rest) in a child process of this
/// same executable, and returns what it seeded.
pub async fn seed_in_child(url: &str, records: usize) -> anyhow::Result<Seeded> {
    let exe = std::env::current_exe().context("find the kontor executable")?;
    let out = tokio::process::Command::new(exe)
        .args(["bench", "sync", "--records", &records.to_string(), "--seed-into", url])
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .context("run the seeding child process")?;
    anyhow::ensure!(out.status.success(), "seeding failed ({})", out.status);
    serde_json::from_slice(&out.stdout).context("read the seeding child's answer")
}

/// The child's side of [`seed_in_child`]: seeds and prints the [`Seeded`] JSON.
pub async fn seed_here(url: &str, records: usize) -> anyhow::Result<()> {
    let db = Db::connect(url).await?;
    let data = crate::demo::generate(&crate::demo::Spec::bench(records));
    let seeded = seed(&db, &data).await?;
    db.close().await;
    println!("{}", serde_json::to_string(&seeded)?);
    Ok(())
}

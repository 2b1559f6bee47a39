//! Measures `Repo::insert_many` / `upsert_many` and the change feed on a database:
//! `cargo run --release -p kontor-store --example bulk_write -- <database-url> [rows]`
//! (e.g. `sqlite:/tmp/bulk.db?mode=rwc`, `postgres://…`, or `pg` for a throwaway test cluster). Creates its own table `bench_item`.

use std::time::Instant;

use kontor_odata::model::{EdmType, EntityType, Model, Property};
use kontor_store::{Caller, Db, Map, Repo};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: bulk_write <database-url> [rows]")?;
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100_000);

    // `pg`: a fresh database on kontor-testkit's throwaway cluster.
    let url = if url == "pg" { kontor_testkit::pg::url().await } else { url };
    let db = Db::connect(&url).await?;
    db.migrate_store().await?;
    db.execute_sql("DROP TABLE IF EXISTS bench_item", vec![]).await?;
    db.execute_sql(
        "CREATE TABLE bench_item (id TEXT NOT NULL PRIMARY KEY, number TEXT NOT NULL, \
         description TEXT, unit_price BIGINT, inventory BIGINT, blocked BOOLEAN, \
         modified_at BIGINT NOT NULL, row_version BIGINT NOT NULL)",
        vec![],
    )
    .await?;
    db.execute_sql("CREATE INDEX bench_item_row_version ON bench_item (row_version)", vec![])
        .await?;

    let item = EntityType {
        name: "item".into(),
        set_name: "items".into(),
        table: "bench_item".into(),
        key: "id".into(),
        properties: vec![
            Property::new("id", "id", EdmType::Guid),
            Property::new("number", "number", EdmType::String).required().max_length(20),
            Property::new("description", "description", EdmType::String).max_length(100),
            Property::new("unitPrice", "unit_price", EdmType::MONEY),
            Property::new("inventory", "inventory", EdmType::Int64),
            Property::new("blocked", "blocked", EdmType::Boolean),
            Property::new("lastModifiedDateTime", "modified_at", EdmType::DateTimeOffset)
                .read_only(),
        ],
        navigations: vec![],
        alternate_keys: vec![vec!["number".into()]],
        created_property: None,
        modified_property: Some("lastModifiedDateTime".into()),
    };
    let model =
        Model { namespace: "bench".into(), container: "bench".into(), entity_types: vec![item] };
    let repo = Repo::new(model.clone());
    let item = &model.entity_types[0];

    let rows: Vec<Map> = (0..n)
        .map(|i| {
            let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &i.to_le_bytes());
            match json!({
                "id": id.to_string(), "number": format!("I-{i:07}"), "description": format!("Item {i}"),
                "unitPrice": (i % 10_000) as f64 / 4.0, "inventory": i, "blocked": i % 7 == 0,
            }) {
                serde_json::Value::Object(m) => m,
                _ => unreachable!(),
            }
        })
        .collect();

    let start = Instant::now();
    let mut tx = db.begin().await?;
    repo.insert_many(&mut tx, item, &rows, Caller::Client).await?;
    tx.commit().await?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} insert_many: {n} rows in {secs:.2} s = {:.0} rows/s",
        db.backend().name(),
        n as f64 / secs
    );

    let start = Instant::now();
    let mut tx = db.begin().await?;
    repo.upsert_many(&mut tx, item, &rows, Caller::Client).await?;
    tx.commit().await?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} upsert_many (all existing): {n} rows in {secs:.2} s = {:.0} rows/s",
        db.backend().name(),
        n as f64 / secs
    );

    let start = Instant::now();
    let mut tx = db.begin_read().await?;
    let mut after = 0;
    let mut seen = 0;
    loop {
        let page = repo.changes(&mut tx, item, after, 5000).await?;
        let Some(last) = page.last() else { break };
        after = last.version();
        seen += page.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} changes: {seen} rows in {secs:.2} s = {:.0} rows/s",
        db.backend().name(),
        seen as f64 / secs
    );
    Ok(())
}

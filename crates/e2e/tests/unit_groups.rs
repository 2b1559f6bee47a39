//! Unit Group Mapping, on SQLite and PostgreSQL: with the option on, each item's unit group
//! reaches Sales as a unit group holding the item's units (the base unit Sales creates with the
//! group is coupled by name, the other one is created), and the item's product refers to its
//! unit group and base unit.

mod common;

use common::{Scale, World, all, id, put};
use kontor_sync::defaults::MappingOptions;
use kontor_sync::engine::Mode;
use serde_json::{Value, json};

const ITEMS: usize = 3;

async fn unit_group_story(fin_url: String, sales_url: String) {
    let options = MappingOptions { unit_group_mapping: true };
    let w = World::start_with(&fin_url, &sales_url, None, options).await;
    w.seed(Scale { customers: 1, items: ITEMS }).await;
    // Every item gets a second unit: a box of 12 pieces, or a piece of a twelfth of a box.
    let f = &w.fin_admin;
    put(
        f,
        "itemUnitsOfMeasure",
        "id",
        (0..ITEMS)
            .map(|n| {
                let (code, qty) = if n % 2 == 0 { ("BOX", json!(12)) } else { ("PCS", json!(0.5)) };
                (id("iuom", n), json!({"itemNumber": format!("I{n:05}"), "code": code, "qtyPerUnitOfMeasure": qty}))
            })
            .collect(),
    )
    .await;
    let groups = all(f, "unitGroups", "id").await;
    assert_eq!(groups.len(), ITEMS + 3, "one unit group per item and resource: {groups:?}");

    w.full_sync().await;
    let errors: Vec<String> = w
        .errors()
        .await
        .into_iter()
        .filter(|e| {
            ["UNIT GROUP", "ITEM UOM", "RESOURCE UOM", "ITEM-PRODUCT", "RESOURCE-PRODUCT"]
                .iter()
                .any(|m| e.starts_with(&format!("{m} ")))
        })
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    let s = &w.sales_admin;
    let schedules = all(s, "uomschedules", "uomscheduleid").await;
    let uoms = all(s, "uoms", "uomid").await;
    let products = all(s, "products", "productid").await;
    for n in 0..ITEMS {
        let number = format!("I{n:05}");
        let (base, other, qty) =
            if n % 2 == 0 { ("PCS", "BOX", 12.0) } else { ("BOX", "PCS", 0.5) };
        let (gid, group) = schedules
            .iter()
            .find(|(_, g)| g.get("name") == Some(&json!(format!("ITEM{number}"))))
            .unwrap_or_else(|| panic!("no unit group for {number}: {schedules:?}"));
        assert_eq!(group.get("baseuomname"), Some(&json!(base)));
        let group_id = json!(gid.to_string());
        let mut units: Vec<(&uuid::Uuid, &serde_json::Map<String, Value>)> =
            uoms.iter().filter(|(_, u)| u.get("_uomscheduleid_value") == Some(&group_id)).collect();
        units.sort_by_key(|(_, u)| u.get("name").and_then(Value::as_str).map(str::to_owned));
        let names: Vec<&str> =
            units.iter().filter_map(|(_, u)| u.get("name").and_then(Value::as_str)).collect();
        let mut want = vec![base, other];
        want.sort();
        assert_eq!(names, want, "the units of {number}'s group");
        let (base_id, base_unit) =
            units.iter().find(|(_, u)| u.get("name") == Some(&json!(base))).unwrap();
        assert_eq!(base_unit.get("isschedulebaseuom"), Some(&json!(true)), "{base_unit:?}");
        let (_, other_unit) =
            units.iter().find(|(_, u)| u.get("name") == Some(&json!(other))).unwrap();
        assert_eq!(other_unit.get("quantity").and_then(Value::as_f64), Some(qty), "{other_unit:?}");

        let product = products
            .values()
            .find(|p| p.get("productnumber") == Some(&json!(number)))
            .unwrap_or_else(|| panic!("no product {number}"));
        assert_eq!(
            product.get("_defaultuomscheduleid_value"),
            Some(&json!(gid.to_string())),
            "{product:?}"
        );
        assert_eq!(
            product.get("_defaultuomid_value"),
            Some(&json!(base_id.to_string())),
            "{product:?}"
        );
    }

    // Bidirectional for items: the default unit chosen in Sales becomes the item's base unit.
    let (pid, _) =
        products.iter().find(|(_, p)| p.get("productnumber") == Some(&json!("I00000"))).unwrap();
    let gid = schedules
        .iter()
        .find(|(_, g)| g.get("name") == Some(&json!("ITEMI00000")))
        .map(|(g, _)| json!(g.to_string()))
        .unwrap();
    let (box_unit, _) = uoms
        .iter()
        .find(|(_, u)| {
            u.get("name") == Some(&json!("BOX")) && u.get("_uomscheduleid_value") == Some(&gid)
        })
        .unwrap();
    put(
        s,
        "products",
        "productid",
        vec![(*pid, json!({"defaultuomid@odata.bind": format!("/uoms({box_unit})")}))],
    )
    .await;
    let reports = w.engine.run_mapping("ITEM-PRODUCT", Mode::Incremental).await.unwrap();
    let errors = w.errors().await;
    assert!(errors.iter().all(|e| !e.starts_with("ITEM-PRODUCT")), "{reports:?} {errors:#?}");
    let item = &all(f, "items", "id").await[&id("item", 0)];
    assert_eq!(item.get("baseUnitOfMeasureCode"), Some(&json!("BOX")), "{item:?}");
    assert_eq!(item.get("baseItemUnitOfMeasureId"), Some(&json!(id("iuom", 0).to_string())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn items_reach_sales_as_unit_groups_with_their_units_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    unit_group_story(kontor_testkit::sqlite_url(&dir), kontor_testkit::sqlite_url(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn items_reach_sales_as_unit_groups_with_their_units_on_postgres() {
    unit_group_story(kontor_testkit::pg::url().await, kontor_testkit::pg::url().await).await;
}

//! Unit Group Mapping, on SQLite and PostgreSQL: with the option on, each item's unit group
//! reaches Sales as a unit group holding the item's units (the base unit Sales creates with the
//! group is coupled by name, the other one is created), and the item's product refers to its
//! unit group and base unit.

mod common;

use std::collections::HashMap;

use common::{Scale, World, all, id, put};
use kontor_sync::defaults::{MappingOptions, default_mappings_with};
use kontor_sync::mapping::MappingSet;
use serde_json::{Value, json};

const ITEMS: usize = 3;

async fn unit_group_story(fin_url: String, sales_url: String) {
    let w = World::start(&fin_url, &sales_url, None).await;
    // Switch the connection's Unit Group Mapping on: the mappings it changes.
    let on = default_mappings_with(MappingOptions { unit_group_mapping: true });
    let changed = [
        "UNIT OF MEASURE",
        "UNIT GROUP",
        "ITEM UOM",
        "RESOURCE UOM",
        "ITEM-PRODUCT",
        "RESOURCE-PRODUCT",
        "SALESPRC-PRODPRICE",
    ];
    let stored = w.store.mappings().await.unwrap();
    let mut set: Vec<_> = stored.mappings.clone();
    for m in &mut set {
        if let Some(n) = on.get(&m.name).filter(|_| changed.contains(&m.name.as_str())) {
            *m = n.clone();
        }
    }
    let at = set.iter().position(|m| m.name == "UNIT OF MEASURE").unwrap() + 1;
    let new: Vec<_> = ["UNIT GROUP", "ITEM UOM", "RESOURCE UOM"]
        .iter()
        .map(|n| on.get(n).unwrap().clone())
        .collect();
    set.splice(at..at, new);
    let set = MappingSet::new(set);
    set.validate().unwrap();
    w.store.save_mappings(&set, false, false, w.clock.now()).await.unwrap();

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
    let text = |r: &HashMap<String, Value>, f: &str| {
        r.get(f).and_then(Value::as_str).unwrap_or_default().to_lowercase()
    };
    for n in 0..ITEMS {
        let number = format!("I{n:05}");
        let (base, other, qty) =
            if n % 2 == 0 { ("PCS", "BOX", 12.0) } else { ("BOX", "PCS", 0.5) };
        let (gid, group) = schedules
            .iter()
            .find(|(_, g)| g.get("name") == Some(&json!(format!("ITEM{number}"))))
            .unwrap_or_else(|| panic!("no unit group for {number}: {schedules:?}"));
        assert_eq!(group.get("baseuomname"), Some(&json!(base)));
        let mut units: Vec<(&uuid::Uuid, &serde_json::Map<String, Value>)> = uoms
            .iter()
            .filter(|(_, u)| {
                text(
                    &u.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    "_uomscheduleid_value",
                ) == gid.to_string()
            })
            .collect();
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

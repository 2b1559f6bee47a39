//! Paging over 12,000 rows of every entity set with `odata.maxpagesize=5000`, on both backends;
//! the rows are created with CreateMultiple.

mod common;

use std::collections::HashSet;

use common::Api;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `(entity set, logical name, a unique text attribute and its maximum length)`.
const SETS: &[(&str, &str, Option<&str>)] = &[
    ("systemusers", "systemuser", Some("domainname")),
    ("businessunits", "businessunit", Some("name")),
    ("roles", "role", Some("name")),
    ("teams", "team", Some("name")),
    ("transactioncurrencies", "transactioncurrency", Some("isocurrencycode")),
    ("uomschedules", "uomschedule", Some("name")),
    ("uoms", "uom", None),
    ("products", "product", Some("productnumber")),
    ("pricelevels", "pricelevel", Some("name")),
    ("productpricelevels", "productpricelevel", None),
    ("accounts", "account", Some("accountnumber")),
    ("contacts", "contact", Some("employeeid")),
    ("salesorders", "salesorder", None),
    ("salesorderdetails", "salesorderdetail", None),
    ("invoices", "invoice", None),
    ("invoicedetails", "invoicedetail", None),
];

const ROWS: usize = 12_000;
const BATCH: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_entity_set_pages_12000_rows_by_next_links_of_5000() {
    on_both_backends!(|server| {
        let api = Api::admin(&server).await;
        for (set, logical, unique) in SETS {
            let key = format!("{logical}id");
            let (before, _, _) = api.all_pages(&format!("{set}?$select={key}"), &[]).await;
            for chunk in 0..ROWS / BATCH {
                let targets: Vec<Value> = (0..BATCH)
                    .map(|i| {
                        let n = chunk * BATCH + i;
                        let mut t =
                            json!({"@odata.type": format!("Microsoft.Dynamics.CRM.{logical}")});
                        if let Some(attr) = unique {
                            t[*attr] = json!(format!("k{n:x}"));
                        }
                        t
                    })
                    .collect();
                let r = api
                    .post(
                        &format!("{set}/Microsoft.Dynamics.CRM.CreateMultiple"),
                        json!({"Targets": targets}),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::OK, "{set}: {}", r.text);
                assert_eq!(r.json()["Ids"].as_array().unwrap().len(), BATCH);
            }
            let (rows, sizes, _) = api
                .all_pages(&format!("{set}?$select={key}"), &[("Prefer", "odata.maxpagesize=5000")])
                .await;
            // Rows there before: uoms holds the base units Sales created with the unit groups.
            let total = ROWS + before.len();
            assert_eq!(sizes.len(), total.div_ceil(5000), "{set}: pages {sizes:?}");
            assert!(sizes[..sizes.len() - 1].iter().all(|s| *s == 5000), "{set}: {sizes:?}");
            let ids: HashSet<&str> = rows.iter().map(|r| r[&key].as_str().unwrap()).collect();
            assert_eq!(ids.len(), ROWS + before.len(), "{set}: every row once");
        }
    });
}

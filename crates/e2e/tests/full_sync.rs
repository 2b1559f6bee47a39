//! Setup and full synchronization between the real servers, on SQLite and PostgreSQL: every
//! record exists on both sides with equal mapped fields and exactly one coupling.

mod common;

use std::collections::HashMap;

use common::{Scale, World, all};

/// Checks one mapping (see [`kontor_e2e::check_mapping`]); returns the records checked.
async fn check_mapping(w: &World, name: &str) -> usize {
    kontor_e2e::check_mapping(&w.store, &w.fin_admin, &w.sales_admin, name).await.checked
}

async fn full_sync_story(fin_url: String, sales_url: String, scale: Scale) {
    let w = World::start(&fin_url, &sales_url, None).await;
    w.seed(scale).await;
    let started = std::time::Instant::now();
    w.full_sync().await;
    let took = started.elapsed();
    let errors = w.errors().await;
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    let status = w.engine.review_status().await.unwrap();
    for s in &status {
        assert_eq!(s.job_queue_entry_status, "Finished", "{status:?}");
    }
    let mut total = 0;
    for name in [
        "SALESPEOPLE",
        "CURRENCY",
        "UNIT OF MEASURE",
        "CUSTOMER",
        "CONTACT",
        "ITEM-PRODUCT",
        "RESOURCE-PRODUCT",
        "CUSTPRCGRP-PRICE",
        "SALESPRC-PRODPRICE",
    ] {
        total += check_mapping(&w, name).await;
    }
    assert_eq!(check_mapping(&w, "CUSTOMER").await, scale.customers);
    assert_eq!(check_mapping(&w, "CONTACT").await, scale.customers);
    assert_eq!(check_mapping(&w, "ITEM-PRODUCT").await, scale.items);

    // Lookups went through the couplings: owner, currency, parent account.
    let accounts = all(&w.sales_admin, "accounts", "accountid").await;
    let customers = all(&w.fin_admin, "customers", "id").await;
    let sp: HashMap<_, _> =
        w.store.coupling_pairs("SALESPEOPLE").await.unwrap().into_iter().collect();
    let salespeople = all(&w.fin_admin, "salespeople", "id").await;
    let code_to_user: HashMap<String, String> = salespeople
        .iter()
        .filter_map(|(id, r)| Some((r["code"].as_str()?.to_owned(), sp.get(id)?.to_string())))
        .collect();
    let cust_pairs: HashMap<_, _> =
        w.store.coupling_pairs("CUSTOMER").await.unwrap().into_iter().collect();
    for (cid, c) in &customers {
        let a = &accounts[&cust_pairs[cid]];
        assert_eq!(
            a["_ownerid_value"].as_str(),
            code_to_user.get(c["salespersonCode"].as_str().unwrap()).map(String::as_str),
            "{c:?} {a:?}"
        );
        assert_eq!(
            a["_transactioncurrencyid_value"].is_null(),
            c["currencyCode"].as_str().unwrap_or("").is_empty(),
            "{c:?} {a:?}"
        );
    }
    let contacts = all(&w.sales_admin, "contacts", "contactid").await;
    assert!(contacts.values().all(|c| c["_parentcustomerid_value"].is_string()));
    println!(
        "full sync of {} records ({} customers, {} items) took {:.2?}: {:.0} records/s",
        total,
        scale.customers,
        scale.items,
        took,
        total as f64 / took.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_sync_copies_every_record_once_with_equal_fields_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let scale = Scale { customers: 2000, items: 500 };
    full_sync_story(kontor_testkit::sqlite_url(&dir), kontor_testkit::sqlite_url(&dir), scale)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_sync_copies_every_record_once_with_equal_fields_on_postgres() {
    let scale = Scale { customers: 2000, items: 500 };
    full_sync_story(kontor_testkit::pg::url().await, kontor_testkit::pg::url().await, scale).await;
}

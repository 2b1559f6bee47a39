//! Idempotence and deletions against the real servers: couplings lost after a crash are rebuilt
//! from the deterministic ids without duplicates; a deletion follows the mapping's policy.

mod common;

use common::{Scale, World, all, id};
use kontor_sync::connector::{Connector, TableRef, WriteBatch, WriteOp};
use kontor_sync::engine::Mode;
use kontor_sync::mapping::DeletionPolicy;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_couplings_are_rebuilt_without_duplicates_and_deletions_follow_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let w =
        World::start(&kontor_testkit::sqlite_url(&dir), &kontor_testkit::sqlite_url(&dir), None)
            .await;
    w.seed(Scale { customers: 40, items: 10 }).await;
    w.full_sync().await;
    assert!(w.errors().await.is_empty(), "{:?}", w.errors().await);
    let accounts_before = all(&w.sales_admin, "accounts", "accountid").await.len();

    // As if the process died after writing the accounts but before recording the couplings.
    assert_eq!(w.store.uncouple_all("CUSTOMER").await.unwrap(), 40);
    let reports = w.engine.run_mapping("CUSTOMER", Mode::Full).await.unwrap();
    assert_eq!((reports[0].counters.coupled, reports[0].counters.inserted), (40, 0), "{reports:?}");
    assert_eq!(all(&w.sales_admin, "accounts", "accountid").await.len(), accounts_before);
    assert_eq!(w.store.coupling_count("CUSTOMER").await.unwrap(), 40);

    // Deleting a coupled customer with the Propagate policy deletes its account.
    let mut m = w.store.mapping("CONTACT").await.unwrap();
    m.deletion_conflict = DeletionPolicy::Propagate;
    w.store.save_mapping(&m, chrono::Utc::now()).await.unwrap();
    let person = id("person", 3);
    let contact =
        w.store.couplings_for("CONTACT", kontor_sync::Side::Financials, &[person]).await.unwrap()
            [0]
        .sales_id;
    let batch = WriteBatch {
        table: TableRef::new("contacts", "id"),
        binds: vec![],
        ops: vec![WriteOp::Delete { id: person }],
    };
    w.fin_admin.write(&batch).await.unwrap();
    let reports = w.engine.run_mapping("CONTACT", Mode::Incremental).await.unwrap();
    assert_eq!(reports[0].counters.deleted, 1, "{reports:?}");
    assert!(!all(&w.sales_admin, "contacts", "contactid").await.contains_key(&contact));
    assert!(
        w.store
            .couplings_for("CONTACT", kontor_sync::Side::Financials, &[person])
            .await
            .unwrap()
            .is_empty()
    );
}

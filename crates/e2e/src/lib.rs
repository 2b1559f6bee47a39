//! kontor-e2e: end-to-end tests (`tests/`): both real servers on their own ports and stores, the
//! sync engine between them through its HTTP connectors, on SQLite and PostgreSQL.
//!
//! The library holds what these tests and the process-level tests of `kontor` (workers killed at
//! random) share: seeding through a connector, reading a whole set, and the check that a mapping's
//! records agree on both sides.

use std::collections::{HashMap, HashSet};

use kontor_connectors::{Grant, ODataConnector, TokenSource};
use kontor_sync::connector::{
    Connector, Cursor, Record, TableRef, WriteBatch, WriteOp, WriteOutcome,
};
use kontor_sync::mapping::Pass;
use kontor_sync::store::SyncStore;
use kontor_sync::value::{same, transform};
use serde_json::Value;
use uuid::Uuid;

/// The token source of a Sales server at `root` (its own `/oauth2/v2.0/token`).
pub fn sales_tokens(root: &str, grant: Grant) -> TokenSource {
    TokenSource::new(format!("{root}/oauth2/v2.0/token"), format!("{root}/.default"), grant)
}

/// Upserts rows (client-chosen keys) and panics with the side's message on any failure.
pub async fn put(c: &ODataConnector, set: &str, key: &str, rows: Vec<(Uuid, Value)>) {
    for chunk in rows.chunks(500) {
        let batch = WriteBatch {
            table: TableRef::new(set, key),
            binds: vec![],
            ops: chunk
                .iter()
                .map(|(id, v)| WriteOp::Upsert {
                    id: *id,
                    fields: v.as_object().cloned().unwrap_or_default(),
                })
                .collect(),
        };
        let out = c.write(&batch).await.unwrap_or_else(|e| panic!("writing {set}: {e}"));
        for (o, (id, _)) in out.iter().zip(chunk) {
            if let WriteOutcome::Failed { message } = o {
                panic!("writing {set}({id}): {message}");
            }
        }
    }
}

/// Every row of a set, by id, and how many rows were read (a key read twice would show).
pub async fn all_counted(
    c: &ODataConnector,
    set: &str,
    key: &str,
) -> (HashMap<Uuid, Record>, usize) {
    let t = TableRef::new(set, key);
    let (mut out, mut read) = (HashMap::new(), 0);
    let mut cursor = Cursor::Start;
    loop {
        let page = c.read(&t, &cursor, 5000).await.unwrap_or_else(|e| panic!("read {set}: {e}"));
        for ch in page.changes {
            if let kontor_sync::Change::Upsert(r) = ch {
                read += 1;
                out.insert(r.id, r.fields);
            }
        }
        match page.next {
            Some(n) => cursor = Cursor::Next(n),
            None => return (out, read),
        }
    }
}

/// Every row of a set, by id.
pub async fn all(c: &ODataConnector, set: &str, key: &str) -> HashMap<Uuid, Record> {
    all_counted(c, set, key).await.0
}

/// What [`check_mapping`] saw of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingCheck {
    /// Financials records inside the mapping's filter, each checked.
    pub checked: usize,
    /// The mapping's couplings.
    pub couplings: usize,
    /// Sales rows listed, and distinct Sales rows among them.
    pub sales_read: usize,
    pub sales_rows: usize,
}

/// Checks one mapping: every Financials row inside its filter is coupled exactly once, to a Sales
/// row that exists, with every plain mapped field (no lookup) equal; no record is coupled twice.
pub async fn check_mapping(
    store: &SyncStore,
    fin: &ODataConnector,
    sales: &ODataConnector,
    name: &str,
) -> MappingCheck {
    let m = store.mapping(name).await.expect("the mapping");
    let fin_rows = all(fin, &m.financials.set, &m.financials.key).await;
    let (sales_rows, sales_read) = all_counted(sales, &m.sales.set, &m.sales.key).await;
    let filter = m.financials.filter.as_ref();
    let pairs = store.coupling_pairs(name).await.expect("couplings");
    let by_fin: HashMap<Uuid, Uuid> = pairs.iter().copied().collect();
    assert_eq!(by_fin.len(), pairs.len(), "{name}: a Financials record is coupled twice");
    let sales_ids: HashSet<Uuid> = pairs.iter().map(|p| p.1).collect();
    assert_eq!(sales_ids.len(), pairs.len(), "{name}: a Sales record is coupled twice");
    let mut checked = 0;
    for (fid, frow) in &fin_rows {
        if !kontor_sync::filter::matches(filter, frow) {
            continue;
        }
        let sid = by_fin
            .get(fid)
            .unwrap_or_else(|| panic!("{name}: Financials record {fid} is not coupled"));
        let srow =
            sales_rows.get(sid).unwrap_or_else(|| panic!("{name}: Sales record {sid} is missing"));
        for f in m
            .fields
            .iter()
            .filter(|f| f.applies_to(Pass::ToSales) && f.lookup.is_none() && !f.insert_only)
        {
            let (Some(ff), Some(sf)) = (&f.financials, &f.sales) else { continue };
            let mut want = frow.get(ff).cloned().unwrap_or(Value::Null);
            if let Some(t) = &f.transformation {
                want = transform(t, &want, Pass::ToSales);
            }
            let got = srow.get(sf).cloned().unwrap_or(Value::Null);
            assert!(same(&want, &got), "{name}: {ff} = {want} but {sf} = {got} ({fid} ↔ {sid})");
        }
        checked += 1;
    }
    MappingCheck { checked, couplings: pairs.len(), sales_read, sales_rows: sales_rows.len() }
}

use chrono::TimeZone;
use insta::assert_yaml_snapshot;
use serde_json::{Value, json};

use super::*;
use crate::defaults::default_mappings;
use crate::types::{Record, Row};

const INTEGRATION: &str = "00000000-0000-0000-0000-00000000a11a";

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn customer(phone: &str, modified_by: &str) -> Record {
    json!({"number": "C0001", "displayName": "Contoso", "salespersonCode": "JO", "currencyCode": "EUR",
           "phoneNumber": phone, "email": "a@x.com", "city": "Oslo", "creditLimit": 1000,
           "systemModifiedBy": modified_by})
    .as_object()
    .unwrap()
    .clone()
}

/// The base after a sync of `customer(phone)`: its mapped fields and the constants written.
fn synced(phone: &str) -> Base {
    let m = default_mappings().get("CUSTOMER").unwrap().clone();
    let fin = customer(phone, "someone");
    let mut b = Base::default();
    for f in &m.fields {
        if let Some(n) = &f.financials {
            b.financials.insert(n.clone(), fin.get(n).cloned().unwrap_or(Value::Null));
        }
        if let (Some(n), Some(c)) = (&f.sales, &f.constant) {
            b.sales.insert(n.clone(), c.clone());
        }
    }
    b
}

fn upsert(n: u128, fields: Record) -> Change {
    Change::Upsert(Row::new(id(n), fields))
}

fn coupled(n: u128, base: Option<Base>) -> Coupling {
    Coupling { financials_id: id(n), sales_id: id(0x100 + n), base }
}

#[test]
fn quiet_rows_are_coupled_rows_at_their_last_synced_values_in_their_last_change() {
    let m = default_mappings().get("CUSTOMER").unwrap().clone();
    let mut lacking_city = synced("111");
    lacking_city.financials.remove("city");
    let mut created_here = lacking_city.clone();
    created_here.created_in = Some(Side::Financials);
    let cases: Vec<(&str, Vec<Change>, Vec<Coupling>)> = vec![
        (
            "a coupled row at its base",
            vec![upsert(1, customer("111", "someone"))],
            vec![coupled(1, Some(synced("111")))],
        ),
        (
            "a coupled row whose phone changed",
            vec![upsert(1, customer("222", "someone"))],
            vec![coupled(1, Some(synced("111")))],
        ),
        ("an uncoupled row", vec![upsert(1, customer("111", "someone"))], vec![]),
        (
            "a coupling never synchronized",
            vec![upsert(1, customer("111", "someone"))],
            vec![coupled(1, None)],
        ),
        (
            "a row changed and changed back within the page",
            vec![upsert(1, customer("222", "someone")), upsert(1, customer("111", "someone"))],
            vec![coupled(1, Some(synced("111")))],
        ),
        (
            "a row at its base then deleted within the page",
            vec![upsert(1, customer("111", "someone")), Change::Deleted(id(1))],
            vec![coupled(1, Some(synced("111")))],
        ),
        (
            "a row whose base lacks a field, last written by someone",
            vec![upsert(1, customer("111", "someone"))],
            vec![coupled(1, Some(created_here.clone()))],
        ),
        (
            "a row whose base lacks a field, created and last written by the integration",
            vec![upsert(1, customer("111", INTEGRATION))],
            vec![coupled(1, Some(created_here))],
        ),
        (
            "a row whose base lacks a field, last written by the integration that did not create it",
            vec![upsert(1, customer("111", INTEGRATION))],
            vec![coupled(1, Some(lacking_city))],
        ),
    ];
    let results: Vec<(&str, bool)> = cases
        .iter()
        .map(|(case, changes, couplings)| {
            let quiet = quiet_rows(&m, Pass::ToSales, changes, couplings, Some(INTEGRATION));
            (*case, quiet.contains(&id(1)))
        })
        .collect();
    assert_yaml_snapshot!(results);
}

fn op(n: u128, action: Action) -> Operation {
    Operation { source_id: id(n), action }
}

fn written_page(pass: Pass, ops: &[Operation], failures: &[(usize, &str)]) -> PageOutcome {
    let m = default_mappings().get("CUSTOMER").unwrap().clone();
    let couplings = vec![coupled(4, None), coupled(5, None), coupled(8, None)];
    let mut ids: Vec<Uuid> = ops.iter().map(|o| o.source_id).collect();
    ids.push(id(99));
    let failures: HashMap<usize, String> =
        failures.iter().map(|(k, m)| (*k, (*m).to_owned())).collect();
    outcome(WrittenPage {
        mapping: &m,
        pass,
        couplings: &couplings,
        ids: &ids,
        ops,
        failures: &failures,
        quiet: 2,
        now: Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap(),
    })
}

fn base(phone: &str) -> Base {
    let mut b = Base::default();
    b.financials.insert("phoneNumber".into(), json!(phone));
    b.sales.insert("telephone1".into(), json!(phone));
    b
}

#[test]
fn a_written_page_books_each_action_and_fails_what_the_destination_refused() {
    let fields = customer("111", "someone");
    let ops = vec![
        op(1, Action::Insert { target: id(0x101), fields: fields.clone(), base: base("1") }),
        op(2, Action::Insert { target: id(0x102), fields: fields.clone(), base: base("2") }),
        op(3, Action::Couple { target: id(0x103), fields: Record::new(), base: base("3") }),
        op(4, Action::Update { target: id(0x104), fields, base: base("4") }),
        op(5, Action::Unchanged { target: id(0x105), echo: true, base: None }),
        op(6, Action::Unchanged { target: id(0x106), echo: false, base: Some(base("6")) }),
        op(7, Action::Skip { reason: "skipped".into() }),
        op(
            8,
            Action::Delete {
                side: Side::Sales,
                id: id(0x108),
                financials_id: id(8),
                sales_id: id(0x108),
            },
        ),
        op(
            9,
            Action::Uncouple { financials_id: id(9), sales_id: id(0x109), reason: "gone".into() },
        ),
        op(10, Action::Fail { target: None, message: "Couple salespeople first.".into() }),
    ];
    assert_yaml_snapshot!(written_page(
        Pass::ToSales,
        &ops,
        &[(1, "Sales refused: the name is too long"), (3, "Sales refused the row")]
    ));
}

#[test]
fn a_page_to_financials_books_couplings_financials_id_first_and_restores_keep_theirs() {
    let ops = vec![
        op(0x201, Action::Insert { target: id(1), fields: Record::new(), base: base("1") }),
        op(
            0x105,
            Action::Restore {
                side: Side::Financials,
                id: id(5),
                fields: Record::new(),
                base: base("5"),
            },
        ),
        op(
            0x104,
            Action::Restore {
                side: Side::Sales,
                id: id(0x104),
                fields: Record::new(),
                base: base("4"),
            },
        ),
    ];
    assert_yaml_snapshot!(written_page(Pass::ToFinancials, &ops, &[]));
}

use std::collections::{HashMap, HashSet};

use insta::assert_yaml_snapshot;
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::defaults::default_mappings;
use crate::mapping::{DeletionPolicy, MappingSet, Pass, UpdateConflictPolicy};

const CONN: Uuid = Uuid::from_u128(0xc0);
const JO: Uuid = Uuid::from_u128(0x10);
const EUR: Uuid = Uuid::from_u128(0x20);

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn row(n: u128, v: Value) -> Row {
    Row::new(id(n), v.as_object().unwrap().clone())
}

fn lookups(set: &MappingSet) -> Lookups {
    let mut l = Lookups::default();
    let mut sp = LookupTable::new(set.get("SALESPEOPLE").unwrap());
    sp.add(json!("JO"), Some(JO));
    sp.add(json!("MA"), None);
    l.insert("SALESPEOPLE", "code", sp);
    let mut cur = LookupTable::new(set.get("CURRENCY").unwrap());
    cur.add(json!("EUR"), Some(EUR));
    l.insert("CURRENCY", "code", cur);
    l
}

struct Case {
    mapping: TableMapping,
    pass: Pass,
    full_sync: bool,
    changes: Vec<Change>,
    couplings: Vec<Coupling>,
    destination: Vec<Row>,
    skipped: HashSet<Uuid>,
    matches: HashMap<Uuid, Uuid>,
}

impl Case {
    fn customer(pass: Pass) -> Case {
        Case {
            mapping: default_mappings().get("CUSTOMER").unwrap().clone(),
            pass,
            full_sync: false,
            changes: vec![],
            couplings: vec![],
            destination: vec![],
            skipped: HashSet::new(),
            matches: HashMap::new(),
        }
    }
    fn run(&self) -> Vec<Operation> {
        let set = default_mappings();
        let lookups = lookups(&set);
        plan(PlanInput {
            connection_id: CONN,
            mapping: &self.mapping,
            pass: self.pass,
            full_sync: self.full_sync,
            integration_user: Some("00000000-0000-0000-0000-0000000000aa"),
            changes: &self.changes,
            couplings: &self.couplings,
            destination: &self.destination,
            matches: &self.matches,
            skipped: &self.skipped,
            lookups: &lookups,
        })
    }
}

fn customer(n: u128, phone: &str, email: &str) -> Value {
    json!({"number": format!("C{n:04}"), "displayName": "Contoso", "salespersonCode": "JO", "currencyCode": "EUR",
           "phoneNumber": phone, "email": email, "city": "Oslo", "creditLimit": 1000, "systemModifiedBy": "someone"})
}

fn account(phone: &str, email: &str, modified_by: &str) -> Value {
    json!({"name": "Contoso", "accountnumber": "C0001", "_ownerid_value": JO.to_string(), "_transactioncurrencyid_value": EUR.to_string(),
           "telephone1": phone, "emailaddress1": email, "address1_city": "Oslo", "creditlimit": 1000, "customertypecode": 3,
           "statecode": 0, "_modifiedby_value": modified_by})
}

/// Base as after a sync of `customer(1, phone, email)` with `account(phone, email)`.
fn synced(phone: &str, email: &str) -> Base {
    let m = default_mappings().get("CUSTOMER").unwrap().clone();
    let fin = customer(1, phone, email);
    let sales = account(phone, email, "x");
    let mut b = Base::default();
    for f in &m.fields {
        if let Some(n) = &f.financials {
            b.financials.insert(n.clone(), fin.get(n).cloned().unwrap_or(Value::Null));
        }
        if let Some(n) = &f.sales {
            b.sales.insert(n.clone(), sales.get(n).cloned().unwrap_or(Value::Null));
        }
    }
    b
}

#[test]
fn a_full_sync_inserts_uncoupled_customers_with_deterministic_ids_and_lookups() {
    let mut c = Case::customer(Pass::ToSales);
    c.full_sync = true;
    c.changes = vec![Change::Upsert(row(1, customer(1, "111", "a@x.com")))];
    let ops = c.run();
    assert_yaml_snapshot!(ops);
    let Action::Insert { target, .. } = &ops[0].action else { panic!("expected an insert") };
    assert_eq!(*target, crate::ids::target_id(CONN, "CUSTOMER", id(1)));
}

#[test]
fn an_incremental_sync_ignores_uncoupled_rows_when_only_coupled_records_sync() {
    let mut c = Case::customer(Pass::ToSales);
    c.changes = vec![Change::Upsert(row(1, customer(1, "111", "a@x.com")))];
    assert!(c.run().is_empty());
}

#[test]
fn an_uncoupled_salesperson_fails_the_customer_naming_what_to_couple_first() {
    let mut c = Case::customer(Pass::ToSales);
    c.full_sync = true;
    let mut cust = customer(1, "111", "a@x.com");
    cust["salespersonCode"] = json!("MA");
    c.changes = vec![Change::Upsert(row(1, cust))];
    let ops = c.run();
    let Action::Fail { message, .. } = &ops[0].action else {
        panic!("expected a failure, got {ops:?}")
    };
    assert_eq!(
        message,
        "Salesperson 'MA' is not coupled to a Sales user. Couple salespeople first."
    );
}

#[test]
fn changes_of_different_fields_on_both_sides_merge() {
    let mut c = Case::customer(Pass::ToSales);
    c.changes = vec![Change::Upsert(row(1, customer(1, "222", "a@x.com")))];
    c.couplings = vec![Coupling {
        financials_id: id(1),
        sales_id: id(101),
        base: Some(synced("111", "a@x.com")),
    }];
    c.destination = vec![row(101, account("111", "b@x.com", "someone"))];
    let ops = c.run();
    assert_yaml_snapshot!(ops);
    // The base keeps the old e-mail on both sides, so the Sales → Financials pass still sees
    // Sales' change of the e-mail.
    let Action::Update { fields, base, .. } = &ops[0].action else { panic!() };
    assert_eq!(fields.keys().collect::<Vec<_>>(), vec!["telephone1"]);
    assert_eq!(base.sales["emailaddress1"], json!("a@x.com"));

    let mut back = Case::customer(Pass::ToFinancials);
    back.changes = vec![Change::Upsert(row(101, account("222", "b@x.com", "someone")))];
    back.couplings =
        vec![Coupling { financials_id: id(1), sales_id: id(101), base: Some(base.clone()) }];
    back.destination = vec![row(1, customer(1, "222", "a@x.com"))];
    let ops = back.run();
    let Action::Update { fields, .. } = &ops[0].action else { panic!("{ops:?}") };
    assert_eq!(fields.keys().collect::<Vec<_>>(), vec!["email"]);
}

#[test]
fn a_field_changed_on_both_sides_fails_the_record_naming_the_field() {
    let mut c = Case::customer(Pass::ToSales);
    c.changes = vec![Change::Upsert(row(1, customer(1, "222", "a@x.com")))];
    c.couplings = vec![Coupling {
        financials_id: id(1),
        sales_id: id(101),
        base: Some(synced("111", "a@x.com")),
    }];
    c.destination = vec![row(101, account("333", "a@x.com", "someone"))];
    let ops = c.run();
    assert_yaml_snapshot!(ops);
}

#[test]
fn the_update_conflict_policy_decides_which_side_wins() {
    for (policy, pass, writes) in [
        (UpdateConflictPolicy::FinancialsWins, Pass::ToSales, true),
        (UpdateConflictPolicy::SalesWins, Pass::ToSales, false),
    ] {
        let mut c = Case::customer(pass);
        c.mapping.update_conflict = policy;
        c.changes = vec![Change::Upsert(row(1, customer(1, "222", "a@x.com")))];
        c.couplings = vec![Coupling {
            financials_id: id(1),
            sales_id: id(101),
            base: Some(synced("111", "a@x.com")),
        }];
        c.destination = vec![row(101, account("333", "a@x.com", "someone"))];
        let ops = c.run();
        match &ops[0].action {
            Action::Update { fields, .. } => {
                assert!(writes && fields["telephone1"] == json!("222"))
            }
            Action::Unchanged { .. } => assert!(!writes),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn an_echo_of_the_integration_users_write_produces_nothing() {
    let mut c = Case::customer(Pass::ToFinancials);
    c.changes = vec![Change::Upsert(row(
        101,
        account("111", "a@x.com", "00000000-0000-0000-0000-0000000000aa"),
    ))];
    c.couplings = vec![Coupling {
        financials_id: id(1),
        sales_id: id(101),
        base: Some(synced("111", "a@x.com")),
    }];
    c.destination = vec![row(1, customer(1, "111", "a@x.com"))];
    assert_yaml_snapshot!(c.run());
}

#[test]
fn a_row_already_at_its_deterministic_id_is_coupled_not_created_again() {
    let mut c = Case::customer(Pass::ToSales);
    c.full_sync = true;
    c.changes = vec![Change::Upsert(row(1, customer(1, "111", "a@x.com")))];
    let t = crate::ids::target_id(CONN, "CUSTOMER", id(1));
    c.destination = vec![Row::new(
        t,
        account("111", "a@x.com", "00000000-0000-0000-0000-0000000000aa")
            .as_object()
            .unwrap()
            .clone(),
    )];
    let ops = c.run();
    assert_yaml_snapshot!(ops);
}

#[test]
fn deletions_follow_the_deletion_policy() {
    let mut out = Vec::new();
    for policy in [
        DeletionPolicy::Fail,
        DeletionPolicy::Restore,
        DeletionPolicy::RemoveCoupling,
        DeletionPolicy::Propagate,
    ] {
        let mut c = Case::customer(Pass::ToSales);
        c.mapping.deletion_conflict = policy;
        c.changes = vec![Change::Deleted(id(1))];
        c.couplings = vec![Coupling {
            financials_id: id(1),
            sales_id: id(101),
            base: Some(synced("111", "a@x.com")),
        }];
        c.destination = vec![row(101, account("111", "a@x.com", "someone"))];
        out.push((format!("{policy:?}"), c.run()));
    }
    assert_yaml_snapshot!(out);
}

#[test]
fn a_coupled_record_deleted_on_the_destination_follows_the_deletion_policy() {
    let mut out = Vec::new();
    for policy in [
        DeletionPolicy::Fail,
        DeletionPolicy::Restore,
        DeletionPolicy::RemoveCoupling,
        DeletionPolicy::Propagate,
    ] {
        let mut c = Case::customer(Pass::ToSales);
        c.mapping.deletion_conflict = policy;
        c.changes = vec![Change::Upsert(row(1, customer(1, "222", "a@x.com")))];
        c.couplings = vec![Coupling {
            financials_id: id(1),
            sales_id: id(101),
            base: Some(synced("111", "a@x.com")),
        }];
        out.push((format!("{policy:?}"), c.run()));
    }
    assert_yaml_snapshot!(out);
}

#[test]
fn rows_outside_the_table_filter_and_skipped_rows_are_left_alone() {
    let mut c = Case::customer(Pass::ToFinancials);
    c.full_sync = true;
    let mut vendor = account("1", "v@x.com", "someone");
    vendor["customertypecode"] = json!(11);
    c.changes = vec![
        Change::Upsert(row(201, vendor)),
        Change::Upsert(row(202, account("2", "s@x.com", "someone"))),
    ];
    c.skipped.insert(id(202));
    assert_yaml_snapshot!(c.run());
}

#[test]
fn a_sales_account_becomes_a_customer_with_its_currency_code() {
    let mut c = Case::customer(Pass::ToFinancials);
    c.full_sync = true;
    let mut acc = account("5", "n@x.com", "someone");
    acc["_transactioncurrencyid_value"] = json!(Uuid::from_u128(0x99).to_string());
    c.changes = vec![
        Change::Upsert(row(301, account("5", "n@x.com", "someone"))),
        Change::Upsert(row(302, acc)),
    ];
    assert_yaml_snapshot!(c.run());
}

#[test]
fn a_match_couples_an_existing_record_and_writes_only_differences() {
    let mut c = Case::customer(Pass::ToSales);
    c.full_sync = true;
    c.changes = vec![Change::Upsert(row(1, customer(1, "111", "a@x.com")))];
    c.destination = vec![row(500, account("999", "a@x.com", "someone"))];
    c.matches.insert(id(1), id(500));
    assert_yaml_snapshot!(c.run());
}

#[test]
fn the_last_change_of_a_row_in_a_page_wins() {
    let mut c = Case::customer(Pass::ToSales);
    c.full_sync = true;
    c.changes = vec![Change::Upsert(row(1, customer(1, "111", "a@x.com"))), Change::Deleted(id(1))];
    assert!(c.run().is_empty());
}

#[test]
fn contacts_split_the_name_and_reference_their_company_account() {
    let set = default_mappings();
    let mapping = set.get("CONTACT").unwrap().clone();
    let mut l = Lookups::default();
    let mut cust = LookupTable::new(set.get("CUSTOMER").unwrap());
    cust.add(json!("C0001"), Some(id(101)));
    l.insert("CUSTOMER", "number", cust);
    let changes = vec![Change::Upsert(row(
        7,
        json!({"number": "CT1", "type": "Person", "displayName": "Anna Maria Smith", "companyNumber": "C0001", "email": "anna@x.com"}),
    ))];
    let ops = plan(PlanInput {
        connection_id: CONN,
        mapping: &mapping,
        pass: Pass::ToSales,
        full_sync: true,
        integration_user: None,
        changes: &changes,
        couplings: &[],
        destination: &[],
        matches: &HashMap::new(),
        skipped: &HashSet::new(),
        lookups: &l,
    });
    assert_yaml_snapshot!(ops);
}

#[test]
fn a_row_equal_to_its_base_needs_no_destination_read() {
    let m = default_mappings().get("CUSTOMER").unwrap().clone();
    let base = synced("111", "a@x.com");
    let row = customer(1, "111", "a@x.com");
    assert!(unchanged_since_base(&m, Pass::ToSales, row.as_object().unwrap(), &base));
    let changed = customer(1, "222", "a@x.com");
    assert!(!unchanged_since_base(&m, Pass::ToSales, changed.as_object().unwrap(), &base));
    // A field the base does not know yet (a new field mapping) counts as changed.
    let mut partial = base.clone();
    partial.financials.remove("city");
    assert!(!unchanged_since_base(&m, Pass::ToSales, row.as_object().unwrap(), &partial));
}

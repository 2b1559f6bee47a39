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
    assert!(unchanged_since_base(&m, Pass::ToSales, row.as_object().unwrap(), &base, false));
    let changed = customer(1, "222", "a@x.com");
    assert!(!unchanged_since_base(&m, Pass::ToSales, changed.as_object().unwrap(), &base, false));
    // A field the base does not know yet (a new field mapping) counts as changed.
    let mut partial = base.clone();
    partial.financials.remove("city");
    assert!(!unchanged_since_base(&m, Pass::ToSales, row.as_object().unwrap(), &partial, false));
}

#[test]
fn values_the_base_lacks_count_as_changed_unless_the_integration_created_the_record_and_last_wrote_it()
 {
    let m = default_mappings().get("CUSTOMER").unwrap().clone();
    let row = customer(1, "111", "a@x.com");
    let mut partial = synced("111", "a@x.com");
    partial.financials.remove("city");
    // (created in, last written by the integration, unchanged?)
    let cases = [
        (None, false, false),
        (None, true, false),
        (Some(Side::Sales), true, false),
        (Some(Side::Financials), false, false),
        (Some(Side::Financials), true, true),
    ];
    for (created_in, echo, unchanged) in cases {
        partial.created_in = created_in;
        assert_eq!(
            unchanged_since_base(&m, Pass::ToSales, row.as_object().unwrap(), &partial, echo),
            unchanged,
            "created in {created_in:?}, echo {echo}"
        );
    }
    // A value the base holds and the row no longer has is a change whoever wrote last.
    partial.created_in = Some(Side::Financials);
    let changed = customer(1, "222", "a@x.com");
    assert!(!unchanged_since_base(&m, Pass::ToSales, changed.as_object().unwrap(), &partial, true));
}

const ORDER: Uuid = Uuid::from_u128(0x30);
const SALES_ORDER: Uuid = Uuid::from_u128(0x31);
const ITEM: Uuid = Uuid::from_u128(0x40);
const PRODUCT: Uuid = Uuid::from_u128(0x41);
const SERVICE: Uuid = Uuid::from_u128(0x42);

/// Lookups of order lines: one coupled order, one coupled item, one coupled resource (R01).
fn line_lookups(set: &MappingSet) -> Lookups {
    let mut l = Lookups::default();
    let mut orders = LookupTable::new(set.get("SALESORDER-ORDER").unwrap());
    orders.add(json!(ORDER.to_string()), Some(SALES_ORDER));
    l.insert("SALESORDER-ORDER", "id", orders);
    let mut items = LookupTable::new(set.get("ITEM-PRODUCT").unwrap());
    items.add(json!(ITEM.to_string()), Some(PRODUCT));
    l.insert("ITEM-PRODUCT", "id", items);
    let mut resources = LookupTable::new(set.get("RESOURCE-PRODUCT").unwrap());
    resources.add(json!("R01"), Some(SERVICE));
    resources.add(json!("R02"), None);
    l.insert("RESOURCE-PRODUCT", "number", resources);
    l
}

fn plan_lines(changes: Vec<Change>, couplings: &[Coupling], destination: &[Row]) -> Vec<Operation> {
    let set = default_mappings();
    let lookups = line_lookups(&set);
    plan(PlanInput {
        connection_id: CONN,
        mapping: set.get("SOLINE-ORDERDETAIL").unwrap(),
        pass: Pass::ToSales,
        full_sync: false,
        integration_user: None,
        changes: &changes,
        couplings,
        destination,
        matches: &HashMap::new(),
        skipped: &HashSet::new(),
        lookups: &lookups,
    })
}

fn line(n: u128, v: Value) -> Change {
    let mut base = json!({"documentId": ORDER.to_string(), "sequence": 10000 * n, "quantity": 2, "shippedQuantity": 0,
                          "unitPrice": 10, "amountExcludingTax": 20, "amountIncludingTax": 25, "description": "Line"});
    base.as_object_mut().unwrap().extend(v.as_object().unwrap().clone());
    Change::Upsert(row(n, base))
}

#[test]
fn order_lines_go_under_their_coupled_order_with_the_product_of_their_item_or_resource() {
    let ops = plan_lines(
        vec![
            line(
                1,
                json!({"lineType": "Item", "itemId": ITEM.to_string(), "lineObjectNumber": "I01"}),
            ),
            line(2, json!({"lineType": "Resource", "itemId": null, "lineObjectNumber": "R01"})),
            line(3, json!({"lineType": "Comment", "description": "Thanks"})),
        ],
        &[],
        &[],
    );
    assert_yaml_snapshot!(ops);
    assert_eq!(ops.len(), 2, "comment lines are outside the mapping's filter");
}

#[test]
fn a_line_of_an_uncoupled_order_fails_naming_what_to_couple_first() {
    let other = Uuid::from_u128(0x99);
    let ops = plan_lines(
        vec![line(
            1,
            json!({"lineType": "Item", "itemId": ITEM.to_string(), "documentId": other.to_string()}),
        )],
        &[],
        &[],
    );
    let Action::Fail { message, .. } = &ops[0].action else {
        panic!("expected a failure, got {ops:?}")
    };
    assert_eq!(
        message,
        &format!(
            "Sales order '{other}' is not coupled to a Sales order. Couple sales orders first."
        )
    );
}

#[test]
fn a_resource_line_of_an_uncoupled_resource_fails_naming_resources() {
    let ops = plan_lines(
        vec![line(1, json!({"lineType": "Resource", "lineObjectNumber": "R02"}))],
        &[],
        &[],
    );
    let Action::Fail { message, .. } = &ops[0].action else {
        panic!("expected a failure, got {ops:?}")
    };
    assert_eq!(
        message,
        "Resource 'R02' is not coupled to a Sales product. Couple resources first."
    );
}

#[test]
fn a_changed_quantity_updates_the_coupled_order_product_and_keeps_its_order() {
    let first = plan_lines(
        vec![line(1, json!({"lineType": "Item", "itemId": ITEM.to_string()}))],
        &[],
        &[],
    );
    let Action::Insert { target, fields, base } = &first[0].action else {
        panic!("expected an insert, got {first:?}")
    };
    let coupling = Coupling { financials_id: id(1), sales_id: *target, base: Some(base.clone()) };
    let destination = Row::new(*target, fields.clone());
    let changed = line(
        1,
        json!({"lineType": "Item", "itemId": ITEM.to_string(), "quantity": 3, "amountExcludingTax": 30}),
    );
    let Change::Upsert(r) = &changed else { unreachable!() };
    let m = default_mappings().get("SOLINE-ORDERDETAIL").unwrap().clone();
    assert!(!unchanged_since_base(&m, Pass::ToSales, &r.fields, base, false));
    let ops = plan_lines(vec![changed.clone()], &[coupling], &[destination]);
    let Action::Update { fields, .. } = &ops[0].action else {
        panic!("expected an update, got {ops:?}")
    };
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, vec!["baseamount", "quantity"]);
}

#[test]
fn a_customers_payment_terms_travel_as_the_coupled_option_value_both_ways() {
    let set = default_mappings();
    let terms = Uuid::from_u128(0x50);
    let mut l = lookups(&set);
    let mut options = LookupTable::new(set.get("PAYMENT TERMS").unwrap());
    options.add(json!(terms.to_string()), Some(crate::ids::option_id(3)));
    l.insert("PAYMENT TERMS", "id", options);
    let mapping = set.get("CUSTOMER").unwrap();
    let mut cust = customer(1, "111", "a@x.com");
    cust["paymentTermsId"] = json!(terms.to_string());
    let run = |pass, changes: Vec<Change>| {
        plan(PlanInput {
            connection_id: CONN,
            mapping,
            pass,
            full_sync: true,
            integration_user: None,
            changes: &changes,
            couplings: &[],
            destination: &[],
            matches: &HashMap::new(),
            skipped: &HashSet::new(),
            lookups: &l,
        })
    };
    let ops = run(Pass::ToSales, vec![Change::Upsert(row(1, cust))]);
    let Action::Insert { fields, .. } = &ops[0].action else { panic!("{ops:?}") };
    assert_eq!(fields["paymenttermscode"], json!(3));
    assert!(!mapping.sales_binds().iter().any(|b| b.field == "paymenttermscode"));

    let mut acc = account("111", "a@x.com", "someone");
    acc["paymenttermscode"] = json!(3);
    let ops = run(Pass::ToFinancials, vec![Change::Upsert(row(101, acc.clone()))]);
    let Action::Insert { fields, .. } = &ops[0].action else { panic!("{ops:?}") };
    assert_eq!(fields["paymentTermsId"], json!(terms.to_string()));

    acc["paymenttermscode"] = json!(4);
    let ops = run(Pass::ToFinancials, vec![Change::Upsert(row(101, acc))]);
    let Action::Fail { message, .. } = &ops[0].action else { panic!("{ops:?}") };
    assert_eq!(
        message,
        "Sales payment terms option '4' is not coupled to a payment terms. Couple payment terms first."
    );
}

#[test]
fn reads_select_the_key_the_mapped_fields_the_filter_and_the_last_modifier() {
    let m = default_mappings().get("CONTACT").unwrap().clone();
    let sales = m.read_fields(Side::Sales);
    for f in [
        "contactid",
        "fullname",
        "firstname",
        "_parentcustomerid_value",
        "statecode",
        "_modifiedby_value",
    ] {
        assert!(sales.contains(&f.to_owned()), "{f} in {sales:?}");
    }
    let fin = m.read_fields(Side::Financials);
    for f in ["id", "number", "displayName", "type", "companyNumber", "systemModifiedBy"] {
        assert!(fin.contains(&f.to_owned()), "{f} in {fin:?}");
    }
    assert_eq!(fin.len(), fin.iter().collect::<HashSet<_>>().len(), "each field once: {fin:?}");
}

mod unit_groups {
    use super::*;
    use crate::defaults::{MappingOptions, default_mappings_with};

    const ITEM: u128 = 0x1;
    const GROUP: Uuid = Uuid::from_u128(0x5a);
    const PCS_UNIT: Uuid = Uuid::from_u128(0x5b);
    const BASE_ROW: u128 = 0x61;

    fn on() -> MappingSet {
        default_mappings_with(MappingOptions { unit_group_mapping: true })
    }

    /// Lookups as after UNIT GROUP and ITEM UOM were synchronized: item 1's group and its base
    /// unit row are coupled; item 2's are not.
    fn unit_lookups(set: &MappingSet) -> Lookups {
        let mut l = lookups(set);
        let mut groups = LookupTable::new(set.get("UNIT GROUP").unwrap());
        groups.add(json!(id(ITEM).to_string()), Some(GROUP));
        groups.add(json!(id(2).to_string()), None);
        l.insert("UNIT GROUP", "sourceId", groups);
        let mut units = LookupTable::new(set.get("ITEM UOM").unwrap());
        units.add(json!(id(BASE_ROW).to_string()), Some(PCS_UNIT));
        l.insert("ITEM UOM", "id", units);
        l
    }

    fn run(set: &MappingSet, mapping: &str, source: Value) -> Action {
        let l = unit_lookups(set);
        let changes = vec![Change::Upsert(row(ITEM, source))];
        let mut ops = plan(PlanInput {
            connection_id: CONN,
            mapping: set.get(mapping).unwrap(),
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
        assert_eq!(ops.len(), 1, "{ops:?}");
        ops.remove(0).action
    }

    #[test]
    fn the_option_off_keeps_the_legacy_set_and_on_is_a_valid_set_in_dependency_order() {
        assert_eq!(default_mappings_with(MappingOptions::default()), default_mappings());
        let set = on();
        set.validate().unwrap();
        assert!(!set.get("UNIT OF MEASURE").unwrap().enabled);
        let order: Vec<&str> =
            crate::review::dependency_order(&set).iter().map(|m| m.name.as_str()).collect();
        let at = |n: &str| order.iter().position(|m| *m == n).unwrap();
        assert!(at("UNIT GROUP") < at("ITEM UOM") && at("ITEM UOM") < at("ITEM-PRODUCT"));
        assert!(
            at("UNIT GROUP") < at("RESOURCE UOM") && at("RESOURCE UOM") < at("RESOURCE-PRODUCT")
        );
        assert_eq!(set.get("ITEM-PRODUCT").unwrap().dependency_filter, "ITEM UOM");
        assert_eq!(set.get("RESOURCE-PRODUCT").unwrap().dependency_filter, "RESOURCE UOM");
        assert_eq!(MappingSet::from_json(&set.to_json()).unwrap(), set);
    }

    /// (mapping, Financials record, expected Sales fields or the failure message).
    #[test]
    fn unit_groups_units_and_products_plan_their_sales_fields() {
        let set = on();
        let cases: Vec<(&str, Value, Result<Value, &str>)> = vec![
            (
                "UNIT GROUP",
                json!({"code": "ITEMI1", "sourceType": "Item", "sourceId": id(ITEM).to_string(), "sourceName": "Bolt", "baseUnitOfMeasureCode": "PCS"}),
                Ok(json!({"name": "ITEMI1", "baseuomname": "PCS", "description": "Bolt"})),
            ),
            (
                "ITEM UOM",
                json!({"itemId": id(ITEM).to_string(), "itemNumber": "I1", "code": "BOX", "qtyPerUnitOfMeasure": 12}),
                Ok(
                    json!({"_uomscheduleid_value": GROUP.to_string(), "name": "BOX", "quantity": 12}),
                ),
            ),
            (
                "ITEM UOM",
                json!({"itemId": id(2).to_string(), "itemNumber": "I2", "code": "BOX", "qtyPerUnitOfMeasure": 12}),
                Err(
                    "Unit group '00000000-0000-0000-0000-000000000002' is not coupled to a Sales unit group. Couple unit groups first.",
                ),
            ),
            (
                "ITEM-PRODUCT",
                json!({"id": id(ITEM).to_string(), "number": "I1", "displayName": "Bolt", "blocked": false, "unitPrice": 1, "unitCost": 1, "inventory": 0,
                       "baseUnitOfMeasureCode": "PCS", "baseItemUnitOfMeasureId": id(BASE_ROW).to_string()}),
                Ok(
                    json!({"productnumber": "I1", "name": "Bolt", "price": 1, "standardcost": 1, "currentcost": 1, "quantityonhand": 0,
                          "producttypecode": 1, "_defaultuomscheduleid_value": GROUP.to_string(), "_defaultuomid_value": PCS_UNIT.to_string()}),
                ),
            ),
        ];
        for (mapping, source, want) in cases {
            let action = run(&set, mapping, source.clone());
            match (&action, want) {
                (Action::Insert { fields, .. }, Ok(want)) => {
                    assert_eq!(Value::Object(fields.clone()), want, "{mapping} {source}")
                }
                (Action::Fail { message, .. }, Err(want)) => {
                    assert_eq!(message, want, "{mapping} {source}")
                }
                (other, want) => panic!("{mapping} {source}: {other:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn an_item_unit_is_matched_by_name_within_its_items_unit_group_only() {
        let set = on();
        let m = set.get("ITEM UOM").unwrap();
        let l = unit_lookups(&set);
        let unit = json!({"itemId": id(ITEM).to_string(), "code": "PCS", "qtyPerUnitOfMeasure": 1});
        let key = source_match_key(m, Pass::ToSales, &l, unit.as_object().unwrap()).unwrap();
        let base = json!({"name": "PCS", "_uomscheduleid_value": GROUP.to_string().to_uppercase()});
        let other =
            json!({"name": "PCS", "_uomscheduleid_value": Uuid::from_u128(0x99).to_string()});
        assert_eq!(
            destination_match_key(m, Pass::ToSales, base.as_object().unwrap()),
            Some(key.clone())
        );
        assert_ne!(destination_match_key(m, Pass::ToSales, other.as_object().unwrap()), Some(key));
    }

    #[test]
    fn unit_mappings_recommend_like_unit_groups() {
        use crate::review::{Recommendation, TableCounts, recommend};
        let set = on();
        for name in ["UNIT GROUP", "ITEM UOM", "RESOURCE UOM"] {
            let m = set.get(name).unwrap();
            let cases = [
                (0, 1, Recommendation::NoRecordsFound),
                (3, 1, Recommendation::FullSynchronization),
                (3, 2, Recommendation::CoupleRecords),
                (0, 2, Recommendation::FullSynchronization),
            ];
            for (financials, sales, want) in cases {
                assert_eq!(
                    recommend(m, TableCounts { financials, sales }),
                    want,
                    "{name} {financials}/{sales}"
                );
            }
        }
    }
}

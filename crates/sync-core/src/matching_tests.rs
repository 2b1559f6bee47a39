use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::defaults::default_mappings;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn rows(list: &[(u128, Value)]) -> Vec<Row> {
    list.iter().map(|(n, v)| Row::new(id(*n), v.as_object().unwrap().clone())).collect()
}

/// One data-driven case: match choices, Sales accounts (uncoupled), Financials customers
/// (uncoupled), and what should happen to each customer.
struct Case {
    name: &'static str,
    options: Value,
    accounts: Vec<(u128, Value)>,
    customers: Vec<(u128, Value)>,
    /// Per customer: `couple <account>`, `create`, or `fail <words in the message>`.
    expect: Vec<(u128, &'static str)>,
}

fn account(name: &str, city: &str) -> Value {
    json!({"name": name, "address1_city": city, "accountnumber": null})
}

fn customer(name: &str, city: &str) -> Value {
    json!({"number": format!("C-{name}"), "displayName": name, "city": city})
}

fn outcome(d: &Decision) -> String {
    match d {
        Decision::Couple { target } => format!("couple {}", target.as_u128()),
        Decision::Create => "create".into(),
        Decision::Fail { message } => format!("fail {message}"),
    }
}

fn cases() -> Vec<Case> {
    let three = || {
        vec![
            (1, account("Contoso", "Berlin")),
            (2, account("Contoso", "Paris")),
            (3, account("Fabrikam", "Rome")),
        ]
    };
    let by_name_then_city = json!({"fields": [
        {"field": "displayName", "priority": 1},
        {"field": "address1_city", "priority": 2},
    ]});
    vec![
        Case {
            name: "a unique match on the first priority ignores the next priority",
            options: by_name_then_city.clone(),
            accounts: three(),
            customers: vec![(10, customer("Fabrikam", "Oslo"))],
            expect: vec![(10, "couple 3")],
        },
        Case {
            name: "several matches on the first priority are narrowed by the next priority",
            options: by_name_then_city.clone(),
            accounts: three(),
            customers: vec![(10, customer("Contoso", "Paris"))],
            expect: vec![(10, "couple 2")],
        },
        Case {
            name: "several matches on every priority are ambiguous and not coupled",
            options: json!({"fields": [{"field": "displayName"}], "createNew": true}),
            accounts: three(),
            customers: vec![(10, customer("Contoso", "Oslo"))],
            expect: vec![(10, "fail 2 records of sales account in Sales match")],
        },
        Case {
            name: "no match on the first priority is no match even if later fields would agree",
            options: by_name_then_city.clone(),
            accounts: three(),
            customers: vec![(10, customer("Northwind", "Rome"))],
            expect: vec![(10, "fail No sales account in Sales matches the customer 'C-Northwind'")],
        },
        Case {
            name: "matching ignores case and surrounding blanks unless asked otherwise",
            options: json!({"fields": [{"field": "name"}]}),
            accounts: three(),
            customers: vec![(10, customer("  FABRIKAM ", "x"))],
            expect: vec![(10, "couple 3")],
        },
        Case {
            name: "case sensitive matching tells capitals apart",
            options: json!({"fields": [{"field": "name"}], "caseSensitive": true}),
            accounts: three(),
            customers: vec![(10, customer("FABRIKAM", "x")), (11, customer("Fabrikam", "x"))],
            expect: vec![(10, "fail No sales account"), (11, "couple 3")],
        },
        Case {
            name: "a field's own case sensitivity overrides the run's",
            options: json!({"caseSensitive": true, "fields": [
                {"field": "displayName", "caseSensitive": false},
                {"field": "city", "priority": 1},
            ]}),
            accounts: three(),
            customers: vec![(10, customer("contoso", "paris")), (11, customer("contoso", "Paris"))],
            expect: vec![(10, "fail No sales account"), (11, "couple 2")],
        },
        Case {
            name: "without a match a record is created only when asked to",
            options: json!({"fields": [{"field": "displayName"}], "createNew": true}),
            accounts: three(),
            customers: vec![(10, customer("Northwind", "Oslo")), (11, customer("Fabrikam", ""))],
            expect: vec![(10, "create"), (11, "couple 3")],
        },
        Case {
            name: "a blank match value never matches a blank destination value",
            options: json!({"fields": [{"field": "city"}]}),
            accounts: vec![(1, account("Contoso", ""))],
            customers: vec![(10, customer("Contoso", ""))],
            expect: vec![(10, "fail No sales account")],
        },
        Case {
            name: "a destination record matched by one source record is not coupled to a second",
            options: json!({"fields": [{"field": "displayName"}]}),
            accounts: three(),
            customers: vec![(10, customer("Fabrikam", "a")), (11, customer("fabrikam", "b"))],
            expect: vec![(10, "couple 3"), (11, "fail is already coupled to another record")],
        },
        Case {
            name: "without chosen fields the mapping's match fields are used",
            options: json!({}),
            accounts: vec![
                (1, json!({"name": "Other", "accountnumber": "C-Contoso"})),
                (2, json!({"name": "Contoso", "accountnumber": "X"})),
            ],
            customers: vec![(10, customer("Contoso", ""))],
            expect: vec![(10, "couple 1")],
        },
    ]
}

#[test]
fn match_based_coupling_decides_each_case_as_business_central_does() {
    let set = default_mappings();
    let mapping = set.get("CUSTOMER").unwrap();
    let lookups = Lookups::default();
    for case in cases() {
        let options: MatchOptions = serde_json::from_value(case.options.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let criteria = MatchCriteria::new(mapping, Pass::ToSales, &options)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let mut index = MatchIndex::new(&criteria);
        for r in rows(&case.accounts) {
            index.add(&criteria, &r);
        }
        let decisions = plan_coupling(
            &criteria,
            &mut index,
            &lookups,
            &rows(&case.customers),
            options.create_new(mapping),
        );
        assert_eq!(decisions.len(), case.expect.len(), "{}", case.name);
        for ((source, decision), (want_source, want)) in decisions.iter().zip(&case.expect) {
            assert_eq!(*source, id(*want_source), "{}", case.name);
            let got = outcome(decision);
            let (verb, words) = want.split_once(' ').unwrap_or((want, ""));
            assert!(
                got.starts_with(verb) && got.contains(words),
                "{}: customer {want_source} should {want}, got: {got}",
                case.name
            );
        }
    }
}

#[test]
fn the_reverse_pass_matches_sales_rows_against_financials_fields() {
    let set = default_mappings();
    let mapping = set.get("CUSTOMER").unwrap();
    let options: MatchOptions =
        serde_json::from_value(json!({"fields": [{"field": "name"}]})).unwrap();
    let criteria = MatchCriteria::new(mapping, Pass::ToFinancials, &options).unwrap();
    let mut index = MatchIndex::new(&criteria);
    for r in rows(&[(1, customer("Contoso", "")), (2, customer("Fabrikam", ""))]) {
        index.add(&criteria, &r);
    }
    let d = plan_coupling(
        &criteria,
        &mut index,
        &Lookups::default(),
        &rows(&[(10, account("fabrikam", ""))]),
        false,
    );
    assert_eq!(d, vec![(id(10), Decision::Couple { target: id(2) })]);
}

#[test]
fn match_choices_naming_an_unknown_constant_or_repeated_field_are_refused_naming_it() {
    let set = default_mappings();
    let mapping = set.get("CUSTOMER").unwrap();
    let refused = |options: Value| {
        let options: MatchOptions = serde_json::from_value(options).unwrap();
        MatchCriteria::new(mapping, Pass::ToSales, &options).unwrap_err().to_string()
    };
    let e = refused(json!({"fields": [{"field": "shoeSize"}]}));
    assert!(e.contains("'shoeSize'") && e.contains("displayName"), "{e}");
    let e = refused(json!({"fields": [{"field": "customertypecode"}]}));
    assert!(e.contains("'customertypecode'") && e.contains("cannot be matched"), "{e}");
    let e = refused(json!({"fields": [{"field": "name"}, {"field": "displayName"}]}));
    assert!(e.contains("chosen twice"), "{e}");
    // Unknown members of the choices are named by the parser.
    let e = serde_json::from_value::<MatchOptions>(json!({"fields": [], "createnew": true}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("createnew"), "{e}");
    let e =
        serde_json::from_value::<MatchOptions>(json!({"fields": [{"field": "name", "prio": 1}]}))
            .unwrap_err()
            .to_string();
    assert!(e.contains("prio"), "{e}");
}

#[test]
fn a_mapping_without_match_fields_needs_chosen_fields() {
    let mut mapping = default_mappings().get("CUSTOMER").unwrap().clone();
    for f in &mut mapping.fields {
        f.match_field = false;
    }
    let e = MatchCriteria::new(&mapping, Pass::ToSales, &MatchOptions::default()).unwrap_err();
    assert!(e.to_string().contains("no match fields"), "{e}");
}

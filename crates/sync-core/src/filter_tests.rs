use serde_json::{Value, json};

use super::*;

fn check(filter: &str, row: Value) -> bool {
    Filter::parse(filter).unwrap().matches(row.as_object().unwrap())
}

fn refused(filter: &str) -> String {
    Filter::parse(filter).unwrap_err().to_string()
}

#[test]
fn a_filter_lists_the_fields_it_reads_once_each() {
    let f = Filter::parse(
        "statecode eq 0 and (contains(name, 'a') or not (statecode ne 1)) and _x_value ne null",
    )
    .unwrap();
    assert_eq!(f.fields(), ["statecode", "name", "_x_value"]);
    let f = Filter::parse("code in ('A', tolower(other)) and length(name) gt 2").unwrap();
    assert_eq!(f.fields(), ["code", "other", "name"]);
}

#[test]
fn comparisons_and_logic_evaluate_on_a_row() {
    let row = json!({"statecode": 0, "customertypecode": 3, "name": "Contoso", "blocked": false});
    assert!(check("statecode eq 0 and customertypecode eq 3", row.clone()));
    assert!(!check("statecode eq 1 or customertypecode ne 3", row.clone()));
    assert!(check("not (blocked eq true) and startswith(name,'con')", row.clone()));
    assert!(check("customertypecode ge 3 and customertypecode lt 4", row.clone()));
    assert!(check("name eq 'Contoso'", row));
}

#[test]
fn a_missing_field_and_an_empty_string_both_equal_null() {
    let row = json!({"companyNumber": ""});
    assert!(check("companyNumber eq null", row.clone()));
    assert!(!check("companyNumber ne ''", row));
    assert!(check("_parentcustomerid_value eq null", json!({})));
}

#[test]
fn guids_compare_case_insensitively() {
    let row = json!({"_ownerid_value": "ABCDEF00-0000-0000-0000-000000000001"});
    assert!(check("_ownerid_value eq abcdef00-0000-0000-0000-000000000001", row.clone()));
    assert!(check("_ownerid_value eq 'abcdef00-0000-0000-0000-000000000001'", row.clone()));
    assert!(!check("_ownerid_value ne ABCDEF00-0000-0000-0000-000000000001", row));
}

#[test]
fn a_bad_filter_names_the_position() {
    assert_eq!(
        refused("statecode eq 0 and (name eq 'x'"),
        "invalid filter at position 31: expected ')' to close the '(' at position 19, found the end of the filter"
    );
    assert_eq!(
        refused("name eq 'x"),
        "invalid filter at position 8: the string starting here is not closed with a quote (')"
    );
    assert_eq!(
        refused("statecode eq"),
        "invalid filter at position 12: expected a value after 'eq'"
    );
}

#[test]
fn a_deeply_nested_filter_is_refused_not_a_stack_overflow() {
    let depth = 10_000;
    let text = format!("{}statecode eq 0{}", "(".repeat(depth), ")".repeat(depth));
    let err = refused(&text);
    assert!(err.contains("nests more than"), "{err}");
    let text = format!("{}statecode eq 0", "not ".repeat(depth));
    assert!(refused(&text).contains("nests more than"));
}

#[test]
fn decimals_compare_exactly() {
    let row = json!({"amount": 0.3, "price": "12.50", "big": 12345678901234567890u64});
    // 0.1 + 0.2 is 0.30000000000000004 in floating point.
    assert!(check("amount eq 0.1 add 0.2", row.clone()));
    assert!(check("amount eq 0.30", row.clone()));
    assert!(!check("amount eq 0.30000000000000001", row.clone()));
    assert!(check("amount gt 0.29999999999999999", row.clone()));
    assert!(check("price eq 12.5 and price lt 12.51 and price gt 12.499", row.clone()));
    assert!(check("big eq 12345678901234567890", row.clone()));
    assert!(!check("big eq 12345678901234567891", row.clone()));
    assert!(check("amount eq 3e-1", row));
    assert!(check("n eq 12.5", json!({"n": 12.50})));
    assert!(check("n eq 3", json!({"n": 3.0})));
}

#[test]
fn in_matches_any_value_of_the_list() {
    let row = json!({"code": "EUR", "statecode": 1, "_x_value": null});
    assert!(check("code in ('USD', 'EUR')", row.clone()));
    assert!(!check("code in ('USD', 'GBP')", row.clone()));
    assert!(check("statecode in (0, 1.0)", row.clone()));
    assert!(check("_x_value in (null, 'a')", row.clone()));
    assert!(check("not (code in ('USD'))", row));
}

#[test]
fn functions_and_arithmetic_evaluate_on_a_row() {
    let row = json!({"name": "  Contoso Ltd ", "qty": 7, "due": "2026-03-15", "at": "2026-03-15T10:00:00Z"});
    for (filter, expected) in [
        ("contains(name, 'SO L')", true),
        ("endswith(trim(name), 'ltd')", true),
        ("tolower(trim(name)) eq 'contoso ltd'", true),
        ("toupper(trim(name)) eq 'CONTOSO LTD'", true),
        ("length(trim(name)) eq 11", true),
        ("indexof(trim(name), 'Ltd') eq 8", true),
        ("substring(trim(name), 8) eq 'Ltd'", true),
        ("substring(trim(name), 0, 3) eq 'Con'", true),
        ("concat(trim(name), '!') eq 'Contoso Ltd!'", true),
        ("qty mod 2 eq 1 and qty div 2 eq 3.5 and qty mul 2 sub 4 eq 10", true),
        ("-qty lt 0", true),
        ("qty div 0 eq null", true),
        ("year(due) eq 2026 and month(due) eq 3 and day(at) eq 15", true),
        ("due eq 2026-03-15 and due lt 2026-04-01", true),
        ("at gt 2026-03-15T09:00:00Z and at lt 2026-03-15T12:00:00+01:00", true),
        ("contains(qty, '7')", false),
    ] {
        assert_eq!(check(filter, row.clone()), expected, "{filter}");
    }
}

#[test]
fn what_a_row_cannot_answer_is_refused_when_parsed() {
    for (filter, message) in [
        (
            "name eq 'x' and primarycontactid/fullname eq 'A'",
            "invalid filter at position 16: 'primarycontactid/fullname' reads a related record, which a row does not hold; filter on the row's own fields",
        ),
        (
            "contacts/any(c: c/name eq 'A')",
            "invalid filter at position 0: 'contacts/any' looks into a collection, which a row does not hold; filter on the row's own fields",
        ),
        (
            "kind eq Microsoft.Dynamics.CRM.Kind'A'",
            "invalid filter at position 8: enum values such as Microsoft.Dynamics.CRM.Kind'A' cannot be evaluated on a row; compare with the value's number or text",
        ),
        (
            "amount eq INF",
            "invalid filter at position 10: INF cannot be compared with the values of a row",
        ),
        (
            "amount ne NaN",
            "invalid filter at position 10: NaN cannot be compared with the values of a row",
        ),
    ] {
        assert_eq!(refused(filter), message, "{filter}");
    }
}

#[test]
fn a_filter_reads_and_writes_as_its_text() {
    let f: Filter = serde_json::from_value(json!("statecode  eq 0")).unwrap();
    assert_eq!(serde_json::to_value(&f).unwrap(), json!("statecode  eq 0"));
    assert_eq!(f.to_string(), "statecode  eq 0");
    let err = serde_json::from_value::<Filter>(json!("statecode eq")).unwrap_err();
    assert_eq!(err.to_string(), "invalid filter at position 12: expected a value after 'eq'");
}

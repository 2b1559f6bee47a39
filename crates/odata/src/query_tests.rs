use super::*;
use crate::ast::{BinaryOp, Expr, Literal};
use crate::testing::crm_model;

fn parse_for(set: &str, raw: &str) -> Result<QueryOptions, ODataError> {
    let model = crm_model();
    let entity = model.entity_set(set).unwrap().clone();
    QueryOptions::parse(raw, &entity, &model)
}

fn error(raw: &str) -> String {
    parse_for("accounts", raw).unwrap_err().message
}

#[test]
fn every_system_query_option_is_read() {
    let o = parse_for(
        "accounts",
        "?$select=name,revenue&$filter=name%20eq%20'Fourth+Coffee'&$orderby=revenue desc,name asc&$top=5&$skip=10&$count=true&$skiptoken=abc%3D&$deltatoken=919042%2108",
    )
    .unwrap();
    assert_eq!(o.select, vec!["name", "revenue"]);
    assert_eq!(
        o.filter,
        Some(Expr::Binary {
            op: BinaryOp::Eq,
            left: Box::new(Expr::Path(vec!["name".into()])),
            right: Box::new(Expr::Literal(Literal::String("Fourth Coffee".into()))),
        })
    );
    assert_eq!(o.orderby, vec![("revenue".to_owned(), true), ("name".to_owned(), false)]);
    assert_eq!((o.top, o.skip, o.count), (Some(5), Some(10), true));
    assert_eq!(o.skiptoken.as_deref(), Some("abc="));
    assert_eq!(o.deltatoken.as_deref(), Some("919042!08"));
}

#[test]
fn an_empty_query_gives_default_options() {
    assert!(parse_for("accounts", "").unwrap().is_empty());
    assert!(parse_for("accounts", "?").unwrap().is_empty());
    assert!(parse_for("accounts", "$select=*").unwrap().select.is_empty());
}

#[test]
fn parameters_without_a_dollar_are_ignored() {
    let o = parse_for("accounts", "api-version=2&@p1='x'&$top=1").unwrap();
    assert_eq!(o.top, Some(1));
}

#[test]
fn percent_encoded_separators_inside_a_filter_stay_in_the_string() {
    let o = parse_for("accounts", "$filter=name eq 'a%26b%3Bc%2Bd'").unwrap();
    assert_eq!(o.filter.unwrap().to_string(), "name eq 'a&b;c+d'");
}

#[test]
fn an_unknown_property_in_select_is_named_with_its_type() {
    let e = parse_for("accounts", "$select=name,foo").unwrap_err();
    assert_eq!(
        e.message,
        "Could not find a property named 'foo' on type 'Microsoft.Dynamics.CRM.account'."
    );
    assert_eq!(e.target.as_deref(), Some("foo"));
    assert_eq!(e.status, 400);
}

#[test]
fn an_unknown_property_in_filter_or_orderby_is_named_too() {
    assert_eq!(
        error("$filter=foo eq 1"),
        "Could not find a property named 'foo' on type 'Microsoft.Dynamics.CRM.account'."
    );
    assert_eq!(
        error("$orderby=bar desc"),
        "Could not find a property named 'bar' on type 'Microsoft.Dynamics.CRM.account'."
    );
}

#[test]
fn unknown_repeated_or_malformed_options_are_rejected() {
    let mut out = String::new();
    for raw in [
        "$foo=1",
        "$top=1&$top=2",
        "$TOP=1&$top=2",
        "$top=-1",
        "$top=abc",
        "$skip=1.5",
        "$count=yes",
        "$orderby=name sideways",
        "$orderby=name desc extra",
        "$orderby=name,,revenue",
        "$orderby=primarycontactid/fullname",
        "$select=name,,revenue",
        "$filter=name eq",
        "$filter=name eq 'x",
        "$filter=%ZZ",
        "$filter=%C3%28",
        "$expand=foo",
        "$expand=primarycontactid($expand=parentcustomerid_account)",
        "$expand=contact_customer_accounts($select=bogus)",
        "$expand=contact_customer_accounts($filter=name eq 'x')",
        "$expand=contact_customer_accounts($count=true)",
        "$expand=primarycontactid($filter=fullname eq 'x')",
        "$expand=primarycontactid(fullname)",
        "$expand=primarycontactid($select=fullname",
        "$expand=primarycontactid,primarycontactid",
        "$expand=*",
    ] {
        let e = parse_for("accounts", raw).unwrap_err();
        assert_eq!(e.status, 400, "{raw}");
        out.push_str(&format!("{raw}\n  [{}] {}\n", e.code, e.message));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn expand_takes_nested_options_validated_against_the_target() {
    let o = parse_for(
        "accounts",
        "$expand=primarycontactid($select=fullname),contact_customer_accounts($select=fullname,jobtitle;$filter=jobtitle eq 'Manager; CEO' and contains(fullname,'(x)');$orderby=fullname desc;$top=3;$skip=1)",
    )
    .unwrap();
    assert_eq!(o.expand.len(), 2);
    assert_eq!(o.expand[0].navigation, "primarycontactid");
    assert_eq!(o.expand[0].options.select, vec!["fullname"]);
    let c = &o.expand[1];
    assert_eq!(c.navigation, "contact_customer_accounts");
    assert_eq!(c.options.select, vec!["fullname", "jobtitle"]);
    assert_eq!(
        c.options.filter.as_ref().unwrap().to_string(),
        "jobtitle eq 'Manager; CEO' and contains(fullname,'(x)')"
    );
    assert_eq!(c.options.orderby, vec![("fullname".to_owned(), true)]);
    assert_eq!((c.options.top, c.options.skip), (Some(3), Some(1)));
}

#[test]
fn percent_decoding_turns_plus_into_a_space_and_rejects_bad_escapes() {
    assert_eq!(percent_decode("a+b%20c%2B").unwrap(), "a b c+");
    assert!(percent_decode("%2").is_err());
    assert!(percent_decode("%+1").is_err());
    assert_eq!(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
}

#[test]
fn a_division_by_a_zero_literal_and_a_malformed_select_are_refused_with_their_position() {
    // (query, position named in the message)
    let cases = [
        ("$filter=revenue div 0 eq 1", "position 12"),
        ("$filter=revenue mod 0.00 eq 1", "position 12"),
        ("$filter=revenue eq 1 or revenue div (-0) eq 2", "position 28"),
        ("$select=*,(select 1)", "position 2"),
        ("$select=name, revenue;drop", "position 13"),
        ("$select=name,revenue desc", "position 12"),
    ];
    for (raw, position) in cases {
        let e = parse_for("accounts", raw).unwrap_err();
        assert_eq!(e.status, 400, "{raw}");
        assert!(e.message.contains(position), "{raw}: {}", e.message);
    }
    // Division by something that is not a zero literal stays allowed, and `*` still means all.
    assert!(parse_for("accounts", "$filter=revenue div 2 eq 1").is_ok());
    assert!(parse_for("accounts", "$select=*,name").unwrap().select.is_empty());
}

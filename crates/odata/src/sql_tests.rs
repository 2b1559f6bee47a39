use serde_json::json;

use super::*;
use crate::model::Model;
use crate::testing::crm_model;

fn lower(
    model: &Model,
    set: &str,
    filter: &str,
    dialect: Dialect,
) -> Result<(String, Values), ODataError> {
    let entity = model.entity_set(set).unwrap();
    let expr = crate::filter::parse(filter)?;
    let condition = filter_condition(&expr, entity, model, dialect)?;
    let mut stmt = Query::select();
    stmt.column(Alias::new(entity.key.as_str()))
        .from(Alias::new(entity.table.as_str()))
        .and_where(condition);
    Ok(to_sql(&stmt, dialect))
}

/// Both dialects' SQL and bound values, for a snapshot.
fn both(set: &str, filter: &str) -> String {
    let model = crm_model();
    let mut out = format!("$filter={filter} on {set}\n");
    for (name, dialect) in [("sqlite", Dialect::Sqlite), ("postgres", Dialect::Postgres)] {
        let (sql, values) =
            lower(&model, set, filter, dialect).unwrap_or_else(|e| panic!("{filter}: {e}"));
        out.push_str(&format!("{name}: {sql}\n  values: {:?}\n", values.0));
    }
    out
}

fn error(set: &str, filter: &str) -> String {
    let model = crm_model();
    match lower(&model, set, filter, Dialect::Sqlite) {
        Ok((sql, _)) => panic!("{filter} should be rejected, got {sql}"),
        Err(e) => e.message,
    }
}

#[test]
fn a_string_equality_and_a_money_comparison_bind_text_and_a_scaled_integer() {
    insta::assert_snapshot!(both("accounts", "name eq 'Fourth Coffee' and revenue gt 100000"));
}

#[test]
fn contains_and_startswith_become_escaped_like_patterns() {
    insta::assert_snapshot!(both(
        "accounts",
        "contains(name,'(sample)') or startswith(name,'A''s')"
    ));
}

#[test]
fn a_date_time_literal_binds_microseconds_since_the_epoch() {
    insta::assert_snapshot!(both("accounts", "modifiedon ge 2026-01-01T00:00:00Z"));
}

#[test]
fn in_becomes_an_in_list_of_bound_values() {
    insta::assert_snapshot!(both("accounts", "statecode in (0,1)"));
}

#[test]
fn not_wraps_a_decimal_comparison_bound_at_the_property_scale() {
    insta::assert_snapshot!(both("accounts", "not (creditlimit le 1000.50)"));
}

#[test]
fn a_single_valued_navigation_path_is_a_correlated_subquery() {
    insta::assert_snapshot!(both("accounts", "primarycontactid/fullname eq 'Rene Valdes'"));
}

#[test]
fn a_lookup_value_compares_with_an_unquoted_guid_as_lowercase_text() {
    insta::assert_snapshot!(both(
        "contacts",
        "_parentcustomerid_value eq 6D1AEE1C-7E25-4C36-8C32-0F2B93B1C5D8"
    ));
}

#[test]
fn any_on_a_collection_is_an_exists_subquery() {
    insta::assert_snapshot!(both(
        "accounts",
        "contact_customer_accounts/any(c: c/jobtitle eq 'Manager')"
    ));
}

#[test]
fn all_on_a_collection_is_a_not_exists_of_the_rows_that_fail() {
    insta::assert_snapshot!(both(
        "accounts",
        "contact_customer_accounts/all(c: c/jobtitle eq 'Manager')"
    ));
}

#[test]
fn any_without_a_condition_asks_for_at_least_one_row() {
    insta::assert_snapshot!(both("accounts", "contact_customer_accounts/any()"));
}

#[test]
fn a_bare_property_inside_a_lambda_refers_to_the_outer_entity() {
    insta::assert_snapshot!(both(
        "accounts",
        "contact_customer_accounts/any(c: c/fullname eq name and c/_parentcustomerid_value ne null)"
    ));
}

#[test]
fn paths_through_two_navigations_nest_their_subqueries() {
    insta::assert_snapshot!(both(
        "contacts",
        "parentcustomerid_account/primarycontactid/fullname eq 'Rene Valdes'"
    ));
}

#[test]
fn a_lambda_reached_through_a_single_valued_navigation_nests_exists() {
    insta::assert_snapshot!(both(
        "contacts",
        "parentcustomerid_account/contact_customer_accounts/any(x: x/jobtitle eq 'CEO')"
    ));
}

#[test]
fn a_self_referencing_navigation_uses_an_alias_for_the_inner_table() {
    insta::assert_snapshot!(both("accounts", "parentaccountid/name eq 'Contoso'"));
}

#[test]
fn nested_lambdas_see_both_variables() {
    insta::assert_snapshot!(both(
        "accounts",
        "contact_customer_accounts/any(c: c/parentcustomerid_account/contact_customer_accounts/any(d: d/jobtitle eq c/jobtitle))"
    ));
}

#[test]
fn comparisons_with_null_become_is_null_and_is_not_null() {
    insta::assert_snapshot!(both(
        "accounts",
        "name eq null or null ne primarycontactid/fullname or primarycontactid eq null"
    ));
}

#[test]
fn string_functions_lower_to_sql_that_both_backends_have() {
    insta::assert_snapshot!(both(
        "accounts",
        "tolower(name) eq 'a' and toupper(name) eq 'A' and length(trim(name)) gt 3 and indexof(name,'x') eq 2 and substring(name,1) eq 'b' and substring(name,1,2) eq 'bc' and concat(name,'!') ne 'x!'"
    ));
}

#[test]
fn string_functions_with_a_non_literal_needle_compare_case_insensitively() {
    insta::assert_snapshot!(both(
        "accounts",
        "contains(name,accountnumber) or startswith(name,accountnumber) or endswith(name,accountnumber)"
    ));
}

#[test]
fn year_month_and_day_work_on_timestamps_and_on_dates() {
    insta::assert_snapshot!(both(
        "accounts",
        "year(modifiedon) eq 2026 and month(modifiedon) eq 1 and day(openedon) eq 31"
    ));
}

#[test]
fn decimal_arithmetic_rescales_for_add_mul_div_and_mod() {
    insta::assert_snapshot!(both(
        "accounts",
        "revenue add creditlimit gt 10 and revenue mul creditlimit gt 5 and revenue div creditlimit lt 1.5 and creditlimit mod 3 eq 0 and revenue sub 0.000001 gt 0"
    ));
}

#[test]
fn doubles_and_decimals_meet_as_doubles() {
    insta::assert_snapshot!(both(
        "accounts",
        "latitude gt revenue and latitude lt 1.5e2 and -latitude le 3"
    ));
}

#[test]
fn a_boolean_property_alone_is_a_condition() {
    insta::assert_snapshot!(both("accounts", "donotemail and not donotemail or true"));
}

#[test]
fn an_in_list_with_null_falls_back_to_or() {
    insta::assert_snapshot!(both("accounts", "name in ('a', null)"));
}

#[test]
fn like_patterns_escape_percent_underscore_and_backslash() {
    let model = crm_model();
    let (_, values) =
        lower(&model, "accounts", r"contains(name,'50%_off\')", Dialect::Sqlite).unwrap();
    assert_eq!(values.0, vec![Value::String(Some(r"%50\%\_off\\%".into()))]);
}

#[test]
fn a_decimal_literal_with_more_places_than_the_property_keeps_is_rejected() {
    insta::assert_snapshot!(error("accounts", "creditlimit eq 1000.505"), @"The literal 1000.505 has more decimal places than are kept for 'creditlimit' (Edm.Decimal with 2 decimal places).");
}

#[test]
fn a_decimal_literal_that_overflows_the_scaled_column_is_rejected() {
    insta::assert_snapshot!(error("accounts", "revenue gt 99999999999999"), @"The literal 99999999999999 is too large for 'revenue' (Edm.Decimal with 5 decimal places).");
}

#[test]
fn an_unknown_property_is_named_with_its_type() {
    assert_eq!(
        error("accounts", "foo eq 1"),
        "Could not find a property named 'foo' on type 'Microsoft.Dynamics.CRM.account'."
    );
    assert_eq!(
        error("accounts", "contact_customer_accounts/any(c: c/name eq 'x')"),
        "Could not find a property named 'name' on type 'Microsoft.Dynamics.CRM.contact'."
    );
    assert_eq!(
        error("accounts", "primarycontactid/bogus eq 'x'"),
        "Could not find a property named 'bogus' on type 'Microsoft.Dynamics.CRM.contact'."
    );
}

#[test]
fn a_lambda_variable_is_only_known_inside_its_lambda() {
    assert_eq!(
        error(
            "accounts",
            "contact_customer_accounts/any(c: c/jobtitle eq 'x') and c/jobtitle eq 'y'"
        ),
        "Could not find a property named 'c' on type 'Microsoft.Dynamics.CRM.account'."
    );
    insta::assert_snapshot!(
        error("accounts", "contact_customer_accounts/any(c: c/parentcustomerid_account/contact_customer_accounts/any(c: c/jobtitle eq 'x'))"),
        @"The lambda variable 'c' is already in use."
    );
}

#[test]
fn type_mismatches_are_explained() {
    let mut out = String::new();
    for f in [
        "name eq 5",
        "statecode eq 'x'",
        "statecode eq 1.5",
        "donotemail gt true",
        "_primarycontactid_value eq 'not-a-guid'",
        "modifiedon eq 'yesterday'",
        "name gt null",
        "name",
        "'x'",
        "name add 1 eq 2",
        "latitude mod 2 eq 0",
        "year(name) eq 1",
        "contains(statecode,'1')",
        "contact_customer_accounts eq null",
        "primarycontactid/any(x: x/fullname eq 'a')",
        "name/any(x: x eq 1)",
        "contact_customer_accounts/any(c: c)",
        "openedon eq 2026-01-01T00:00:00Z",
        "statecode eq Microsoft.Dynamics.CRM.state'Active'",
    ] {
        out.push_str(&format!("{f}\n  {}\n", error("accounts", f)));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn select_builds_columns_filter_order_and_paging() {
    let model = crm_model();
    let account = model.entity_set("accounts").unwrap();
    let options = QueryOptions::parse(
        "$select=name,revenue&$filter=statecode%20eq%200&$orderby=revenue%20desc,name&$top=5&$skip=10",
        account,
        &model,
    )
    .unwrap();
    let mut out = String::new();
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let (sql, values) = to_sql(&select(account, &model, &options, dialect).unwrap(), dialect);
        out.push_str(&format!("{sql}\n  values: {:?}\n", values.0));
    }
    let all = select(account, &model, &QueryOptions::default(), Dialect::Sqlite).unwrap();
    out.push_str(&format!("{}\n", to_sql(&all, Dialect::Sqlite).0));
    insta::assert_snapshot!(out);
}

#[test]
fn an_expand_loads_the_related_rows_of_a_page_with_its_own_options() {
    let model = crm_model();
    let account = model.entity_set("accounts").unwrap();
    let options = QueryOptions::parse(
        "$expand=primarycontactid($select=fullname),contact_customer_accounts($select=fullname;$filter=jobtitle eq 'Manager';$orderby=fullname desc;$top=2)",
        account,
        &model,
    )
    .unwrap();
    let keys = vec!["6d1aee1c-7e25-4c36-8c32-0f2b93b1c5d8".to_owned()];
    let mut out = String::new();
    for item in &options.expand {
        let q = expand_select(account, &model, item, &keys, Dialect::Postgres).unwrap();
        let (sql, values) = to_sql(&q.statement, Dialect::Postgres);
        out.push_str(&format!(
            "{} -> {} by {} (to many: {})\n{sql}\n  values: {:?}\n",
            item.navigation, q.target.name, q.link_property.name, q.to_many, values.0
        ));
    }
    let none = expand_select(account, &model, &options.expand[0], &[], Dialect::Sqlite).unwrap();
    out.push_str(&format!("{}\n", to_sql(&none.statement, Dialect::Sqlite).0));
    insta::assert_snapshot!(out);
}

#[test]
fn ordering_by_the_key_does_not_repeat_it_as_tie_breaker() {
    let model = crm_model();
    let account = model.entity_set("accounts").unwrap();
    let options =
        QueryOptions { orderby: vec![("accountid".into(), true)], ..QueryOptions::default() };
    let (sql, _) =
        to_sql(&select(account, &model, &options, Dialect::Postgres).unwrap(), Dialect::Postgres);
    assert!(sql.ends_with(r#"ORDER BY "crm_account"."accountid" DESC NULLS LAST"#), "{sql}");
}

// -------------------------------------------------------------------------------------------
// JSON ⇄ stored values
// -------------------------------------------------------------------------------------------

#[test]
fn every_type_encodes_to_its_storage_form_and_decodes_back() {
    let cases: Vec<(EdmType, serde_json::Value, Value, serde_json::Value)> = vec![
        (
            EdmType::Guid,
            json!("6D1AEE1C-7E25-4C36-8C32-0F2B93B1C5D8"),
            Value::String(Some("6d1aee1c-7e25-4c36-8c32-0f2b93b1c5d8".into())),
            json!("6d1aee1c-7e25-4c36-8c32-0f2b93b1c5d8"),
        ),
        (
            EdmType::String,
            json!("Fourth Coffee"),
            Value::String(Some("Fourth Coffee".into())),
            json!("Fourth Coffee"),
        ),
        (EdmType::Int32, json!(42), Value::BigInt(Some(42)), json!(42)),
        (
            EdmType::Int64,
            json!(-9_000_000_000i64),
            Value::BigInt(Some(-9_000_000_000)),
            json!(-9_000_000_000i64),
        ),
        (EdmType::MONEY, json!(1000.5), Value::BigInt(Some(100_050_000)), json!(1000.5)),
        (EdmType::MONEY, json!(100000), Value::BigInt(Some(10_000_000_000)), json!(100000)),
        (EdmType::MONEY, json!("-0.00001"), Value::BigInt(Some(-1)), json!(-0.00001)),
        (
            EdmType::RATE,
            json!(1.2345678901),
            Value::BigInt(Some(12_345_678_901)),
            json!(1.2345678901),
        ),
        (EdmType::Double, json!(1.25), Value::Double(Some(1.25)), json!(1.25)),
        (EdmType::Boolean, json!(true), Value::Bool(Some(true)), json!(true)),
        (
            EdmType::DateTimeOffset,
            json!("2026-01-01T02:00:00+02:00"),
            Value::BigInt(Some(1_767_225_600_000_000)),
            json!("2026-01-01T00:00:00Z"),
        ),
        (
            EdmType::DateTimeOffset,
            json!("2026-01-01T00:00:00.123456Z"),
            Value::BigInt(Some(1_767_225_600_123_456)),
            json!("2026-01-01T00:00:00.123456Z"),
        ),
        (
            EdmType::Date,
            json!("2026-02-28"),
            Value::String(Some("2026-02-28".into())),
            json!("2026-02-28"),
        ),
    ];
    for (ty, input, stored, output) in cases {
        let encoded =
            encode_value(ty, &input, "p").unwrap_or_else(|e| panic!("{ty:?} {input}: {e}"));
        assert_eq!(encoded, stored, "{ty:?} {input}");
        assert_eq!(decode(ty, &encoded).unwrap(), output, "{ty:?} {input}");
    }
}

#[test]
fn null_encodes_to_a_typed_null_and_decodes_to_json_null() {
    for ty in
        [EdmType::Guid, EdmType::MONEY, EdmType::Double, EdmType::Boolean, EdmType::DateTimeOffset]
    {
        let v = encode_value(ty, &serde_json::Value::Null, "p").unwrap();
        assert_eq!(decode(ty, &v).unwrap(), serde_json::Value::Null);
    }
}

#[test]
fn drivers_integer_booleans_and_narrow_integers_decode() {
    assert_eq!(decode(EdmType::Boolean, &Value::BigInt(Some(1))).unwrap(), json!(true));
    assert_eq!(decode(EdmType::Int32, &Value::Int(Some(7))).unwrap(), json!(7));
    assert_eq!(
        decode(EdmType::Decimal { scale: 2 }, &Value::BigInt(Some(100050))).unwrap(),
        json!(1000.5)
    );
}

#[test]
fn values_that_do_not_fit_their_property_are_rejected_with_its_name() {
    let mut out = String::new();
    for (ty, v) in [
        (EdmType::Decimal { scale: 2 }, json!(1000.505)),
        (EdmType::MONEY, json!(1e20)),
        (EdmType::Int32, json!(3_000_000_000i64)),
        (EdmType::Int32, json!("1")),
        (EdmType::Guid, json!("nope")),
        (EdmType::DateTimeOffset, json!("2026-01-01")),
        (EdmType::Date, json!("2026-02-30")),
        (EdmType::Boolean, json!(1)),
        (EdmType::String, json!(5)),
    ] {
        let e = encode_value(ty, &v, "creditlimit").unwrap_err();
        assert_eq!(e.target.as_deref(), Some("creditlimit"));
        out.push_str(&format!("{ty:?} {v}\n  {}\n", e.message));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn the_deepest_filters_the_parser_accepts_lower_and_render_on_a_small_stack() {
    let depth = crate::filter::MAX_DEPTH;
    let filters = [
        format!("{}name{} eq 'a'", "tolower(".repeat(depth), ")".repeat(depth)),
        format!("{}name eq 'a'", "not ".repeat(depth)),
        format!("statecode{} eq 1", " add statecode".repeat(depth)),
        format!("{}statecode eq 1", "-".repeat(depth)),
        format!("{}statecode eq 1{}", "(".repeat(depth), ")".repeat(depth)),
        {
            // Each lambda costs its collection's step plus its parenthesis; the last path a step.
            let n = (depth - crate::filter::SUBQUERY_COST) / (crate::filter::SUBQUERY_COST + 1);
            let opens: String =
                (0..n).map(|i| format!("contact_customer_accounts/any(v{i}: ")).collect();
            format!("{opens}v{}/jobtitle eq 'a'{}", n - 1, ")".repeat(n))
        },
        {
            let hops = "parentaccountid/".repeat(depth / crate::filter::SUBQUERY_COST);
            format!("{hops}name eq 'x'")
        },
        vec!["(statecode eq 1 or name eq 'x')"; 5000].join(" and "),
    ];
    // Test threads have a 2 MiB stack, like tokio's workers.
    for f in filters {
        let expr = match crate::filter::parse(&f) {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        };
        let model = crm_model();
        let account = model.entity_set("accounts").unwrap();
        let options = QueryOptions { filter: Some(expr), ..QueryOptions::default() };
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            if let Ok(stmt) = select(account, &model, &options, dialect) {
                let (sql, _) = to_sql(&stmt, dialect);
                assert!(!sql.is_empty());
            }
        }
    }
}

#[test]
fn a_hand_built_tree_with_an_empty_path_is_an_error_not_a_panic() {
    let model = crm_model();
    let account = model.entity_set("accounts").unwrap();
    let empty = crate::ast::Expr::Path(vec![]);
    assert!(filter_condition(&empty, account, &model, Dialect::Sqlite).is_err());
    let lambda = crate::ast::Expr::Lambda {
        collection: vec![],
        kind: crate::ast::LambdaKind::Any,
        predicate: None,
    };
    assert!(filter_condition(&lambda, account, &model, Dialect::Sqlite).is_err());
    let call = crate::ast::Expr::Call { function: crate::ast::Function::Substring, args: vec![] };
    assert!(filter_condition(&call, account, &model, Dialect::Sqlite).is_err());
}

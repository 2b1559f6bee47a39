use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use proptest::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;
use crate::ast::{BinaryOp, Expr, Function, LambdaKind, Literal};

fn p(text: &str) -> Expr {
    parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn err(text: &str) -> ParseError {
    match parse(text) {
        Ok(e) => panic!("{text:?} should not parse, got {e:?}"),
        Err(e) => e,
    }
}

fn path(s: &str) -> Expr {
    Expr::Path(s.split('/').map(str::to_owned).collect())
}

fn bin(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    Expr::Binary { op, left: Box::new(l), right: Box::new(r) }
}

fn int(i: i64) -> Expr {
    Expr::Literal(Literal::Int(i))
}

fn string(s: &str) -> Expr {
    Expr::Literal(Literal::String(s.into()))
}

#[test]
fn the_example_filters_parse_to_the_expected_trees() {
    let cases = [
        "name eq 'Fourth Coffee' and revenue gt 100000",
        "contains(name,'(sample)') or startswith(name,'A''s')",
        "modifiedon ge 2026-01-01T00:00:00Z",
        "statecode in (0,1)",
        "not (creditlimit le 1000.50)",
        "primarycontactid/fullname eq 'Rene Valdes'",
        "_parentcustomerid_value eq 6d1aee1c-7e25-4c36-8c32-0f2b93b1c5d8",
        "contact_customer_accounts/any(c: c/jobtitle eq 'Manager')",
    ];
    let mut out = String::new();
    for c in cases {
        let e = p(c);
        out.push_str(&format!("{c}\n  printed: {e}\n  tree: {e:?}\n"));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn or_binds_looser_than_and_which_binds_looser_than_not_and_comparisons() {
    assert_eq!(
        p("a eq 1 or b eq 2 and c eq 3"),
        bin(
            BinaryOp::Or,
            bin(BinaryOp::Eq, path("a"), int(1)),
            bin(
                BinaryOp::And,
                bin(BinaryOp::Eq, path("b"), int(2)),
                bin(BinaryOp::Eq, path("c"), int(3))
            )
        )
    );
    assert_eq!(
        p("not a eq 1 and b"),
        bin(BinaryOp::And, Expr::Not(Box::new(bin(BinaryOp::Eq, path("a"), int(1)))), path("b"))
    );
}

#[test]
fn arithmetic_binds_tighter_than_comparison_and_multiplication_tighter_than_addition() {
    assert_eq!(
        p("a add b mul c eq d"),
        bin(
            BinaryOp::Eq,
            bin(BinaryOp::Add, path("a"), bin(BinaryOp::Mul, path("b"), path("c"))),
            path("d")
        )
    );
    assert_eq!(
        p("a sub b sub c"),
        bin(BinaryOp::Sub, bin(BinaryOp::Sub, path("a"), path("b")), path("c"))
    );
    assert_eq!(
        p("a div b mod c"),
        bin(BinaryOp::Mod, bin(BinaryOp::Div, path("a"), path("b")), path("c"))
    );
    assert_eq!(p("-a mul b"), bin(BinaryOp::Mul, Expr::Negate(Box::new(path("a"))), path("b")));
    assert_eq!(
        p("(a add b) mul c"),
        bin(BinaryOp::Mul, bin(BinaryOp::Add, path("a"), path("b")), path("c"))
    );
}

#[test]
fn a_minus_directly_before_a_number_is_part_of_the_literal() {
    assert_eq!(p("a eq -5"), bin(BinaryOp::Eq, path("a"), int(-5)));
    assert_eq!(p("a eq -9223372036854775808"), bin(BinaryOp::Eq, path("a"), int(i64::MIN)));
    assert_eq!(p("a eq - 5"), bin(BinaryOp::Eq, path("a"), Expr::Negate(Box::new(int(5)))));
    assert_eq!(p("a eq -(5)"), bin(BinaryOp::Eq, path("a"), Expr::Negate(Box::new(int(5)))));
}

#[test]
fn every_kind_of_literal_is_read() {
    let lit = |text: &str| match p(&format!("x eq {text}")) {
        Expr::Binary { right, .. } => match *right {
            Expr::Literal(l) => l,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert_eq!(lit("null"), Literal::Null);
    assert_eq!(lit("true"), Literal::Bool(true));
    assert_eq!(lit("false"), Literal::Bool(false));
    assert_eq!(lit("42"), Literal::Int(42));
    assert_eq!(lit("1000.50"), Literal::Decimal(Decimal::new(100050, 2)));
    assert_eq!(
        lit("99999999999999999999"),
        Literal::Decimal("99999999999999999999".parse().unwrap())
    );
    assert_eq!(lit("1.5e3"), Literal::Double(1500.0));
    assert_eq!(lit("INF"), Literal::Double(f64::INFINITY));
    assert_eq!(lit("-INF"), Literal::Double(f64::NEG_INFINITY));
    assert_eq!(lit("'it''s'"), Literal::String("it's".into()));
    assert_eq!(lit("''"), Literal::String(String::new()));
    assert_eq!(
        lit("6D1AEE1C-7E25-4C36-8C32-0F2B93B1C5D8"),
        Literal::Guid(Uuid::parse_str("6d1aee1c-7e25-4c36-8c32-0f2b93b1c5d8").unwrap())
    );
    assert_eq!(lit("2026-02-28"), Literal::Date(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()));
    let plus2 = FixedOffset::east_opt(2 * 3600).unwrap();
    let expected = plus2.with_ymd_and_hms(2026, 1, 1, 10, 30, 0).unwrap();
    assert_eq!(lit("2026-01-01T10:30:00+02:00"), Literal::DateTimeOffset(expected));
    assert_eq!(lit("2026-01-01T08:30:00Z"), Literal::DateTimeOffset(expected));
    // An unencoded '+' in a URL arrives as a space.
    assert_eq!(lit("2026-01-01T10:30:00 02:00"), Literal::DateTimeOffset(expected));
    match lit("2026-01-01T10:30:00.123456-05:30") {
        Literal::DateTimeOffset(dt) => assert_eq!(dt.timestamp_subsec_micros(), 123456),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        lit("Microsoft.Dynamics.CRM.statecode'Active'"),
        Literal::Enum {
            type_name: "Microsoft.Dynamics.CRM.statecode".into(),
            value: "Active".into()
        }
    );
}

#[test]
fn functions_navigation_paths_and_lambdas_are_read() {
    assert_eq!(
        p("substring(name,1,2) eq 'ab'"),
        bin(
            BinaryOp::Eq,
            Expr::Call { function: Function::Substring, args: vec![path("name"), int(1), int(2)] },
            string("ab")
        )
    );
    assert_eq!(
        p("parentcustomerid_account/name eq 'A'"),
        bin(BinaryOp::Eq, path("parentcustomerid_account/name"), string("A"))
    );
    assert_eq!(
        p("orders/any()"),
        Expr::Lambda { collection: vec!["orders".into()], kind: LambdaKind::Any, predicate: None }
    );
    assert_eq!(
        p("a/b/all(x: x/c/any(y: y/d eq x/e))"),
        Expr::Lambda {
            collection: vec!["a".into(), "b".into()],
            kind: LambdaKind::All,
            predicate: Some((
                "x".into(),
                Box::new(Expr::Lambda {
                    collection: vec!["x".into(), "c".into()],
                    kind: LambdaKind::Any,
                    predicate: Some((
                        "y".into(),
                        Box::new(bin(BinaryOp::Eq, path("y/d"), path("x/e")))
                    )),
                })
            )),
        }
    );
    assert_eq!(
        p("year(modifiedon) eq 2026 and tolower(trim(name)) eq concat('a','b')"),
        bin(
            BinaryOp::And,
            bin(
                BinaryOp::Eq,
                Expr::Call { function: Function::Year, args: vec![path("modifiedon")] },
                int(2026)
            ),
            bin(
                BinaryOp::Eq,
                Expr::Call {
                    function: Function::ToLower,
                    args: vec![Expr::Call { function: Function::Trim, args: vec![path("name")] }]
                },
                Expr::Call { function: Function::Concat, args: vec![string("a"), string("b")] }
            )
        )
    );
}

#[test]
fn malformed_filters_say_what_is_wrong_and_where() {
    let cases = [
        "name eq",
        "name eq 'x",
        "(a eq 1",
        "a eq 1 and",
        "a eq 1 b",
        "a eq )",
        "",
        "   ",
        "a eq 1,",
        "contains(name)",
        "frobnicate(name)",
        "a/any(x x/b eq 1)",
        "a/all()",
        "a eq 2026-13-01",
        "a eq 1.5.5",
        "a eq duration'P1D'",
        "a in 1",
        "a in (1,2",
        "a eq #",
        "a/ eq 1",
        "a eq 1e999",
        "a eq 123456789012345678901234567890123",
    ];
    let mut out = String::new();
    for c in cases {
        let e = err(c);
        assert!(e.position <= c.len(), "{c:?}: position {} beyond the text", e.position);
        out.push_str(&format!("{c:?}\n  {e}\n"));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn a_missing_value_is_reported_after_its_operator() {
    let e = err("name eq");
    assert_eq!(e.position, 7);
    assert_eq!(e.message, "expected a value after 'eq'");
    let e = err("statecode eq and");
    assert_eq!(e.to_string(), "expected a value after 'eq', found 'and' at position 13");
    let e = err("name eq 'x");
    assert_eq!(e.position, 8);
    let e = err("(a eq 1");
    assert_eq!(e.position, 7);
    assert!(e.message.contains("close the '(' at position 0"), "{e}");
    let e = err("a eq 1 and");
    assert_eq!((e.position, e.message.as_str()), (10, "expected a value after 'and'"));
}

#[test]
fn ten_thousand_nested_parentheses_are_an_error_not_a_crash() {
    let text = format!("{}a eq 1{}", "(".repeat(10_000), ")".repeat(10_000));
    let e = err(&text);
    assert!(e.message.contains("nests more than 100 levels"), "{e}");
    assert_eq!(e.position, MAX_DEPTH);
}

#[test]
fn deep_chains_of_not_minus_functions_and_arithmetic_are_errors_not_crashes() {
    let nots = format!("{}a", "not ".repeat(10_000));
    assert!(err(&nots).message.contains("nests more than"));
    let minus = format!("a eq {}b", "-".repeat(10_000));
    assert!(err(&minus).message.contains("nests more than"));
    let calls = format!("{}name{} eq 'a'", "tolower(".repeat(10_000), ")".repeat(10_000));
    assert!(err(&calls).message.contains("nests more than"));
    let adds = format!("a{} eq 1", " add a".repeat(10_000));
    assert!(err(&adds).message.contains("nests more than"));
    let lambdas = format!("{}x eq 1{}", "a/any(v: ".repeat(10_000), ")".repeat(10_000));
    assert!(err(&lambdas).message.contains("nests more than"));
}

#[test]
fn long_navigation_paths_count_as_nesting() {
    let ok = format!("{}name eq 'x'", "parentaccountid/".repeat(MAX_DEPTH / SUBQUERY_COST));
    assert!(parse(&ok).is_ok());
    let long = format!("{}name eq 'x'", "parentaccountid/".repeat(10_000));
    let e = err(&long);
    assert!(e.message.contains("nests more than"), "{e}");
    assert_eq!(e.position, 0);
}

#[test]
fn a_filter_at_the_depth_limit_still_parses_once_printed() {
    let inner = "a eq 1 or b eq 2 or (c eq 3 or d eq 4) or - 5 eq e and (f or g and h)";
    let text = format!("{}{inner}{}", "(".repeat(MAX_DEPTH - 1), ")".repeat(MAX_DEPTH - 1));
    let e = p(&text);
    assert_eq!(p(&e.to_string()), e);
    assert_eq!(
        e.to_string(),
        "a eq 1 or b eq 2 or (c eq 3 or d eq 4) or - 5 eq e and (f or g and h)"
    );
}

#[test]
fn long_lists_of_or_stay_shallow() {
    let text = vec!["a eq 1"; 50_000].join(" or ");
    let e = p(&text);
    fn depth(e: &Expr) -> usize {
        match e {
            Expr::Binary { left, right, .. } => 1 + depth(left).max(depth(right)),
            _ => 1,
        }
    }
    assert!(depth(&e) <= 20, "depth {}", depth(&e));
    assert_eq!(parse(&e.to_string()).unwrap(), e);
}

#[test]
fn printing_keeps_the_shape_of_the_tree() {
    for text in [
        "a eq 1 and (b eq 2 or c eq 3)",
        "(a and b) and c",
        "a and (b and c)",
        "not (a and b)",
        "-(a add b) mul c",
        "a sub (b sub c)",
        "(a eq b) eq c",
        "(not a) eq true",
        "a in ('x','y') or b in (1)",
        "contact_customer_accounts/any(c:c/jobtitle eq 'Manager' and c/fullname ne null)",
    ] {
        let e = p(text);
        assert_eq!(p(&e.to_string()), e, "{text} printed as {e}");
    }
    assert_eq!(p("a sub (b sub c)").to_string(), "a sub (b sub c)");
    assert_eq!(p("not (creditlimit le 1000.50)").to_string(), "not creditlimit le 1000.50");
}

// -------------------------------------------------------------------------------------------
// parse → print → parse
// -------------------------------------------------------------------------------------------

const RESERVED: [&str; 22] = [
    "and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "add", "sub", "mul", "div", "mod",
    "in", "null", "true", "false", "any", "all", "INF", "NaN",
];

fn ident() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,6}".prop_filter("not a keyword", |s| !RESERVED.contains(&s.as_str()))
}

fn literal() -> impl Strategy<Value = Literal> {
    let offset = (-23i32 * 60..=23 * 60).prop_map(|m| FixedOffset::east_opt(m * 60).unwrap());
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        any::<i64>().prop_map(Literal::Int),
        (any::<i64>(), 0u32..=12).prop_map(|(m, s)| Literal::Decimal(Decimal::new(m, s))),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Literal::Double),
        any::<String>().prop_map(Literal::String),
        any::<u128>().prop_map(|u| Literal::Guid(Uuid::from_u128(u))),
        (1000i32..=9999, 1u32..=12, 1u32..=28)
            .prop_map(|(y, m, d)| Literal::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap())),
        (-30_000_000_000i64..200_000_000_000, 0u32..1_000_000, offset).prop_map(
            |(secs, micros, off)| {
                let utc = DateTime::from_timestamp(secs, micros * 1000).unwrap();
                Literal::DateTimeOffset(utc.with_timezone(&off))
            }
        ),
        (ident(), ident(), any::<String>())
            .prop_map(|(a, b, value)| Literal::Enum { type_name: format!("{a}.{b}"), value }),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        literal().prop_map(Expr::Literal),
        prop::collection::vec(ident(), 1..4).prop_map(Expr::Path),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        let ops = prop::sample::select(vec![
            BinaryOp::Or,
            BinaryOp::And,
            BinaryOp::Eq,
            BinaryOp::Ne,
            BinaryOp::Gt,
            BinaryOp::Ge,
            BinaryOp::Lt,
            BinaryOp::Le,
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Mod,
        ]);
        let function = prop::sample::select(Function::ALL.to_vec());
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            inner.clone().prop_map(|e| Expr::Negate(Box::new(e))),
            (ops, inner.clone(), inner.clone()).prop_map(|(op, l, r)| Expr::Binary {
                op,
                left: Box::new(l),
                right: Box::new(r)
            }),
            (inner.clone(), prop::collection::vec(inner.clone(), 1..4))
                .prop_map(|(v, list)| Expr::In { value: Box::new(v), list }),
            (function, prop::collection::vec(inner.clone(), 3)).prop_map(|(function, mut args)| {
                let (_, max) = function.arity();
                args.truncate(max);
                Expr::Call { function, args }
            }),
            (prop::collection::vec(ident(), 1..3), any::<bool>(), ident(), inner.clone()).prop_map(
                |(collection, all, var, body)| Expr::Lambda {
                    collection,
                    kind: if all { LambdaKind::All } else { LambdaKind::Any },
                    predicate: Some((var, Box::new(body))),
                }
            ),
            prop::collection::vec(ident(), 1..3).prop_map(|collection| Expr::Lambda {
                collection,
                kind: LambdaKind::Any,
                predicate: None
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn printing_a_tree_and_parsing_it_again_gives_the_same_tree(e in expr()) {
        let text = e.to_string();
        let back = parse(&text).map_err(|err| TestCaseError::fail(format!("{text:?}: {err}")))?;
        prop_assert_eq!(back, e, "printed as {:?}", text);
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn parsing_filter_like_text_never_panics(
        text in "[a-z0-9 ()',/:.eqandortin-]{0,60}"
    ) {
        if let Ok(e) = parse(&text) {
            let again = parse(&e.to_string());
            prop_assert_eq!(again.as_ref().ok(), Some(&e));
        }
    }
}

#[test]
fn a_request_filter_refuses_a_division_by_a_zero_literal_where_the_parser_alone_takes_it() {
    assert!(parse("a div 0 eq 1").is_ok());
    let e = parse_request("a div 0 eq 1").unwrap_err();
    assert_eq!(e.position, 6);
    assert!(e.message.contains("division by zero"), "{e}");
    assert_eq!(parse_request("a mod 0e0 eq 1").unwrap_err().position, 6);
    assert!(parse_request("a div b eq 1").is_ok());
    assert!(parse_request("a div 0.5 eq 1").is_ok());
}

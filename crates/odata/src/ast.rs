//! The typed `$filter` AST and its printer.
//!
//! [`crate::filter::parse`] builds an [`Expr`]; [`Expr`]'s `Display` prints it back as filter text
//! that parses to the same tree (the parse → print → parse property test holds this).
//!
//! Printing keeps the tree's shape. The parser builds `a or b or c …` as a balanced tree; the
//! printer writes an `and`/`or` tree as the longest chain the parser would build it from and puts
//! operands of the same operator in parentheses, so `a and (b and c)` stays what it is. Printed
//! text never nests deeper than the text it was parsed from, so it parses again within the depth
//! limit.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat};
use rust_decimal::Decimal;
use uuid::Uuid;

/// A `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    /// A member path: `name`, `primarycontactid/fullname`, or `c/jobtitle` inside a lambda whose
    /// variable is `c`.
    Path(Vec<String>),
    /// `not e`
    Not(Box<Expr>),
    /// `-e` (a minus directly before a number is part of the number literal instead).
    Negate(Box<Expr>),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `e in (v1, v2, …)`
    In {
        value: Box<Expr>,
        list: Vec<Expr>,
    },
    Call {
        function: Function,
        args: Vec<Expr>,
    },
    /// `collection/any(v: predicate)`, `collection/all(v: predicate)` or `collection/any()`.
    Lambda {
        collection: Vec<String>,
        kind: LambdaKind,
        predicate: Option<(String, Box<Expr>)>,
    },
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    /// A number with a decimal point (or an integer too large for `Int`); its scale is kept.
    Decimal(Decimal),
    /// A number with an exponent (`1.5e3`), `INF`, `-INF` or `NaN`.
    Double(f64),
    String(String),
    Guid(Uuid),
    Date(NaiveDate),
    DateTimeOffset(DateTime<FixedOffset>),
    /// `Namespace.Type'Value'`
    Enum {
        type_name: String,
        value: String,
    },
}

/// Binary operators, lowest precedence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinaryOp {
    /// The OData keyword (`eq`, `and`, …).
    pub fn keyword(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Mod => "mod",
        }
    }

    /// Parses a keyword back.
    pub fn from_keyword(word: &str) -> Option<BinaryOp> {
        Some(match word {
            "or" => BinaryOp::Or,
            "and" => BinaryOp::And,
            "eq" => BinaryOp::Eq,
            "ne" => BinaryOp::Ne,
            "gt" => BinaryOp::Gt,
            "ge" => BinaryOp::Ge,
            "lt" => BinaryOp::Lt,
            "le" => BinaryOp::Le,
            "add" => BinaryOp::Add,
            "sub" => BinaryOp::Sub,
            "mul" => BinaryOp::Mul,
            "div" => BinaryOp::Div,
            "mod" => BinaryOp::Mod,
            _ => return None,
        })
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Le
        )
    }

    pub fn is_logical(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or)
    }

    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod
        )
    }

    /// Binding strength: or 1, and 2, comparisons 4, add/sub 5, mul/div/mod 6.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::Lt
            | BinaryOp::Le => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 6,
        }
    }
}

/// `any` or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LambdaKind {
    Any,
    All,
}

impl LambdaKind {
    pub fn keyword(self) -> &'static str {
        match self {
            LambdaKind::Any => "any",
            LambdaKind::All => "all",
        }
    }
}

/// The built-in functions the parser knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Contains,
    StartsWith,
    EndsWith,
    ToLower,
    ToUpper,
    Length,
    Trim,
    Concat,
    IndexOf,
    Substring,
    Year,
    Month,
    Day,
}

impl Function {
    pub const ALL: [Function; 13] = [
        Function::Contains,
        Function::StartsWith,
        Function::EndsWith,
        Function::ToLower,
        Function::ToUpper,
        Function::Length,
        Function::Trim,
        Function::Concat,
        Function::IndexOf,
        Function::Substring,
        Function::Year,
        Function::Month,
        Function::Day,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Function::Contains => "contains",
            Function::StartsWith => "startswith",
            Function::EndsWith => "endswith",
            Function::ToLower => "tolower",
            Function::ToUpper => "toupper",
            Function::Length => "length",
            Function::Trim => "trim",
            Function::Concat => "concat",
            Function::IndexOf => "indexof",
            Function::Substring => "substring",
            Function::Year => "year",
            Function::Month => "month",
            Function::Day => "day",
        }
    }

    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Allowed argument counts (min, max).
    pub fn arity(self) -> (usize, usize) {
        match self {
            Function::Contains
            | Function::StartsWith
            | Function::EndsWith
            | Function::Concat
            | Function::IndexOf => (2, 2),
            Function::Substring => (2, 3),
            Function::ToLower
            | Function::ToUpper
            | Function::Length
            | Function::Trim
            | Function::Year
            | Function::Month
            | Function::Day => (1, 1),
        }
    }
}

/// Precedence of a printed node: how tightly it binds.
fn node_precedence(e: &Expr) -> u8 {
    match e {
        Expr::Binary { op, .. } => op.precedence(),
        Expr::Not(_) => 3,
        Expr::In { .. } => 4,
        Expr::Negate(_) => 7,
        Expr::Literal(_) | Expr::Path(_) | Expr::Call { .. } | Expr::Lambda { .. } => 8,
    }
}

fn write_wrapped(f: &mut fmt::Formatter<'_>, e: &Expr, parens: bool) -> fmt::Result {
    if parens { write!(f, "({e})") } else { write!(f, "{e}") }
}

/// The most operands `k` such that `e` is what the parser builds for `o1 op o2 op … ok`: a
/// balanced tree with the first half (rounded up) on the left. Any node can be one operand and
/// the set of fitting `k` is downward closed, so `k = min(2·left, 2·right + 1)`.
fn max_chain(e: &Expr, op: BinaryOp) -> usize {
    match e {
        Expr::Binary { op: o, left, right } if *o == op => {
            (2 * max_chain(left, op)).min(2 * max_chain(right, op) + 1)
        }
        _ => 1,
    }
}

/// The `k` operands of the balanced `op` chain at the top of `e`, left to right.
fn chain_operands<'a>(e: &'a Expr, op: BinaryOp, k: usize, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::Binary { op: o, left, right } if *o == op && k > 1 => {
            let l = k.div_ceil(2);
            chain_operands(left, op, l, out);
            chain_operands(right, op, k - l, out);
        }
        _ => out.push(e),
    }
}

fn is_number(e: &Expr) -> bool {
    matches!(e, Expr::Literal(Literal::Int(_) | Literal::Decimal(_) | Literal::Double(_)))
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(l) => write!(f, "{l}"),
            Expr::Path(segments) => write!(f, "{}", segments.join("/")),
            Expr::Not(inner) => {
                f.write_str("not ")?;
                write_wrapped(f, inner, node_precedence(inner) < 3)
            }
            Expr::Negate(inner) if is_number(inner) => write!(f, "- {inner}"),
            Expr::Negate(inner) => {
                f.write_str("-")?;
                write_wrapped(f, inner, node_precedence(inner) < 7)
            }
            Expr::Binary { op, .. } if op.is_logical() => {
                // Print the chain as the most operands the parser would build this tree from.
                let mut operands = Vec::new();
                chain_operands(self, *op, max_chain(self, *op), &mut operands);
                for (i, operand) in operands.iter().enumerate() {
                    if i > 0 {
                        write!(f, " {} ", op.keyword())?;
                    }
                    let same = matches!(operand, Expr::Binary { op: o, .. } if o == op);
                    write_wrapped(f, operand, same || node_precedence(operand) < op.precedence())?;
                }
                Ok(())
            }
            Expr::Binary { op, left, right } => {
                let p = op.precedence();
                let (lp, rp) = (node_precedence(left), node_precedence(right));
                // Comparisons do not chain; arithmetic is left-associative.
                let (left_parens, right_parens) =
                    if op.is_comparison() { (lp <= p, rp <= p) } else { (lp < p, rp <= p) };
                write_wrapped(f, left, left_parens)?;
                write!(f, " {} ", op.keyword())?;
                write_wrapped(f, right, right_parens)
            }
            Expr::In { value, list } => {
                write_wrapped(f, value, node_precedence(value) <= 4)?;
                f.write_str(" in (")?;
                for (i, item) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str(")")
            }
            Expr::Call { function, args } => {
                write!(f, "{}(", function.name())?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
            Expr::Lambda { collection, kind, predicate } => {
                write!(f, "{}/{}(", collection.join("/"), kind.keyword())?;
                if let Some((variable, body)) = predicate {
                    write!(f, "{variable}:{body}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Decimal(d) => {
                // An integral decimal that fits an i64 would read back as an Int: keep a point.
                if d.scale() == 0 && i64::try_from(*d).is_ok() {
                    write!(f, "{d}.0")
                } else {
                    write!(f, "{d}")
                }
            }
            Literal::Double(d) => {
                if d.is_nan() {
                    f.write_str("NaN")
                } else if d.is_infinite() {
                    f.write_str(if *d > 0.0 { "INF" } else { "-INF" })
                } else {
                    write!(f, "{d:e}")
                }
            }
            Literal::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Literal::Guid(g) => write!(f, "{}", g.hyphenated()),
            Literal::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Literal::DateTimeOffset(dt) => {
                write!(f, "{}", dt.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            }
            Literal::Enum { type_name, value } => {
                write!(f, "{type_name}'{}'", value.replace('\'', "''"))
            }
        }
    }
}

//! Table filters: a subset of OData `$filter` (comparisons, `and`/`or`/`not`, parentheses,
//! `contains`/`startswith`/`endswith`, string/number/boolean/null/GUID literals) evaluated on rows
//! in memory. Change-tracked reads accept no `$filter` (Dataverse forbids it), so the engine
//! filters each row it reads; nothing here ever reaches SQL.

use std::cmp::Ordering;

use serde_json::Value;

use crate::connector::Record;
use crate::error::SyncError;
use crate::value;

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
    Field(String),
    Lit(Value),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    LParen,
    RParen,
    Comma,
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, SyncError> {
    let b: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push((i, Tok::LParen));
            i += 1;
        } else if c == ')' {
            out.push((i, Tok::RParen));
            i += 1;
        } else if c == ',' {
            out.push((i, Tok::Comma));
            i += 1;
        } else if c == '\'' {
            let start = i;
            i += 1;
            let mut s = String::new();
            loop {
                if i >= b.len() {
                    return Err(SyncError::InvalidFilter {
                        position: start,
                        message: "unterminated string".into(),
                    });
                }
                if b[i] == '\'' {
                    if i + 1 < b.len() && b[i + 1] == '\'' {
                        s.push('\'');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                s.push(b[i]);
                i += 1;
            }
            out.push((start, Tok::Str(s)));
        } else if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || matches!(b[i], '_' | '-' | '.' | '/'))
            {
                i += 1;
            }
            let word: String = b[start..i].iter().collect();
            let first = word.chars().next().unwrap_or('a');
            if (first.is_ascii_digit() || first == '-') && uuid::Uuid::parse_str(&word).is_err() {
                let n: f64 = word.parse().map_err(|_| SyncError::InvalidFilter {
                    position: start,
                    message: format!("'{word}' is not a number"),
                })?;
                out.push((start, Tok::Num(n)));
            } else {
                out.push((start, Tok::Ident(word)));
            }
        } else {
            return Err(SyncError::InvalidFilter {
                position: i,
                message: format!("unexpected character '{c}'"),
            });
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.1)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map(|t| t.0).unwrap_or(self.len)
    }
    fn err<T>(&self, message: impl Into<String>) -> Result<T, SyncError> {
        Err(SyncError::InvalidFilter { position: self.at(), message: message.into() })
    }
    fn keyword(&mut self, kw: &str) -> bool {
        if let Some(Tok::Ident(w)) = self.peek()
            && w == kw
        {
            self.pos += 1;
            return true;
        }
        false
    }
    fn or(&mut self) -> Result<Expr, SyncError> {
        let mut lhs = self.and()?;
        while self.keyword("or") {
            let rhs = self.and()?;
            lhs = Expr::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }
    fn and(&mut self) -> Result<Expr, SyncError> {
        let mut lhs = self.not()?;
        while self.keyword("and") {
            let rhs = self.not()?;
            lhs = Expr::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }
    fn not(&mut self) -> Result<Expr, SyncError> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.cmp()
    }
    fn cmp(&mut self) -> Result<Expr, SyncError> {
        let lhs = self.primary()?;
        let op = match self.peek() {
            Some(Tok::Ident(w)) => match w.as_str() {
                "eq" => Some(CmpOp::Eq),
                "ne" => Some(CmpOp::Ne),
                "gt" => Some(CmpOp::Gt),
                "ge" => Some(CmpOp::Ge),
                "lt" => Some(CmpOp::Lt),
                "le" => Some(CmpOp::Le),
                _ => None,
            },
            _ => None,
        };
        match op {
            Some(op) => {
                self.pos += 1;
                let rhs = self.primary()?;
                Ok(Expr::Cmp(op, Box::new(lhs), Box::new(rhs)))
            }
            None => Ok(lhs),
        }
    }
    fn primary(&mut self) -> Result<Expr, SyncError> {
        let Some(tok) = self.peek().cloned() else {
            return self.err("the filter ends too early");
        };
        self.pos += 1;
        match tok {
            Tok::LParen => {
                let e = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return self.err("expected ')'");
                }
                self.pos += 1;
                Ok(e)
            }
            Tok::Str(s) => Ok(Expr::Lit(Value::String(s))),
            Tok::Num(n) => Ok(Expr::Lit(
                serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null),
            )),
            Tok::Ident(w) => match w.as_str() {
                "true" => Ok(Expr::Lit(Value::Bool(true))),
                "false" => Ok(Expr::Lit(Value::Bool(false))),
                "null" => Ok(Expr::Lit(Value::Null)),
                _ if uuid::Uuid::parse_str(&w).is_ok() => {
                    Ok(Expr::Lit(Value::String(w.to_ascii_lowercase())))
                }
                "contains" | "startswith" | "endswith" => {
                    if self.peek() != Some(&Tok::LParen) {
                        return self.err(format!("expected '(' after {w}"));
                    }
                    self.pos += 1;
                    let a = self.or()?;
                    if self.peek() != Some(&Tok::Comma) {
                        return self.err("expected ','");
                    }
                    self.pos += 1;
                    let b = self.or()?;
                    if self.peek() != Some(&Tok::RParen) {
                        return self.err("expected ')'");
                    }
                    self.pos += 1;
                    Ok(Expr::Call(w, vec![a, b]))
                }
                _ if w.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') => {
                    Ok(Expr::Field(w))
                }
                _ => {
                    self.pos -= 1;
                    self.err(format!("unexpected '{w}'"))
                }
            },
            Tok::RParen | Tok::Comma => {
                self.pos -= 1;
                self.err("expected a value")
            }
        }
    }
}

impl Filter {
    /// Parses filter text; errors carry the position.
    pub fn parse(text: &str) -> Result<Filter, SyncError> {
        let toks = lex(text)?;
        let mut p = Parser { toks, pos: 0, len: text.len() };
        let expr = p.or()?;
        if p.pos != p.toks.len() {
            return p.err("unexpected text after the end of the filter");
        }
        Ok(Filter { expr })
    }

    /// Whether the row passes.
    pub fn matches(&self, row: &Record) -> bool {
        truthy(&eval(&self.expr, row))
    }

    /// The fields the filter reads, each once, in order of appearance.
    pub fn fields(&self) -> Vec<String> {
        fn walk(e: &Expr, out: &mut Vec<String>) {
            match e {
                Expr::Or(a, b) | Expr::And(a, b) | Expr::Cmp(_, a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Expr::Not(a) => walk(a, out),
                Expr::Call(_, args) => args.iter().for_each(|a| walk(a, out)),
                Expr::Field(f) if !out.contains(f) => out.push(f.clone()),
                Expr::Field(_) | Expr::Lit(_) => {}
            }
        }
        let mut out = Vec::new();
        walk(&self.expr, &mut out);
        out
    }
}

/// Whether `row` passes the optional filter text (an unparsable filter matches nothing).
pub fn matches(filter: Option<&Filter>, row: &Record) -> bool {
    filter.is_none_or(|f| f.matches(row))
}

fn truthy(v: &Value) -> bool {
    v.as_bool().unwrap_or(false)
}

fn eval(e: &Expr, row: &Record) -> Value {
    match e {
        Expr::Or(a, b) => Value::Bool(truthy(&eval(a, row)) || truthy(&eval(b, row))),
        Expr::And(a, b) => Value::Bool(truthy(&eval(a, row)) && truthy(&eval(b, row))),
        Expr::Not(a) => Value::Bool(!truthy(&eval(a, row))),
        Expr::Field(name) => row.get(name).cloned().unwrap_or(Value::Null),
        Expr::Lit(v) => v.clone(),
        Expr::Call(name, args) => {
            let a = eval(&args[0], row);
            let b = eval(&args[1], row);
            let (Some(a), Some(b)) = (a.as_str(), b.as_str()) else {
                return Value::Bool(false);
            };
            let (a, b) = (a.to_lowercase(), b.to_lowercase());
            Value::Bool(match name.as_str() {
                "contains" => a.contains(&b),
                "startswith" => a.starts_with(&b),
                _ => a.ends_with(&b),
            })
        }
        Expr::Cmp(op, a, b) => {
            let a = eval(a, row);
            let b = eval(b, row);
            let r = match op {
                CmpOp::Eq => value::same(&a, &b),
                CmpOp::Ne => !value::same(&a, &b),
                _ => match value::order(&a, &b) {
                    None => false,
                    Some(o) => match op {
                        CmpOp::Gt => o == Ordering::Greater,
                        CmpOp::Ge => o != Ordering::Less,
                        CmpOp::Lt => o == Ordering::Less,
                        _ => o != Ordering::Greater,
                    },
                },
            };
            Value::Bool(r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_filter_lists_the_fields_it_reads_once_each() {
        let f = Filter::parse(
            "statecode eq 0 and (contains(name, 'a') or not (statecode ne 1)) and _x_value ne null",
        )
        .unwrap();
        assert_eq!(f.fields(), ["statecode", "name", "_x_value"]);
    }

    fn check(filter: &str, row: Value) -> bool {
        Filter::parse(filter).unwrap().matches(row.as_object().unwrap())
    }

    #[test]
    fn comparisons_and_logic_evaluate_on_a_row() {
        let row =
            json!({"statecode": 0, "customertypecode": 3, "name": "Contoso", "blocked": false});
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
        assert!(check("_ownerid_value eq abcdef00-0000-0000-0000-000000000001", row));
    }

    #[test]
    fn a_bad_filter_names_the_position() {
        let err = Filter::parse("statecode eq 0 and (name eq 'x'").unwrap_err();
        assert_eq!(err.to_string(), "invalid filter at position 31: expected ')'");
        let err = Filter::parse("name eq 'x").unwrap_err();
        assert_eq!(err.to_string(), "invalid filter at position 8: unterminated string");
    }
}

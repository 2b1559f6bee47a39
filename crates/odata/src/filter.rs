//! The `$filter` parser: a winnow lexer and a recursive-descent parser with a depth limit.
//!
//! [`parse`] turns filter text (already percent-decoded) into an [`Expr`]. Precedence, loosest
//! first: `or`, `and`, `not`, comparisons (`eq ne gt ge lt le in`), `add sub`, `mul div mod`,
//! unary minus. `not` applies to a comparison: `not a eq 1` is `not (a eq 1)`.
//!
//! Errors carry the byte position and say what was expected ("expected a value after 'eq' at
//! position 14"). The parser never panics and never recurses deeper than [`MAX_DEPTH`]: nesting
//! (parentheses, `not`, minus, function calls, lambdas) and chains of arithmetic operators count
//! towards it, and each navigation step (which becomes a SQL sub-query) counts [`SUBQUERY_COST`]. Chains of `and`/`or` are built as balanced trees, so a long list of `or`s stays
//! shallow.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;
use winnow::Parser;
use winnow::combinator::{alt, opt, preceded};
use winnow::error::ContextError;
use winnow::token::{one_of, take_while};

use crate::ast::{BinaryOp, Expr, Function, LambdaKind, Literal};
use crate::error::ParseError;

/// How deeply expressions may nest before the parser gives up with an error.
pub const MAX_DEPTH: usize = 100;

/// What one step through a navigation property (a `/` in a path, or a lambda) adds to the depth:
/// each becomes a nested SQL sub-query, which costs far more stack to lower and render than an
/// operator does. So at most `MAX_DEPTH / SUBQUERY_COST` sub-queries nest.
pub const SUBQUERY_COST: usize = 5;

/// Longest filter text accepted, in bytes.
pub const MAX_LENGTH: usize = 1 << 20;

/// Parses `$filter` text into an expression tree.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    parse_with_divisors(text).map(|(expr, _)| expr)
}

/// Parses a request's `$filter`: like [`parse`], and also refuses a `div` or `mod` by a zero
/// literal (`creditLimit div 0`), naming the divisor's position; a division by zero cannot be
/// answered (PostgreSQL fails the statement, SQLite gives null).
pub fn parse_request(text: &str) -> Result<Expr, ParseError> {
    let (expr, zero_divisors) = parse_with_divisors(text)?;
    match zero_divisors.first() {
        Some(&(position, op)) => Err(ParseError::new(
            position,
            format!("division by zero: the right operand of '{}' is 0", op.keyword()),
        )),
        None => Ok(expr),
    }
}

/// The tree, and where a `div`/`mod` has a zero literal as its right operand.
fn parse_with_divisors(text: &str) -> Result<(Expr, Vec<(usize, BinaryOp)>), ParseError> {
    if text.len() > MAX_LENGTH {
        return Err(ParseError::new(
            MAX_LENGTH,
            format!("the filter is longer than {MAX_LENGTH} bytes"),
        ));
    }
    let tokens = lex(text)?;
    let mut parser = Parser_ { tokens, pos: 0, len: text.len(), zero_divisors: Vec::new() };
    if parser.peek().kind == Tok::Eof {
        return Err(ParseError::new(0, "the filter is empty"));
    }
    let expr = parser.or_expr(0)?;
    let next = parser.peek();
    if next.kind != Tok::Eof {
        return Err(ParseError::new(
            next.start,
            format!(
                "unexpected {}; expected 'and', 'or' or the end of the filter",
                next.kind.describe()
            ),
        ));
    }
    Ok((expr, parser.zero_divisors))
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An identifier; dots allowed (`Namespace.Type`).
    Ident(String),
    Str(String),
    /// A number's text without sign.
    Number(String),
    Guid(Uuid),
    Date(NaiveDate),
    DateTime(DateTime<FixedOffset>),
    Enum(String, String),
    LParen,
    RParen,
    Comma,
    Slash,
    Colon,
    Minus,
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Str(s) => format!("the string '{}'", s.replace('\'', "''")),
            Tok::Number(n) => format!("'{n}'"),
            Tok::Guid(g) => format!("'{g}'"),
            Tok::Date(d) => format!("'{d}'"),
            Tok::DateTime(d) => format!("'{}'", d.to_rfc3339()),
            Tok::Enum(t, v) => format!("{t}'{}'", v.replace('\'', "''")),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Slash => "'/'".into(),
            Tok::Colon => "':'".into(),
            Tok::Minus => "'-'".into(),
            Tok::Eof => "the end of the filter".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    kind: Tok,
    start: usize,
    end: usize,
}

type PResult<O> = Result<O, ContextError>;

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn hex_run<'i>(n: usize) -> impl Parser<&'i str, &'i str, ContextError> {
    take_while(n..=n, |c: char| c.is_ascii_hexdigit())
}

fn digits<'i>(n: usize) -> impl Parser<&'i str, &'i str, ContextError> {
    take_while(n..=n, |c: char| c.is_ascii_digit())
}

/// `8-4-4-4-12` hex digits, not followed by an identifier character.
fn guid(input: &mut &str) -> PResult<Uuid> {
    let text = (hex_run(8), '-', hex_run(4), '-', hex_run(4), '-', hex_run(4), '-', hex_run(12))
        .take()
        .parse_next(input)?;
    if input.starts_with(is_ident_char) {
        return Err(ContextError::new());
    }
    Uuid::parse_str(text).map_err(|_| ContextError::new())
}

fn date(input: &mut &str) -> PResult<NaiveDate> {
    let text = (digits(4), '-', digits(2), '-', digits(2)).take().parse_next(input)?;
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| ContextError::new())
}

/// `Z`, `+hh:mm` or `-hh:mm`. A space stands for `+`: an unencoded `+` in a URL reads as a space.
fn offset(input: &mut &str) -> PResult<FixedOffset> {
    alt((
        one_of(['Z', 'z']).map(|_| FixedOffset::east_opt(0)),
        (one_of(['+', '-', ' ']), digits(2), ':', digits(2)).map(
            |(sign, h, _, m): (char, &str, char, &str)| {
                let h: i32 = h.parse().ok()?;
                let m: i32 = m.parse().ok()?;
                if h > 23 || m > 59 {
                    return None;
                }
                let secs = (h * 3600 + m * 60) * if sign == '-' { -1 } else { 1 };
                FixedOffset::east_opt(secs)
            },
        ),
    ))
    .parse_next(input)?
    .ok_or_else(ContextError::new)
}

fn date_time(input: &mut &str) -> PResult<DateTime<FixedOffset>> {
    let day = date.parse_next(input)?;
    let time_text = preceded(
        one_of(['T', 't']),
        (
            digits(2),
            ':',
            digits(2),
            opt((':', digits(2), opt(('.', take_while(1..=12, |c: char| c.is_ascii_digit()))))),
        )
            .take(),
    )
    .parse_next(input)?;
    let time = NaiveTime::parse_from_str(time_text, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(time_text, "%H:%M"))
        .map_err(|_| ContextError::new())?;
    let offset = opt(offset).parse_next(input)?.unwrap_or(Utc.fix());
    offset
        .from_local_datetime(&NaiveDateTime::new(day, time))
        .single()
        .ok_or_else(ContextError::new)
}

/// Digits with an optional fraction and exponent (no sign: a minus is its own token).
fn number<'i>(input: &mut &'i str) -> PResult<&'i str> {
    let text = (
        take_while(1.., |c: char| c.is_ascii_digit()),
        opt(('.', take_while(1.., |c: char| c.is_ascii_digit()))),
        opt((
            one_of(['e', 'E']),
            opt(one_of(['+', '-'])),
            take_while(1.., |c: char| c.is_ascii_digit()),
        )),
    )
        .take()
        .parse_next(input)?;
    if input.starts_with(is_ident_char) {
        return Err(ContextError::new());
    }
    Ok(text)
}

fn ident<'i>(input: &mut &'i str) -> PResult<&'i str> {
    (
        one_of(is_ident_start),
        take_while(0.., is_ident_char),
        winnow::combinator::repeat::<_, _, (), _, _>(
            0..,
            ('.', one_of(is_ident_start), take_while(0.., is_ident_char)),
        ),
    )
        .take()
        .parse_next(input)
}

/// A quoted string with `''` for a quote. `Ok(None)` when the closing quote is missing.
fn string_body(input: &mut &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = input.char_indices();
    chars.next(); // opening quote
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if input[i + 1..].starts_with('\'') {
                chars.next();
                out.push('\'');
            } else {
                *input = &input[i + 1..];
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut input = text;
    loop {
        input = input.trim_start();
        let start = text.len() - input.len();
        let Some(first) = input.chars().next() else {
            tokens.push(Token { kind: Tok::Eof, start, end: start });
            return Ok(tokens);
        };
        let kind = match first {
            '(' => {
                input = &input[1..];
                Tok::LParen
            }
            ')' => {
                input = &input[1..];
                Tok::RParen
            }
            ',' => {
                input = &input[1..];
                Tok::Comma
            }
            '/' => {
                input = &input[1..];
                Tok::Slash
            }
            ':' => {
                input = &input[1..];
                Tok::Colon
            }
            '-' => {
                input = &input[1..];
                Tok::Minus
            }
            '\'' => match string_body(&mut input) {
                Some(s) => Tok::Str(s),
                None => {
                    return Err(ParseError::new(
                        start,
                        "the string starting here is not closed with a quote (')",
                    ));
                }
            },
            c if c.is_ascii_hexdigit() || is_ident_start(c) => {
                let before = input;
                let guid = guid.parse_next(&mut input);
                if guid.is_err() {
                    input = before;
                }
                if let Ok(g) = guid {
                    Tok::Guid(g)
                } else if c.is_ascii_digit() {
                    lex_digits(&mut input, start)?
                } else {
                    let name = ident.parse_next(&mut input).map_err(|_| {
                        ParseError::new(start, format!("unexpected character '{c}'"))
                    })?;
                    if input.starts_with('\'') {
                        let Some(value) = string_body(&mut input) else {
                            return Err(ParseError::new(
                                start + name.len(),
                                "the string starting here is not closed with a quote (')",
                            ));
                        };
                        if !name.contains('.') {
                            return Err(ParseError::new(
                                start,
                                format!(
                                    "literals of the form {name}'…' are not supported; an enum value is written Namespace.Type'Value'"
                                ),
                            ));
                        }
                        Tok::Enum(name.to_owned(), value)
                    } else {
                        Tok::Ident(name.to_owned())
                    }
                }
            }
            c => {
                return Err(ParseError::new(start, format!("unexpected character '{c}'")));
            }
        };
        let end = text.len() - input.len();
        tokens.push(Token { kind, start, end });
    }
}

/// A token starting with a digit: date-time, date or number.
fn lex_digits(input: &mut &str, start: usize) -> Result<Tok, ParseError> {
    let before = *input;
    if let Ok(dt) = date_time.parse_next(input)
        && !input.starts_with(is_ident_char)
    {
        return Ok(Tok::DateTime(dt));
    }
    *input = before;
    if let Ok(d) = date.parse_next(input)
        && !input.starts_with(|c: char| is_ident_char(c) || c == ':')
    {
        return Ok(Tok::Date(d));
    }
    *input = before;
    if (digits(4), '-', digits(2), '-', digits(2)).parse_next(input).is_ok() {
        return Err(ParseError::new(
            start,
            "this looks like a date or date-time but is not a valid one (expected 2026-01-31 or 2026-01-31T10:00:00Z)",
        ));
    }
    *input = before;
    match number.parse_next(input) {
        Ok(n) if n.len() > 40 => Err(ParseError::new(start, "this number has too many digits")),
        Ok(n) => Ok(Tok::Number(n.to_owned())),
        Err(_) => Err(ParseError::new(start, "this is not a valid number")),
    }
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

struct Parser_ {
    tokens: Vec<Token>,
    pos: usize,
    len: usize,
    /// Positions of zero literals divided by (see [`parse_request`]).
    zero_divisors: Vec<(usize, BinaryOp)>,
}

const EOF_TOKEN: Token = Token { kind: Tok::Eof, start: 0, end: 0 };

impl Parser_ {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&EOF_TOKEN)
    }

    fn peek_at(&self, n: usize) -> &Token {
        self.tokens.get(self.pos + n).unwrap_or(&EOF_TOKEN)
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn position(&self) -> usize {
        match self.peek().kind {
            Tok::Eof => self.len,
            _ => self.peek().start,
        }
    }

    /// Fails when `depth` exceeds [`MAX_DEPTH`]; `at` is the position of the nesting token.
    fn check_depth(&self, depth: usize, at: usize) -> Result<(), ParseError> {
        if depth > MAX_DEPTH {
            Err(ParseError::new(at, format!("the filter nests more than {MAX_DEPTH} levels deep")))
        } else {
            Ok(())
        }
    }

    fn keyword(&self) -> Option<&str> {
        match &self.peek().kind {
            Tok::Ident(s) => Some(s.as_str()),
            _ => None,
        }
    }

    fn binary_op(&self, allowed: &[BinaryOp]) -> Option<BinaryOp> {
        let op = BinaryOp::from_keyword(self.keyword()?)?;
        allowed.contains(&op).then_some(op)
    }

    /// Whether the next token can begin an operand.
    fn starts_operand(&self) -> bool {
        match &self.peek().kind {
            Tok::Ident(s) => BinaryOp::from_keyword(s).is_none() && s != "in",
            Tok::Str(_)
            | Tok::Number(_)
            | Tok::Guid(_)
            | Tok::Date(_)
            | Tok::DateTime(_)
            | Tok::Enum(..)
            | Tok::LParen
            | Tok::Minus => true,
            Tok::RParen | Tok::Comma | Tok::Slash | Tok::Colon | Tok::Eof => false,
        }
    }

    fn expect_operand_after(&self, what: &str) -> Result<(), ParseError> {
        if self.starts_operand() {
            Ok(())
        } else {
            let message = match &self.peek().kind {
                Tok::Eof => format!("expected a value after '{what}'"),
                other => format!("expected a value after '{what}', found {}", other.describe()),
            };
            Err(ParseError::new(self.position(), message))
        }
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr, ParseError> {
        self.chain(depth, BinaryOp::Or)
    }

    /// `operand (op operand)*` for `and`/`or`, built as a balanced tree.
    fn chain(&mut self, depth: usize, op: BinaryOp) -> Result<Expr, ParseError> {
        let mut operands = vec![self.chain_operand(depth, op)?];
        while self.binary_op(&[op]).is_some() {
            self.next();
            self.expect_operand_after(op.keyword())?;
            operands.push(self.chain_operand(depth, op)?);
        }
        Ok(balanced(op, operands))
    }

    fn chain_operand(&mut self, depth: usize, op: BinaryOp) -> Result<Expr, ParseError> {
        match op {
            BinaryOp::Or => self.chain(depth, BinaryOp::And),
            _ => self.not_expr(depth),
        }
    }

    fn not_expr(&mut self, depth: usize) -> Result<Expr, ParseError> {
        if self.keyword() == Some("not") && !matches!(self.peek_at(1).kind, Tok::Slash) {
            let at = self.next().start;
            self.check_depth(depth + 1, at)?;
            self.expect_operand_after("not")?;
            let inner = self.not_expr(depth + 1)?;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.comparison(depth)
    }

    fn comparison(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let left = self.additive(depth)?;
        const CMP: [BinaryOp; 6] =
            [BinaryOp::Eq, BinaryOp::Ne, BinaryOp::Gt, BinaryOp::Ge, BinaryOp::Lt, BinaryOp::Le];
        if let Some(op) = self.binary_op(&CMP) {
            self.next();
            self.expect_operand_after(op.keyword())?;
            let right = self.additive(depth)?;
            return Ok(Expr::Binary { op, left: Box::new(left), right: Box::new(right) });
        }
        if self.keyword() == Some("in") {
            let in_pos = self.next().start;
            if self.peek().kind != Tok::LParen {
                return Err(ParseError::new(
                    self.position(),
                    "expected '(' and a list of values after 'in'",
                ));
            }
            let at = self.next().start;
            self.check_depth(depth + 1, at)?;
            let mut list = Vec::new();
            loop {
                self.expect_operand_after(if list.is_empty() { "in (" } else { "," })?;
                list.push(self.or_expr(depth + 1)?);
                match self.next() {
                    Token { kind: Tok::Comma, .. } => continue,
                    Token { kind: Tok::RParen, .. } => break,
                    t => {
                        return Err(ParseError::new(
                            if t.kind == Tok::Eof { self.len } else { t.start },
                            format!(
                                "expected ',' or ')' in the list after 'in' at position {in_pos}, found {}",
                                t.kind.describe()
                            ),
                        ));
                    }
                }
            }
            return Ok(Expr::In { value: Box::new(left), list });
        }
        Ok(left)
    }

    fn additive(&mut self, depth: usize) -> Result<Expr, ParseError> {
        self.arithmetic(depth, &[BinaryOp::Add, BinaryOp::Sub])
    }

    fn arithmetic(&mut self, depth: usize, ops: &[BinaryOp]) -> Result<Expr, ParseError> {
        let operand = |p: &mut Self, d: usize| {
            if ops[0] == BinaryOp::Add {
                p.arithmetic(d, &[BinaryOp::Mul, BinaryOp::Div, BinaryOp::Mod])
            } else {
                p.unary(d)
            }
        };
        let mut left = operand(self, depth)?;
        let mut chain = 0;
        while let Some(op) = self.binary_op(ops) {
            let at = self.next().start;
            chain += 1;
            self.check_depth(depth + chain, at)?;
            self.expect_operand_after(op.keyword())?;
            let right_at = self.position();
            let right = operand(self, depth + chain)?;
            if matches!(op, BinaryOp::Div | BinaryOp::Mod) && is_zero(&right) {
                self.zero_divisors.push((right_at, op));
            }
            left = Expr::Binary { op, left: Box::new(left), right: Box::new(right) };
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        if self.peek().kind == Tok::Minus {
            let minus = self.next();
            if let Token { kind: Tok::Number(n), start, .. } = self.peek().clone()
                && start == minus.end
            {
                self.next();
                return number_literal(&format!("-{n}"), minus.start).map(Expr::Literal);
            }
            if self.keyword() == Some("INF") {
                self.next();
                return Ok(Expr::Literal(Literal::Double(f64::NEG_INFINITY)));
            }
            self.check_depth(depth + 1, minus.start)?;
            self.expect_operand_after("-")?;
            let inner = self.unary(depth + 1)?;
            return Ok(Expr::Negate(Box::new(inner)));
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let token = self.next();
        match token.kind {
            Tok::LParen => {
                self.check_depth(depth + 1, token.start)?;
                self.expect_operand_after("(")?;
                let inner = self.or_expr(depth + 1)?;
                match self.peek().kind {
                    Tok::RParen => {
                        self.next();
                        Ok(inner)
                    }
                    _ => Err(ParseError::new(
                        self.position(),
                        format!(
                            "expected ')' to close the '(' at position {}, found {}",
                            token.start,
                            self.peek().kind.describe()
                        ),
                    )),
                }
            }
            Tok::Str(s) => Ok(Expr::Literal(Literal::String(s))),
            Tok::Number(n) => number_literal(&n, token.start).map(Expr::Literal),
            Tok::Guid(g) => Ok(Expr::Literal(Literal::Guid(g))),
            Tok::Date(d) => Ok(Expr::Literal(Literal::Date(d))),
            Tok::DateTime(d) => Ok(Expr::Literal(Literal::DateTimeOffset(d))),
            Tok::Enum(type_name, value) => Ok(Expr::Literal(Literal::Enum { type_name, value })),
            Tok::Ident(name) => self.identifier(name, token.start, depth),
            Tok::Eof => Err(ParseError::new(self.len, "expected a value")),
            other => Err(ParseError::new(
                token.start,
                format!("expected a value, found {}", other.describe()),
            )),
        }
    }

    fn identifier(&mut self, name: String, start: usize, depth: usize) -> Result<Expr, ParseError> {
        if self.peek().kind == Tok::LParen {
            let Some(function) = Function::from_name(&name) else {
                return Err(ParseError::new(start, format!("unknown function '{name}'")));
            };
            return self.call(function, start, depth);
        }
        match name.as_str() {
            "null" => return Ok(Expr::Literal(Literal::Null)),
            "true" => return Ok(Expr::Literal(Literal::Bool(true))),
            "false" => return Ok(Expr::Literal(Literal::Bool(false))),
            "INF" => return Ok(Expr::Literal(Literal::Double(f64::INFINITY))),
            "NaN" => return Ok(Expr::Literal(Literal::Double(f64::NAN))),
            _ => {}
        }
        if name.contains('.') {
            return Err(ParseError::new(
                start,
                format!("qualified names such as '{name}' are not supported here"),
            ));
        }
        if BinaryOp::from_keyword(&name).is_some() || name == "not" || name == "in" {
            return Err(ParseError::new(start, format!("expected a value, found '{name}'")));
        }
        let name_start = start;
        let mut segments = vec![name];
        while self.peek().kind == Tok::Slash {
            self.next();
            let seg = self.next();
            let Tok::Ident(seg_name) = seg.kind else {
                return Err(ParseError::new(
                    if seg.kind == Tok::Eof { self.len } else { seg.start },
                    format!("expected a property name after '/', found {}", seg.kind.describe()),
                ));
            };
            if BinaryOp::from_keyword(&seg_name).is_some() || seg_name == "not" || seg_name == "in"
            {
                return Err(ParseError::new(
                    seg.start,
                    format!("expected a property name after '/', found '{seg_name}'"),
                ));
            }
            if seg_name.contains('.') {
                return Err(ParseError::new(
                    seg.start,
                    format!("type casts such as '{seg_name}' are not supported"),
                ));
            }
            let kind = match seg_name.as_str() {
                "any" => Some(LambdaKind::Any),
                "all" => Some(LambdaKind::All),
                _ => None,
            };
            if let (Some(kind), Tok::LParen) = (kind, &self.peek().kind) {
                let cost = segments.len() * SUBQUERY_COST;
                self.check_depth(depth + cost, seg.start)?;
                return self.lambda(segments, kind, seg.start, depth + cost);
            }
            segments.push(seg_name);
            self.check_depth(depth + (segments.len() - 1) * SUBQUERY_COST, name_start)?;
        }
        Ok(Expr::Path(segments))
    }

    fn call(&mut self, function: Function, start: usize, depth: usize) -> Result<Expr, ParseError> {
        self.next(); // (
        self.check_depth(depth + 1, start)?;
        let mut args = Vec::new();
        if self.peek().kind == Tok::RParen {
            self.next();
        } else {
            loop {
                self.expect_operand_after(if args.is_empty() { "(" } else { "," })?;
                args.push(self.or_expr(depth + 1)?);
                let t = self.next();
                match t.kind {
                    Tok::Comma => continue,
                    Tok::RParen => break,
                    other => {
                        return Err(ParseError::new(
                            if other == Tok::Eof { self.len } else { t.start },
                            format!(
                                "expected ',' or ')' in the arguments of '{}', found {}",
                                function.name(),
                                other.describe()
                            ),
                        ));
                    }
                }
            }
        }
        let (min, max) = function.arity();
        if args.len() < min || args.len() > max {
            let expected = if min == max { format!("{min}") } else { format!("{min} or {max}") };
            return Err(ParseError::new(
                start,
                format!(
                    "the function '{}' takes {expected} argument{}, not {}",
                    function.name(),
                    if max == 1 { "" } else { "s" },
                    args.len()
                ),
            ));
        }
        Ok(Expr::Call { function, args })
    }

    fn lambda(
        &mut self,
        collection: Vec<String>,
        kind: LambdaKind,
        start: usize,
        depth: usize,
    ) -> Result<Expr, ParseError> {
        self.next(); // (
        self.check_depth(depth + 1, start)?;
        if self.peek().kind == Tok::RParen {
            self.next();
            if kind == LambdaKind::All {
                return Err(ParseError::new(
                    start,
                    "'all' needs a condition, e.g. all(x: x/name ne null)",
                ));
            }
            return Ok(Expr::Lambda { collection, kind, predicate: None });
        }
        let var = self.next();
        let Tok::Ident(variable) = var.kind else {
            return Err(ParseError::new(
                if var.kind == Tok::Eof { self.len } else { var.start },
                format!(
                    "expected a variable name after '{}(', e.g. {}(x: x/name eq 'A')",
                    kind.keyword(),
                    kind.keyword()
                ),
            ));
        };
        if variable.contains('.') || BinaryOp::from_keyword(&variable).is_some() {
            return Err(ParseError::new(var.start, format!("'{variable}' cannot name a variable")));
        }
        if self.peek().kind != Tok::Colon {
            return Err(ParseError::new(
                self.position(),
                format!("expected ':' after the variable '{variable}'"),
            ));
        }
        self.next();
        self.expect_operand_after(":")?;
        let body = self.or_expr(depth + 1)?;
        if self.peek().kind != Tok::RParen {
            return Err(ParseError::new(
                self.position(),
                format!(
                    "expected ')' to close '{}(', found {}",
                    kind.keyword(),
                    self.peek().kind.describe()
                ),
            ));
        }
        self.next();
        Ok(Expr::Lambda { collection, kind, predicate: Some((variable, Box::new(body))) })
    }
}

/// Builds `a op b op c …` as a balanced tree (depth log2 n); the first half goes left.
fn balanced(op: BinaryOp, mut operands: Vec<Expr>) -> Expr {
    if operands.len() == 1 {
        return operands.pop().unwrap_or(Expr::Literal(Literal::Null));
    }
    let right = operands.split_off(operands.len().div_ceil(2));
    let left = balanced(op, operands);
    let right = balanced(op, right);
    Expr::Binary { op, left: Box::new(left), right: Box::new(right) }
}

/// A number's text (with its sign) to a literal: integers → `Int` (or `Decimal` when too large),
/// a fraction → `Decimal`, an exponent → `Double`.
/// A numeric literal equal to zero (`0`, `0.00`, `0e0`, `-0`).
fn is_zero(e: &Expr) -> bool {
    match e {
        Expr::Literal(Literal::Int(i)) => *i == 0,
        Expr::Literal(Literal::Decimal(d)) => d.is_zero(),
        Expr::Literal(Literal::Double(d)) => *d == 0.0,
        Expr::Negate(inner) => is_zero(inner),
        _ => false,
    }
}

fn number_literal(text: &str, position: usize) -> Result<Literal, ParseError> {
    if text.contains(['e', 'E']) {
        return text.parse::<f64>().ok().filter(|d| d.is_finite()).map(Literal::Double).ok_or_else(
            || ParseError::new(position, format!("the number {text} is out of range")),
        );
    }
    if !text.contains('.')
        && let Ok(i) = text.parse::<i64>()
    {
        return Ok(Literal::Int(i));
    }
    text.parse::<Decimal>()
        .map(Literal::Decimal)
        .map_err(|_| ParseError::new(position, format!("the number {text} has too many digits")))
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;

//! Lowering to SQL with sea-query, for SQLite and PostgreSQL, and the JSON ⇄ stored-value codec.
//!
//! Every literal of a filter becomes a bound [`Value`]; only fixed SQL of our own (function
//! names, small structural constants) appears in the SQL text. Literals follow the storage
//! encoding of [`crate::model`]: GUIDs as lowercase hyphenated text, `DateTimeOffset` as
//! microseconds since the epoch (UTC), `Decimal { scale }` as `value × 10^scale` (a literal with
//! more decimal places than the property keeps is rejected, as is one that overflows), dates as
//! `YYYY-MM-DD` text.
//!
//! Shape of the SQL:
//! - Columns of the entity being queried are qualified with its table name (`"crm_account"."name"`),
//!   so [`filter_condition`] fits a plain `SELECT … FROM crm_account`. Sub-queries use the aliases
//!   `t1`, `t2`, … so correlated references stay unambiguous, also for self-references.
//! - A path through a single-valued navigation (`primarycontactid/fullname`) is a correlated
//!   scalar sub-query (`(SELECT t1.fullname FROM contact AS t1 WHERE t1.contactid =
//!   account.primarycontactid)`): it is NULL when the navigation is empty, as OData wants.
//! - `coll/any(x: p)` is `EXISTS (SELECT 1 FROM target AS t1 WHERE t1.fk = outer.key AND p)`;
//!   `coll/all(x: p)` is `NOT EXISTS (… AND NOT COALESCE(p, FALSE))`.
//! - `x eq null` / `x ne null` are `IS NULL` / `IS NOT NULL`.
//! - `contains`, `startswith`, `endswith` with a literal are `LIKE` (SQLite) / `ILIKE` (PostgreSQL)
//!   with the pattern escaped and bound and `ESCAPE '\'`: case-insensitive on both backends (for
//!   ASCII on SQLite), as Dataverse and Business Central are.
//! - `year`, `month`, `day` work on `DateTimeOffset` (in UTC) and on `Date` text on both backends.
//! - Decimal arithmetic rescales: `add`/`sub`/`mod` align scales, `mul` divides the product by
//!   `10^min(scale)`, `div` multiplies the dividend first; integer division truncates.
//!
//! Semantics follow SQL's three-valued logic: `not (x le 5)` does not match rows where `x` is null.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sea_query::{
    Alias, BinOper, Expr, ExprTrait, Func, LikeExpr, NullOrdering, Order, PostgresQueryBuilder,
    Query, QueryStatementWriter, SelectStatement, SqliteQueryBuilder, Value, Values,
};
use uuid::Uuid;

use crate::ast::{self, BinaryOp, Function, LambdaKind, Literal};
use crate::error::ODataError;
use crate::model::{EdmType, EntityType, Model, NavigationKind, ROW_VERSION_COLUMN};
use crate::query::{QueryOptions, qualified};

/// The SQL dialect a statement is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Renders a statement for `dialect`: SQL text with placeholders and the bound values.
pub fn to_sql<S: QueryStatementWriter>(stmt: &S, dialect: Dialect) -> (String, Values) {
    match dialect {
        Dialect::Sqlite => stmt.build(SqliteQueryBuilder),
        Dialect::Postgres => stmt.build(PostgresQueryBuilder),
    }
}

/// Lowers a `$filter` expression to a condition on `entity`'s table (columns qualified with the
/// table name).
pub fn filter_condition(
    expr: &ast::Expr,
    entity: &EntityType,
    model: &Model,
    dialect: Dialect,
) -> Result<Expr, ODataError> {
    let root = Scope { entity, table: entity.table.clone() };
    let mut lowerer = Lowerer { model, dialect, next_alias: 0, vars: Vec::new(), root };
    let operand = lowerer.lower(expr)?;
    lowerer.condition(operand, expr)
}

/// Checks names and types of a filter against the model (what [`filter_condition`] would reject).
pub fn check_filter(
    expr: &ast::Expr,
    entity: &EntityType,
    model: &Model,
) -> Result<(), ODataError> {
    filter_condition(expr, entity, model, Dialect::Sqlite).map(|_| ())
}

/// A column of `entity`'s table, qualified with the table name.
pub fn column(entity: &EntityType, column: &str) -> Expr {
    Expr::col((Alias::new(entity.table.as_str()), Alias::new(column)))
}

/// `SELECT` for a collection request: the selected columns (all properties, or `$select` plus the
/// key) and the row-version column, `WHERE` from `$filter`, `ORDER BY` from `$orderby` with the key
/// as tie breaker (nulls first ascending, last descending, on both backends), `LIMIT`/`OFFSET` from
/// `$top`/`$skip`. Columns come out under their column names.
pub fn select(
    entity: &EntityType,
    model: &Model,
    options: &QueryOptions,
    dialect: Dialect,
) -> Result<SelectStatement, ODataError> {
    let mut stmt = Query::select();
    stmt.from(Alias::new(entity.table.as_str()));
    for property in selected_properties(entity, model, options)? {
        stmt.expr(column(entity, &property.column));
    }
    stmt.expr(column(entity, ROW_VERSION_COLUMN));
    if let Some(filter) = &options.filter {
        stmt.and_where(filter_condition(filter, entity, model, dialect)?);
    }
    order_by(&mut stmt, entity, model, &options.orderby)?;
    if let Some(top) = options.top {
        stmt.limit(top);
    }
    if let Some(skip) = options.skip {
        stmt.offset(skip);
    }
    Ok(stmt)
}

/// The properties a `$select` asks for, in model order, always including the key; all of them
/// when `$select` is empty.
pub fn selected_properties<'e>(
    entity: &'e EntityType,
    model: &Model,
    options: &QueryOptions,
) -> Result<Vec<&'e crate::model::Property>, ODataError> {
    for name in &options.select {
        if entity.property(name).is_none() {
            return Err(ODataError::unknown_property(name, &qualified(entity, model)));
        }
    }
    Ok(entity
        .properties
        .iter()
        .filter(|p| {
            options.select.is_empty() || p.name == entity.key || options.select.contains(&p.name)
        })
        .collect())
}

/// The query that loads one `$expand` item for a page of parent rows.
#[derive(Debug, Clone)]
pub struct ExpandQuery<'m> {
    /// The entity type the navigation leads to.
    pub target: &'m EntityType,
    /// The target property that links a row to its parent: the target's key for a
    /// single-valued navigation, the foreign key (`remote_property`) for a collection.
    pub link_property: &'m crate::model::Property,
    /// True for a collection-valued navigation.
    pub to_many: bool,
    /// `SELECT` of the selected columns (plus key, link column and row version) `WHERE link IN
    /// (…)` and the item's `$filter`, ordered by its `$orderby` and the key. `$top`/`$skip` of the
    /// item apply per parent, so the caller applies them while grouping rows by parent.
    pub statement: SelectStatement,
}

/// Builds the query for `expand` (one item of `entity`'s `$expand`). `link_values` are the stored
/// values the target's link column must match: the parents' foreign-key values for a
/// single-valued navigation, the parents' keys for a collection (lowercase GUID text).
pub fn expand_select<'m>(
    entity: &EntityType,
    model: &'m Model,
    expand: &crate::query::Expand,
    link_values: &[String],
    dialect: Dialect,
) -> Result<ExpandQuery<'m>, ODataError> {
    let navigation = entity.navigation(&expand.navigation).ok_or_else(|| {
        ODataError::unknown_property(&expand.navigation, &qualified(entity, model))
    })?;
    let target = model.entity_set(&navigation.target_set).ok_or_else(|| {
        ODataError::internal(format!(
            "The navigation '{}' targets the unknown entity set '{}'.",
            navigation.name, navigation.target_set
        ))
    })?;
    let (link_name, to_many) = match &navigation.kind {
        NavigationKind::ToOne { .. } => (target.key.as_str(), false),
        NavigationKind::ToMany { remote_property } => (remote_property.as_str(), true),
    };
    let link_property = target
        .property(link_name)
        .ok_or_else(|| ODataError::unknown_property(link_name, &qualified(target, model)))?;
    let options = &expand.options;
    let mut stmt = Query::select();
    stmt.from(Alias::new(target.table.as_str()));
    let mut columns: Vec<&str> = Vec::new();
    for p in selected_properties(target, model, options)? {
        columns.push(&p.column);
    }
    if !columns.contains(&link_property.column.as_str()) {
        columns.push(&link_property.column);
    }
    for c in columns {
        stmt.expr(column(target, c));
    }
    stmt.expr(column(target, ROW_VERSION_COLUMN));
    let values: Vec<Value> = link_values.iter().map(|v| Value::String(Some(v.clone()))).collect();
    if values.is_empty() {
        stmt.and_where(Expr::cust("1 = 0"));
    } else {
        stmt.and_where(column(target, &link_property.column).is_in(values));
    }
    if let Some(filter) = &options.filter {
        stmt.and_where(filter_condition(filter, target, model, dialect)?);
    }
    order_by(&mut stmt, target, model, &options.orderby)?;
    Ok(ExpandQuery { target, link_property, to_many, statement: stmt })
}

/// Adds `ORDER BY` for `orderby` plus the key as the last tie breaker.
pub fn order_by(
    stmt: &mut SelectStatement,
    entity: &EntityType,
    model: &Model,
    orderby: &[(String, bool)],
) -> Result<(), ODataError> {
    let mut key_seen = false;
    for (name, descending) in orderby {
        let Some(property) = entity.property(name) else {
            return Err(ODataError::unknown_property(name, &qualified(entity, model)));
        };
        key_seen |= property.name == entity.key;
        let (order, nulls) = if *descending {
            (Order::Desc, NullOrdering::Last)
        } else {
            (Order::Asc, NullOrdering::First)
        };
        stmt.order_by_expr_with_nulls(column(entity, &property.column), order, nulls);
    }
    if !key_seen {
        let key = entity
            .property(&entity.key)
            .map(|p| p.column.clone())
            .unwrap_or_else(|| entity.key.clone());
        stmt.order_by_expr(column(entity, &key), Order::Asc);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Types during lowering
// ---------------------------------------------------------------------------------------------

/// The SQL-side type of a lowered value, which fixes how literals next to it are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Bool,
    String,
    Guid,
    Int32,
    /// Any integer (Int64, and what arithmetic on integers gives).
    Int,
    /// Scaled BIGINT, `value × 10^scale`.
    Decimal(u8),
    Double,
    DateTime,
    Date,
}

impl Ty {
    fn of(edm: EdmType) -> Ty {
        match edm {
            EdmType::Guid => Ty::Guid,
            EdmType::String => Ty::String,
            EdmType::Int32 => Ty::Int32,
            EdmType::Int64 => Ty::Int,
            EdmType::Decimal { scale } => Ty::Decimal(scale),
            EdmType::Double => Ty::Double,
            EdmType::Boolean => Ty::Bool,
            EdmType::DateTimeOffset => Ty::DateTime,
            EdmType::Date => Ty::Date,
        }
    }

    fn edm_name(self) -> &'static str {
        match self {
            Ty::Bool => "Edm.Boolean",
            Ty::String => "Edm.String",
            Ty::Guid => "Edm.Guid",
            Ty::Int32 => "Edm.Int32",
            Ty::Int => "Edm.Int64",
            Ty::Decimal(_) => "Edm.Decimal",
            Ty::Double => "Edm.Double",
            Ty::DateTime => "Edm.DateTimeOffset",
            Ty::Date => "Edm.Date",
        }
    }

    fn is_numeric(self) -> bool {
        matches!(self, Ty::Int32 | Ty::Int | Ty::Decimal(_) | Ty::Double)
    }

    fn scale(self) -> u8 {
        match self {
            Ty::Decimal(s) => s,
            _ => 0,
        }
    }

    fn is_text(self) -> bool {
        matches!(self, Ty::String | Ty::Guid)
    }
}

/// A lowered SQL value with its type; `condition` marks SQL that already is a predicate.
#[derive(Debug, Clone)]
struct Typed {
    expr: Expr,
    ty: Ty,
    /// How to name it in messages (`'revenue'`, `the result of 'add'`).
    what: String,
    condition: bool,
}

/// Either a literal still waiting for a type from its neighbour, or lowered SQL.
#[derive(Debug, Clone)]
enum Operand {
    Lit(Literal),
    Sql(Typed),
}

#[derive(Debug, Clone)]
struct Scope<'m> {
    entity: &'m EntityType,
    /// Table name or alias used to qualify this scope's columns.
    table: String,
}

struct Lowerer<'m> {
    model: &'m Model,
    dialect: Dialect,
    next_alias: usize,
    vars: Vec<(String, Scope<'m>)>,
    /// The entity being filtered (`$it`): unqualified paths start here, also inside lambdas.
    root: Scope<'m>,
}

fn bad(message: impl Into<String>) -> ODataError {
    ODataError::invalid_filter(message)
}

/// A small structural integer constant written into the SQL text (never user input).
fn k(n: i32) -> Expr {
    Expr::Constant(Value::Int(Some(n)))
}

fn pow10(n: u32) -> Option<i64> {
    10i64.checked_pow(n)
}

impl<'m> Lowerer<'m> {
    fn alias(&mut self) -> String {
        self.next_alias += 1;
        format!("t{}", self.next_alias)
    }

    fn qualified(&self, entity: &EntityType) -> String {
        qualified(entity, self.model)
    }

    fn col(scope: &Scope<'_>, column: &str) -> Expr {
        Expr::col((Alias::new(scope.table.as_str()), Alias::new(column)))
    }

    fn target(&self, entity: &EntityType, nav: &str) -> Result<&'m EntityType, ODataError> {
        let navigation = entity
            .navigation(nav)
            .ok_or_else(|| ODataError::unknown_property(nav, &self.qualified(entity)))?;
        self.model.entity_set(&navigation.target_set).ok_or_else(|| {
            ODataError::internal(format!(
                "The navigation '{nav}' targets the unknown entity set '{}'.",
                navigation.target_set
            ))
        })
    }

    fn key_column(entity: &EntityType) -> String {
        entity.property(&entity.key).map(|p| p.column.clone()).unwrap_or_else(|| entity.key.clone())
    }

    fn property_column(&self, entity: &EntityType, property: &str) -> Result<String, ODataError> {
        entity
            .property(property)
            .map(|p| p.column.clone())
            .ok_or_else(|| ODataError::unknown_property(property, &self.qualified(entity)))
    }

    // -- expressions ---------------------------------------------------------------------------

    fn lower(&mut self, expr: &ast::Expr) -> Result<Operand, ODataError> {
        match expr {
            ast::Expr::Literal(l) => Ok(Operand::Lit(l.clone())),
            ast::Expr::Path(segments) => self.path(segments),
            ast::Expr::Not(inner) => {
                let c = self.lower(inner)?;
                let c = self.condition(c, inner)?;
                Ok(self.cond(c.not(), format!("'{expr}'")))
            }
            ast::Expr::Negate(inner) => match self.lower(inner)? {
                Operand::Lit(Literal::Int(i)) => match i.checked_neg() {
                    Some(n) => Ok(Operand::Lit(Literal::Int(n))),
                    None => Ok(Operand::Lit(Literal::Decimal(-Decimal::from(i)))),
                },
                Operand::Lit(Literal::Decimal(d)) => Ok(Operand::Lit(Literal::Decimal(-d))),
                Operand::Lit(Literal::Double(d)) => Ok(Operand::Lit(Literal::Double(-d))),
                Operand::Lit(other) => Err(bad(format!("Cannot negate the literal {other}."))),
                Operand::Sql(t) if t.ty.is_numeric() => Ok(Operand::Sql(Typed {
                    expr: k(0).sub(t.expr),
                    ty: t.ty,
                    what: format!("'{expr}'"),
                    condition: false,
                })),
                Operand::Sql(t) => {
                    Err(bad(format!("Cannot negate {}, which is {}.", t.what, t.ty.edm_name())))
                }
            },
            ast::Expr::Binary { op, left, right } => {
                if op.is_logical() {
                    let l = self.lower(left)?;
                    let l = self.condition(l, left)?;
                    let r = self.lower(right)?;
                    let r = self.condition(r, right)?;
                    let e = if *op == BinaryOp::And { l.and(r) } else { l.or(r) };
                    return Ok(self.cond(e, format!("'{expr}'")));
                }
                let l = self.lower(left)?;
                let r = self.lower(right)?;
                if op.is_comparison() {
                    self.compare(*op, l, r).map(|e| self.cond(e, format!("'{expr}'")))
                } else {
                    self.arithmetic(*op, l, r, expr)
                }
            }
            ast::Expr::In { value, list } => {
                let v = self.lower(value)?;
                let mut items = Vec::with_capacity(list.len());
                for item in list {
                    items.push(self.lower(item)?);
                }
                self.in_list(v, items).map(|e| self.cond(e, format!("'{expr}'")))
            }
            ast::Expr::Call { function, args } => {
                let mut lowered = Vec::with_capacity(args.len());
                for a in args {
                    lowered.push(self.lower(a)?);
                }
                self.call(*function, lowered, expr)
            }
            ast::Expr::Lambda { collection, kind, predicate } => self
                .lambda(collection, *kind, predicate.as_ref())
                .map(|e| self.cond(e, format!("'{expr}'"))),
        }
    }

    fn cond(&self, expr: Expr, what: String) -> Operand {
        Operand::Sql(Typed { expr, ty: Ty::Bool, what, condition: true })
    }

    /// Turns an operand into a predicate.
    fn condition(&self, operand: Operand, source: &ast::Expr) -> Result<Expr, ODataError> {
        match operand {
            Operand::Lit(Literal::Bool(true)) => Ok(Expr::cust("1 = 1")),
            Operand::Lit(Literal::Bool(false)) => Ok(Expr::cust("1 = 0")),
            Operand::Lit(other) => Err(bad(format!(
                "The filter needs a condition here, but found the literal {other}."
            ))),
            Operand::Sql(t) if t.condition => Ok(t.expr),
            Operand::Sql(t) if t.ty == Ty::Bool => Ok(t.expr.eq(true)),
            Operand::Sql(t) => Err(bad(format!(
                "The filter needs a condition here, but '{source}' is {}.",
                t.ty.edm_name()
            ))),
        }
    }

    /// The scope a path starts in (a lambda variable's, or the root) and the remaining segments.
    fn start<'p>(&self, segments: &'p [String]) -> Result<(Scope<'m>, &'p [String]), ODataError> {
        let Some(first) = segments.first() else {
            return Err(bad("A path in the filter is empty."));
        };
        Ok(match self.vars.iter().rev().find(|(v, _)| v == first) {
            Some((_, s)) => (s.clone(), &segments[1..]),
            None => (self.root.clone(), segments),
        })
    }

    fn path(&mut self, segments: &[String]) -> Result<Operand, ODataError> {
        let (current, rest) = self.start(segments)?;
        if rest.is_empty() {
            return Err(bad(format!(
                "The lambda variable '{}' must be followed by a property, e.g. {}/name.",
                segments[0], segments[0]
            )));
        }
        self.path_in(rest, &current, &segments.join("/")).map(Operand::Sql)
    }

    fn path_in(
        &mut self,
        rest: &[String],
        scope: &Scope<'m>,
        full: &str,
    ) -> Result<Typed, ODataError> {
        let name = &rest[0];
        let entity = scope.entity;
        if let Some(property) = entity.property(name) {
            if rest.len() > 1 {
                return Err(bad(format!(
                    "'{name}' is a property of '{}', not a navigation property, so '{full}' cannot go on after it.",
                    self.qualified(entity)
                )));
            }
            return Ok(Typed {
                expr: Self::col(scope, &property.column),
                ty: Ty::of(property.ty),
                what: format!("'{full}'"),
                condition: false,
            });
        }
        let Some(navigation) = entity.navigation(name) else {
            return Err(ODataError::unknown_property(name, &self.qualified(entity)));
        };
        match &navigation.kind {
            NavigationKind::ToMany { .. } => Err(bad(format!(
                "'{name}' is a collection-valued navigation property; use {name}/any(x: …) or {name}/all(x: …)."
            ))),
            NavigationKind::ToOne { local_property } => {
                let fk = self.property_column(entity, local_property)?;
                if rest.len() == 1 {
                    return Ok(Typed {
                        expr: Self::col(scope, &fk),
                        ty: Ty::Guid,
                        what: format!("'{full}'"),
                        condition: false,
                    });
                }
                let target = self.target(entity, name)?;
                let alias = self.alias();
                let inner_scope = Scope { entity: target, table: alias.clone() };
                let inner = self.path_in(&rest[1..], &inner_scope, full)?;
                let mut sub = Query::select();
                sub.expr(inner.expr)
                    .from_as(Alias::new(target.table.as_str()), Alias::new(alias.as_str()))
                    .and_where(
                        Self::col(&inner_scope, &Self::key_column(target))
                            .eq(Self::col(scope, &fk)),
                    );
                Ok(Typed {
                    expr: Expr::from(sub),
                    ty: inner.ty,
                    what: inner.what,
                    condition: inner.condition,
                })
            }
        }
    }

    fn lambda(
        &mut self,
        collection: &[String],
        kind: LambdaKind,
        predicate: Option<&(String, Box<ast::Expr>)>,
    ) -> Result<Expr, ODataError> {
        let (start, rest) = self.start(collection)?;
        if rest.is_empty() {
            return Err(bad(format!(
                "'{}' is a lambda variable; any/all need a collection-valued navigation property.",
                collection[0]
            )));
        }
        if let Some((variable, _)) = predicate
            && self.vars.iter().any(|(v, _)| v == variable)
        {
            return Err(bad(format!("The lambda variable '{variable}' is already in use.")));
        }
        self.lambda_in(rest, kind, predicate, &start)
    }

    fn lambda_in(
        &mut self,
        rest: &[String],
        kind: LambdaKind,
        predicate: Option<&(String, Box<ast::Expr>)>,
        scope: &Scope<'m>,
    ) -> Result<Expr, ODataError> {
        let name = &rest[0];
        let entity = scope.entity;
        let Some(navigation) = entity.navigation(name) else {
            if entity.property(name).is_some() {
                return Err(bad(format!(
                    "'{name}' is a property; any/all need a collection-valued navigation property."
                )));
            }
            return Err(ODataError::unknown_property(name, &self.qualified(entity)));
        };
        let target = self.target(entity, name)?;
        let alias = self.alias();
        let inner = Scope { entity: target, table: alias.clone() };
        let mut sub = Query::select();
        sub.expr(k(1)).from_as(Alias::new(target.table.as_str()), Alias::new(alias.as_str()));
        match &navigation.kind {
            NavigationKind::ToOne { local_property } => {
                if rest.len() == 1 {
                    return Err(bad(format!(
                        "'{name}' is a single-valued navigation property; any/all need a collection."
                    )));
                }
                let fk = self.property_column(entity, local_property)?;
                sub.and_where(
                    Self::col(&inner, &Self::key_column(target)).eq(Self::col(scope, &fk)),
                );
                let nested = self.lambda_in(&rest[1..], kind, predicate, &inner)?;
                sub.and_where(nested);
                Ok(Expr::exists(sub))
            }
            NavigationKind::ToMany { remote_property } => {
                if rest.len() > 1 {
                    return Err(bad(format!(
                        "'{name}' is a collection; use {name}/any(x: x/{}) to reach into it.",
                        rest[1..].join("/")
                    )));
                }
                let remote = self.property_column(target, remote_property)?;
                sub.and_where(
                    Self::col(&inner, &remote).eq(Self::col(scope, &Self::key_column(entity))),
                );
                let body = match predicate {
                    None => None,
                    Some((variable, body)) => {
                        self.vars.push((variable.clone(), inner.clone()));
                        let lowered = self.lower(body);
                        let lowered = lowered.and_then(|o| self.condition(o, body));
                        self.vars.pop();
                        Some(lowered?)
                    }
                };
                match (kind, body) {
                    (LambdaKind::Any, None) => Ok(Expr::exists(sub)),
                    (LambdaKind::Any, Some(p)) => {
                        sub.and_where(p);
                        Ok(Expr::exists(sub))
                    }
                    (LambdaKind::All, p) => {
                        // A row whose predicate is false or unknown breaks `all`.
                        let p = p.unwrap_or_else(|| Expr::cust("1 = 1"));
                        sub.and_where(Expr::from(Func::coalesce([p, Expr::cust("FALSE")])).not());
                        Ok(Expr::not_exists(sub))
                    }
                }
            }
        }
    }

    // -- literals ------------------------------------------------------------------------------

    /// Encodes `lit` for a neighbour of type `ty` (named `what` in messages).
    fn encode(&self, lit: &Literal, ty: Ty, what: &str) -> Result<Value, ODataError> {
        let mismatch = || {
            bad(format!(
                "Cannot compare or combine the literal {lit} with {what}, which is {}.",
                ty.edm_name()
            ))
        };
        Ok(match (ty, lit) {
            (_, Literal::Null) => {
                return Err(bad(format!("null cannot be used with {what} here.")));
            }
            (Ty::Bool, Literal::Bool(b)) => Value::Bool(Some(*b)),
            (Ty::String, Literal::String(s)) => Value::String(Some(s.clone())),
            (Ty::String, Literal::Guid(g)) => Value::String(Some(g.hyphenated().to_string())),
            (Ty::String, Literal::Enum { value, .. }) => Value::String(Some(value.clone())),
            (Ty::Guid, Literal::Guid(g)) => Value::String(Some(g.hyphenated().to_string())),
            (Ty::Guid, Literal::String(s)) => match Uuid::parse_str(s.trim()) {
                Ok(g) => Value::String(Some(g.hyphenated().to_string())),
                Err(_) => {
                    return Err(bad(format!("'{s}' is not a valid GUID for {what}.")));
                }
            },
            (
                Ty::Int32 | Ty::Int | Ty::Decimal(_),
                Literal::Int(_) | Literal::Decimal(_) | Literal::Double(_) | Literal::Enum { .. },
            ) => {
                let scale = ty.scale();
                let d = match lit {
                    Literal::Int(i) => Decimal::from(*i),
                    Literal::Decimal(d) => *d,
                    Literal::Double(f) => Decimal::try_from(*f).map_err(|_| mismatch())?,
                    Literal::Enum { value, .. } => match value.trim().parse::<i64>() {
                        Ok(i) => Decimal::from(i),
                        Err(_) => {
                            return Err(bad(format!(
                                "The enum value {lit} cannot be compared with {what}: only numeric enum values are supported."
                            )));
                        }
                    },
                    _ => return Err(mismatch()),
                };
                Value::BigInt(Some(scale_decimal(d, scale).map_err(|m| {
                    bad(format!(
                        "The literal {lit} {m} for {what}{}.",
                        if scale > 0 {
                            format!(" (Edm.Decimal with {scale} decimal places)")
                        } else {
                            String::new()
                        }
                    ))
                })?))
            }
            (Ty::Double, Literal::Int(i)) => Value::Double(Some(*i as f64)),
            (Ty::Double, Literal::Decimal(d)) => Value::Double(d.to_f64()),
            (Ty::Double, Literal::Double(f)) => Value::Double(Some(*f)),
            (Ty::DateTime, Literal::DateTimeOffset(dt)) => {
                Value::BigInt(Some(dt.timestamp_micros()))
            }
            (Ty::DateTime, Literal::Date(d)) => Value::BigInt(Some(
                d.and_hms_opt(0, 0, 0)
                    .map(|n| n.and_utc().timestamp_micros())
                    .ok_or_else(mismatch)?,
            )),
            (Ty::DateTime, Literal::String(s)) => match DateTime::parse_from_rfc3339(s) {
                Ok(dt) => Value::BigInt(Some(dt.timestamp_micros())),
                Err(_) => return Err(mismatch()),
            },
            (Ty::Date, Literal::Date(d)) => Value::String(Some(d.format("%Y-%m-%d").to_string())),
            (Ty::Date, Literal::String(s)) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) => Value::String(Some(d.format("%Y-%m-%d").to_string())),
                Err(_) => return Err(mismatch()),
            },
            _ => return Err(mismatch()),
        })
    }

    /// A literal's own type, used when nothing next to it gives one.
    fn natural(&self, lit: &Literal) -> Result<Typed, ODataError> {
        let ty = match lit {
            Literal::Null => return Err(bad("null cannot be used here.")),
            Literal::Bool(_) => Ty::Bool,
            Literal::Int(_) => Ty::Int,
            Literal::Decimal(d) => {
                let scale = d.normalize().scale();
                if scale > 18 {
                    return Err(bad(format!("The literal {lit} has more than 18 decimal places.")));
                }
                if scale == 0 { Ty::Int } else { Ty::Decimal(scale as u8) }
            }
            Literal::Double(_) => Ty::Double,
            Literal::String(_) | Literal::Enum { .. } => Ty::String,
            Literal::Guid(_) => Ty::Guid,
            Literal::Date(_) => Ty::Date,
            Literal::DateTimeOffset(_) => Ty::DateTime,
        };
        let what = format!("the literal {lit}");
        let value = self.encode(lit, ty, &what)?;
        Ok(Typed { expr: Expr::val(value), ty, what, condition: false })
    }

    /// Lowers an operand to SQL, encoding a literal by its own type.
    fn sql(&self, operand: Operand) -> Result<Typed, ODataError> {
        match operand {
            Operand::Sql(t) => Ok(t),
            Operand::Lit(l) => self.natural(&l),
        }
    }

    /// Lowers an operand next to a value of type `ty`.
    fn sql_like(&self, operand: Operand, ty: Ty, what: &str) -> Result<Typed, ODataError> {
        match operand {
            Operand::Sql(t) => Ok(t),
            Operand::Lit(l) => {
                let value = self.encode(&l, ty, what)?;
                Ok(Typed {
                    expr: Expr::val(value),
                    ty,
                    what: format!("the literal {l}"),
                    condition: false,
                })
            }
        }
    }

    // -- comparisons ---------------------------------------------------------------------------

    fn compare(&self, op: BinaryOp, l: Operand, r: Operand) -> Result<Expr, ODataError> {
        match (&l, &r) {
            (Operand::Lit(Literal::Null), Operand::Lit(Literal::Null)) => {
                return match op {
                    BinaryOp::Eq => Ok(Expr::cust("1 = 1")),
                    BinaryOp::Ne => Ok(Expr::cust("1 = 0")),
                    _ => Err(bad(format!(
                        "null can only be compared with eq or ne, not {}.",
                        op.keyword()
                    ))),
                };
            }
            (Operand::Lit(Literal::Null), _) | (_, Operand::Lit(Literal::Null)) => {
                let other = if matches!(l, Operand::Lit(Literal::Null)) { r } else { l };
                let t = self.sql(other)?;
                let e = if t.condition { Expr::expr(t.expr) } else { t.expr };
                return match op {
                    BinaryOp::Eq => Ok(e.is_null()),
                    BinaryOp::Ne => Ok(e.is_not_null()),
                    _ => Err(bad(format!(
                        "null can only be compared with eq or ne, not {}.",
                        op.keyword()
                    ))),
                };
            }
            _ => {}
        }
        let (a, b) = self.pair(l, r)?;
        let (a, b) = self.unify(a, b, op)?;
        if !op_allowed(op, a.ty) {
            return Err(bad(format!(
                "{} cannot be compared with {}: {} values only support eq and ne.",
                a.what,
                op.keyword(),
                a.ty.edm_name()
            )));
        }
        let (x, y) = (a.expr, b.expr);
        Ok(match op {
            BinaryOp::Eq => x.eq(y),
            BinaryOp::Ne => x.ne(y),
            BinaryOp::Gt => x.gt(y),
            BinaryOp::Ge => x.gte(y),
            BinaryOp::Lt => x.lt(y),
            BinaryOp::Le => x.lte(y),
            _ => return Err(ODataError::internal("not a comparison")),
        })
    }

    /// Lowers both sides, encoding a literal with the other side's type.
    fn pair(&self, l: Operand, r: Operand) -> Result<(Typed, Typed), ODataError> {
        match (l, r) {
            (Operand::Sql(a), Operand::Sql(b)) => Ok((a, b)),
            (Operand::Sql(a), Operand::Lit(lit)) => {
                let b = self.sql_like(Operand::Lit(lit), a.ty, &a.what)?;
                Ok((a, b))
            }
            (Operand::Lit(lit), Operand::Sql(b)) => {
                let a = self.sql_like(Operand::Lit(lit), b.ty, &b.what)?;
                Ok((a, b))
            }
            (Operand::Lit(x), Operand::Lit(y)) => {
                let a = self.natural(&x)?;
                let b = self.sql_like(Operand::Lit(y), a.ty, &a.what)?;
                Ok((a, b))
            }
        }
    }

    /// Brings two typed values to a common representation.
    fn unify(&self, a: Typed, b: Typed, op: BinaryOp) -> Result<(Typed, Typed), ODataError> {
        let (ta, tb) = (a.ty, b.ty);
        if ta == tb || (ta.is_text() && tb.is_text()) {
            return Ok((a, b));
        }
        match (ta, tb) {
            (Ty::Int32 | Ty::Int | Ty::Decimal(_), Ty::Int32 | Ty::Int | Ty::Decimal(_)) => {
                let s = std::cmp::max(ta.scale(), tb.scale());
                Ok((self.rescale(a, s)?, self.rescale(b, s)?))
            }
            (Ty::Double, Ty::Int32 | Ty::Int | Ty::Decimal(_)) => Ok((a, self.to_double(b)?)),
            (Ty::Int32 | Ty::Int | Ty::Decimal(_), Ty::Double) => Ok((self.to_double(a)?, b)),
            _ => Err(bad(format!(
                "Cannot {} {} ({}) and {} ({}).",
                if op.is_comparison() { "compare" } else { "combine" },
                a.what,
                ta.edm_name(),
                b.what,
                tb.edm_name()
            ))),
        }
    }

    /// Multiplies a number up to `scale` decimal places.
    fn rescale(&self, t: Typed, scale: u8) -> Result<Typed, ODataError> {
        let from = t.ty.scale();
        if from == scale {
            return Ok(t);
        }
        let factor = pow10(u32::from(scale - from))
            .ok_or_else(|| bad(format!("{} needs too many decimal places.", t.what)))?;
        let ty = if scale == 0 { Ty::Int } else { Ty::Decimal(scale) };
        // A bound literal is scaled here rather than in SQL.
        let expr = match t.expr {
            Expr::Value(Value::BigInt(Some(v))) => match v.checked_mul(factor) {
                Some(scaled) => Expr::val(scaled),
                None => {
                    return Err(bad(format!(
                        "{} is too large once scaled to {scale} decimal places.",
                        t.what
                    )));
                }
            },
            other => other.mul(factor),
        };
        Ok(Typed { expr, ty, what: t.what, condition: false })
    }

    fn to_double(&self, t: Typed) -> Result<Typed, ODataError> {
        let scale = t.ty.scale();
        let mut expr = t.expr.cast_as(Alias::new("DOUBLE PRECISION"));
        if scale > 0 {
            let factor = pow10(u32::from(scale)).unwrap_or(1) as f64;
            expr = expr.div(factor);
        }
        Ok(Typed { expr, ty: Ty::Double, what: t.what, condition: false })
    }

    fn in_list(&self, value: Operand, items: Vec<Operand>) -> Result<Expr, ODataError> {
        if items.is_empty() {
            return Ok(Expr::cust("1 = 0"));
        }
        let all_literal = items.iter().all(|i| matches!(i, Operand::Lit(l) if *l != Literal::Null));
        if let (Operand::Sql(v), true) = (&value, all_literal) {
            let mut values = Vec::with_capacity(items.len());
            let mut target = v.clone();
            for item in &items {
                let Operand::Lit(l) = item else { continue };
                // Literals with more decimals than the value keeps are a precision error.
                let encoded = self.encode(l, target.ty, &target.what)?;
                values.push(encoded);
            }
            if v.condition {
                target.expr = Expr::expr(target.expr);
            }
            return Ok(target.expr.is_in(values));
        }
        let mut out: Option<Expr> = None;
        for item in items {
            let c = self.compare(BinaryOp::Eq, value.clone(), item)?;
            out = Some(match out {
                None => c,
                Some(prev) => prev.or(c),
            });
        }
        Ok(out.unwrap_or_else(|| Expr::cust("1 = 0")))
    }

    // -- arithmetic ----------------------------------------------------------------------------

    fn arithmetic(
        &self,
        op: BinaryOp,
        l: Operand,
        r: Operand,
        source: &ast::Expr,
    ) -> Result<Operand, ODataError> {
        // Literals keep their own scale in arithmetic, so nothing is rounded.
        let a = self.sql(l)?;
        let b = self.sql(r)?;
        for t in [&a, &b] {
            if !t.ty.is_numeric() {
                return Err(bad(format!(
                    "'{}' needs numbers, but {} is {}.",
                    op.keyword(),
                    t.what,
                    t.ty.edm_name()
                )));
            }
        }
        let what = format!("'{source}'");
        if a.ty == Ty::Double || b.ty == Ty::Double {
            if op == BinaryOp::Mod {
                return Err(bad(format!("'mod' is not supported on Edm.Double values ({what}).")));
            }
            let (a, b) = self.unify(a, b, op)?;
            let e = match op {
                BinaryOp::Add => a.expr.add(b.expr),
                BinaryOp::Sub => a.expr.sub(b.expr),
                BinaryOp::Mul => a.expr.mul(b.expr),
                _ => a.expr.div(b.expr),
            };
            return Ok(Operand::Sql(Typed { expr: e, ty: Ty::Double, what, condition: false }));
        }
        let (sa, sb) = (a.ty.scale(), b.ty.scale());
        let s = std::cmp::max(sa, sb);
        let ty = if s == 0 { Ty::Int } else { Ty::Decimal(s) };
        let too_many = || bad(format!("{what} needs too many decimal places."));
        let e = match op {
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mod => {
                let (a, b) = (self.rescale(a, s)?, self.rescale(b, s)?);
                match op {
                    BinaryOp::Add => a.expr.add(b.expr),
                    BinaryOp::Sub => a.expr.sub(b.expr),
                    _ => a.expr.modulo(b.expr),
                }
            }
            BinaryOp::Mul => {
                let product = a.expr.mul(b.expr);
                let m = std::cmp::min(sa, sb);
                if m == 0 {
                    product
                } else {
                    product.div(pow10(u32::from(m)).ok_or_else(too_many)?)
                }
            }
            _ => {
                // (x · 10^(s - sa + sb)) / y keeps s decimal places.
                let shift = u32::from(s) - u32::from(sa) + u32::from(sb);
                let dividend = if shift == 0 {
                    a.expr
                } else {
                    a.expr.mul(pow10(shift).ok_or_else(too_many)?)
                };
                dividend.div(b.expr)
            }
        };
        Ok(Operand::Sql(Typed { expr: e, ty, what, condition: false }))
    }

    // -- functions -----------------------------------------------------------------------------

    fn call(
        &self,
        function: Function,
        args: Vec<Operand>,
        source: &ast::Expr,
    ) -> Result<Operand, ODataError> {
        let what = format!("'{source}'");
        let name = function.name();
        let mut args = args.into_iter();
        let mut next =
            || args.next().ok_or_else(|| bad(format!("'{name}' is missing an argument.")));
        let text_arg = |o: Operand| -> Result<Typed, ODataError> {
            let t = self.sql_like(o, Ty::String, &format!("the argument of '{name}'"))?;
            if !t.ty.is_text() {
                return Err(bad(format!(
                    "'{name}' needs text, but {} is {}.",
                    t.what,
                    t.ty.edm_name()
                )));
            }
            Ok(t)
        };
        let int_arg = |o: Operand| -> Result<Typed, ODataError> {
            let t = self.sql_like(o, Ty::Int, &format!("the argument of '{name}'"))?;
            if !matches!(t.ty, Ty::Int | Ty::Int32) {
                return Err(bad(format!(
                    "'{name}' needs an integer, but {} is {}.",
                    t.what,
                    t.ty.edm_name()
                )));
            }
            Ok(t)
        };
        let typed = |expr: Expr, ty: Ty| {
            Operand::Sql(Typed { expr, ty, what: what.clone(), condition: ty == Ty::Bool })
        };
        Ok(match function {
            Function::Contains | Function::StartsWith | Function::EndsWith => {
                let haystack = text_arg(next()?)?;
                match next()? {
                    Operand::Lit(Literal::String(needle)) => {
                        let escaped = escape_like(&needle);
                        let pattern = match function {
                            Function::Contains => format!("%{escaped}%"),
                            Function::StartsWith => format!("{escaped}%"),
                            _ => format!("%{escaped}"),
                        };
                        let e = match self.dialect {
                            Dialect::Sqlite => {
                                haystack.expr.like(LikeExpr::new(pattern).escape('\\'))
                            }
                            // sea-query parenthesises `ILIKE (… ESCAPE …)`, which PostgreSQL rejects.
                            Dialect::Postgres => Expr::cust_with_exprs(
                                "$1 ILIKE $2 ESCAPE E'\\\\'",
                                [haystack.expr, Expr::val(pattern)],
                            ),
                        };
                        typed(e, Ty::Bool)
                    }
                    other => {
                        let needle = text_arg(other)?;
                        let h = Func::lower(haystack.expr);
                        let n = Expr::from(Func::lower(needle.expr));
                        let e = match function {
                            Function::Contains => self.position_of(h.into(), n).gt(k(0)),
                            Function::StartsWith => {
                                Expr::from(Func::cust(Alias::new("SUBSTR")).args([
                                    Expr::from(h),
                                    k(1),
                                    Func::cust(Alias::new("LENGTH")).arg(n.clone()).into(),
                                ]))
                                .eq(n)
                            }
                            _ => {
                                let hl: Expr = Func::cust(Alias::new("LENGTH"))
                                    .arg(Expr::from(h.clone()))
                                    .into();
                                let nl: Expr =
                                    Func::cust(Alias::new("LENGTH")).arg(n.clone()).into();
                                let start = hl.clone().sub(nl.clone()).add(k(1));
                                hl.gte(nl).and(
                                    Expr::from(
                                        Func::cust(Alias::new("SUBSTR"))
                                            .args([Expr::from(h), start]),
                                    )
                                    .eq(n),
                                )
                            }
                        };
                        typed(e, Ty::Bool)
                    }
                }
            }
            Function::ToLower => typed(Func::lower(text_arg(next()?)?.expr).into(), Ty::String),
            Function::ToUpper => typed(Func::upper(text_arg(next()?)?.expr).into(), Ty::String),
            Function::Trim => typed(
                Func::cust(Alias::new("TRIM")).arg(text_arg(next()?)?.expr).into(),
                Ty::String,
            ),
            Function::Length => {
                typed(Func::cust(Alias::new("LENGTH")).arg(text_arg(next()?)?.expr).into(), Ty::Int)
            }
            Function::Concat => {
                let a = text_arg(next()?)?;
                let b = text_arg(next()?)?;
                typed(a.expr.binary(BinOper::Custom("||"), b.expr), Ty::String)
            }
            Function::IndexOf => {
                let a = text_arg(next()?)?;
                let b = text_arg(next()?)?;
                typed(self.position_of(a.expr, b.expr).sub(k(1)), Ty::Int)
            }
            Function::Substring => {
                let s = text_arg(next()?)?;
                let start = int_arg(next()?)?;
                let mut call_args = vec![s.expr, self.int4(start.expr.add(k(1)))];
                if let Some(len) = args.next() {
                    call_args.push(self.int4(int_arg(len)?.expr));
                }
                typed(Func::cust(Alias::new("SUBSTR")).args(call_args).into(), Ty::String)
            }
            Function::Year | Function::Month | Function::Day => {
                let t = self.sql(next()?)?;
                let e = match t.ty {
                    Ty::Date => {
                        let (from, len) = match function {
                            Function::Year => (1, 4),
                            Function::Month => (6, 2),
                            _ => (9, 2),
                        };
                        Func::cust(Alias::new("SUBSTR"))
                            .args([t.expr, k(from), k(len)])
                            .cast_as(Alias::new("INTEGER"))
                    }
                    Ty::DateTime => self.date_part(function, t.expr),
                    other => {
                        return Err(bad(format!(
                            "'{name}' needs a date or date-time, but {} is {}.",
                            t.what,
                            other.edm_name()
                        )));
                    }
                };
                typed(e, Ty::Int)
            }
        })
    }

    /// 1-based position of `needle` in `haystack`, 0 when absent.
    fn position_of(&self, haystack: Expr, needle: Expr) -> Expr {
        match self.dialect {
            Dialect::Sqlite => Func::cust(Alias::new("INSTR")).args([haystack, needle]).into(),
            Dialect::Postgres => Func::cust(Alias::new("STRPOS")).args([haystack, needle]).into(),
        }
    }

    /// PostgreSQL's `SUBSTR` wants INTEGER positions, bound values are BIGINT.
    fn int4(&self, e: Expr) -> Expr {
        match self.dialect {
            Dialect::Sqlite => e,
            Dialect::Postgres => e.cast_as(Alias::new("INTEGER")),
        }
    }

    /// Year, month or day (UTC) of a microsecond timestamp.
    fn date_part(&self, function: Function, micros: Expr) -> Expr {
        let seconds = micros
            .cast_as(Alias::new("DOUBLE PRECISION"))
            .div(Expr::Constant(Value::Double(Some(1_000_000.0))));
        match self.dialect {
            Dialect::Sqlite => {
                let format = match function {
                    Function::Year => "%Y",
                    Function::Month => "%m",
                    _ => "%d",
                };
                Func::cust(Alias::new("strftime"))
                    .args([
                        Expr::Constant(Value::String(Some(format.to_owned()))),
                        seconds,
                        Expr::Constant(Value::String(Some("unixepoch".to_owned()))),
                    ])
                    .cast_as(Alias::new("INTEGER"))
            }
            Dialect::Postgres => {
                let field = match function {
                    Function::Year => "year",
                    Function::Month => "month",
                    _ => "day",
                };
                let utc = Func::cust(Alias::new("timezone")).args([
                    Expr::Constant(Value::String(Some("UTC".to_owned()))),
                    Func::cust(Alias::new("to_timestamp")).arg(seconds).into(),
                ]);
                Func::cust(Alias::new("date_part"))
                    .args([Expr::Constant(Value::String(Some(field.to_owned()))), utc.into()])
                    .cast_as(Alias::new("BIGINT"))
            }
        }
    }
}

fn op_allowed(op: BinaryOp, ty: Ty) -> bool {
    match ty {
        Ty::Bool | Ty::Guid => matches!(op, BinaryOp::Eq | BinaryOp::Ne),
        _ => true,
    }
}

/// Escapes `\`, `%` and `_` for a LIKE pattern with `ESCAPE '\'`.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `d × 10^scale` as an exact i64, or why not.
fn scale_decimal(d: Decimal, scale: u8) -> Result<i64, &'static str> {
    let factor = Decimal::from(pow10(u32::from(scale)).ok_or("needs too many decimal places")?);
    let scaled = d.checked_mul(factor).ok_or("is too large")?;
    if scaled.fract() != Decimal::ZERO {
        return Err("has more decimal places than are kept");
    }
    scaled.trunc().to_i64().ok_or("is too large")
}

// ---------------------------------------------------------------------------------------------
// JSON ⇄ stored values
// ---------------------------------------------------------------------------------------------

/// Encodes a JSON value of a property of type `ty` as the stored SQL value (see the model's
/// encoding table). JSON `null` gives a typed SQL NULL. Errors name the property.
pub fn encode_value(
    ty: EdmType,
    json: &serde_json::Value,
    property_name: &str,
) -> Result<Value, ODataError> {
    use serde_json::Value as J;
    let invalid = |expected: &str| {
        ODataError::invalid_value(
            property_name,
            format!(
                "Cannot convert the literal '{}' to the expected type '{}' of the property '{property_name}'{expected}.",
                match json {
                    J::String(s) => s.clone(),
                    other => other.to_string(),
                },
                ty.edm_name()
            ),
        )
    };
    if json.is_null() {
        return Ok(null_of(ty));
    }
    Ok(match ty {
        EdmType::Guid => match json {
            J::String(s) => match Uuid::parse_str(s.trim()) {
                Ok(g) => Value::String(Some(g.hyphenated().to_string())),
                Err(_) => return Err(invalid("")),
            },
            _ => return Err(invalid("")),
        },
        EdmType::String => match json {
            J::String(s) => Value::String(Some(s.clone())),
            _ => return Err(invalid("")),
        },
        EdmType::Int32 => match json.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => Value::BigInt(Some(i)),
            _ => return Err(invalid("")),
        },
        EdmType::Int64 => match json.as_i64() {
            Some(i) => Value::BigInt(Some(i)),
            None => return Err(invalid("")),
        },
        EdmType::Decimal { scale } => {
            let d = match json {
                J::Number(n) => n
                    .to_string()
                    .parse::<Decimal>()
                    .or_else(|_| Decimal::from_scientific(&n.to_string())),
                J::String(s) => s.trim().parse::<Decimal>(),
                _ => return Err(invalid("")),
            };
            let d = d.map_err(|_| invalid(""))?;
            match scale_decimal(d, scale) {
                Ok(v) => Value::BigInt(Some(v)),
                Err(why) => {
                    return Err(ODataError::invalid_value(
                        property_name,
                        format!(
                            "The value {d} of the property '{property_name}' {why} (Edm.Decimal with {scale} decimal places)."
                        ),
                    ));
                }
            }
        }
        EdmType::Double => match json.as_f64() {
            Some(f) => Value::Double(Some(f)),
            None => return Err(invalid("")),
        },
        EdmType::Boolean => match json {
            J::Bool(b) => Value::Bool(Some(*b)),
            _ => return Err(invalid("")),
        },
        EdmType::DateTimeOffset => match json {
            J::String(s) => match DateTime::parse_from_rfc3339(s.trim()) {
                Ok(dt) => Value::BigInt(Some(dt.timestamp_micros())),
                Err(_) => return Err(invalid(" (expected e.g. 2026-01-01T00:00:00Z)")),
            },
            _ => return Err(invalid(" (expected e.g. 2026-01-01T00:00:00Z)")),
        },
        EdmType::Date => match json {
            J::String(s) => match NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
                Ok(d) => Value::String(Some(d.format("%Y-%m-%d").to_string())),
                Err(_) => return Err(invalid(" (expected e.g. 2026-01-31)")),
            },
            _ => return Err(invalid(" (expected e.g. 2026-01-31)")),
        },
    })
}

/// A typed SQL NULL for a column of type `ty`.
pub fn null_of(ty: EdmType) -> Value {
    match ty {
        EdmType::Guid | EdmType::String | EdmType::Date => Value::String(None),
        EdmType::Int32 | EdmType::Int64 | EdmType::Decimal { .. } | EdmType::DateTimeOffset => {
            Value::BigInt(None)
        }
        EdmType::Double => Value::Double(None),
        EdmType::Boolean => Value::Bool(None),
    }
}

/// Decodes a stored value of a column of type `ty` to JSON: decimals as JSON numbers, date-times
/// as RFC 3339 UTC with `Z`, dates as `YYYY-MM-DD`, GUIDs lowercase. Accepts the integer widths
/// and text a driver may hand back (SQLite booleans come back as integers).
pub fn decode(ty: EdmType, value: &Value) -> Result<serde_json::Value, ODataError> {
    use serde_json::Value as J;
    let wrong =
        || ODataError::internal(format!("A stored {value:?} cannot be read as {}.", ty.edm_name()));
    let int: Option<Option<i64>> = match value {
        Value::BigInt(v) => Some(*v),
        Value::Int(v) => Some(v.map(i64::from)),
        Value::SmallInt(v) => Some(v.map(i64::from)),
        Value::TinyInt(v) => Some(v.map(i64::from)),
        Value::Bool(v) => Some(v.map(i64::from)),
        _ => None,
    };
    let is_null = matches!(int, Some(None))
        || matches!(
            value,
            Value::String(None) | Value::Double(None) | Value::Float(None) | Value::Bytes(None)
        );
    if is_null {
        return Ok(J::Null);
    }
    let int = || int.flatten().ok_or_else(wrong);
    Ok(match ty {
        EdmType::Guid | EdmType::String | EdmType::Date => match value {
            Value::String(Some(s)) if ty == EdmType::Guid => J::String(s.to_ascii_lowercase()),
            Value::String(Some(s)) => J::String(s.clone()),
            Value::Bytes(Some(b)) if ty == EdmType::Guid => {
                J::String(Uuid::from_slice(b).map_err(|_| wrong())?.hyphenated().to_string())
            }
            _ => return Err(wrong()),
        },
        EdmType::Int32 | EdmType::Int64 => J::from(int()?),
        EdmType::Decimal { scale } => {
            decimal_json(Decimal::from_i128_with_scale(i128::from(int()?), u32::from(scale)))?
        }
        EdmType::Double => {
            let f = match value {
                Value::Double(Some(f)) => *f,
                Value::Float(Some(f)) => f64::from(*f),
                _ => int()? as f64,
            };
            serde_json::Number::from_f64(f).map(J::Number).unwrap_or(J::Null)
        }
        EdmType::Boolean => J::Bool(int()? != 0),
        EdmType::DateTimeOffset => J::String(micros_to_rfc3339(int()?)?),
    })
}

/// A decimal as a JSON number with its trailing zeros removed (`1000.5`, `12`).
pub fn decimal_json(d: Decimal) -> Result<serde_json::Value, ODataError> {
    let text = d.normalize().to_string();
    serde_json::from_str::<serde_json::Number>(&text)
        .map(serde_json::Value::Number)
        .map_err(|_| ODataError::internal(format!("The decimal {text} cannot be written as JSON.")))
}

/// Microseconds since the epoch as RFC 3339 UTC with `Z` (`2026-01-01T00:00:00Z`, fractions only
/// when present).
pub fn micros_to_rfc3339(micros: i64) -> Result<String, ODataError> {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .map(|dt| dt.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .ok_or_else(|| {
            ODataError::internal(format!("The stored timestamp {micros} is out of range."))
        })
}

#[cfg(test)]
#[path = "sql_tests.rs"]
mod tests;

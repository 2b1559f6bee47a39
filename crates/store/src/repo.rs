//! `Repo`: the generic entity repository. Lists, reads and writes any [`EntityType`] of a
//! [`Model`] on both backends, with OData query options, row versions and a change feed.
//!
//! # Tables
//! Every entity table has the model's columns plus `row_version BIGINT NOT NULL` (index it:
//! the change feed reads `WHERE row_version > $1 ORDER BY row_version`). The key is a GUID
//! stored as TEXT.
//!
//! # Row versions and the change feed
//! Every write takes its version(s) from the single `store_counter` row in the same transaction
//! (`UPDATE … RETURNING`, taken *first* in every write so lock order is always the same). On
//! PostgreSQL that row stays locked until commit, so transactions commit in version order and a
//! reader that sees version `v` sees every version below it: `changes(after)` never skips a row
//! that commits later with a lower version. Deletes leave a tombstone in `store_tombstone`.
//!
//! # JSON
//! Rows are `Map`s with the model's JSON names, `@odata.etag` (`W/"<row_version>"`) first.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kontor_odata::ODataError;
use kontor_odata::model::{EntityType, Model, NavigationKind, Property, ROW_VERSION_COLUMN};
use kontor_odata::query::QueryOptions;
use sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Func, Order, Query, SelectStatement, SimpleExpr, Value,
};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::codec;
use crate::db::{Backend, Tx};
use crate::error::{Result, StoreError};
use crate::row::Row;

/// An entity as JSON, in the model's property names.
pub type Map = serde_json::Map<String, Json>;

/// The member holding the row version as a weak ETag in every `Map` the repository returns.
pub const ETAG: &str = "@odata.etag";

/// The most rows one multi-row `INSERT` carries (fewer when a row has many columns).
const MAX_ROWS_PER_INSERT: usize = 1000;
/// Bind parameters per statement, below SQLite's 32766 and PostgreSQL's 65535.
const MAX_PARAMS: usize = 30_000;
/// Keys per `IN (…)` list when loading expansions.
const KEYS_PER_QUERY: usize = 1000;

/// `W/"<version>"`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The row version in a `Map` the repository returned (from its `@odata.etag`).
pub fn row_version(map: &Map) -> Option<i64> {
    let tag = map.get(ETAG)?.as_str()?;
    tag.strip_prefix("W/\"")?.strip_suffix('"')?.parse().ok()
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub rows: Vec<Map>,
    /// All rows matching the filter and scope (ignoring paging), when `$count=true`.
    pub count: Option<i64>,
    /// Pass back as `$skiptoken` for the next page; `None` on the last page.
    pub next_skiptoken: Option<String>,
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The row as it is now (its version is in `@odata.etag`, see [`row_version`]).
    Upsert(Map),
    Deleted {
        id: Uuid,
        version: i64,
    },
}

impl Change {
    pub fn version(&self) -> i64 {
        match self {
            Change::Upsert(m) => row_version(m).unwrap_or_default(),
            Change::Deleted { version, .. } => *version,
        }
    }
}

/// Who is writing: a client (read-only properties are rejected) or the system itself (domain
/// code setting computed or system-maintained properties).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Caller {
    #[default]
    Client,
    System,
}

/// The generic entity repository for one model. Cheap to clone.
#[derive(Clone)]
pub struct Repo {
    model: Arc<Model>,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo").field("namespace", &self.model.namespace).finish_non_exhaustive()
    }
}

fn tbl(entity: &EntityType) -> Alias {
    Alias::new(entity.table.as_str())
}

fn col(entity: &EntityType, column: &str) -> Expr {
    Expr::col((tbl(entity), Alias::new(column)))
}

fn invalid(e: ODataError) -> StoreError {
    StoreError::Invalid(e)
}

fn bad_token() -> StoreError {
    invalid(
        ODataError::invalid_query_option("The $skiptoken is not valid.").with_target("$skiptoken"),
    )
}

/// Validated values of one row: each given property with its encoded value.
type Values<'e> = Vec<(&'e Property, Value)>;

/// A decoded `$skiptoken`.
#[derive(Debug, PartialEq)]
enum Token {
    /// Keyset paging (no `$orderby`): rows after this key.
    After { key: String, remaining: Option<u64> },
    /// Offset paging (with `$orderby`).
    Offset { offset: u64, remaining: Option<u64> },
}

impl Token {
    fn encode(&self) -> String {
        let rem = |r: &Option<u64>| r.map_or_else(|| "n".to_owned(), |r| r.to_string());
        match self {
            Token::After { key, remaining } => format!("k.{key}.{}", rem(remaining)),
            Token::Offset { offset, remaining } => format!("o.{offset}.{}", rem(remaining)),
        }
    }

    fn decode(text: &str) -> Result<Token> {
        let bad = bad_token;
        let mut parts = text.split('.');
        let (Some(kind), Some(value), Some(rem), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let remaining = match rem {
            "n" => None,
            r => Some(r.parse().map_err(|_| bad())?),
        };
        match kind {
            "k" => {
                let key = Uuid::parse_str(value).map_err(|_| bad())?;
                Ok(Token::After { key: key.hyphenated().to_string(), remaining })
            }
            "o" => Ok(Token::Offset { offset: value.parse().map_err(|_| bad())?, remaining }),
            _ => Err(bad()),
        }
    }
}

impl Repo {
    pub fn new(model: impl Into<Arc<Model>>) -> Repo {
        Repo { model: model.into(), clock: Arc::new(|| chrono::Utc::now().timestamp_micros()) }
    }

    /// Replaces the clock used for created/modified stamps (microseconds since the epoch).
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Repo {
        self.clock = Arc::new(clock);
        self
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The entity type of an entity set, or a 404 `ODataError`.
    pub fn entity(&self, set_name: &str) -> Result<&EntityType> {
        self.model.entity_set(set_name).ok_or_else(|| {
            invalid(ODataError::not_found(format!(
                "Resource not found for the segment '{set_name}'."
            )))
        })
    }

    fn qualified(&self, entity: &EntityType) -> String {
        if self.model.namespace.is_empty() {
            entity.name.clone()
        } else {
            format!("{}.{}", self.model.namespace, entity.name)
        }
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    // ----- reading -----------------------------------------------------------------------

    /// One page of `entity` with `opts` (`$filter $select $orderby $top $skip $count $expand
    /// $skiptoken`) and an extra `scope` condition (e.g. the company), at most `page_size` rows.
    /// Without `$orderby` it pages by key (keyset); with it, by offset. Rows are ordered by the
    /// `$orderby` properties, then by key.
    pub async fn list(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        opts: &QueryOptions,
        scope: Option<SimpleExpr>,
        page_size: u64,
    ) -> Result<Page> {
        let page_size = Ord::max(page_size, 1);
        let token = opts.skiptoken.as_deref().map(Token::decode).transpose()?;
        let mut conditions = Vec::new();
        if let Some(filter) = &opts.filter {
            conditions.push(
                kontor_odata::sql::filter_condition(
                    filter,
                    entity,
                    &self.model,
                    tx.backend().dialect(),
                )
                .map_err(invalid)?,
            );
        }
        if let Some(scope) = scope {
            conditions.push(scope);
        }

        let count = if opts.count {
            let mut q = Query::select();
            q.from(tbl(entity)).expr_as(Func::count(Expr::col(Asterisk)), Alias::new("n"));
            for c in &conditions {
                q.and_where(c.clone());
            }
            Some(tx.fetch_one(&q).await?.try_get_i64("n")?)
        } else {
            None
        };

        let remaining = match &token {
            Some(Token::After { remaining, .. } | Token::Offset { remaining, .. }) => *remaining,
            None => opts.top,
        };
        let limit = remaining.map_or(page_size, |r| Ord::min(r, page_size));
        if limit == 0 {
            return Ok(Page { rows: Vec::new(), count, next_skiptoken: None });
        }

        let fetch = self.fetch_properties(entity, opts)?;
        let mut q = select_columns(entity, &fetch);
        for c in conditions {
            q.and_where(c);
        }
        let key_col = &entity.key_property().column;
        let keyset = opts.orderby.is_empty();
        let mut offset = 0;
        if keyset {
            match &token {
                Some(Token::After { key, .. }) => {
                    q.and_where(col(entity, key_col).gt(key.clone()));
                }
                Some(Token::Offset { .. }) => return Err(bad_token()),
                None => offset = opts.skip.unwrap_or(0),
            }
        } else {
            offset = match &token {
                Some(Token::Offset { offset, .. }) => *offset,
                Some(Token::After { .. }) => return Err(bad_token()),
                None => opts.skip.unwrap_or(0),
            };
            // NULLs first ascending, last descending, then the key: the same on both backends.
            kontor_odata::sql::order_by(&mut q, entity, &self.model, &opts.orderby)
                .map_err(invalid)?;
        }
        if keyset {
            q.order_by_expr(col(entity, key_col), Order::Asc);
        }
        q.limit(limit + 1);
        if offset > 0 {
            q.offset(offset);
        }
        let rows = tx.fetch_all(&q).await?;
        let more = rows.len() as u64 > limit;
        let mut maps = Vec::with_capacity(rows.len().min(limit as usize));
        for row in rows.iter().take(limit as usize) {
            maps.push(decode_row(row, &fetch)?);
        }
        let n = maps.len() as u64;
        let remaining = remaining.map(|r| r - n);
        let next_skiptoken = (more && remaining != Some(0)).then(|| {
            if keyset {
                let last = maps
                    .last()
                    .and_then(|m| m.get(&entity.key))
                    .and_then(Json::as_str)
                    .unwrap_or_default();
                Token::After { key: last.to_owned(), remaining }.encode()
            } else {
                Token::Offset { offset: offset + n, remaining }.encode()
            }
        });

        self.expand(tx, entity, opts, &mut maps).await?;
        let output = self.output_properties(entity, opts)?;
        let rows = maps.into_iter().map(|m| shape(m, &output, opts)).collect();
        Ok(Page { rows, count, next_skiptoken })
    }

    /// One row by key, or `None`.
    pub async fn get(&self, tx: &mut Tx, entity: &EntityType, key: Uuid) -> Result<Option<Map>> {
        self.get_with(tx, entity, key, &QueryOptions::default(), None).await
    }

    /// One row by key with `$select`/`$expand` and a scope condition, or `None`.
    pub async fn get_with(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        key: Uuid,
        opts: &QueryOptions,
        scope: Option<SimpleExpr>,
    ) -> Result<Option<Map>> {
        let key_cond = col(entity, &entity.key_property().column).eq(key.hyphenated().to_string());
        let scope = Some(match scope {
            Some(s) => s.and(key_cond),
            None => key_cond,
        });
        let opts = QueryOptions {
            select: opts.select.clone(),
            expand: opts.expand.clone(),
            ..QueryOptions::default()
        };
        let page = self.list(tx, entity, &opts, scope, 1).await?;
        Ok(page.rows.into_iter().next())
    }

    /// The rows with these keys that exist (all properties), by key: one indexed query per
    /// thousand keys, for set-based writes that need to know which rows are already there.
    pub async fn get_many(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        keys: &[Uuid],
    ) -> Result<HashMap<Uuid, Map>> {
        let all: Vec<&Property> = entity.properties.iter().collect();
        let key_column = &entity.key_property().column;
        let mut out = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let mut q = select_columns(entity, &all);
            q.and_where(
                col(entity, key_column).is_in(chunk.iter().map(|k| k.hyphenated().to_string())),
            );
            for row in tx.fetch_all(&q).await? {
                let map = decode_row(&row, &all)?;
                // The key column is NOT NULL and always a GUID; a row without one is not ours.
                if let Some(id) = map
                    .get(&entity.key)
                    .and_then(Json::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok())
                {
                    out.insert(id, map);
                }
            }
        }
        Ok(out)
    }

    /// One row by an alternate key: `[("accountnumber", json!("A-1"))]`, or `None`.
    pub async fn get_by_alternate_key(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        key: &[(&str, Json)],
    ) -> Result<Option<Map>> {
        let all: Vec<&Property> = entity.properties.iter().collect();
        let mut q = select_columns(entity, &all);
        for (name, value) in key {
            let p = self.property(entity, name)?;
            let v = codec::encode(p, value).map_err(invalid)?;
            q.and_where(col(entity, &p.column).eq(v));
        }
        q.limit(1);
        match tx.fetch_optional(&q).await? {
            Some(row) => Ok(Some(decode_row(&row, &all)?)),
            None => Ok(None),
        }
    }

    fn property<'e>(&self, entity: &'e EntityType, name: &str) -> Result<&'e Property> {
        entity
            .property(name)
            .ok_or_else(|| invalid(ODataError::unknown_property(name, &self.qualified(entity))))
    }

    /// Properties to read: the selected ones, the key, and what `$expand` needs.
    fn fetch_properties<'e>(
        &self,
        entity: &'e EntityType,
        opts: &QueryOptions,
    ) -> Result<Vec<&'e Property>> {
        if opts.select.is_empty() {
            return Ok(entity.properties.iter().collect());
        }
        let mut names: Vec<&str> = opts.select.iter().map(String::as_str).collect();
        names.push(&entity.key);
        for ex in &opts.expand {
            if let Some(NavigationKind::ToOne { local_property }) =
                entity.navigation(&ex.navigation).map(|n| &n.kind)
            {
                names.push(local_property);
            }
        }
        let mut out = Vec::new();
        for p in &entity.properties {
            if names.contains(&p.name.as_str()) {
                out.push(p);
            }
        }
        for n in &opts.select {
            self.property(entity, n)?;
        }
        Ok(out)
    }

    /// Properties to return: the selected ones and the key (all when nothing is selected).
    fn output_properties(
        &self,
        entity: &EntityType,
        opts: &QueryOptions,
    ) -> Result<HashSet<String>> {
        let mut out: HashSet<String> = if opts.select.is_empty() {
            entity.properties.iter().map(|p| p.name.clone()).collect()
        } else {
            opts.select.iter().cloned().collect()
        };
        out.insert(entity.key.clone());
        Ok(out)
    }

    /// Loads each `$expand` with one query per batch of keys and attaches it to the rows.
    async fn expand(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        opts: &QueryOptions,
        rows: &mut [Map],
    ) -> Result<()> {
        for ex in &opts.expand {
            let nav = entity.navigation(&ex.navigation).ok_or_else(|| {
                invalid(ODataError::unknown_property(&ex.navigation, &self.qualified(entity)))
            })?;
            let target = self.model.entity_set(&nav.target_set).ok_or_else(|| {
                invalid(ODataError::internal(format!(
                    "navigation '{}' targets an unknown entity set",
                    nav.name
                )))
            })?;
            let target_key = target.key_property();
            match &nav.kind {
                NavigationKind::ToOne { local_property } => {
                    let mut keys: Vec<String> = rows
                        .iter()
                        .filter_map(|r| {
                            r.get(local_property).and_then(Json::as_str).map(str::to_owned)
                        })
                        .collect();
                    keys.sort();
                    keys.dedup();
                    let fetch = self.fetch_properties(target, &ex.options)?;
                    let output = self.output_properties(target, &ex.options)?;
                    let mut found: HashMap<String, Map> = HashMap::new();
                    for chunk in keys.chunks(KEYS_PER_QUERY) {
                        let mut q = select_columns(target, &fetch);
                        q.and_where(col(target, &target_key.column).is_in(chunk.iter().cloned()));
                        for row in tx.fetch_all(&q).await? {
                            let m = decode_row(&row, &fetch)?;
                            let k = m
                                .get(&target.key)
                                .and_then(Json::as_str)
                                .unwrap_or_default()
                                .to_owned();
                            found.insert(k, shape(m, &output, &ex.options));
                        }
                    }
                    for r in rows.iter_mut() {
                        let v = r
                            .get(local_property)
                            .and_then(Json::as_str)
                            .and_then(|k| found.get(k))
                            .map_or(Json::Null, |m| Json::Object(m.clone()));
                        r.insert(nav.name.clone(), v);
                    }
                }
                NavigationKind::ToMany { remote_property } => {
                    let remote = self.property(target, remote_property)?;
                    let keys: Vec<String> = rows
                        .iter()
                        .filter_map(|r| {
                            r.get(&entity.key).and_then(Json::as_str).map(str::to_owned)
                        })
                        .collect();
                    let mut fetch = self.fetch_properties(target, &ex.options)?;
                    if !fetch.iter().any(|p| p.name == remote.name) {
                        fetch.push(remote);
                    }
                    let output = self.output_properties(target, &ex.options)?;
                    let mut groups: HashMap<String, Vec<Map>> = HashMap::new();
                    for chunk in keys.chunks(KEYS_PER_QUERY) {
                        let mut q = select_columns(target, &fetch);
                        q.and_where(col(target, &remote.column).is_in(chunk.iter().cloned()));
                        if let Some(filter) = &ex.options.filter {
                            q.and_where(
                                kontor_odata::sql::filter_condition(
                                    filter,
                                    target,
                                    &self.model,
                                    tx.backend().dialect(),
                                )
                                .map_err(invalid)?,
                            );
                        }
                        kontor_odata::sql::order_by(
                            &mut q,
                            target,
                            &self.model,
                            &ex.options.orderby,
                        )
                        .map_err(invalid)?;
                        for row in tx.fetch_all(&q).await? {
                            let m = decode_row(&row, &fetch)?;
                            let parent = m
                                .get(&remote.name)
                                .and_then(Json::as_str)
                                .unwrap_or_default()
                                .to_owned();
                            groups.entry(parent).or_default().push(m);
                        }
                    }
                    let skip = ex.options.skip.unwrap_or(0) as usize;
                    let top = ex.options.top.map_or(usize::MAX, |t| t as usize);
                    for r in rows.iter_mut() {
                        let key = r.get(&entity.key).and_then(Json::as_str).unwrap_or_default();
                        let items: Vec<Json> = groups
                            .get(key)
                            .map(|g| {
                                g.iter()
                                    .skip(skip)
                                    .take(top)
                                    .map(|m| Json::Object(shape(m.clone(), &output, &ex.options)))
                                    .collect()
                            })
                            .unwrap_or_default();
                        r.insert(nav.name.clone(), Json::Array(items));
                    }
                }
            }
        }
        Ok(())
    }

    // ----- writing -----------------------------------------------------------------------

    /// Inserts a row from a client's JSON body. See [`Repo::insert_as`].
    pub async fn insert(&self, tx: &mut Tx, entity: &EntityType, body: &Map) -> Result<Map> {
        self.insert_as(tx, entity, body, Caller::Client).await
    }

    /// Inserts a row: key from the body or a new UUID v7, a new row version, created/modified
    /// stamps. Returns the stored row. A taken key or unique value is `StoreError::Duplicate`.
    pub async fn insert_as(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        body: &Map,
        caller: Caller,
    ) -> Result<Map> {
        let (key, values) = self.validate_insert(entity, body, caller)?;
        let version = tx.next_row_versions(1).await?;
        let now = self.now();
        let (columns, row) = insert_row(entity, key, values, version, now);
        let mut q = Query::insert();
        q.into_table(tbl(entity)).columns(columns).values_panic(row).returning_all();
        let stored = tx.fetch_one(&q).await?;
        self.clear_tombstones(tx, entity, &[key]).await?;
        let all: Vec<&Property> = entity.properties.iter().collect();
        decode_row(&stored, &all)
    }

    /// Updates a row from a client's JSON patch. See [`Repo::update_as`].
    pub async fn update(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        key: Uuid,
        patch: &Map,
        if_match: Option<i64>,
    ) -> Result<Map> {
        self.update_as(tx, entity, key, patch, if_match, Caller::Client).await
    }

    /// Applies `patch` (only the members given), with a new row version and modified stamp.
    /// `if_match`: the version the caller last saw; a different current version is
    /// `StoreError::VersionMismatch`.
    pub async fn update_as(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        key: Uuid,
        patch: &Map,
        if_match: Option<i64>,
        caller: Caller,
    ) -> Result<Map> {
        let values = self.validate_patch(entity, key, patch, caller)?;
        let version = tx.next_row_versions(1).await?;
        self.check_version(tx, entity, key, if_match).await?;
        let now = self.now();
        let mut q = Query::update();
        q.table(tbl(entity));
        for (p, v) in values {
            q.value(Alias::new(p.column.as_str()), v);
        }
        if let Some(m) = &entity.modified_property {
            let p = self.property(entity, m)?;
            q.value(Alias::new(p.column.as_str()), now);
        }
        q.value(Alias::new(ROW_VERSION_COLUMN), version)
            .and_where(col(entity, &entity.key_property().column).eq(key.hyphenated().to_string()))
            .returning_all();
        let stored = tx.fetch_one(&q).await?;
        let all: Vec<&Property> = entity.properties.iter().collect();
        decode_row(&stored, &all)
    }

    /// Deletes a row and leaves a tombstone for the change feed.
    pub async fn delete(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        key: Uuid,
        if_match: Option<i64>,
    ) -> Result<()> {
        let version = tx.next_row_versions(1).await?;
        self.check_version(tx, entity, key, if_match).await?;
        let id = key.hyphenated().to_string();
        let mut q = Query::delete();
        q.from_table(tbl(entity))
            .and_where(col(entity, &entity.key_property().column).eq(id.clone()));
        tx.execute(&q).await?;
        tx.execute_sql(
            "INSERT INTO store_tombstone (entity_set, id, row_version, deleted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (entity_set, id) DO UPDATE SET row_version = excluded.row_version, deleted_at = excluded.deleted_at",
            vec![entity.set_name.clone().into(), id.into(), version.into(), self.now().into()],
        )
        .await?;
        Ok(())
    }

    async fn check_version(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        key: Uuid,
        if_match: Option<i64>,
    ) -> Result<i64> {
        let mut q = Query::select();
        q.from(tbl(entity))
            .column((tbl(entity), Alias::new(ROW_VERSION_COLUMN)))
            .and_where(col(entity, &entity.key_property().column).eq(key.hyphenated().to_string()));
        let current = tx
            .fetch_optional(&q)
            .await?
            .ok_or(StoreError::NotFound)?
            .try_get_i64(ROW_VERSION_COLUMN)?;
        match if_match {
            Some(expected) if expected != current => Err(StoreError::VersionMismatch { current }),
            _ => Ok(current),
        }
    }

    async fn clear_tombstones(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        keys: &[Uuid],
    ) -> Result<()> {
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let mut q = Query::delete();
            q.from_table(Alias::new("store_tombstone"))
                .and_where(Expr::col(Alias::new("entity_set")).eq(entity.set_name.clone()))
                .and_where(
                    Expr::col(Alias::new("id"))
                        .is_in(chunk.iter().map(|k| k.hyphenated().to_string())),
                );
            tx.execute(&q).await?;
        }
        Ok(())
    }

    /// Inserts many rows with multi-row `INSERT`s (one row-version increment for all). Returns
    /// the keys in input order. Any invalid row fails the whole call before anything is written.
    pub async fn insert_many(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        rows: &[Map],
        caller: Caller,
    ) -> Result<Vec<Uuid>> {
        self.write_many(tx, entity, rows, caller, false).await
    }

    /// Inserts or updates many rows by key (`INSERT … ON CONFLICT (key) DO UPDATE` for the
    /// members given; the created stamp of an existing row is kept). A key given twice: the
    /// last row wins. Returns the keys in input order.
    pub async fn upsert_many(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        rows: &[Map],
        caller: Caller,
    ) -> Result<Vec<Uuid>> {
        self.write_many(tx, entity, rows, caller, true).await
    }

    async fn write_many(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        rows: &[Map],
        caller: Caller,
        upsert: bool,
    ) -> Result<Vec<Uuid>> {
        let mut prepared = Vec::with_capacity(rows.len());
        for (idx, body) in rows.iter().enumerate() {
            let res = if upsert {
                self.validate_upsert(entity, body, caller)
            } else {
                self.validate_insert(entity, body, caller)
            };
            prepared.push(res.map_err(|e| match e {
                StoreError::Invalid(mut o) => {
                    o.message = format!("Row {idx}: {}", o.message);
                    StoreError::Invalid(o)
                }
                other => other,
            })?);
        }
        let keys: Vec<Uuid> = prepared.iter().map(|(k, _)| *k).collect();
        if upsert {
            // The last row for a key wins; PostgreSQL refuses to touch a row twice in one statement.
            let mut seen = HashSet::new();
            let mut deduped: Vec<_> =
                prepared.into_iter().rev().filter(|(k, _)| seen.insert(*k)).collect();
            deduped.reverse();
            prepared = deduped;
        }
        if prepared.is_empty() {
            return Ok(keys);
        }
        let last = tx.next_row_versions(prepared.len() as i64).await?;
        let first = last - prepared.len() as i64 + 1;
        let now = self.now();

        // Rows with the same columns go in the same statements (plain SQL with `$n` placeholders:
        // no per-value expression trees for 100,000-row writes), in input order.
        let stamps: Vec<&str> = [&entity.created_property, &entity.modified_property]
            .into_iter()
            .flatten()
            .filter_map(|s| entity.property(s).map(|p| p.column.as_str()))
            .collect();
        let mut order: Vec<Vec<&str>> = Vec::new();
        let mut groups: HashMap<Vec<&str>, Vec<usize>> = HashMap::new();
        for (idx, (_, values)) in prepared.iter().enumerate() {
            let names: Vec<&str> = values.iter().map(|(p, _)| p.column.as_str()).collect();
            let members = groups.entry(names.clone()).or_default();
            if members.is_empty() {
                order.push(names);
            }
            members.push(idx);
        }
        let mut prepared: Vec<Option<(Uuid, Values<'_>)>> =
            prepared.into_iter().map(Some).collect();
        for names in order {
            let mut columns = vec![entity.key_property().column.as_str()];
            columns.extend(names.iter().copied());
            columns.extend(stamps.iter().copied());
            columns.push(ROW_VERSION_COLUMN);
            let conflict = upsert.then(|| {
                let mut update: Vec<&str> = names.clone();
                if let Some(m) =
                    entity.modified_property.as_deref().and_then(|m| entity.property(m))
                {
                    update.push(m.column.as_str());
                }
                update.push(ROW_VERSION_COLUMN);
                let set: Vec<String> =
                    update.iter().map(|c| format!("{0} = excluded.{0}", quote(c))).collect();
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    quote(&entity.key_property().column),
                    set.join(", ")
                )
            });
            let per_statement = (MAX_PARAMS / columns.len()).clamp(1, MAX_ROWS_PER_INSERT);
            for chunk in groups[&names].chunks(per_statement) {
                let sql = multi_row_insert(
                    tx.backend(),
                    &entity.table,
                    &columns,
                    chunk.len(),
                    conflict.as_deref(),
                );
                let mut binds = Vec::with_capacity(chunk.len() * columns.len());
                for &idx in chunk {
                    let Some((key, values)) = prepared[idx].take() else { continue };
                    binds.push(Value::String(Some(key.hyphenated().to_string())));
                    binds.extend(values.into_iter().map(|(_, v)| v));
                    binds.extend(stamps.iter().map(|_| Value::BigInt(Some(now))));
                    binds.push(Value::BigInt(Some(first + idx as i64)));
                }
                // Identifiers come from the model (quoted); every value is bound.
                tx.execute_sql(sqlx::AssertSqlSafe(sql), binds).await?;
            }
        }
        self.clear_tombstones(tx, entity, &keys).await?;
        Ok(keys)
    }

    /// Checks a body for insert; returns the key and the values of the given properties
    /// (without the key and the created/modified stamps).
    fn validate_insert<'e>(
        &self,
        entity: &'e EntityType,
        body: &Map,
        caller: Caller,
    ) -> Result<(Uuid, Values<'e>)> {
        let (key, values) = self.validate_members(entity, body, caller)?;
        for p in &entity.properties {
            if p.nullable || p.read_only || p.name == entity.key || self.is_stamp(entity, &p.name) {
                continue;
            }
            if !values.iter().any(|(v, _)| v.name == p.name) {
                return Err(invalid(ODataError::invalid_value(
                    &p.name,
                    format!("The property '{}' is required.", p.name),
                )));
            }
        }
        Ok((key.unwrap_or_else(Uuid::now_v7), values))
    }

    fn validate_upsert<'e>(
        &self,
        entity: &'e EntityType,
        body: &Map,
        caller: Caller,
    ) -> Result<(Uuid, Values<'e>)> {
        let (key, values) = self.validate_members(entity, body, caller)?;
        Ok((key.unwrap_or_else(Uuid::now_v7), values))
    }

    fn validate_patch<'e>(
        &self,
        entity: &'e EntityType,
        key: Uuid,
        patch: &Map,
        caller: Caller,
    ) -> Result<Values<'e>> {
        let (patch_key, values) = self.validate_members(entity, patch, caller)?;
        if patch_key.is_some_and(|k| k != key) {
            return Err(invalid(ODataError::invalid_value(
                &entity.key,
                format!("The key property '{}' cannot be changed.", entity.key),
            )));
        }
        Ok(values)
    }

    fn is_stamp(&self, entity: &EntityType, name: &str) -> bool {
        entity.created_property.as_deref() == Some(name)
            || entity.modified_property.as_deref() == Some(name)
    }

    /// Type-checks each member; rejects unknown and (for clients) read-only properties. The
    /// key is returned apart; created/modified stamps are left to the store.
    fn validate_members<'e>(
        &self,
        entity: &'e EntityType,
        body: &Map,
        caller: Caller,
    ) -> Result<(Option<Uuid>, Values<'e>)> {
        let mut key = None;
        let mut values = Vec::with_capacity(body.len());
        for (name, json) in body {
            // Instance annotations (`@odata.etag`, `@odata.type`, …) are not data.
            if name.starts_with('@') {
                continue;
            }
            let p = self.property(entity, name)?;
            if *name == entity.key {
                if !json.is_null() {
                    let id = json.as_str().and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| {
                        invalid(ODataError::invalid_value(
                            name,
                            format!("Cannot convert the value {json} of property '{name}' to Edm.Guid."),
                        ))
                    })?;
                    key = Some(id);
                }
                continue;
            }
            if p.read_only && caller == Caller::Client {
                return Err(invalid(ODataError::invalid_value(
                    name,
                    format!("The property '{name}' is read-only and cannot be set."),
                )));
            }
            if self.is_stamp(entity, name) {
                continue;
            }
            values.push((p, codec::encode(p, json).map_err(invalid)?));
        }
        Ok((key, values))
    }

    // ----- change feed -------------------------------------------------------------------

    /// Rows written and deleted after `after_version`, in version order, at most `limit`.
    /// A row written several times appears once, at its latest version.
    pub async fn changes(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        after_version: i64,
        limit: u64,
    ) -> Result<Vec<Change>> {
        self.changes_selecting(tx, entity, after_version, limit, &[]).await
    }

    /// [`Repo::changes`] reading only the key and the properties of `select` (all when empty;
    /// an unknown name is an error naming it).
    pub async fn changes_selecting(
        &self,
        tx: &mut Tx,
        entity: &EntityType,
        after_version: i64,
        limit: u64,
        select: &[String],
    ) -> Result<Vec<Change>> {
        let limit = Ord::max(limit, 1);
        for name in select {
            self.property(entity, name)?;
        }
        let all: Vec<&Property> = entity
            .properties
            .iter()
            .filter(|p| select.is_empty() || p.name == entity.key || select.contains(&p.name))
            .collect();
        let mut q = select_columns(entity, &all);
        q.and_where(col(entity, ROW_VERSION_COLUMN).gt(after_version))
            .order_by_expr(col(entity, ROW_VERSION_COLUMN), Order::Asc)
            .limit(limit);
        let mut live = Vec::new();
        for row in tx.fetch_all(&q).await? {
            live.push(Change::Upsert(decode_row(&row, &all)?));
        }
        let mut dead = Vec::new();
        for row in tx
            .fetch_all_sql(
                "SELECT id, row_version FROM store_tombstone WHERE entity_set = $1 AND row_version > $2 \
                 ORDER BY row_version LIMIT $3",
                vec![entity.set_name.clone().into(), after_version.into(), (limit as i64).into()],
            )
            .await?
        {
            let id = row.try_get_opt_uuid("id")?.unwrap_or_default();
            dead.push(Change::Deleted { id, version: row.try_get_i64("row_version")? });
        }
        let mut out: Vec<Change> = live.into_iter().chain(dead).collect();
        out.sort_by_key(Change::version);
        out.truncate(limit as usize);
        Ok(out)
    }

    /// The store's highest committed row version (a change-feed watermark).
    pub async fn current_version(&self, tx: &mut Tx) -> Result<i64> {
        tx.current_version().await
    }
}

/// A quoted SQL identifier (`"name"`, inner quotes doubled).
fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// `INSERT INTO "t" ("a", "b") VALUES ($1, $2), ($3, $4)[ ON CONFLICT …]`; on SQLite with `?`
/// placeholders, because SQLite looks numbered parameter names up by a linear scan (quadratic
/// for thousands of parameters).
fn multi_row_insert(
    backend: Backend,
    table: &str,
    columns: &[&str],
    rows: usize,
    conflict: Option<&str>,
) -> String {
    let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    let mut sql = format!("INSERT INTO {} ({}) VALUES ", quote(table), cols.join(", "));
    sql.reserve(rows * columns.len() * 7);
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns.len() {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    n += 1;
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
        }
        sql.push(')');
    }
    if let Some(conflict) = conflict {
        sql.push_str(conflict);
    }
    sql
}

/// `SELECT <table>.<col>…, <table>.row_version FROM <table>`.
fn select_columns(entity: &EntityType, props: &[&Property]) -> SelectStatement {
    let mut q = Query::select();
    q.from(tbl(entity));
    for p in props {
        q.column((tbl(entity), Alias::new(p.column.as_str())));
    }
    q.column((tbl(entity), Alias::new(ROW_VERSION_COLUMN)));
    q
}

/// Columns and values of one inserted row: key, the given values, stamps, row version.
fn insert_row(
    entity: &EntityType,
    key: Uuid,
    values: Vec<(&Property, Value)>,
    version: i64,
    now: i64,
) -> (Vec<Alias>, Vec<Expr>) {
    let mut columns = vec![Alias::new(entity.key_property().column.as_str())];
    let mut row: Vec<Expr> = vec![Expr::val(key.hyphenated().to_string())];
    for (p, v) in values {
        columns.push(Alias::new(p.column.as_str()));
        row.push(Expr::val(v));
    }
    for stamp in [&entity.created_property, &entity.modified_property].into_iter().flatten() {
        if let Some(p) = entity.property(stamp) {
            columns.push(Alias::new(p.column.as_str()));
            row.push(Expr::val(now));
        }
    }
    columns.push(Alias::new(ROW_VERSION_COLUMN));
    row.push(Expr::val(version));
    (columns, row)
}

/// A row as JSON: `@odata.etag` first, then the properties.
fn decode_row(row: &Row, props: &[&Property]) -> Result<Map> {
    let mut m = Map::with_capacity(props.len() + 1);
    m.insert(ETAG.to_owned(), Json::String(etag(row.try_get_i64(ROW_VERSION_COLUMN)?)));
    for p in props {
        m.insert(p.name.clone(), codec::decode(row, p)?);
    }
    Ok(m)
}

/// Keeps the etag, the output properties and the expanded navigations.
fn shape(mut m: Map, output: &HashSet<String>, opts: &QueryOptions) -> Map {
    m.retain(|k, _| {
        k == ETAG || output.contains(k) || opts.expand.iter().any(|e| e.navigation == *k)
    });
    m
}

impl Row {
    /// The row as JSON by the entity's model (the properties whose columns the row has, plus
    /// `@odata.etag` when it has `row_version`).
    pub fn to_json(&self, entity: &EntityType) -> Result<Map> {
        let columns = self.columns();
        let mut m = Map::new();
        if columns.contains(&ROW_VERSION_COLUMN) {
            m.insert(ETAG.to_owned(), Json::String(etag(self.try_get_i64(ROW_VERSION_COLUMN)?)));
        }
        for p in &entity.properties {
            if columns.contains(&p.column.as_str()) {
                m.insert(p.name.clone(), codec::decode(self, p)?);
            }
        }
        Ok(m)
    }
}

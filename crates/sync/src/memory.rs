//! An in-memory side for tests: tables of rows with a change feed (versions, deletions),
//! keyed upserts, who-modified-it stamps, and optional failures to inject.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::future::BoxFuture;
use serde_json::Value;
use uuid::Uuid;

use crate::connector::{
    Change, ChangePage, Connector, ConnectorError, Cursor, OptionValue, Record, Row, Side,
    TableRef, WriteBatch, WriteOp, WriteOutcome,
};

#[derive(Default)]
struct Table {
    /// id → (version, fields)
    rows: BTreeMap<Uuid, (u64, Record)>,
    /// id → version of the deletion
    tombstones: BTreeMap<Uuid, u64>,
}

#[derive(Default)]
struct State {
    version: u64,
    tables: BTreeMap<String, Table>,
    writes: u64,
    fail_next_writes: u32,
    /// (set, column) → option values.
    options: BTreeMap<(String, String), Vec<OptionValue>>,
    /// The company's experience (Financials; `None` = Suite).
    experience: Option<String>,
}

/// An in-memory side.
pub struct MemoryConnector {
    side: Side,
    /// The user the connector writes as (stamped into the modified-by field).
    pub user: String,
    state: Mutex<State>,
}

impl MemoryConnector {
    pub fn new(side: Side, user: &str) -> MemoryConnector {
        MemoryConnector { side, user: user.to_owned(), state: Mutex::new(State::default()) }
    }

    fn modified_by_field(&self) -> &'static str {
        match self.side {
            Side::Financials => "systemModifiedBy",
            Side::Sales => "_modifiedby_value",
        }
    }

    /// Switches the company's experience (`Essential`, `Suite`), as `PATCH companies({id})`
    /// does on Financials.
    pub fn set_experience(&self, experience: &str) {
        self.state.lock().unwrap().experience = Some(experience.to_owned());
    }

    /// Defines the option set of `set`.`column` as (value, label) pairs.
    pub fn set_options(&self, set: &str, column: &str, values: &[(i64, &str)]) {
        let mut st = self.state.lock().unwrap();
        st.options.insert(
            (set.to_owned(), column.to_owned()),
            values.iter().map(|(v, l)| OptionValue { value: *v, label: (*l).to_owned() }).collect(),
        );
    }

    /// Writes a row as `user` (a person working in the app).
    pub fn put(&self, set: &str, id: Uuid, fields: Value, user: &str) {
        let mut st = self.state.lock().unwrap();
        st.version += 1;
        let v = st.version;
        let t = st.tables.entry(set.to_owned()).or_default();
        let mut rec = t.rows.remove(&id).map(|r| r.1).unwrap_or_default();
        if let Value::Object(map) = fields {
            rec.extend(map);
        }
        rec.insert(self.modified_by_field().into(), Value::String(user.to_owned()));
        t.tombstones.remove(&id);
        t.rows.insert(id, (v, rec));
    }

    /// Deletes a row as a person would.
    pub fn remove(&self, set: &str, id: Uuid) {
        let mut st = self.state.lock().unwrap();
        st.version += 1;
        let v = st.version;
        let t = st.tables.entry(set.to_owned()).or_default();
        if t.rows.remove(&id).is_some() {
            t.tombstones.insert(id, v);
        }
    }

    pub fn row(&self, set: &str, id: Uuid) -> Option<Record> {
        let st = self.state.lock().unwrap();
        st.tables.get(set).and_then(|t| t.rows.get(&id)).map(|r| r.1.clone())
    }

    pub fn rows(&self, set: &str) -> Vec<(Uuid, Record)> {
        let st = self.state.lock().unwrap();
        st.tables
            .get(set)
            .map(|t| t.rows.iter().map(|(k, v)| (*k, v.1.clone())).collect())
            .unwrap_or_default()
    }

    /// Number of write batches received.
    pub fn write_count(&self) -> u64 {
        self.state.lock().unwrap().writes
    }

    /// The next `n` write batches fail as unavailable (a crash or outage).
    pub fn fail_next_writes(&self, n: u32) {
        self.state.lock().unwrap().fail_next_writes = n;
    }

    fn read_sync(&self, table: &TableRef, cursor: &Cursor, page_size: usize) -> ChangePage {
        let st = self.state.lock().unwrap();
        // Cursor texts: "f<version>" continues a full read, "d<version>" a delta read.
        let (full, after): (bool, u64) = match cursor {
            Cursor::Start => (true, 0),
            Cursor::Next(s) | Cursor::Delta(s) => {
                let full = s.starts_with('f') && matches!(cursor, Cursor::Next(_));
                (full, s.trim_start_matches(['f', 'd']).parse().unwrap_or(0))
            }
        };
        let empty = Table::default();
        let t = st.tables.get(&table.set).unwrap_or(&empty);
        let mut all: Vec<(u64, Change)> = t
            .rows
            .iter()
            .filter(|(_, (v, _))| *v > after)
            .map(|(id, (v, rec))| {
                let mut rec = rec.clone();
                if !table.select.is_empty() {
                    rec.retain(|k, _| table.select.contains(k));
                }
                rec.insert(table.key.clone(), Value::String(id.to_string()));
                (*v, Change::Upsert(Row::new(*id, rec)))
            })
            .collect();
        if !full {
            all.extend(
                t.tombstones
                    .iter()
                    .filter(|(_, v)| **v > after)
                    .map(|(id, v)| (*v, Change::Deleted(*id))),
            );
        }
        all.sort_by_key(|(v, _)| *v);
        let more = all.len() > page_size;
        all.truncate(page_size);
        let last = all.last().map(|(v, _)| *v).unwrap_or(after);
        let changes = all.into_iter().map(|(_, c)| c).collect();
        if more {
            ChangePage {
                changes,
                next: Some(format!("{}{last}", if full { 'f' } else { 'd' })),
                delta: None,
            }
        } else {
            ChangePage { changes, next: None, delta: Some(format!("d{}", st.version.max(last))) }
        }
    }
}

impl Connector for MemoryConnector {
    fn side(&self) -> Side {
        self.side
    }

    fn experience(&self) -> BoxFuture<'_, Result<Option<String>, ConnectorError>> {
        Box::pin(async move {
            Ok((self.side == Side::Financials).then(|| {
                self.state.lock().unwrap().experience.clone().unwrap_or_else(|| "Suite".into())
            }))
        })
    }

    fn read<'a>(
        &'a self,
        table: &'a TableRef,
        cursor: &'a Cursor,
        page_size: usize,
    ) -> BoxFuture<'a, Result<ChangePage, ConnectorError>> {
        Box::pin(async move { Ok(self.read_sync(table, cursor, page_size)) })
    }

    fn get<'a>(
        &'a self,
        table: &'a TableRef,
        ids: &'a [Uuid],
    ) -> BoxFuture<'a, Result<Vec<Row>, ConnectorError>> {
        Box::pin(async move {
            let st = self.state.lock().unwrap();
            let Some(t) = st.tables.get(&table.set) else { return Ok(vec![]) };
            Ok(ids
                .iter()
                .filter_map(|id| {
                    t.rows.get(id).map(|(_, r)| {
                        let mut r = r.clone();
                        if !table.select.is_empty() {
                            r.retain(|k, _| table.select.contains(k));
                        }
                        r.insert(table.key.clone(), Value::String(id.to_string()));
                        Row::new(*id, r)
                    })
                })
                .collect())
        })
    }

    fn write<'a>(
        &'a self,
        batch: &'a WriteBatch,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ConnectorError>> {
        Box::pin(async move {
            let mut st = self.state.lock().unwrap();
            if st.fail_next_writes > 0 {
                st.fail_next_writes -= 1;
                return Err(ConnectorError::Unavailable {
                    side: self.side,
                    message: "injected failure".into(),
                });
            }
            st.writes += 1;
            let mut out = Vec::new();
            for op in &batch.ops {
                st.version += 1;
                let v = st.version;
                let t = st.tables.entry(batch.table.set.clone()).or_default();
                match op {
                    WriteOp::Upsert { id, fields } => {
                        let mut rec = t.rows.remove(id).map(|r| r.1).unwrap_or_default();
                        for (k, val) in fields {
                            rec.insert(k.clone(), val.clone());
                        }
                        rec.insert(
                            self.modified_by_field().into(),
                            Value::String(self.user.clone()),
                        );
                        t.tombstones.remove(id);
                        t.rows.insert(*id, (v, rec));
                    }
                    WriteOp::Delete { id } => {
                        if t.rows.remove(id).is_some() {
                            t.tombstones.insert(*id, v);
                        }
                    }
                }
                out.push(WriteOutcome::Done);
            }
            Ok(out)
        })
    }

    fn search<'a>(
        &'a self,
        table: &'a TableRef,
        fields: &'a [String],
        text: &'a str,
        top: usize,
    ) -> BoxFuture<'a, Result<Vec<Row>, ConnectorError>> {
        Box::pin(async move {
            let st = self.state.lock().unwrap();
            let Some(t) = st.tables.get(&table.set) else { return Ok(vec![]) };
            let text = text.to_lowercase();
            let found = |r: &Record| {
                fields.iter().any(|f| {
                    r.get(f)
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.to_lowercase().contains(&text))
                })
            };
            Ok(t.rows
                .iter()
                .filter(|(_, (_, r))| found(r))
                .take(top)
                .map(|(id, (_, r))| {
                    let mut r = r.clone();
                    if !table.select.is_empty() {
                        r.retain(|k, _| table.select.contains(k));
                    }
                    r.insert(table.key.clone(), Value::String(id.to_string()));
                    Row::new(*id, r)
                })
                .collect())
        })
    }

    fn children<'a>(
        &'a self,
        table: &'a TableRef,
        parent: &'a str,
        parent_id: Uuid,
    ) -> BoxFuture<'a, Result<Vec<Row>, ConnectorError>> {
        Box::pin(async move {
            let st = self.state.lock().unwrap();
            let Some(t) = st.tables.get(&table.set) else { return Ok(vec![]) };
            let want = Value::String(parent_id.to_string());
            Ok(t.rows
                .iter()
                .filter(|(_, (_, r))| r.get(parent) == Some(&want))
                .map(|(id, (_, r))| {
                    let mut r = r.clone();
                    r.insert(table.key.clone(), Value::String(id.to_string()));
                    Row::new(*id, r)
                })
                .collect())
        })
    }

    fn count<'a>(&'a self, table: &'a TableRef) -> BoxFuture<'a, Result<u64, ConnectorError>> {
        Box::pin(async move {
            let st = self.state.lock().unwrap();
            Ok(st.tables.get(&table.set).map(|t| t.rows.len() as u64).unwrap_or(0))
        })
    }

    fn options<'a>(
        &'a self,
        set: &'a str,
        column: &'a str,
    ) -> BoxFuture<'a, Result<Vec<OptionValue>, ConnectorError>> {
        Box::pin(async move {
            let st = self.state.lock().unwrap();
            st.options.get(&(set.to_owned(), column.to_owned())).cloned().ok_or_else(|| {
                ConnectorError::Rejected {
                    side: self.side,
                    message: format!("{set}.{column} is not an option set column"),
                }
            })
        })
    }
}

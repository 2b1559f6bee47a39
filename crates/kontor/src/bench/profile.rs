//! `--profile`: a `Connector` decorator that times every call the engine makes to a side — reads
//! (pages of the change feed), keyed gets, batch writes, counts — with the rows each moved, so
//! the report can say where a full synchronization's time goes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use kontor_sync::connector::{
    ChangePage, Connector, ConnectorError, Cursor, Row, Side, TableRef, WriteBatch, WriteOutcome,
};
use uuid::Uuid;

/// Totals per (side, call, entity set).
#[derive(Debug, Default, Clone, Copy)]
pub struct Stat {
    pub calls: u64,
    pub rows: u64,
    pub time: Duration,
    pub max: Duration,
}

/// The totals of each (side, call, entity set).
type Totals = BTreeMap<(Side, &'static str, String), Stat>;

#[derive(Debug, Default, Clone)]
pub struct Stats(Arc<Mutex<Totals>>);

impl Stats {
    fn add(&self, side: Side, call: &'static str, set: &str, rows: u64, time: Duration) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let s = m.entry((side, call, set.to_owned())).or_default();
        s.calls += 1;
        s.rows += rows;
        s.time += time;
        s.max = s.max.max(time);
    }

    /// A table of the totals, slowest first.
    pub fn table(&self) -> String {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<_> = m.iter().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1.time));
        let mut out = format!(
            "{:<11} {:<6} {:<22} {:>7} {:>9} {:>10} {:>10} {:>9}\n",
            "side", "call", "set", "calls", "rows", "total s", "avg ms", "max ms"
        );
        for ((side, call, set), s) in rows {
            out.push_str(&format!(
                "{:<11} {:<6} {:<22} {:>7} {:>9} {:>10.3} {:>10.2} {:>9.1}\n",
                side.as_str(),
                call,
                set,
                s.calls,
                s.rows,
                s.time.as_secs_f64(),
                s.time.as_secs_f64() * 1000.0 / s.calls.max(1) as f64,
                s.max.as_secs_f64() * 1000.0
            ));
        }
        out
    }
}

/// Times the calls of `inner` into `stats`.
pub struct Timed {
    pub inner: Arc<dyn Connector>,
    pub stats: Stats,
}

impl Connector for Timed {
    fn side(&self) -> Side {
        self.inner.side()
    }

    fn read<'a>(
        &'a self,
        table: &'a TableRef,
        cursor: &'a Cursor,
        page_size: usize,
    ) -> BoxFuture<'a, Result<ChangePage, ConnectorError>> {
        Box::pin(async move {
            let t = Instant::now();
            let r = self.inner.read(table, cursor, page_size).await;
            let call = match cursor {
                Cursor::Delta(_) => "delta",
                _ => "read",
            };
            let n = r.as_ref().map_or(0, |p| p.changes.len() as u64);
            self.stats.add(self.side(), call, &table.set, n, t.elapsed());
            r
        })
    }

    fn get<'a>(
        &'a self,
        table: &'a TableRef,
        ids: &'a [Uuid],
    ) -> BoxFuture<'a, Result<Vec<Row>, ConnectorError>> {
        Box::pin(async move {
            let t = Instant::now();
            let r = self.inner.get(table, ids).await;
            self.stats.add(self.side(), "get", &table.set, ids.len() as u64, t.elapsed());
            r
        })
    }

    fn write<'a>(
        &'a self,
        batch: &'a WriteBatch,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ConnectorError>> {
        Box::pin(async move {
            let t = Instant::now();
            let r = self.inner.write(batch).await;
            self.stats.add(
                self.side(),
                "write",
                &batch.table.set,
                batch.ops.len() as u64,
                t.elapsed(),
            );
            r
        })
    }

    fn count<'a>(&'a self, table: &'a TableRef) -> BoxFuture<'a, Result<u64, ConnectorError>> {
        Box::pin(async move {
            let t = Instant::now();
            let r = self.inner.count(table).await;
            self.stats.add(self.side(), "count", &table.set, 0, t.elapsed());
            r
        })
    }
}

//! Test helpers: a migrated queue on a fresh database with a manual clock.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kontor_jobs::{ManualClock, Queue};
use kontor_store::Db;

/// The manual clock's start: 2027-01-15T08:00:00Z.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

/// `t0` plus `secs` seconds.
pub fn at(secs: u64) -> DateTime<Utc> {
    t0() + Duration::from_secs(secs)
}

pub const MINUTE: Duration = Duration::from_secs(60);

/// A migrated queue on `url` whose clock stands at `t0`.
pub async fn queue(url: &str) -> (Queue, ManualClock) {
    let db = Db::connect(url).await.unwrap();
    let clock = ManualClock::new(t0());
    let queue = Queue::with_clock(db, Arc::new(clock.clone()));
    queue.migrate().await.unwrap();
    (queue, clock)
}
